// Calibrating the `host` platform: the hardware model fitted to this machine by measurement.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "edgeco/compiler.h"
#include "edgeco/hw.h"
#include "edgeco/session.h"

namespace edgeco {

// Calibrating the `host` platform from micro-benchmarks of single layers run on this machine.
// Networks given with the options are timed (whole runs) in the same rounds as the benchmarks, so
// a model fitted from the benchmarks meets a measurement of the same machine state.
struct TimedNetwork {
  Graph graph;
  TensorMap inputs;
};
struct HostCalibrationOptions {
  int threads = 1;
  int repeats = 60;  // rounds, each timing every benchmark once (median over rounds)
  // Unstrided convolutions are timed as chains of this many layers, each with its own weights,
  // as they run in a network (1: one layer rerun, its weights hot in cache).
  int chain = 4;
  std::vector<TimedNetwork> networks;
  std::function<void(size_t done, size_t total)> progress;
};
struct HostCalibrationPoint {
  std::string what;
  hw::NumType type;
  hw::OpClass op_class;
  int64_t macs = 0, bytes = 0;
  double measured_ms = 0, macs_per_cycle = 0;
};
struct HostCalibration {
  int threads = 1, chain = 1;
  double mhz = 0, l2_kib = 0, dram_gbps = 0, onchip_gbps = 0, overhead_us = 0;
  double onchip_kib = 0;                // L2 per core x threads
  double llc_kib = 0, llc_gbps = 0;     // the last-level cache; 0 KiB: none modelled
  double transcendental_per_cycle = 0;  // SiLU elements per cycle beyond ReLU's
  std::map<std::pair<hw::NumType, hw::OpClass>, double> macs_per_cycle;  // median per class
  std::vector<HostCalibrationPoint> points;
  // Each of the options' networks: every timed run's wall time and its per-node times.
  struct NetworkRuns {
    std::vector<double> run_ms;
    std::vector<std::vector<NodeTiming>> node_timings;
  };
  std::vector<NetworkRuns> networks;
};
HostCalibration calibrate_host(const HostCalibrationOptions& options = {});
// The calibration as the `host` platform, every constant's source in its notes (hw::to_yaml
// writes them beside the values).
hw::Platform host_platform(const HostCalibration& calibration);

// validate --breakdown: per-node measured times (each node's runs, by node name) joined with a
// plan's nodes and summed per operator class and numeric type ("int8 dense_conv"); runtime nodes
// the plan does not have, or plan nodes the runtime did not time, form their own groups
// ("(not in the plan)", "(not timed by the runtime)"). A node's measured time is the mean of its
// runs.
struct GroupTime {
  int nodes = 0;
  double modelled_ms = 0, measured_ms = 0;
};
std::map<std::string, GroupTime> group_times(
    const Plan& plan, const std::map<std::string, std::vector<double>>& node_runs);

}  // namespace edgeco
