// The hardware model: a heterogeneous edge platform described in YAML (platforms/*.yaml, every
// constant with its source), and a cost model that estimates a node's latency and energy on one of
// its devices at an operating point. Modelled figures, not measurements: reports say so.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "edgeco/core.h"

namespace edgeco::hw {

enum class DeviceKind { cpu, gpu, npu, fpga };
std::string_view to_string(DeviceKind kind);

// Operator classes the devices' throughput is given for.
// winograd_conv: a dense 3x3 convolution the compiler runs as Winograd (algorithm="winograd"),
// its rate in direct-convolution MACs per cycle; a device without that rate prices it as dense.
enum class OpClass {
  dense_conv,
  depthwise_conv,
  matmul,
  elementwise,
  pooling,
  other,
  winograd_conv
};
std::string_view to_string(OpClass c);
// A node's class comes from its operator's registry entry (compiler: cost_class).

// Numeric types the throughput tables are keyed by: edgeco's one numeric-type enum (core.h).
using edgeco::NumType;
using edgeco::to_string;

struct NodeWork;

struct OperatingPoint {
  double mhz = 0, volts = 0;
};

struct Device {
  std::string name;  // starts with its kind: "cpu", "gpu0", "npu"
  DeviceKind kind = DeviceKind::cpu;
  std::vector<OperatingPoint> opps;  // ascending frequency
  // Dynamic power C * V^2 * f * activity (C in nF, f in MHz: watts = C * V^2 * f * 1e-3).
  double capacitance_nf = 0;
  double activity = 1.0;
  // Leakage at `leakage_ref_volts` and 25 C, scaled linearly with V and exponentially with
  // temperature (doubling every `leakage_doubling_c` degrees).
  double leakage_w = 0, leakage_ref_volts = 1.0, leakage_doubling_c = 25;
  // Sustained MACs (or elements, for element-wise and pooling) per cycle, by type and class.
  std::map<NumType, std::map<OpClass, double>> macs_per_cycle;
  double onchip_bytes = 0;        // SRAM / cache a layer's tensors can stay in
  double dram_gbps = 0;           // its bandwidth to the shared DRAM
  double onchip_gbps = 0;         // to its on-chip memory
  double dram_pj_per_byte = 0;    // energy of DRAM traffic
  double onchip_pj_per_byte = 0;  // energy of on-chip traffic
  // An optional last-level cache between the two (a CPU's L3): a layer whose tensors exceed the
  // on-chip memory but fit here moves its activations at `llc_gbps`. 0 bytes: no such level.
  double llc_bytes = 0, llc_gbps = 0, llc_pj_per_byte = 0;
  double overhead_us = 0;  // per node: kernel launch or command overhead
  // Elements per cycle of an exp-based activation (Sigmoid, Swish, Tanh) on top of the node's
  // own work; 0: not modelled apart (folded into the rates). Cheap ones (ReLU, HardSwish) are.
  double transcendental_per_cycle = 0;
  // How much of the roofline's shorter side hides under the longer one: 1 = full overlap
  // (latency = max of compute and memory time, as with an accelerator's DMA double buffering),
  // 0 = none (their sum); in between, max + (1 - overlap) * min. YAML: true, false or a fraction.
  double memory_overlap = 1.0;
  std::set<std::string> ops;  // supported operator types; empty: all
  std::vector<std::string> sources;

  bool supports(NumType t, std::string_view op_type) const;
  // The type this device runs a node in: its own, or for an int8 node on a device without int8,
  // fp16 or fp32 (dequantized weights); nullopt when the device cannot run it.
  std::optional<NumType> run_type(const NodeWork& work) const;
  // MACs per cycle for a type and class (a Winograd convolution falls back to the dense rate);
  // nullopt when the device has none.
  std::optional<double> rate(NumType t, OpClass c) const;
  double dynamic_watts(const OperatingPoint& p) const;
  double leakage_watts(const OperatingPoint& p, double celsius) const;
};

struct Thermal {
  double ambient_c = 25, resistance_c_per_w = 0, capacitance_j_per_c = 0;
  double throttle_c = 0, shutdown_c = 0;
};

struct Battery {
  double capacity_mah = 0, internal_ohm = 0;
  std::vector<std::pair<double, double>> voltage_curve;  // (state of charge 0..1, volts)
};

struct Platform {
  std::string name, description;
  std::vector<Device> devices;
  double static_watts = 0;                                     // board-level, while powered
  double interconnect_gbps = 0, interconnect_pj_per_byte = 0;  // moving tensors between devices
  Thermal thermal;
  Battery battery;
  std::vector<std::string> sources;
  std::filesystem::path file;
  // Comments to_yaml writes (the parser does not read comments back): the file's header, and a
  // constant's source by its field path ("static_watts", "devices[0].memory.dram_gbps").
  std::string header;
  std::map<std::string, std::string> notes;

  const Device& device(std::string_view name) const;
};

// What the board draws doing nothing: its static power plus every device's leakage at its lowest
// operating point (what an edge device pays while it waits for a fog node's answer).
double idle_watts(const Platform& platform, double celsius = 25);

// Parses a platform file. Errors name the file, the line and the field.
Platform load_platform(const std::filesystem::path& path);
// The same from YAML text; `path` names it in errors.
Platform parse_platform(std::string_view text, const std::filesystem::path& path);
// The platform as a file parse_platform reads back to the same values, every constant on its own
// line with its note (Platform::notes) beside it.
std::string to_yaml(const Platform& platform);
// A preset's name ("jetson-nano-ethos-u55") or a path to a YAML file.
Platform find_platform(std::string_view name_or_path);
// The presets shipped in platforms/ (EDGECO_PLATFORMS overrides the folder).
std::vector<std::string> preset_names();
std::filesystem::path platform_dir();
// Where `edgeco calibrate` stores the host platform and find_platform("host") looks first:
// $EDGECO_HOST_PLATFORM, else $XDG_CONFIG_HOME/edgeco/host.yaml, else ~/.config/edgeco/host.yaml.
// Without it, "host" is the shipped, uncalibrated platforms/host.yaml.
std::filesystem::path host_platform_path();

// What a node asks of a device.
struct NodeWork {
  std::string op_type;
  OpClass op_class = OpClass::other;
  NumType type = NumType::fp32;
  int64_t macs = 0;  // multiply-accumulates (element count for element-wise and pooling)
  int64_t bytes_read = 0, bytes_written = 0, weight_bytes = 0;
  // Activation bytes a cascade keeps in on-chip memory (tiling): read or written there instead of
  // DRAM when the node's tensors do not fit on chip as a whole.
  int64_t onchip_activation_bytes = 0;
  // Outputs that pass an exp-based activation (a standalone Sigmoid/Tanh or one fused into it).
  int64_t transcendental_elements = 0;
};

struct Cost {
  double latency_ms = 0, energy_mj = 0;
  double compute_ms = 0, memory_ms = 0;  // the roofline's two sides
  bool memory_bound = false;
  bool onchip = false;  // the node's tensors fit the device's on-chip memory
  // The node's traffic by memory level (a tensor set that fits a cache still reads its weights
  // from DRAM: a network's weights as a whole do not stay cached between runs).
  double dram_bytes = 0, llc_bytes = 0, onchip_bytes = 0;
};

// Roofline latency (compute vs memory time, plus the device's per-node overhead) and energy
// ((dynamic + leakage power) x time + bytes moved x energy per byte). Throws unsupported when the
// device has no throughput for the node's type and class.
Cost node_cost(const Device& device, const OperatingPoint& opp, const NodeWork& work,
               double celsius = 25);
// Moving `bytes` from one device to another over the platform's interconnect (zero on the same
// device).
Cost transfer_cost(const Platform& platform, const Device& from, const Device& to, int64_t bytes);

}  // namespace edgeco::hw
