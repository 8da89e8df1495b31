// The real control loop: frames arrive at a fixed rate into a bounded queue, edgeco sessions serve
// them, and every control interval a governor reads real telemetry (the board's sysfs, the
// measured latency and queue) and acts through real actuators (the variant switch; cpufreq and
// devfreq where writable). Every frame is accounted for: served, with its measured latency and
// prediction, or reported dropped.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "edgeco/control.h"
#include "edgeco/power.h"

namespace edgeco::power {

struct StreamVariant {
  std::string name;
  std::shared_ptr<Session> session;
  double accuracy = 0;   // measured top-1, where known (0: unknown)
  double energy_mj = 0;  // modelled energy per inference (0: unknown)
};

// Frames: images [N, C, H, W] (fitted to each variant's input as it serves them), labels [N] where
// known. Frame i is sample i % N.
struct StreamSource {
  Tensor images;
  std::optional<Tensor> labels;
};

// Runs one frame on the serving variant in place of its session (the offload actuator): the
// model's outputs, and where it ran ("local", "offload", "fallback") in `where`. `offload` is the
// governor's latest wish (nullopt: it never said).
using FrameRunner = std::function<TensorMap(const std::string& variant, const TensorMap& feed,
                                            std::optional<bool> offload, std::string& where)>;

struct StreamOptions {
  double rate_hz = 30;
  int64_t count = 100;
  double deadline_ms = 0;  // 0: one frame period
  int queue_capacity = 4;  // full: the oldest waiting frame is dropped
  double control_interval_ms = 100;
  std::filesystem::path root = "/";  // telemetry and frequency actuators (a fake tree in tests)
  double static_watts = 0;           // modelled board power besides the inferences
  FrameRunner runner;                // empty: every frame on the variant's session
};

struct FrameRecord {
  int64_t frame = 0;
  double t_ms = 0;  // arrival, from the start
  bool dropped = false;
  double latency_ms = 0;  // arrival to result
  std::string variant;
  int resolution_px = 0;
  std::string where = "local";         // local, offload (tail on the fog node) or fallback
  int64_t predicted = -1, label = -1;  // label -1: unknown
};

struct StreamSummary {
  int64_t frames = 0, served = 0, dropped = 0, deadline_misses = 0, switches = 0;
  double seconds = 0, latency_p50_ms = 0, latency_p95_ms = 0, latency_p99_ms = 0;
  std::optional<double> accuracy;  // over served frames with labels
  double decision_us_p50 = 0, decision_us_p99 = 0;
  std::map<std::string, int64_t> served_by_variant;
  std::map<std::string, int64_t> served_where;  // local / offload / fallback
  std::map<std::string, int64_t> shield_overrides;
  // Energy: measured from a power sensor where the board has one (RAPL, INA3221), else modelled
  // (each variant's modelled energy per inference plus static power over the run).
  std::optional<double> energy_j;
  std::string energy_source;
  std::vector<std::string> unavailable;  // actuators that could not act here, with why
};

// Runs the stream. `on_frame` gets each frame's record as it is served or dropped (from the
// serving thread). The governor's actions on domains it names go to the frequency actuator of the
// same name; what the actuators changed is restored before this returns.
StreamSummary run_stream(std::vector<StreamVariant> variants, const StreamSource& source,
                         const StreamOptions& options, Governor& governor,
                         const std::function<void(const FrameRecord&)>& on_frame = nullptr);

}  // namespace edgeco::power
