// The deployment simulator: a discrete-event model of a workload (camera streams, events, sensor
// windows) served by model variants on a modelled platform, with each device's operating point,
// power, a thermal RC network, the kernel's thermal throttling and a battery. Service latency and
// energy come from the compiler's plan and the cost model, priced once per variant, device and
// operating point; the event loop never prices a node. Everything here is simulated: reports say
// so.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "edgeco/compiler.h"
#include "edgeco/control.h"
#include "edgeco/hw.h"
#include "edgeco/power.h"

namespace edgeco::sim {

// One source of frames.
struct Stream {
  enum class Kind { periodic, poisson, bursty, trace };
  std::string name;
  Kind kind = Kind::periodic;
  int count = 1;         // identical independent streams (cameras)
  double rate_hz = 1;    // periodic and poisson
  double jitter_ms = 0;  // periodic: uniform jitter of each frame, +-
  // bursty: a two-state Markov-modulated Poisson process, quiet <-> burst, exponential dwell times
  double quiet_rate_hz = 0, burst_rate_hz = 0, mean_quiet_s = 0, mean_burst_s = 0;
  std::vector<double> trace_s;  // trace: arrival times (seconds from the start), replayed daily
  std::filesystem::path trace_file;
};
std::string_view to_string(Stream::Kind kind);

// A model the deployment can serve with, and its accuracy as `edgeco eval` measured it.
struct Variant {
  std::string name, family;  // variants of one family differ only in input resolution
  std::filesystem::path model;
  int resolution_px = 0;
  double accuracy = 0;  // top-1 fraction, measured
  std::string accuracy_source;
};

// What a learned controller is rewarded for in one control interval (a scenario's `reward:`):
//   accuracy x (the served frames' measured accuracy, summed)
//   - energy_per_j x joules - miss x deadline misses - drop x dropped frames
//   - thermal_per_c x degrees above (trip - thermal_margin_c)
//   - reconfigure, when the interval began with another configuration than the last
// Timely, correct inference is paid; power, lateness and heat near the trip cost, and so does a
// change of operating point or variant (a PLL relock, cold caches), which also keeps a learned
// policy from alternating between configurations whose values its estimates cannot tell apart.
struct RewardWeights {
  double accuracy = 1, energy_per_j = 10, miss = 2, drop = 2, thermal_per_c = 1;
  double thermal_margin_c = 5, reconfigure = 0.1;
};

// A fog node the deployment may offload to (a scenario's `fog:`): its platform prices the tails,
// the link carries the cut tensors. A request lost, sent while the node is unreachable or answered
// past the timeout costs the timeout, then the tail runs on the device (the Offloader's fallback).
struct Fog {
  std::string platform;
  double bandwidth_mbps = 0, rtt_ms = 0;
  double loss = 0;  // the probability a request is lost
  double timeout_ms = 200;
  double radio_watts = 0;                            // the device's radio while a request is out
  std::vector<std::pair<double, double>> outages_s;  // [start, end): the node unreachable
};

struct Scenario {
  std::string name, description;
  std::vector<std::string> sources;
  std::string platform;
  std::vector<Variant> variants;  // the first is the default
  std::vector<Stream> streams;
  double deadline_ms = 0;
  int queue_capacity = 4;
  bool drop_oldest = true;  // a full queue drops its oldest frame; false: the arriving one
  double control_interval_ms = 100;
  // Daily ambient temperature: (hour 0..24, celsius) points, piecewise linear, repeated each
  // day; empty: the platform's ambient.
  std::vector<std::pair<double, double>> ambient;
  double extra_resistance_c_per_w = 0;  // an enclosure around the board
  bool on_battery = false;
  double battery_start_pct = 100;
  double hours = 1;  // default length of a run
  Strategy strategy = Strategy::exact;
  RewardWeights reward;
  std::optional<Fog> fog;
  std::filesystem::path file;
};

// Parses a scenario file; errors name the file, the line and the field. Relative model and trace
// paths resolve against the repository root (the folder above scenarios/) when not found beside
// the file.
Scenario load_scenario(const std::filesystem::path& path);
Scenario parse_scenario(std::string_view text, const std::filesystem::path& path);
// A preset's name ("surveillance") or a path to a YAML file.
Scenario find_scenario(std::string_view name_or_path);
std::vector<std::string> scenario_names();
std::filesystem::path scenario_dir();  // scenarios/ (EDGECO_SCENARIOS overrides)

// A trace of arrivals: CSV with a header naming a `time_s` column, one frame per row, times
// ascending. Errors name the file and line.
std::vector<double> parse_trace_csv(std::string_view text, const std::filesystem::path& path);

// One variant's cost on the platform: for each device and each of its operating points, the
// time the device is busy per inference and its dynamic plus memory energy (leakage is charged
// continuously by the simulator); transfers between devices are fixed.
struct VariantCost {
  std::vector<std::vector<double>> busy_ms;     // [device][opp]
  std::vector<std::vector<double>> dynamic_mj;  // [device][opp]
  double transfer_ms = 0, transfer_mj = 0;
  int nodes = 0;
};
// What offloading one frame of a variant costs (a scenario with a fog node): the head on the
// device, the cut tensors' bytes, the tail on the fog node, and the tail on the device for a
// fallback. The cut is the one with the least device energy on the scenario's nominal link among
// those that send something (offload::price_cuts).
struct OffloadCost {
  VariantCost head, tail;
  double server_ms = 0;
  int64_t bytes = 0;
  std::string cut;  // the last head node ("" : the whole model on the fog node)
};

// Prices `graph`'s plan (placement with every device at its highest operating point, as compile()
// places it) at every operating point of every device.
VariantCost price_variant(const Graph& graph, const hw::Platform& platform, Strategy strategy,
                          const ConstantEvaluator& evaluate = nullptr);
// What one inference costs with every device at its highest operating point: dynamic work,
// transfers and the leakage of the devices while busy (at 25 C).
double energy_per_inference_mj(const VariantCost& cost, const hw::Platform& platform);

// Domain randomisation: a run under other conditions than the scenario's.
struct Perturbation {
  double ambient_offset_c = 0;    // added to the ambient all day
  double rate_scale = 1;          // periodic, Poisson and bursty rates multiplied
  double battery_start_pct = -1;  // < 0: the scenario's
};

// Something that happens during a run, at the start of the control interval holding `time_s`:
// the battery falls to `value` percent, the ambient steps by `value` degrees, an extra Poisson
// stream of `value` frames per second runs for `duration_s`, or the fog node is unreachable for
// `value` seconds (link_down).
struct Event {
  enum class Kind { battery_drop, ambient_step, load_burst, link_down };
  Kind kind = Kind::load_burst;
  double time_s = 0, value = 0, duration_s = 60;
};
Event parse_event(std::string_view text);  // "battery_drop@3600:8", "load_burst@7200:20:60",
                                           // "link_down@3600:600"

struct Options {
  double hours = 0;  // 0: the scenario's
  uint64_t seed = 1;
  std::ostream* trace = nullptr;  // CSV, one row per device (and the board) per control interval
  std::function<void(double done)> progress;  // fraction of the simulated time, ~100 calls
  // Fill each snapshot's named readings as a board's LinuxTelemetry would name them
  // (thermal/board, power/<device>, cpufreq/cpu/cur, devfreq/<device>/cur, cpu/util,
  // battery/sim/capacity) for a governor that reads them; off, only the numeric fields are set.
  bool readings = false;
  // Called with every snapshot the governor sees, after it decides (tests, logging).
  std::function<void(const power::Snapshot&, const power::Action&)> observe;
  Perturbation perturbation;
  std::vector<Event> events;
};

struct Summary {
  std::string platform, scenario, governor;
  uint64_t seed = 0;
  double simulated_s = 0;
  int64_t frames = 0, served = 0, dropped = 0, deadline_misses = 0;
  double energy_j = 0, avg_power_w = 0, frames_per_j = 0;
  double latency_p50_ms = 0, latency_p95_ms = 0, latency_p99_ms = 0;
  double accuracy = 0;  // mean over served frames of the serving variant's measured accuracy
  double temperature_mean_c = 0, temperature_max_c = 0;
  double throttled_s = 0;
  double battery_start_pct = 0, battery_end_pct = 0;
  bool battery_empty = false, shutdown = false;   // the run ended early because of it
  std::map<std::string, double> device_energy_j;  // devices and "board" (static power)
  std::map<std::string, int64_t> served_by_variant;
  // The controller: wall time of each decision (measured on this machine), the shield's
  // overrides, configurations applied (intervals each), and the reaction to injected events:
  // from the event to the first interval whose configuration changed, plus the decision time.
  double decision_us_p50 = 0, decision_us_p99 = 0;
  std::map<std::string, int64_t> shield_overrides;
  std::map<std::string, int64_t> actions;
  double reaction_ms_p50 = 0, reaction_ms_max = 0;
  int64_t events = 0, events_unanswered = 0;  // unanswered: no change within 30 s
  // Offloading (a scenario with a fog node): frames sent, and those that fell back to the device.
  int64_t offloaded = 0, fallbacks = 0;
};
std::string summary_to_json(const Summary& summary);

// One control interval's outcome.
struct Interval {
  double energy_j = 0, accuracy_sum = 0, temperature_c = 0;
  int64_t arrivals = 0, served = 0, misses = 0, dropped = 0;
  bool reconfigured = false;  // the action changed an operating point or the variant
};
double reward(const RewardWeights& weights, const Interval& interval, double trip_c);

class Simulator;

// A run one control interval at a time: what a trainer steps and an oracle looks ahead in.
class Episode {
 public:
  Episode(const Simulator& simulator, const Options& options = {}, std::string governor = "");
  ~Episode();
  Episode(Episode&&) noexcept;
  Episode& operator=(Episode&&) = delete;

  // What a governor sees now.
  const power::Snapshot& snapshot() const;
  bool done() const;
  // Done for good, not by the run's length: the battery is flat or the board shut down.
  bool ended_early() const;
  // Applies the action (the thermal governor's cap still holds), runs one control interval and
  // observes. `decision_us`: how long the decision took (reported, and part of a reaction).
  Interval step(const power::Action& action, double decision_us = 0);
  // What `intervals` steps holding the action would give, this episode unchanged: the arrivals
  // to come are known (an oracle's clairvoyance). The outcomes summed.
  Interval preview(const power::Action& action, int intervals = 1) const;
  // The run so far; overrides from the governor when given.
  Summary summary(const power::Governor* governor = nullptr) const;

  struct State;   // what a step changes (copied by preview)
  struct Record;  // what only step records (latencies, decisions, reactions)

 private:
  const Simulator* sim_;
  Options options_;
  // The perturbed streams, then one per event; sources point into it (stable addresses).
  std::unique_ptr<std::vector<Stream>> streams_;
  size_t scenario_streams_ = 0;
  std::unique_ptr<State> state_;
  std::unique_ptr<Record> record_;
  std::string governor_;
};

// The simulation of one scenario on one platform under one governor. Variants are priced when
// the simulator is built (the expensive part; a DQN's training reuses one simulator for many runs).
class Simulator {
 public:
  Simulator(Scenario scenario, hw::Platform platform,
            const std::function<Graph(const std::filesystem::path&)>& load_model,
            const ConstantEvaluator& evaluate = nullptr);
  // For tests and callers that price elsewhere: one VariantCost per scenario variant (and one
  // OffloadCost per variant where the scenario has a fog node).
  Simulator(Scenario scenario, hw::Platform platform, std::vector<VariantCost> costs,
            std::vector<OffloadCost> offload_costs = {});

  Summary run(power::Governor& governor, const Options& options = {}) const;
  // The clairvoyant controller: each interval, every action of the space tried over the next
  // `lookahead` intervals with the arrivals to come known, the one with the highest reward kept.
  // Not a proof of optimality (the thermal and queue states couple intervals beyond the
  // lookahead) but an upper bound on what a controller seeing only the past achieves in practice.
  Summary oracle(const power::ControlSpace& space, const Options& options = {},
                 int lookahead = 2) const;
  // The deployment as a controller sees it: DVFS devices, variants (energy per inference at the
  // highest operating points), deadline, trip point, queue and nominal input rate; offloading as
  // an action where the scenario has a fog node and `offload` is true.
  power::ControlSpace control_space(int levels = 4, bool offload = true) const;

  const Scenario& scenario() const { return scenario_; }
  const hw::Platform& platform() const { return platform_; }
  const std::vector<VariantCost>& costs() const { return costs_; }
  // One per variant where the scenario has a fog node, else empty.
  const std::vector<OffloadCost>& offload_costs() const { return offload_costs_; }

 private:
  Scenario scenario_;
  hw::Platform platform_;
  std::vector<VariantCost> costs_;
  std::vector<OffloadCost> offload_costs_;
  OffloadCost price_offload(const Graph& model, const VariantCost& whole,
                            const ConstantEvaluator& evaluate) const;
};

// Every controller `edgeco simulate` runs: the kernel's governors, static-max (the paper's static
// settings), rule (a threshold controller), dqn (a learned policy from ONNX), oracle.
struct ControllerOptions {
  power::GovernorSettings settings;  // the kernel governors' tunables
  std::filesystem::path policy;      // dqn: the Q-network
  std::optional<bool> shield;        // default: on for rule and dqn, off for the others
  power::ShieldSettings shield_settings;
  int levels = 4;       // frequency levels of the action space
  bool offload = true;  // offloading an action where the scenario has a fog node
};
std::vector<std::string> controller_names();
// The policy edgeco ships for this scenario and platform (models/governors/SCENARIO.PLATFORM.onnx
// beside scenarios/), or empty; `dqn` without a policy runs it.
std::filesystem::path shipped_policy(const Simulator& simulator);
// Any but the oracle (which is Simulator::oracle: it needs the future, not a snapshot).
std::unique_ptr<power::Governor> make_controller(std::string_view name, const Simulator& simulator,
                                                 const ControllerOptions& options = {});

// The exact step of a first-order thermal RC network under constant power: the temperature after
// `dt_s` from `celsius`, at ambient `ambient_c`, with resistance R (C/W) and capacitance C (J/C).
double thermal_step(double celsius, double watts, double ambient_c, double r, double c,
                    double dt_s);

// The battery's open-circuit voltage at a state of charge (the platform's curve, linear between
// points), and the current drawn for `watts` at the terminals through the internal resistance
// (nullopt: the battery cannot deliver it).
double open_circuit_volts(const hw::Battery& battery, double state_of_charge);
std::optional<double> battery_current_a(const hw::Battery& battery, double state_of_charge,
                                        double watts);

}  // namespace edgeco::sim
