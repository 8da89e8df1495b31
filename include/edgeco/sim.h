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
// Prices `graph`'s plan (placement with every device at its highest operating point, as compile()
// places it) at every operating point of every device.
VariantCost price_variant(const Graph& graph, const hw::Platform& platform, Strategy strategy,
                          const ConstantEvaluator& evaluate = nullptr);

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
};
std::string summary_to_json(const Summary& summary);

// The simulation of one scenario on one platform under one governor. Variants are priced when
// the simulator is built (the expensive part; a DQN's training reuses one simulator for many runs).
class Simulator {
 public:
  Simulator(Scenario scenario, hw::Platform platform,
            const std::function<Graph(const std::filesystem::path&)>& load_model,
            const ConstantEvaluator& evaluate = nullptr);
  // For tests and callers that price elsewhere: one VariantCost per scenario variant.
  Simulator(Scenario scenario, hw::Platform platform, std::vector<VariantCost> costs);

  Summary run(power::Governor& governor, const Options& options = {}) const;

  const Scenario& scenario() const { return scenario_; }
  const hw::Platform& platform() const { return platform_; }
  const std::vector<VariantCost>& costs() const { return costs_; }

 private:
  Scenario scenario_;
  hw::Platform platform_;
  std::vector<VariantCost> costs_;
};

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
