#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "../test_util.h"
#include "edgeco/hw.h"

namespace edgeco::hw {
namespace {

// A one-device platform with round numbers, so costs have known answers.
constexpr const char* kSimple = R"(name: simple
static_watts: 0.5
interconnect: {gbps: 4, pj_per_byte: 128}
thermal: {ambient_c: 25, resistance_c_per_w: 4, capacitance_j_per_c: 40, throttle_c: 90, shutdown_c: 100}
battery: {capacity_mah: 1000, internal_ohm: 0.1, voltage_curve: [[0, 3.0], [1, 4.2]]}
devices:
  - name: cpu
    kind: cpu
    opps_mhz_mv: [[1000, 1000], [500, 800]]
    capacitance_nf: 1.0
    leakage: {watts: 0.5, ref_volts: 1.0, doubling_c: 25}
    macs_per_cycle:
      fp32: {dense_conv: 100, elementwise: 10}
    memory: {onchip_kib: 1, onchip_gbps: 100, dram_gbps: 10, onchip_pj_per_byte: 1, dram_pj_per_byte: 10}
    overhead_us: 5
  - name: npu0
    kind: npu
    opps_mhz_mv: [[500, 800]]
    capacitance_nf: 0.1
    leakage: {watts: 0.01, ref_volts: 0.8}
    macs_per_cycle:
      int8: {dense_conv: 256}
    memory: {onchip_kib: 256, onchip_gbps: 4, dram_gbps: 0.5, onchip_pj_per_byte: 2, dram_pj_per_byte: 64}
    ops: [Conv, QFusedConv]
)";

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  text.replace(text.find(from), from.size(), to);
  return text;
}

Platform simple() {
  return parse_platform(kSimple, "simple.yaml");
}

TEST(Platform, ParsesDevicesAndSortsOperatingPoints) {
  const Platform p = simple();
  ASSERT_EQ(p.devices.size(), 2u);
  const Device& cpu = p.device("cpu");
  EXPECT_EQ(cpu.kind, DeviceKind::cpu);
  ASSERT_EQ(cpu.opps.size(), 2u);
  EXPECT_EQ(cpu.opps[0].mhz, 500);
  EXPECT_DOUBLE_EQ(cpu.opps[1].volts, 1.0);
  EXPECT_TRUE(cpu.supports(NumType::fp32, "AnyOp"));
  EXPECT_FALSE(cpu.supports(NumType::int8, "Conv"));
  const Device& npu = p.device("npu0");
  EXPECT_TRUE(npu.supports(NumType::int8, "QFusedConv"));
  EXPECT_FALSE(npu.supports(NumType::int8, "LSTM"));
  EXPECT_FALSE(npu.supports(NumType::fp32, "Conv"));
  EXPECT_EQ(npu.leakage_doubling_c, 25);  // the default
  EXPECT_THROW(p.device("gpu"), Error);
}

TEST(Platform, PowerIsCV2fPlusLeakageDoublingWithTemperature) {
  const Platform p = simple();
  const Device& cpu = p.device("cpu");
  EXPECT_DOUBLE_EQ(cpu.dynamic_watts({1000, 1.0}), 1.0);  // 1 nF x 1 V^2 x 1 GHz
  EXPECT_DOUBLE_EQ(cpu.dynamic_watts({500, 0.8}), 0.32);
  EXPECT_DOUBLE_EQ(cpu.leakage_watts({1000, 1.0}, 25), 0.5);
  EXPECT_DOUBLE_EQ(cpu.leakage_watts({1000, 1.0}, 50), 1.0);
  EXPECT_DOUBLE_EQ(cpu.leakage_watts({500, 0.8}, 25), 0.4);
}

TEST(CostModel, RooflineKnownAnswers) {
  const Platform p = simple();
  const Device& cpu = p.device("cpu");
  NodeWork w{"Conv", OpClass::dense_conv, NumType::fp32, 1'000'000'000, 600'000'000, 400'000'000,
             0};
  // Compute 1e9 / (100 x 1 GHz) = 10 ms; memory 1e9 bytes at 10 GB/s = 100 ms: memory-bound.
  Cost c = node_cost(cpu, cpu.opps.back(), w);
  EXPECT_NEAR(c.compute_ms, 10.0, 1e-9);
  EXPECT_NEAR(c.memory_ms, 100.0, 1e-9);
  EXPECT_TRUE(c.memory_bound);
  EXPECT_FALSE(c.onchip);
  EXPECT_NEAR(c.latency_ms, 100.005, 1e-9);  // + 5 us overhead
  // (1 W dynamic + 0.5 W leakage) x 100.005 ms + 1e9 bytes x 10 pJ.
  EXPECT_NEAR(c.energy_mj, 1.5 * 100.005 + 10.0, 1e-9);

  // Small tensors stay on chip: only the weights come from DRAM; compute-bound.
  w = {"Conv", OpClass::dense_conv, NumType::fp32, 1'000'000, 512, 256, 100};
  c = node_cost(cpu, cpu.opps.back(), w);
  EXPECT_TRUE(c.onchip);
  EXPECT_FALSE(c.memory_bound);
  EXPECT_NEAR(c.compute_ms, 0.01, 1e-12);
  EXPECT_NEAR(c.memory_ms, (100 / 10e9 + 768 / 100e9) * 1e3, 1e-12);
  EXPECT_NEAR(c.energy_mj, 1.5 * 0.015 + (100 * 10 + 768 * 1) * 1e-9, 1e-12);
}

TEST(CostModel, WithoutOverlapMemoryAddsAndExpActivationsCostPerElement) {
  const Platform p =
      parse_platform(replaced(replaced(kSimple, "    overhead_us: 5\n",
                                       "    overhead_us: 5\n    memory_overlap: false\n"
                                       "    transcendental_per_cycle: 2\n"),
                              "fp32: {dense_conv: 100, elementwise: 10}",
                              "fp32: {dense_conv: 100, elementwise: 10, matmul: 100}"),
                     "simple.yaml");
  const Device& cpu = p.device("cpu");
  EXPECT_EQ(cpu.memory_overlap, 0.0);
  NodeWork w{"Conv", OpClass::dense_conv, NumType::fp32, 1'000'000'000, 600'000'000, 400'000'000,
             0};
  // Compute 10 ms and memory 100 ms add up, + 5 us.
  EXPECT_NEAR(node_cost(cpu, cpu.opps.back(), w).latency_ms, 110.005, 1e-9);
  // 20 M outputs through a Sigmoid at 2 per cycle and 1 GHz: 10 ms more compute.
  w.transcendental_elements = 20'000'000;
  const Cost c = node_cost(cpu, cpu.opps.back(), w);
  EXPECT_NEAR(c.compute_ms, 20.0, 1e-9);
  EXPECT_NEAR(c.latency_ms, 120.005, 1e-9);
  // An element-wise rate is a streaming pass's, memory included: the larger side, not the sum
  // (1e9 elements at 10 per cycle = 100 ms; 2e9 bytes at 10 GB/s = 200 ms).
  const NodeWork add{
      "Add", OpClass::elementwise, NumType::fp32, 1'000'000'000, 1'000'000'000, 1'000'000'000, 0};
  EXPECT_NEAR(node_cost(cpu, cpu.opps.back(), add).latency_ms, 200.005, 1e-9);
  // So is a batch-1 Gemm's (each weight read once): 10 ms of compute under 100 ms of memory.
  const NodeWork gemm{
      "Gemm", OpClass::matmul, NumType::fp32, 1'000'000'000, 600'000'000, 400'000'000, 0};
  EXPECT_NEAR(node_cost(cpu, cpu.opps.back(), gemm).latency_ms, 100.005, 1e-9);
  // Half the shorter side hidden: 200 ms of memory + half of the 10 ms compute (this platform
  // has no exp-activation rate), + 5 us.
  const Platform half = parse_platform(
      replaced(kSimple, "    overhead_us: 5\n", "    overhead_us: 5\n    memory_overlap: 0.5\n"),
      "half.yaml");
  NodeWork conv = w;
  conv.bytes_read = 1'600'000'000;  // with 0.4e9 written, 2e9 bytes: 200 ms; compute 10 ms
  EXPECT_NEAR(node_cost(half.device("cpu"), cpu.opps.back(), conv).latency_ms, 205.005, 1e-9);
  // Without a rate, the activation is folded into the others: no extra time.
  EXPECT_NEAR(node_cost(simple().device("cpu"), cpu.opps.back(), w).compute_ms, 10.0, 1e-9);
}

const char* kCpuMemory =
    "memory: {onchip_kib: 1, onchip_gbps: 100, dram_gbps: 10, onchip_pj_per_byte: 1, "
    "dram_pj_per_byte: 10}";

TEST(CostModel, LastLevelCacheCarriesTheActivationsOfNodesThatFitIt) {
  const Platform p = parse_platform(
      replaced(kSimple, kCpuMemory,
               "memory: {onchip_kib: 1, onchip_gbps: 100, dram_gbps: 10, onchip_pj_per_byte: 1, "
               "dram_pj_per_byte: 10, llc_kib: 4096, llc_gbps: 50, llc_pj_per_byte: 4}"),
      "llc.yaml");
  const Device& cpu = p.device("cpu");
  EXPECT_EQ(cpu.llc_bytes, 4096.0 * 1024);
  // 2 MB: beyond the 1 KiB on chip, within the 4 MiB cache. 1.9 MB of activations at 50 GB/s,
  // the 0.1 MB of weights from DRAM at 10 GB/s; compute 1e6 / (100 x 1 GHz) = 0.01 ms.
  NodeWork w{"Conv", OpClass::dense_conv, NumType::fp32, 1'000'000, 1'500'000, 500'000, 100'000};
  Cost c = node_cost(cpu, cpu.opps.back(), w);
  EXPECT_FALSE(c.onchip);
  EXPECT_NEAR(c.llc_bytes, 1'900'000, 1e-6);
  EXPECT_NEAR(c.dram_bytes, 100'000, 1e-6);
  EXPECT_NEAR(c.memory_ms, (1.9e6 / 50e9 + 1e5 / 10e9) * 1e3, 1e-12);
  EXPECT_NEAR(c.energy_mj, 1.5 * c.latency_ms + (1.9e6 * 4 + 1e5 * 10) * 1e-9, 1e-12);
  // 8 MB does not fit: all of it from DRAM.
  w.bytes_read = 6'000'000;
  w.bytes_written = 2'000'000;
  c = node_cost(cpu, cpu.opps.back(), w);
  EXPECT_EQ(c.llc_bytes, 0.0);
  EXPECT_NEAR(c.memory_ms, 8e6 / 10e9 * 1e3, 1e-12);
  // Without the level (every preset but a calibrated host), the 2 MB node is priced at DRAM's.
  w.bytes_read = 1'500'000;
  w.bytes_written = 500'000;
  EXPECT_NEAR(node_cost(simple().device("cpu"), cpu.opps.back(), w).memory_ms, 2e6 / 10e9 * 1e3,
              1e-12);
}

TEST(CostModel, UnsupportedTypeOrClassIsAnError) {
  const Platform p = simple();
  const NodeWork pool{"MaxPool", OpClass::pooling, NumType::fp32, 100, 0, 0, 0};
  EXPECT_THROW(node_cost(p.device("cpu"), p.device("cpu").opps[0], pool), Error);
  const NodeWork fp{"Conv", OpClass::dense_conv, NumType::fp32, 100, 0, 0, 0};
  EXPECT_THROW(node_cost(p.device("npu0"), p.device("npu0").opps[0], fp), Error);
}

TEST(CostModel, TransfersCostOnlyBetweenDevices) {
  const Platform p = simple();
  const Cost same = transfer_cost(p, p.device("cpu"), p.device("cpu"), 1'000'000);
  EXPECT_EQ(same.latency_ms, 0);
  const Cost moved = transfer_cost(p, p.device("cpu"), p.device("npu0"), 1'000'000);
  EXPECT_NEAR(moved.latency_ms, 0.25, 1e-12);  // 1 MB at 4 GB/s
  EXPECT_NEAR(moved.energy_mj, 0.128, 1e-12);  // 1e6 x 128 pJ
}

TEST(CostModel, WinogradConvolutionsTakeTheirOwnRateOrElseTheDenseOne) {
  // Dense at 100 MACs/cycle; no Winograd rate: the same 10 ms of compute.
  NodeWork w{"FusedConv", OpClass::winograd_conv, NumType::fp32, 1'000'000'000, 100, 100, 0};
  const Platform base = simple();
  const Device& plain = base.device("cpu");
  EXPECT_EQ(plain.rate(NumType::fp32, OpClass::winograd_conv), 100.0);
  EXPECT_NEAR(node_cost(plain, plain.opps.back(), w).compute_ms, 10.0, 1e-9);
  // With 250 MACs/cycle (direct MACs counted) it takes 4 ms; an int8 device without dense
  // rates has no Winograd one either.
  const Platform p = parse_platform(
      replaced(kSimple, "fp32: {dense_conv: 100,", "fp32: {dense_conv: 100, winograd_conv: 250,"),
      "winograd.yaml");
  const Device& cpu = p.device("cpu");
  EXPECT_NEAR(node_cost(cpu, cpu.opps.back(), w).compute_ms, 4.0, 1e-9);
  EXPECT_FALSE(p.device("npu0").rate(NumType::fp32, OpClass::winograd_conv));
}

// Errors name the file, the line and the field.
void expect_yaml_error(const std::string& text, const std::string& want) {
  const std::string message =
      testing::capture_error([&] { parse_platform(text, "bad.yaml"); }).what();
  EXPECT_NE(message.find(want), std::string::npos) << message;
}

TEST(Platform, ErrorsNameFileLineAndField) {
  expect_yaml_error("name: [unclosed", "bad.yaml:");
  expect_yaml_error(replaced(kSimple, "kind: npu", "kind: tpu"), "bad.yaml:17:11");
  expect_yaml_error(replaced(kSimple, "kind: npu", "kind: tpu"), "'tpu' is not one of cpu, gpu");
  expect_yaml_error(replaced(kSimple, "capacitance_nf: 1.0", "capacitance_nf: lots"),
                    "devices[0](cpu).capacitance_nf: expected a number");
  expect_yaml_error(replaced(kSimple, "capacitance_nf: 1.0", "capacitance_nf: -1"),
                    "must be a finite number >= 0");
  expect_yaml_error(replaced(kSimple, "static_watts: 0.5\n", ""), "platform.static_watts: missing");
  expect_yaml_error(replaced(kSimple, "name: npu0", "name: accel"), "starts with its kind");
  expect_yaml_error(replaced(kSimple, "name: npu0\n    kind: npu", "name: cpu\n    kind: cpu"),
                    "'cpu' twice");
  expect_yaml_error(replaced(kSimple, "fp32: {dense_conv: 100", "fp64: {dense_conv: 100"),
                    "'fp64' is not one of int8, fp16, fp32");
  expect_yaml_error(replaced(kSimple, "[[1000, 1000], [500, 800]]", "[[1000]]"),
                    "expected [number, number]");
  expect_yaml_error(replaced(kSimple, "overhead_us: 5", "overhead_us: 5\n    memory_overlap: 1.5"),
                    "devices[0](cpu).memory_overlap: must be true, false or a fraction in [0, 1]");
  expect_yaml_error(
      replaced(kSimple, "overhead_us: 5", "overhead_us: 5\n    memory_overlap: maybe"),
      "devices[0](cpu).memory_overlap: must be true, false or a fraction in [0, 1]");
  expect_yaml_error(replaced(kSimple, "dram_pj_per_byte: 10}", "dram_pj_per_byte: 10, llc_kib: 1}"),
                    "devices[0](cpu).memory.llc_kib: must exceed onchip_kib");
  expect_yaml_error(
      replaced(kSimple, "dram_pj_per_byte: 10}", "dram_pj_per_byte: 10, llc_kib: 64}"),
      "devices[0](cpu).memory.llc_gbps: missing");
  // A list as a mapping's key (the kind of input fuzz_scenario found in the scenario parser).
  expect_yaml_error(
      replaced(kSimple, "fp32: {dense_conv: 100", "? [fp32]\n      : {dense_conv: 100"),
      "a key must be text");
  EXPECT_THROW(load_platform("/nonexistent/platform.yaml"), Error);
  // A device file would be read forever: refused by name.
  EXPECT_NE(testing::error_of([] {
              load_platform("/dev/zero");
            }).find("/dev/zero: the platform file is not a regular file"),
            std::string::npos);
}

TEST(Platform, PresetsLoadWithTheDevicesTheyDescribe) {
  const auto names = preset_names();
  for (const char* want :
       {"jetson-nano", "jetson-nano-ethos-u55", "raspberry-pi-4", "coral-dev-board"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  for (const auto& n : names) {
    SCOPED_TRACE(n);
    const Platform p = find_platform(n);
    EXPECT_EQ(p.name, n);
    for (const Device& d : p.devices) EXPECT_FALSE(d.opps.empty());
  }
  const Platform paper = find_platform("jetson-nano-ethos-u55");
  EXPECT_EQ(paper.devices.size(), 3u);
  // The Ethos-U55 runs int8 only (Vela): no float throughput at all.
  const Device& npu = paper.device("npu");
  EXPECT_EQ(npu.macs_per_cycle.size(), 1u);
  EXPECT_TRUE(npu.supports(NumType::int8, "QFusedConv"));
  EXPECT_FALSE(npu.supports(NumType::int8, "LSTM"));
  // The Nano's GPU has no int8 (TensorRT benchmark): fp32 and fp16 only.
  EXPECT_FALSE(paper.device("gpu").supports(NumType::int8, "Conv"));
  EXPECT_TRUE(paper.device("gpu").supports(NumType::fp16, "Conv"));
  EXPECT_THROW(find_platform("no-such-board"), Error);
}

// Every value parse_platform reads, compared field by field.
void expect_same_platform(const Platform& a, const Platform& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.description, b.description);
  EXPECT_EQ(a.sources, b.sources);
  EXPECT_EQ(a.static_watts, b.static_watts);
  EXPECT_EQ(a.interconnect_gbps, b.interconnect_gbps);
  EXPECT_EQ(a.interconnect_pj_per_byte, b.interconnect_pj_per_byte);
  EXPECT_EQ(a.thermal.ambient_c, b.thermal.ambient_c);
  EXPECT_EQ(a.thermal.resistance_c_per_w, b.thermal.resistance_c_per_w);
  EXPECT_EQ(a.thermal.capacitance_j_per_c, b.thermal.capacitance_j_per_c);
  EXPECT_EQ(a.thermal.throttle_c, b.thermal.throttle_c);
  EXPECT_EQ(a.thermal.shutdown_c, b.thermal.shutdown_c);
  EXPECT_EQ(a.battery.capacity_mah, b.battery.capacity_mah);
  EXPECT_EQ(a.battery.internal_ohm, b.battery.internal_ohm);
  EXPECT_EQ(a.battery.voltage_curve, b.battery.voltage_curve);
  ASSERT_EQ(a.devices.size(), b.devices.size());
  for (size_t i = 0; i < a.devices.size(); ++i) {
    const Device &x = a.devices[i], &y = b.devices[i];
    SCOPED_TRACE(x.name);
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.kind, y.kind);
    ASSERT_EQ(x.opps.size(), y.opps.size());
    for (size_t k = 0; k < x.opps.size(); ++k) {
      EXPECT_EQ(x.opps[k].mhz, y.opps[k].mhz);
      EXPECT_DOUBLE_EQ(x.opps[k].volts, y.opps[k].volts);  // stored in mV
    }
    EXPECT_EQ(x.capacitance_nf, y.capacitance_nf);
    EXPECT_EQ(x.activity, y.activity);
    EXPECT_EQ(x.leakage_w, y.leakage_w);
    EXPECT_EQ(x.leakage_ref_volts, y.leakage_ref_volts);
    EXPECT_EQ(x.leakage_doubling_c, y.leakage_doubling_c);
    EXPECT_EQ(x.macs_per_cycle, y.macs_per_cycle);
    EXPECT_EQ(x.onchip_bytes, y.onchip_bytes);
    EXPECT_EQ(x.onchip_gbps, y.onchip_gbps);
    EXPECT_EQ(x.dram_gbps, y.dram_gbps);
    EXPECT_EQ(x.onchip_pj_per_byte, y.onchip_pj_per_byte);
    EXPECT_EQ(x.dram_pj_per_byte, y.dram_pj_per_byte);
    EXPECT_EQ(x.llc_bytes, y.llc_bytes);
    EXPECT_EQ(x.llc_gbps, y.llc_gbps);
    EXPECT_EQ(x.llc_pj_per_byte, y.llc_pj_per_byte);
    EXPECT_EQ(x.overhead_us, y.overhead_us);
    EXPECT_EQ(x.transcendental_per_cycle, y.transcendental_per_cycle);
    EXPECT_EQ(x.memory_overlap, y.memory_overlap);
    EXPECT_EQ(x.ops, y.ops);
    EXPECT_EQ(x.sources, y.sources);
  }
}

TEST(Platform, WrittenYamlReadsBackToTheSameValuesForEveryPreset) {
  for (const auto& name : preset_names()) {
    SCOPED_TRACE(name);
    const Platform p = find_platform(name);
    expect_same_platform(parse_platform(to_yaml(p), "written.yaml"), p);
  }
  // Awkward numbers and text survive too; notes and the header are written as comments.
  Platform p = simple();
  p.description = "quotes \" and # hashes: kept";
  p.devices[0].capacitance_nf = 0.1 + 0.2;
  p.devices[0].opps[0].volts = 0.8123456789;
  p.header = "first line\nsecond line";
  p.notes["static_watts"] = "unverified: a guess";
  p.notes["devices[1].memory.dram_gbps"] = "[VELA]";
  const std::string text = to_yaml(p);
  expect_same_platform(parse_platform(text, "written.yaml"), p);
  EXPECT_EQ(text.rfind("# first line\n# second line\n", 0), 0u) << text;
  EXPECT_NE(text.find("static_watts: 0.5   # unverified: a guess\n"), std::string::npos) << text;
  EXPECT_NE(text.find("dram_gbps: 0.5   # [VELA]\n"), std::string::npos) << text;
}

TEST(Platform, AFileThatExtendsAnotherOverridesKeysAndMergesDevicesByName) {
  // The paper's platform is jetson-nano plus an NPU: the shared board, CPU and GPU come from it.
  const Platform nano = find_platform("jetson-nano");
  const Platform paper = find_platform("jetson-nano-ethos-u55");
  EXPECT_EQ(paper.static_watts, nano.static_watts);
  EXPECT_EQ(paper.thermal.throttle_c, nano.thermal.throttle_c);
  EXPECT_EQ(paper.battery.capacity_mah, nano.battery.capacity_mah);
  EXPECT_NE(paper.interconnect_gbps, nano.interconnect_gbps);
  for (const char* name : {"cpu", "gpu"}) {
    EXPECT_EQ(paper.device(name).macs_per_cycle, nano.device(name).macs_per_cycle) << name;
    EXPECT_EQ(paper.device(name).capacitance_nf, nano.device(name).capacitance_nf) << name;
  }
  // A file beside the base: one key of a device changed, one device added, thermal merged.
  const auto dir = std::filesystem::temp_directory_path() / "edgeco-extends-test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "base.yaml") << kSimple;
  std::ofstream(dir / "child.yaml")
      << "extends: base\nname: child\nthermal: {throttle_c: 70}\n"
         "devices:\n  - {name: cpu, overhead_us: 9}\n"
         "  - {name: gpu0, kind: gpu, opps_mhz_mv: [[500, 900]], capacitance_nf: 1,\n"
         "     leakage: {watts: 0.1, ref_volts: 0.9}, macs_per_cycle: {fp16: {dense_conv: 64}},\n"
         "     memory: {onchip_kib: 64, onchip_gbps: 50, dram_gbps: 10, onchip_pj_per_byte: 1,\n"
         "              dram_pj_per_byte: 10}}\n";
  const Platform base = load_platform(dir / "base.yaml");
  const Platform child = load_platform(dir / "child.yaml");
  EXPECT_EQ(child.name, "child");
  EXPECT_EQ(child.thermal.throttle_c, 70);
  EXPECT_EQ(child.thermal.shutdown_c, base.thermal.shutdown_c);
  ASSERT_EQ(child.devices.size(), base.devices.size() + 1);
  EXPECT_EQ(child.device("cpu").overhead_us, 9);
  EXPECT_EQ(child.device("cpu").opps.size(), base.device("cpu").opps.size());
  EXPECT_EQ(child.device("gpu0").kind, DeviceKind::gpu);
  // A file that extends itself is refused, not followed forever; a missing base is named.
  std::ofstream(dir / "loop.yaml") << "extends: loop\n";
  EXPECT_NE(std::string(testing::capture_error([&] { load_platform(dir / "loop.yaml"); }).what())
                .find("more than 8 files deep"),
            std::string::npos);
  EXPECT_NE(std::string(testing::capture_error([&] {
                          parse_platform("extends: nowhere-board\n", dir / "x.yaml");
                        }).what())
                .find("cannot read 'nowhere-board'"),
            std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace edgeco::hw
