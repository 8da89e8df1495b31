// The runtime's senses and hands: telemetry (what a board exposes through Linux sysfs, or what the
// simulator says a modelled board would), actuators (cpufreq, devfreq, model variant) and the
// governors that map one to the other. A governor sees only a Snapshot and returns an Action, so
// the same object runs on a real board and in the simulator (DESIGN.md, "The runtime loop").
#pragma once

#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "edgeco/core.h"
#include "edgeco/session.h"

namespace edgeco::power {

constexpr double kUnknown = std::numeric_limits<double>::quiet_NaN();

// One value a source read: "thermal/cpu-thermal" 47.5 "C".
struct Reading {
  std::string name;
  double value = 0;
  std::string unit;
};

// Something looked for and not read: what, the file (or folder), and why ("absent",
// "unreadable", "bad value '...'").
struct Missing {
  std::string what, path, why;
};

// A frequency-scaling domain: a cpufreq policy, a devfreq device, or a modelled device.
struct Domain {
  std::string name;                   // "cpu0", "57000000.gpu", or the platform's device name
  std::vector<double> available_mhz;  // ascending; empty when the driver lists none
  double cur_mhz = 0, min_mhz = 0, max_mhz = 0;
  double util = kUnknown;  // busy fraction over the last interval, 0..1
  std::string governor;    // the kernel governor in charge, where known
};

// What a governor sees at one instant. The board-level signals are NaN where unknown.
struct Snapshot {
  double time_s = 0;
  std::vector<Domain> domains;
  double temperature_c = kUnknown;  // the hottest thermal zone
  double power_w = kUnknown;        // the board's power
  double battery_pct = kUnknown;
  double latency_ms = kUnknown;     // the deployment's recent frame latency (p95)
  double input_rate_hz = kUnknown;  // frames arriving per second
  double queue_length = kUnknown;   // frames waiting
  std::string variant;              // the model variant serving
  int resolution_px = 0;
  // Offloading, where a fog node is configured: whether frames are sent, and the fraction of this
  // interval's requests that failed and fell back (with none sent: a ping's, 0 or 1).
  std::optional<bool> offloading;
  double offload_failure_rate = kUnknown;
  // Every named value (the `edgeco telemetry` listing); a simulator in a hot loop may leave
  // these empty and fill only the fields above.
  std::vector<Reading> readings;
  std::vector<Missing> missing;

  // The value of a named reading, if read.
  std::optional<double> reading(std::string_view name) const;
};

class Telemetry {
 public:
  virtual ~Telemetry() = default;
  // A fresh snapshot; rates (power from energy counters, utilisation) come from the difference
  // to the previous call and are absent on the first.
  virtual Snapshot sample() = 0;
};

// Reads a Linux board's power interfaces under `root` ("/" on the board; tests point it at a fake
// tree): thermal zones, power supplies, cpufreq, devfreq, RAPL, Jetson INA3221 rails (JetPack 4
// iio and mainline hwmon) and /proc/stat. Never throws for what a file holds: a file that is
// absent, unreadable or malformed is listed in Snapshot::missing, naming it.
class LinuxTelemetry : public Telemetry {
 public:
  explicit LinuxTelemetry(std::filesystem::path root = "/");
  Snapshot sample() override;
  const std::filesystem::path& root() const { return root_; }

 private:
  struct Counter {
    double value, time_s;
  };
  std::filesystem::path root_;
  std::vector<std::pair<std::string, Counter>> energy_j_;  // RAPL, by zone name
  std::optional<std::pair<double, double>> cpu_busy_total_;
  double start_s_ = 0;
};

// The parsers behind LinuxTelemetry, for tests and fuzzing. Each returns nullopt and sets `why`
// for text that is not what the kernel writes.
// One integer as sysfs prints it ("47500\n"); values outside [min, max] are refused.
std::optional<double> parse_sysfs_number(std::string_view text, double min, double max,
                                         std::string* why);
// A space-separated list of integers ("204000 408000 ...").
std::optional<std::vector<double>> parse_sysfs_list(std::string_view text, std::string* why);
// /proc/stat's aggregate "cpu" line: busy and total jiffies (busy excludes idle and iowait).
std::optional<std::pair<double, double>> parse_proc_stat(std::string_view text, std::string* why);
// A counter's increase between two readings, allowing one wrap-around at `range`.
double counter_delta(double before, double after, double range);

// Something the runtime can change. Whatever it changes, it restores: on restore(), on
// destruction, and on SIGINT/SIGTERM (restore_all_actuators runs from the handler path).
class Actuator {
 public:
  virtual ~Actuator() = default;
  virtual std::string name() const = 0;
  // Empty when usable here; else why not ("no cpufreq under /sys/...", "not writable").
  virtual std::string unavailable_reason() const = 0;
  virtual void restore() = 0;
};

// A frequency domain's actuator: cpufreq (userspace governor + scaling_setspeed, or clamping
// scaling_max_freq where userspace is not offered) or devfreq (min_freq/max_freq pinned).
class FrequencyActuator : public Actuator {
 public:
  enum class Kind { cpufreq, devfreq };
  // `dir`: a cpufreq policy folder (…/cpu0/cpufreq) or a devfreq device folder.
  FrequencyActuator(Kind kind, std::filesystem::path dir);
  ~FrequencyActuator() override;
  FrequencyActuator(const FrequencyActuator&) = delete;
  FrequencyActuator& operator=(const FrequencyActuator&) = delete;

  std::string name() const override;
  std::string unavailable_reason() const override;
  // Sets the domain to the available frequency nearest `mhz` (throws Error naming the file
  // when the write fails); returns the frequency set.
  double set_mhz(double mhz);
  void restore() override;
  // How the frequency is set: "userspace", "max_freq clamp", or "min/max pin".
  std::string method() const;
  const std::filesystem::path& dir() const { return dir_; }

 private:
  Kind kind_;
  std::filesystem::path dir_;
  std::vector<std::pair<std::filesystem::path, std::string>> saved_;  // file, original text
  std::vector<int> slots_;  // their entries in the signal handler's restore table
  std::string method_, unavailable_;
  std::vector<double> available_khz_;  // in the file's unit (kHz cpufreq, Hz devfreq)
  void write(const std::filesystem::path& file, const std::string& text);
};

// The actuators of a Linux board under `root`: one per cpufreq policy and devfreq device.
std::vector<std::unique_ptr<FrequencyActuator>> linux_frequency_actuators(
    const std::filesystem::path& root = "/");

// Restores every live actuator when the process gets SIGINT or SIGTERM, then re-raises the
// signal with its default action (so the exit status says which signal ended the process).
void restore_actuators_on_signals();

// Several prepared sessions kept warm: select() takes effect at the next run(), costs no
// preparation (a pointer swap; select returns its time) and drops no frame.
class VariantSwitch : public Actuator {
 public:
  struct Variant {
    std::string name;
    std::shared_ptr<Session> session;
  };
  explicit VariantSwitch(std::vector<Variant> variants);
  std::string name() const override { return "variant"; }
  std::string unavailable_reason() const override;
  void restore() override;  // back to the first variant
  // Selects a variant by name (throws Error listing the known ones); returns the switch time in
  // microseconds (a pointer swap).
  double select(std::string_view name);
  const std::string& current() const;
  // Runs the current variant.
  TensorMap run(const TensorMap& inputs);

 private:
  std::vector<Variant> variants_;
  size_t current_ = 0;
};

// What a governor asks for. Frequencies per domain (Snapshot::domains order; NaN: leave as is);
// a model variant or input resolution (nullopt: leave). Offloading is the fog issue's seam.
struct Action {
  std::vector<double> mhz;
  std::optional<std::string> variant;
  std::optional<int> resolution_px;
  std::optional<bool> offload;
};

class Governor {
 public:
  virtual ~Governor() = default;
  virtual std::string name() const = 0;
  // Called once per control interval with the latest snapshot.
  virtual Action decide(const Snapshot& now) = 0;
  // Forget state (a new run).
  virtual void reset() {}
  // How often a safety shield changed what was asked, by rule (empty without a shield).
  virtual std::map<std::string, int64_t> overrides() const { return {}; }
};

// The kernel's own algorithms and defaults, per domain:
//  performance / powersave: the policy's max / min;
//  ondemand (drivers/cpufreq/cpufreq_ondemand.c): load > up_threshold (80) -> max, else
//    min + load * (max - min) / 100 resolved to the closest available frequency;
//  conservative (cpufreq_conservative.c): steps of freq_step (5% of max) up above 80% load,
//    down below 20%, from the last requested frequency (up: highest at or below, down: lowest at
//    or above);
//  schedutil (kernel/sched/cpufreq_schedutil.c): 1.25 x cur x util, the lowest available at or
//    above it, at most once per rate_limit, never lower while the domain has not idled.
struct GovernorSettings {
  double up_threshold = 80, down_threshold = 20, freq_step_pct = 5;
  double sampling_down_factor = 1;
  double rate_limit_ms = 10;  // schedutil's rate_limit_us
  // static: a fixed configuration.
  std::vector<double> static_mhz;  // per domain; empty: every domain at its max
  std::string static_variant;
  int static_resolution_px = 0;
};
std::unique_ptr<Governor> make_governor(std::string_view name,
                                        const GovernorSettings& settings = {});
// performance, powersave, ondemand, conservative, schedutil, static.
std::vector<std::string> governor_names();

// The control loop on a real board: each step samples LinuxTelemetry, asks the governor and sets
// every domain it names through that domain's FrequencyActuator (matched by name: cpufreq's
// "cpuN", devfreq's device folder). What the actuators changed is put back when this object goes
// (and on SIGINT/SIGTERM once restore_actuators_on_signals() was called).
class BoardControl {
 public:
  explicit BoardControl(std::filesystem::path root = "/");
  // One control interval: the snapshot the governor saw and the action applied. A domain whose
  // actuator is unavailable keeps its frequency (its reason is in unavailable()).
  std::pair<Snapshot, Action> step(Governor& governor);
  // Actuators that cannot act here, with why.
  std::vector<std::pair<std::string, std::string>> unavailable() const;

 private:
  LinuxTelemetry telemetry_;
  std::filesystem::path root_;
  std::vector<std::pair<std::string, std::unique_ptr<FrequencyActuator>>> actuators_;  // by domain
};

// The available frequency resolved the way cpufreq's table helpers do: the lowest at or above
// (RELATION_L), the highest at or below (RELATION_H), the closest (RELATION_C, ties to the
// lower), each clamped to [min, max]. Without a table, the target clamped.
enum class Relation { lowest_at_or_above, highest_at_or_below, closest };
double resolve_frequency(const Domain& domain, double mhz, Relation relation);

}  // namespace edgeco::power
