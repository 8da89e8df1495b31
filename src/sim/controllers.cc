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
  const power::ControlSpace space = simulator.control_space(o.levels);
  std::unique_ptr<power::Governor> g;
  // Our own controllers act on variants near the trip and battery limits: shielded unless asked
  // not to be. The kernel's governors and the paper's static settings run as the kernel runs them.
  bool shield = false;
  if (name == "static-max") {
    g = std::make_unique<power::StaticMaxGovernor>(space);
  } else if (name == "rule") {
    g = std::make_unique<power::RuleGovernor>(space);
    shield = true;
  } else if (name == "dqn") {
    std::filesystem::path policy = o.policy;
    if (policy.empty()) policy = shipped_policy(simulator);
    if (policy.empty())
      throw Error(ErrorKind::invalid_argument,
                  "the dqn governor needs a policy (--policy FILE.onnx from edgeco "
                  "train-governor); none is shipped for " +
                      simulator.scenario().name + " on " + simulator.platform().name +
                      " (models/governors/SCENARIO.PLATFORM.onnx)");
    g = std::make_unique<power::DqnGovernor>(policy, space);
    shield = true;
  } else if (name == "oracle") {
    throw Error(ErrorKind::invalid_argument,
                "the oracle is not a governor: it sees the future (Simulator::oracle)");
  } else {
    g = power::make_governor(name, o.settings);
  }
  if (o.shield.value_or(shield))
    g = std::make_unique<power::ShieldedGovernor>(std::move(g), space, o.shield_settings);
  return g;
}

}  // namespace edgeco::sim
