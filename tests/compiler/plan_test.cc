// Compiling graphs for a platform: options per device, baselines, memory plan, JSON round trip.
#include <gtest/gtest.h>

#include "../test_util.h"
#include "edgeco/compiler.h"
#include "edgeco/hw.h"
#include "edgeco/zoo.h"

namespace edgeco {
namespace {

using testing::ints;

// A cpu that runs everything, a gpu that runs fp32 convolutions and Relu only, and an int8-only
// npu; round numbers.
constexpr const char* kBoard = R"(name: board
static_watts: 0.5
interconnect: {gbps: 2, pj_per_byte: 100}
thermal: {ambient_c: 25, resistance_c_per_w: 4, capacitance_j_per_c: 40, throttle_c: 90, shutdown_c: 100}
battery: {capacity_mah: 1000, internal_ohm: 0.1, voltage_curve: [[0, 3.0], [1, 4.2]]}
devices:
  - name: cpu
    kind: cpu
    opps_mhz_mv: [[1000, 1000], [500, 800]]
    capacitance_nf: 1.0
    leakage: {watts: 0.2, ref_volts: 1.0}
    macs_per_cycle:
      fp32: {dense_conv: 16, depthwise_conv: 8, matmul: 16, elementwise: 8, pooling: 8, other: 4}
      int8: {dense_conv: 64, depthwise_conv: 16, matmul: 64, elementwise: 16, pooling: 16, other: 4}
    memory: {onchip_kib: 512, onchip_gbps: 50, dram_gbps: 10, onchip_pj_per_byte: 1, dram_pj_per_byte: 20}
    overhead_us: 2
  - name: gpu
    kind: gpu
    opps_mhz_mv: [[900, 1000]]
    capacitance_nf: 2.0
    leakage: {watts: 0.3, ref_volts: 1.0}
    macs_per_cycle:
      fp32: {dense_conv: 256, elementwise: 128}
      fp16: {dense_conv: 512, elementwise: 256}
    memory: {onchip_kib: 256, onchip_gbps: 200, dram_gbps: 20, onchip_pj_per_byte: 1, dram_pj_per_byte: 20}
    overhead_us: 20
    ops: [Conv, FusedConv, Relu]
  - name: npu
    kind: npu
    opps_mhz_mv: [[500, 800]]
    capacitance_nf: 0.2
    leakage: {watts: 0.01, ref_volts: 0.8}
    macs_per_cycle:
      int8: {dense_conv: 256, depthwise_conv: 64}
    memory: {onchip_kib: 384, onchip_gbps: 8, dram_gbps: 1, onchip_pj_per_byte: 2, dram_pj_per_byte: 40}
    ops: [QFusedConv]
)";

hw::Platform board() {
  return hw::parse_platform(kBoard, "board.yaml");
}

// x[1,8,side,side] -> Conv 3x3 -> Relu -> Conv 1x1 -> Sigmoid -> y: the gpu cannot run the
// Sigmoid.
Graph convs(int64_t side = 16) {
  Graph g;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {1, 8, side, side}};
  g.value("w1").initializer = testing::random_floats({8, 8, 3, 3}, -1, 1, 1);
  g.value("w2").initializer = testing::random_floats({8, 8, 1, 1}, -1, 1, 2);
  g.nodes.push_back(Node{"conv1", "Conv", "", {"x", "w1"}, {"c1"}, {{"pads", ints({1, 1, 1, 1})}}});
  g.nodes.push_back(Node{"relu", "Relu", "", {"c1"}, {"r1"}});
  g.nodes.push_back(Node{"conv2", "Conv", "", {"r1", "w2"}, {"c2"}});
  g.nodes.push_back(Node{"sigmoid", "Sigmoid", "", {"c2"}, {"y"}});
  g.outputs = {"y"};
  return g;
}

std::map<std::string, std::string> devices_of(const Plan& plan) {
  std::map<std::string, std::string> out;
  for (const auto& n : plan.nodes) out[n.name] = n.device;
  return out;
}

TEST(Compile, BaselinesPlaceWhereTheirRuleSays) {
  const hw::Platform p = board();
  CompileOptions o;
  o.fuse = false;
  o.strategy = Strategy::all_cpu;
  Plan plan = compile(convs(), p, o);
  ASSERT_EQ(plan.nodes.size(), 4u);
  for (const auto& n : plan.nodes) EXPECT_EQ(n.device, "cpu") << n.name;
  for (const auto& n : plan.nodes) EXPECT_EQ(n.opp_mhz, 1000) << "baselines run at the highest";
  o.strategy = Strategy::all_gpu;
  plan = compile(convs(), p, o);
  EXPECT_EQ(devices_of(plan),
            (std::map<std::string, std::string>{
                {"conv1", "gpu"}, {"relu", "gpu"}, {"conv2", "gpu"}, {"sigmoid", "cpu"}}));
  // Greedy prefers the npu, which runs no fp32: the same as all-gpu here.
  o.strategy = Strategy::greedy;
  EXPECT_EQ(devices_of(compile(convs(), p, o)), devices_of(plan));
}

TEST(Compile, ExactIsNeverWorseThanTheBaselines) {
  const hw::Platform p = board();
  for (Objective objective : {Objective::energy, Objective::latency, Objective::edp}) {
    CompileOptions o;
    o.objective = objective;
    const Plan exact = compile(convs(), p, o);
    EXPECT_TRUE(exact.optimal);
    const double best = objective_value(objective, exact.latency_ms, exact.energy_mj);
    for (Strategy s : {Strategy::greedy, Strategy::all_cpu, Strategy::all_gpu}) {
      o.strategy = s;
      const Plan baseline = compile(convs(), p, o);
      EXPECT_LE(best,
                objective_value(objective, baseline.latency_ms, baseline.energy_mj) * (1 + 1e-12))
          << to_string(objective) << " vs " << to_string(s);
    }
  }
}

TEST(Compile, NodeCostsAreTheCostModelsPlusBoardPower) {
  const hw::Platform p = board();
  CompileOptions o;
  o.fuse = false;
  o.strategy = Strategy::all_cpu;
  const Plan plan = compile(convs(), p, o);
  const PlanNode& conv1 = plan.nodes[0];
  EXPECT_EQ(conv1.macs, 8 * 8 * 9 * 16 * 16);
  EXPECT_EQ(conv1.weight_bytes, 8 * 8 * 9 * 4);
  EXPECT_EQ(conv1.bytes_read, 8 * 16 * 16 * 4 + 8 * 8 * 9 * 4);
  EXPECT_EQ(conv1.bytes_written, 8 * 16 * 16 * 4);
  hw::NodeWork w{"Conv",           hw::OpClass::dense_conv, hw::NumType::fp32, conv1.macs,
                 conv1.bytes_read, conv1.bytes_written,     conv1.weight_bytes};
  const hw::Device& cpu = p.device("cpu");
  const hw::Cost c = hw::node_cost(cpu, cpu.opps.back(), w);
  EXPECT_DOUBLE_EQ(conv1.latency_ms, c.latency_ms);
  // Board static 0.5 W plus the gpu's and npu's leakage at their lowest operating point.
  const double idle = 0.5 + p.device("gpu").leakage_watts(p.device("gpu").opps.front(), 25) +
                      p.device("npu").leakage_watts(p.device("npu").opps.front(), 25);
  EXPECT_NEAR(conv1.energy_mj, c.energy_mj + idle * c.latency_ms, 1e-12);
  // Totals are the sum of nodes and transfers (all on the host: no transfer).
  double latency = 0;
  for (const auto& n : plan.nodes) latency += n.latency_ms + n.transfer_ms;
  EXPECT_NEAR(plan.latency_ms, latency, 1e-12);
}

TEST(Compile, ExpActivationsAndHostLayoutAreCosted) {
  std::string text = kBoard;
  text.replace(text.find("    overhead_us: 2\n"), 18,
               "    overhead_us: 2\n    transcendental_per_cycle: 0.5\n");
  CompileOptions o;
  o.strategy = Strategy::all_cpu;
  o.dvfs = false;
  const Plan plain = compile(convs(), board(), o);
  const Plan priced = compile(convs(), hw::parse_platform(text, "board.yaml"), o);
  ASSERT_EQ(plain.nodes.size(), 2u);  // conv1 + Relu, conv2 + Sigmoid
  ASSERT_EQ(priced.nodes.size(), 2u);
  EXPECT_DOUBLE_EQ(priced.nodes[0].latency_ms, plain.nodes[0].latency_ms);  // ReLU: no extra
  // The Sigmoid fused into conv2: 8 x 16 x 16 outputs at 0.5 per cycle, 1 GHz.
  EXPECT_NEAR(priced.nodes[1].latency_ms - plain.nodes[1].latency_ms, 2048 / 0.5e9 * 1e3, 1e-12);
  // channels_last: the plan holds the Transposes the host's NHWC kernels run between.
  o.channels_last = true;
  const Plan nhwc = compile(convs(), board(), o);
  int transposes = 0;
  for (const auto& n : nhwc.nodes) transposes += n.op == "Transpose";
  EXPECT_EQ(transposes, 2) << "one into the NHWC region, one out of it";
  EXPECT_GT(nhwc.latency_ms, plain.latency_ms);
}

TEST(Compile, ImpossibleDeadlineAndUnrunnableNodesAreErrors) {
  const hw::Platform p = board();
  CompileOptions o;
  o.deadline_ms = 1e-9;
  EXPECT_THROW(compile(convs(), p, o), Error);
  // A platform whose only cpu has no throughput for "other" ops cannot run a Sigmoid? It can: it
  // is element-wise. An LRN is "other": drop that class and compiling names the node.
  std::string text = kBoard;
  text.replace(text.find(", other: 4}"), 11, "}");
  Graph g = convs();
  g.nodes.push_back(Node{"lrn", "LRN", "", {"y"}, {"z"}, {{"size", testing::i64(3)}}});
  g.outputs = {"z"};
  try {
    compile(g, hw::parse_platform(text, "no-other.yaml"), CompileOptions{});
    ADD_FAILURE() << "an LRN was placed on a platform that cannot run it";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lrn"), std::string::npos) << e.what();
  }
}

TEST(Compile, CascadesKeepActivationsOnChipWhenTensorsDoNotFit) {
  // 8 x 128 x 128 floats = 512 KiB per activation, over the gpu's 256 KiB: untiled, every
  // activation goes through DRAM. Cascaded, c1 and r1 stay on chip (stripes of 2 rows x 4 KiB).
  CompileOptions o;
  o.fuse = false;
  o.strategy = Strategy::all_gpu;
  const Plan tiled = compile(convs(128), board(), o);
  o.tile = false;
  const Plan untiled = compile(convs(128), board(), o);
  const int64_t activation = 8 * 128 * 128 * 4;
  EXPECT_EQ(tiled.cascades, 1);
  ASSERT_EQ(tiled.nodes.size(), 4u);
  EXPECT_EQ(tiled.nodes[0].onchip_activation_bytes, activation);      // conv1 writes c1
  EXPECT_EQ(tiled.nodes[1].onchip_activation_bytes, 2 * activation);  // relu reads c1, writes r1
  EXPECT_EQ(tiled.nodes[2].onchip_activation_bytes, activation);      // conv2 reads r1
  EXPECT_EQ(tiled.nodes[3].cascade, -1);                              // the cpu's Sigmoid
  EXPECT_EQ(untiled.dram_bytes - tiled.dram_bytes, 4 * activation);
  EXPECT_EQ(untiled.dram_bytes, tiled.dram_bytes_untiled);
  EXPECT_LT(tiled.energy_mj, untiled.energy_mj);
  EXPECT_LE(tiled.latency_ms, untiled.latency_ms);
  // Small tensors fit on chip whole: nothing to gain, no change in DRAM traffic.
  o.tile = true;
  const Plan small = compile(convs(16), board(), o);
  EXPECT_EQ(small.dram_bytes, small.dram_bytes_untiled);
}

TEST(MemoryPlan, ReusesBuffersWhoseLastReaderHasRun) {
  Graph g;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {1000}};
  g.nodes.push_back(Node{"a", "Relu", "", {"x"}, {"r1"}});
  g.nodes.push_back(Node{"b", "Relu", "", {"r1"}, {"r2"}});
  g.nodes.push_back(Node{"c", "Relu", "", {"r2"}, {"r3"}});
  g.outputs = {"r3"};
  infer_types(g, OpRegistry::builtin());
  const MemoryPlan m = plan_memory(g);
  // 4,000 bytes each, rounded up to 64-byte alignment; r1 and r3 share a buffer, r2 sits beside.
  EXPECT_EQ(m.arena_bytes, 2 * 4032);
  EXPECT_EQ(m.offsets.at("r1"), m.offsets.at("r3"));
  EXPECT_NE(m.offsets.at("r1"), m.offsets.at("r2"));
  EXPECT_EQ(m.offsets.count("x"), 0u);
}

TEST(PlanJson, RoundTripsAndNamesTheBadField) {
  Plan plan = compile(convs(), board(), CompileOptions{});
  plan.model = "convs.onnx";
  const Plan back = parse_plan(plan_to_json(plan), "plan.json");
  EXPECT_EQ(back.platform, "board");
  EXPECT_EQ(back.objective, "energy");
  EXPECT_EQ(back.strategy, "exact");
  ASSERT_EQ(back.nodes.size(), plan.nodes.size());
  for (size_t i = 0; i < plan.nodes.size(); ++i) {
    EXPECT_EQ(back.nodes[i].name, plan.nodes[i].name);
    EXPECT_EQ(back.nodes[i].device, plan.nodes[i].device);
    EXPECT_DOUBLE_EQ(back.nodes[i].energy_mj, plan.nodes[i].energy_mj);
  }
  EXPECT_DOUBLE_EQ(back.latency_ms, plan.latency_ms);
  auto error_of = [](const std::string& text) {
    return testing::error_of([&] { parse_plan(text, "p.json"); });
  };
  EXPECT_NE(error_of("{").find("p.json"), std::string::npos);
  EXPECT_NE(error_of(R"({"platform": "x", "objective": "energy", "strategy": "exact",
                        "nodes": [{"name": "a", "op": "Relu", "device": 3}]})")
                .find("nodes[0].device"),
            std::string::npos);
  EXPECT_NE(
      error_of(R"({"platform": "x", "objective": "energy", "strategy": "exact", "nodes": []})")
          .find("totals.latency_ms"),
      std::string::npos);
}

}  // namespace
}  // namespace edgeco

namespace edgeco {
namespace {

// One pricing path: `edgeco profile` and `edgeco compile` charge the same node on the same
// device and operating point the same latency and energy, over every zoo network and every
// preset (float models; the QDQ block for the int8 NPU).
TEST(PricingPath, ProfileAndCompileAgreeOnEveryNodeOverTheZoo) {
  std::vector<std::pair<std::string, Graph>> models;
  for (const std::string& arch : zoo_architectures()) {
    ZooOptions z;
    z.in_channels = arch == "har_cnn" ? 9 : 3;
    z.resolution = arch == "har_cnn" ? 128 : 32;
    z.classes = 10;
    z.small_input = arch != "har_cnn";
    models.emplace_back(arch, build_model(arch, z));
  }
  models.emplace_back("qdq_block", testing::qdq_block());
  CompileOptions options;
  options.dvfs = false;  // profile prices each device at its highest operating point
  options.tile = false;  // ... untiled
  size_t checked = 0;
  for (const std::string& preset : hw::preset_names()) {
    const hw::Platform platform = hw::find_platform(preset);
    for (const auto& [name, model] : models) {
      const Plan plan = compile(model, platform, options, reference_evaluator());
      const ModelProfile prof = profile(model, platform, options, reference_evaluator());
      ASSERT_EQ(prof.nodes.size(), plan.nodes.size()) << name << " on " << preset;
      for (size_t i = 0; i < plan.nodes.size(); ++i) {
        const PlanNode& n = plan.nodes[i];
        const NodeProfile& p = prof.nodes[i];
        ASSERT_EQ(p.demand.node, n.name) << name << " on " << preset;
        ASSERT_TRUE(p.devices.count(n.device)) << n.name << " on " << n.device;
        const NodePrice& price = p.devices.at(n.device);
        EXPECT_EQ(std::string(hw::to_string(price.type)), n.type) << n.name;
        EXPECT_DOUBLE_EQ(price.device.latency_ms, n.latency_ms) << name << " " << n.name;
        EXPECT_DOUBLE_EQ(price.energy_mj, n.energy_mj) << name << " " << n.name;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 500u);
}

}  // namespace
}  // namespace edgeco

namespace edgeco {
namespace {

// Operator facts come from the registry: the cost class, depthwise by group, int8 by the
// integer trait or an 8-bit output.
TEST(PricingPath, NodeClassesAndTypesComeFromTheRegistry) {
  auto node = [](std::string op, std::string domain = "", int64_t group = 1) {
    Node n{"n", std::move(op), std::move(domain), {"x"}, {"y"}};
    if (group > 1) n.attributes["group"] = Attribute{group};
    return n;
  };
  EXPECT_EQ(cost_class(node("Conv")), hw::OpClass::dense_conv);
  EXPECT_EQ(cost_class(node("QFusedConv", "edgeco", 32)), hw::OpClass::depthwise_conv);
  EXPECT_EQ(cost_class(node("FusedConv", "edgeco")), hw::OpClass::dense_conv);
  EXPECT_EQ(cost_class(node("Gemm")), hw::OpClass::matmul);
  EXPECT_EQ(cost_class(node("QMatMul", "edgeco")), hw::OpClass::matmul);
  EXPECT_EQ(cost_class(node("Relu")), hw::OpClass::elementwise);
  EXPECT_EQ(cost_class(node("Reshape")), hw::OpClass::elementwise);
  EXPECT_EQ(cost_class(node("GlobalAveragePool")), hw::OpClass::pooling);
  EXPECT_EQ(cost_class(node("NonMaxSuppression")), hw::OpClass::other);
  EXPECT_EQ(cost_class(node("NoSuchOp")), hw::OpClass::other);
  Graph g;
  g.value("y").type = TensorType{DType::f32, {1}};
  EXPECT_EQ(native_type(g, node("QMatMul", "edgeco")), hw::NumType::int8);  // float output
  EXPECT_EQ(native_type(g, node("Relu")), hw::NumType::fp32);
  EXPECT_EQ(native_type(g, node("DequantizeLinear")), hw::NumType::fp32);
  g.value("y").type = TensorType{DType::u8, {1}};
  EXPECT_EQ(native_type(g, node("MaxPool")), hw::NumType::int8);  // on 8-bit codes
}

}  // namespace
}  // namespace edgeco
