// `edgeco train` and `edgeco distill` run edgeco-train (next to this program), which links
// libtorch; this program stays free of its start-up cost.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include <filesystem>
#include <map>
#include <vector>

#include "commands.h"
#include "edgeco/core.h"

namespace edgeco::cli {

std::filesystem::path train_tool() {
  const auto self = std::filesystem::read_symlink("/proc/self/exe");
  auto tool = self.parent_path() / "edgeco-train";
  if (!std::filesystem::exists(tool))
    throw Error(ErrorKind::unsupported,
                "training needs edgeco-train, built beside edgeco when libtorch-dev is "
                "installed (scripts/install-deps.sh installs it)",
                tool.string());
  return tool;
}

void run_train_tool(const std::vector<std::string>& arguments) {
  const std::string tool = train_tool().string();
  std::vector<std::string> args{tool};
  args.insert(args.end(), arguments.begin(), arguments.end());
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The child's report goes nowhere (the caller measures what it wrote); its progress bar and
  // errors reach the user on stderr.
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, tool.c_str(), &files, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&files);
  if (spawned != 0) throw Error(ErrorKind::io, "cannot run", tool);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw Error(ErrorKind::io, "lost track of", tool);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string command;
    for (const auto& a : args) command += (command.empty() ? "" : " ") + a;
    throw Error(ErrorKind::internal,
                "training step failed (exit status " +
                    std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")",
                command);
  }
}

void add_train_commands(CLI::App& app) {
  const std::map<std::string, std::string> commands{
      {"train",
       "Train an architecture on a data set (libtorch), write ONNX, report test accuracy. --help "
       "lists the options."},
      {"distill",
       "Train a student by knowledge distillation from --teacher T.onnx. --help lists the "
       "options."},
      {"train-governor",
       "Train the runtime controller (Double DQN on the simulator) for a scenario and platform; "
       "writes the Q-network as ONNX. --help lists the options."}};
  for (const auto& [command, help] : commands) {
    auto* cmd = app.add_subcommand(command, help);
    cmd->prefix_command();
    cmd->set_help_flag();  // --help goes to edgeco-train, which knows the options
    cmd->callback([cmd, name = command] {
      const auto tool = train_tool();
      std::vector<std::string> args{tool.string(), name};
      for (const auto& a : cmd->remaining()) args.push_back(a);
      std::vector<char*> argv;
      argv.reserve(args.size() + 1);
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(tool.c_str(), argv.data());
      throw Error(ErrorKind::io, "cannot run", tool.string());
    });
  }
}

}  // namespace edgeco::cli
