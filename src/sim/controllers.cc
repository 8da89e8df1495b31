#include <algorithm>

#include "edgeco/sim.h"

namespace edgeco::sim {

std::filesystem::path shipped_policy(const Simulator& simulator) {
  const std::filesystem::path p =
      scenario_dir().parent_path() / "models" / "governors" /
      (simulator.scenario().name + "." + simulator.platform().name + ".onnx");
  std::error_code ec;
  return std::filesystem::is_regular_file(p, ec) ? p : std::filesystem::path();
}

std::vector<std::string> controller_names() {
  std::vector<std::string> names = power::governor_names();
  for (const char* n : {"static-max", "rule", "dqn", "oracle"}) names.emplace_back(n);
  return names;
}

std::unique_ptr<power::Governor> make_controller(std::string_view name, const Simulator& simulator,
                                                 const ControllerOptions& o) {
  if (name == "oracle")
    throw Error(ErrorKind::invalid_argument,
                "the oracle is not a governor: it sees the future (Simulator::oracle)");
  std::filesystem::path policy = o.policy;
  if (name == "dqn" && policy.empty()) {
    policy = shipped_policy(simulator);
    if (policy.empty())
      throw Error(ErrorKind::invalid_argument,
                  "the dqn governor needs a policy (--policy FILE.onnx from edgeco "
                  "train-governor); none is shipped for " +
                      simulator.scenario().name + " on " + simulator.platform().name +
                      " (models/governors/SCENARIO.PLATFORM.onnx)");
  }
  return power::make_controller(name, simulator.control_space(o.levels, o.offload), policy,
                                o.shield, o.shield_settings, o.settings);
}

}  // namespace edgeco::sim
