// The runtime's own controllers over the joint configuration (operating points, model variant,
// input resolution, offload): the space of configurations a learned policy chooses from and the
// features it sees, the DQN policy run from its ONNX file by edgeco's runtime, a rule-based
// controller, and the safety shield that wraps any governor. They see only a Snapshot, so the same
// objects run in the simulator and on a board (DESIGN.md, "The runtime loop").
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "edgeco/power.h"

namespace edgeco::power {

// What a deployment can be set to, and what a controller needs to know about it that a snapshot
// does not say (the deadline, the trip point, what each variant costs).
struct ControlSpace {
  struct Device {
    std::string name;         // the Snapshot domain's name
    std::vector<double> mhz;  // operating points, ascending
  };
  struct Choice {
    std::string name;
    int resolution_px = 0;
    double accuracy = 0;   // measured top-1
    double energy_mj = 0;  // per inference at the highest operating points (for ranking)
  };
  std::vector<Device> devices;   // the DVFS domains (one operating point: not listed)
  std::vector<Choice> variants;  // the first is the deployment's default (full precision, size)
  // Frequency levels: every DVFS domain at the same fraction of its operating-point table
  // (level 0 the lowest, levels - 1 the highest). A joint level keeps the action space small
  // (variants x levels) where a per-domain product would explode.
  int levels = 4;
  double deadline_ms = 0, trip_c = 0, queue_capacity = 1, nominal_rate_hz = 1;
  double critical_battery_pct = 10;
  // A fog node to offload to: every configuration also runs offloaded (the actions double).
  bool offload = false;

  size_t actions() const { return variants.size() * size_t(levels) * (offload ? 2 : 1); }
  // The action at an index: the first variants x levels actions run here (variant index / levels,
  // level index % levels), the next as many the same offloaded. Domains of the snapshot not in
  // `devices` are left as they are.
  Action action(size_t index, const Snapshot& now) const;
  // The operating-point index of a level on device d.
  size_t opp_of_level(size_t d, int level) const;
  // The variant that costs least per inference.
  size_t cheapest_variant() const;
  std::string label(size_t index) const;  // "student.int8@L0", "camera96@L3+fog"

  // The normalised state a learned policy sees (features() values, 0..~1 each).
  size_t feature_count() const;
  std::vector<float> features(const Snapshot& now) const;
};

// The shield's hard rules, each counted when it changes what the governor asked:
//  thermal: at or above trip - margin, every DVFS domain one operating point below its current
//    one (and never above it);
//  battery: at or below the critical charge, the cheapest variant;
//  deadline: after `miss_streak` intervals whose latency passed the deadline, one operating point
//    up (unless the thermal rule holds);
//  link: offloading, and half the fog node's requests (or its ping) failed last interval: local.
struct ShieldSettings {
  double thermal_margin_c = 5;
  int miss_streak = 3;
};
class ShieldedGovernor : public Governor {
 public:
  ShieldedGovernor(std::unique_ptr<Governor> inner, ControlSpace space, ShieldSettings s = {});
  std::string name() const override { return inner_->name(); }
  Action decide(const Snapshot& now) override;
  void reset() override;
  std::map<std::string, int64_t> overrides() const override { return overrides_; }

 private:
  std::unique_ptr<Governor> inner_;
  ControlSpace space_;
  ShieldSettings s_;
  int misses_in_a_row_ = 0;
  std::map<std::string, int64_t> overrides_;
};

// A practitioner's threshold controller over the same actions: the most accurate variant that
// keeps up, frequency up when latency nears the deadline or frames queue, down when there is slack;
// a cheaper variant when the top level is not enough; down near the trip; the cheapest variant on
// a low battery.
class RuleGovernor : public Governor {
 public:
  explicit RuleGovernor(ControlSpace space);
  std::string name() const override { return "rule"; }
  Action decide(const Snapshot& now) override;
  void reset() override;

 private:
  ControlSpace space_;
  std::vector<size_t> by_accuracy_;  // variant indices, most accurate first
  size_t rank_ = 0;                  // into by_accuracy_
  int level_ = 0, calm_ = 0;
};

// Every domain at its highest operating point and the default variant: the paper's "static
// settings".
class StaticMaxGovernor : public Governor {
 public:
  explicit StaticMaxGovernor(ControlSpace space) : space_(std::move(space)) {}
  std::string name() const override { return "static-max"; }
  Action decide(const Snapshot& now) override;

 private:
  ControlSpace space_;
};

// A Q-network from an ONNX file (input [1, features], output [1, actions]) run by edgeco's
// runtime: the action with the highest value. Refuses a network whose shapes do not match the
// space.
class DqnGovernor : public Governor {
 public:
  DqnGovernor(const std::filesystem::path& policy, ControlSpace space);
  ~DqnGovernor() override;
  std::string name() const override { return "dqn"; }
  Action decide(const Snapshot& now) override;
  // The Q-values for a snapshot (tests, the trainer's checks).
  std::vector<float> q_values(const Snapshot& now);

 private:
  struct Net;
  std::unique_ptr<Net> net_;
  ControlSpace space_;
};

// A controller by name over a space: the kernel's governors (with `settings`), static-max, rule,
// or dqn (from `policy`). The shield wraps rule and dqn unless `shield` says otherwise.
std::unique_ptr<Governor> make_controller(std::string_view name, const ControlSpace& space,
                                          const std::filesystem::path& policy = {},
                                          std::optional<bool> shield = std::nullopt,
                                          const ShieldSettings& shield_settings = {},
                                          const GovernorSettings& settings = {});

}  // namespace edgeco::power
