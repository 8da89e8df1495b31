// `edgeco train` and `edgeco distill` run edgeco-train (next to this program), which links
// libtorch; this program stays free of its start-up cost.
#include <unistd.h>

#include <filesystem>
#include <vector>

#include "commands.h"
#include "edgeco/core.h"

namespace edgeco::cli {

void add_train_commands(CLI::App& app) {
  for (const char* name : {"train", "distill"}) {
    auto* cmd = app.add_subcommand(
        name, std::string(name) == "train"
                  ? "Train an architecture on a data set (libtorch), write ONNX, report test "
                    "accuracy. --help lists the options."
                  : "Train a student by knowledge distillation from --teacher T.onnx. --help lists "
                    "the options.");
    cmd->prefix_command();
    cmd->set_help_flag();  // --help goes to edgeco-train, which knows the options
    cmd->callback([cmd, name] {
      const auto self = std::filesystem::read_symlink("/proc/self/exe");
      const auto tool = self.parent_path() / "edgeco-train";
      if (!std::filesystem::exists(tool))
        throw Error(ErrorKind::unsupported,
                    "training needs edgeco-train, built beside edgeco when libtorch-dev is "
                    "installed (scripts/install-deps.sh installs it)",
                    tool.string());
      std::vector<std::string> args{tool.string(), name};
      for (const auto& a : cmd->remaining()) args.push_back(a);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(tool.c_str(), argv.data());
      throw Error(ErrorKind::io, "cannot run", tool.string());
    });
  }
}

}  // namespace edgeco::cli
