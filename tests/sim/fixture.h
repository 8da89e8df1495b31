// The simulator tests' board and scenario: small enough to check by hand.
#pragma once

#include <string>

#include "edgeco/hw.h"
#include "edgeco/sim.h"

namespace edgeco::sim {

// A one-CPU board with three operating points and no leakage, so power is exactly dynamic work
// plus static power and the arithmetic below is checkable by hand.
inline const char* kBoard = R"(
name: test-board
static_watts: 1.0
interconnect: {gbps: 10, pj_per_byte: 0}
thermal: {ambient_c: 25, resistance_c_per_w: 10, capacitance_j_per_c: 5, throttle_c: 60, shutdown_c: 90}
battery: {capacity_mah: 1000, internal_ohm: 0.1, voltage_curve: [[0, 3.0], [1, 4.2]]}
devices:
  - name: cpu
    kind: cpu
    opps_mhz_mv: [[500, 800], [1000, 900], [2000, 1100]]
    capacitance_nf: 1.0
    leakage: {watts: 0, ref_volts: 1.0}
    macs_per_cycle: {fp32: {dense_conv: 1, depthwise_conv: 1, matmul: 1, elementwise: 1, pooling: 1, other: 1}}
    memory: {onchip_kib: 64, onchip_gbps: 10, dram_gbps: 10, onchip_pj_per_byte: 0, dram_pj_per_byte: 0}
    ops: all
)";

inline Scenario scenario(const std::string& streams, double hours = 0.5) {
  const std::string text = R"(
name: test
platform: test-board
hours: )" + std::to_string(hours) +
                           R"(
control_interval_ms: 100
deadline_ms: 100
queue: {capacity: 4, drop: oldest}
streams:
)" + streams + R"(
variants:
  - {name: big, model: big.onnx, resolution_px: 28, accuracy: 0.9, accuracy_source: test}
  - {name: small, model: small.onnx, resolution_px: 28, accuracy: 0.8, accuracy_source: test}
)";
  return parse_scenario(text, "test.yaml");
}

// Busy time per inference at each operating point: 40 ms at 2 GHz for "big" (cycles fixed), and
// dynamic energy = C V^2 f x busy.
inline VariantCost cost_of(double ms_at_top) {
  const double mhz[] = {500, 1000, 2000}, volts[] = {0.8, 0.9, 1.1};
  VariantCost c;
  c.busy_ms.resize(1);
  c.dynamic_mj.resize(1);
  for (int p = 0; p < 3; ++p) {
    const double ms = ms_at_top * 2000 / mhz[p];
    c.busy_ms[0].push_back(ms);
    c.dynamic_mj[0].push_back(1.0 * volts[p] * volts[p] * mhz[p] * 1e-3 * ms);
  }
  return c;
}

inline Simulator simulator(const std::string& streams, double hours = 0.5) {
  return Simulator(scenario(streams, hours), hw::parse_platform(kBoard, "test-board.yaml"),
                   {cost_of(40), cost_of(10)});
}

inline const std::string kPoisson = "  - {name: cam, kind: poisson, rate_hz: 10}\n";

}  // namespace edgeco::sim
