#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "edgeco/ir.h"

namespace edgeco::cli {

void add_ops_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "ops", "List the operators edgeco registers (and so can import, analyse and run)");
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "print a JSON array");
  cmd->callback([json] {
    const auto names = OpRegistry::builtin().op_names();
    if (*json) {
      std::cout << nlohmann::json(names).dump() << "\n";
      return;
    }
    for (const auto& n : names) std::printf("%s\n", n.c_str());
    std::printf("%zu operators\n", names.size());
  });
}

}  // namespace edgeco::cli
