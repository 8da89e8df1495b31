// deploy(): a plan's model computes, on this host, what each node's device computes.
#include <gtest/gtest.h>

#include <cmath>

#include "../test_util.h"
#include "edgeco/deploy.h"
#include "edgeco/hw.h"

namespace edgeco {
namespace {

using testing::random_floats;

// x [2, 16] -> MatMul(W1 [16, 8]) -> Add(B [8]) -> Relu -> MatMul(W2 [8, 4]) -> y.
Graph mlp() {
  Graph g;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {2, 16}};
  g.value("w1").initializer = random_floats({16, 8}, -1, 1, 1);
  g.value("b").initializer = random_floats({8}, -1, 1, 2);
  g.value("w2").initializer = random_floats({8, 4}, -1, 1, 3);
  g.nodes = {Node{"mm1", "MatMul", "", {"x", "w1"}, {"h"}},
             Node{"bias", "Add", "", {"h", "b"}, {"hb"}}, Node{"relu", "Relu", "", {"hb"}, {"r"}},
             Node{"mm2", "MatMul", "", {"r", "w2"}, {"y"}}};
  g.outputs = {"y"};
  return g;
}

// Every node of `model` on the platform's gpu, in `type`.
Plan gpu_plan(const Graph& model, const std::string& type) {
  Plan plan = compile(model, hw::find_platform("jetson-nano-ethos-u55"),
                      CompileOptions{.strategy = Strategy::all_gpu}, reference_evaluator());
  for (PlanNode& n : plan.nodes) {
    EXPECT_EQ(n.device, "gpu");
    n.type = type;
  }
  return plan;
}

float half(float v) {
  return half_to_float(float_to_half(v));
}

// The fp16 semantics deploy documents, written out independently: every float a node reads or
// writes is rounded to half, the arithmetic in between is float.
std::vector<float> mlp_in_fp16(const Graph& g, const Tensor& x) {
  const auto w1 = g.value("w1").initializer->data<float>();
  const auto b = g.value("b").initializer->data<float>();
  const auto w2 = g.value("w2").initializer->data<float>();
  const auto xs = x.data<float>();
  std::vector<float> y;
  for (int row = 0; row < 2; ++row) {
    std::vector<float> r(8);
    for (int j = 0; j < 8; ++j) {
      float h = 0;
      for (int k = 0; k < 16; ++k)
        h += half(xs[size_t(row * 16 + k)]) * half(w1[size_t(k * 8 + j)]);
      r[size_t(j)] = half(std::max(half(half(h) + half(b[size_t(j)])), 0.0f));
    }
    for (int j = 0; j < 4; ++j) {
      float acc = 0;
      for (int k = 0; k < 8; ++k) acc += r[size_t(k)] * half(w2[size_t(k * 4 + j)]);
      y.push_back(half(acc));
    }
  }
  return y;
}

TEST(Deploy, Fp16NodesRoundWhatTheyReadAndWriteAsAnIndependentFp16EvaluationDoes) {
  const Graph model = mlp();
  const TensorMap feed{{"x", random_floats({2, 16}, -2, 2, 7)}};
  const DeployedModel deployed = deploy(model, gpu_plan(model, "fp16"));
  EXPECT_EQ(deployed.nodes_by_type.at("fp16"), 4);
  EXPECT_EQ(deployed.rewritten, 4);
  for (const auto& [node, device] : deployed.device_of) EXPECT_EQ(device, "gpu") << node;
  const auto fp16 = Session(deployed.graph, {.fast_kernels = true}).run(feed).at("y");
  const auto fp32 = Session(model).run(feed).at("y").to_doubles();
  const std::vector<float> expected = mlp_in_fp16(model, feed.at("x"));
  ASSERT_EQ(fp16.numel(), int64_t(expected.size()));
  double largest_change = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const float got = fp16.data<float>()[i];
    EXPECT_EQ(got, half(got)) << "output " << i << " is not a half-precision value";
    // The float sums may add in another order: at most one half-precision step apart.
    EXPECT_LE(std::abs(got - expected[i]), std::ldexp(std::abs(expected[i]), -10) + 1e-6)
        << "output " << i;
    largest_change = std::max(largest_change, std::abs(double(got) - fp32[i]));
    EXPECT_LE(std::abs(double(got) - fp32[i]), 0.02 * (std::abs(fp32[i]) + 1)) << "output " << i;
  }
  EXPECT_GT(largest_change, 0.0) << "fp16 placement computed exactly what fp32 does";
}

TEST(Deploy, NodesInTheirOwnTypeComputeWhatTheHostDoes) {
  const Graph model = mlp();
  const TensorMap feed{{"x", random_floats({2, 16}, -2, 2, 8)}};
  const DeployedModel deployed = deploy(model, gpu_plan(model, "fp32"));
  EXPECT_EQ(deployed.rewritten, 0);
  EXPECT_EQ(deployed.graph.nodes.size(), 4u);
  const auto a = Session(deployed.graph).run(feed).at("y").to_doubles();
  const auto b = Session(model).run(feed).at("y").to_doubles();
  EXPECT_EQ(a, b);
}

TEST(Deploy, Int8NodesOnAFloatDeviceRunTheirFloatFormWithinOneStep) {
  // qdq_block's integer nodes (QFusedConv x2, QAdd) in fp32 on dequantized weights: the same
  // quantized outputs up to a rounding step where the float sum lands at a boundary (y's scale
  // is 0.03; an inner step moves it by about one more).
  const Graph model = testing::qdq_block();
  const TensorMap feed{{"x", random_floats({1, 4, 6, 6}, -2.5f, 2.5f, 5)}};
  Plan plan = gpu_plan(model, "fp32");
  const DeployedModel deployed = deploy(model, plan);
  int qops = 0;
  for (const Node& n : deployed.graph.nodes)
    qops += n.op_type == "QFusedConv" || n.op_type == "QAdd";
  EXPECT_EQ(qops, 0) << "an integer node survived on a float device";
  // QFusedConv x2 and QAdd in their float form, and the input's QuantizeLinear (float in, 8-bit
  // out: the same computation on either kind of device).
  EXPECT_EQ(deployed.rewritten, 4);
  const auto float_form = Session(deployed.graph).run(feed).at("y").to_doubles();
  const auto integer = Session(model, {.optimize = true}).run(feed).at("y").to_doubles();
  ASSERT_EQ(float_form.size(), integer.size());
  size_t same = 0;
  for (size_t i = 0; i < integer.size(); ++i) {
    EXPECT_LE(std::abs(float_form[i] - integer[i]), 2 * 0.03 + 1e-6) << "element " << i;
    same += float_form[i] == integer[i];
  }
  EXPECT_GE(same, integer.size() * 9 / 10);
}

TEST(Deploy, APlanOfAnotherModelOrAnUnknownTypeIsRefused) {
  const Graph model = mlp();
  Plan plan = gpu_plan(model, "fp16");
  plan.nodes[0].name = "not-there";
  EXPECT_NE(std::string(testing::capture_error([&] { deploy(model, plan); }).what())
                .find("plan was made for another model"),
            std::string::npos);
  plan = gpu_plan(model, "bf16");
  EXPECT_NE(std::string(testing::capture_error([&] { deploy(model, plan); }).what()).find("bf16"),
            std::string::npos);
  plan = gpu_plan(model, "int8");  // a float node on an int8-only unit
  EXPECT_EQ(testing::capture_error([&] { deploy(model, plan); }).kind(), ErrorKind::unsupported);
}

}  // namespace
}  // namespace edgeco
