#include <gtest/gtest.h>

#include "../test_util.h"
#include "edgeco/compress.h"

namespace edgeco {
namespace {

using testing::random_floats;

// x [1, 2, 6, 6] -> a (3x3) -> Relu -> b (1x1) -> Relu -> c (1x1) -> y: three layers of
// different MACs (a: 6*6*4*2*9 = 2592, b: 6*6*4*4 = 576, c: 6*6*2*4 = 288).
Graph three_layers() {
  Graph g;
  g.opset = 13;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {1, 2, 6, 6}};
  const std::vector<std::pair<std::string, Dims>> layers{
      {"a", {4, 2, 3, 3}}, {"b", {4, 4, 1, 1}}, {"c", {2, 4, 1, 1}}};
  std::string x = "x";
  uint32_t seed = 1;
  for (const auto& [name, dims] : layers) {
    g.value(name + ".w").initializer = random_floats(dims, -1, 1, seed++);
    g.value(name + ".b").initializer = random_floats({dims[0]}, -0.1f, 0.1f, seed++);
    Node conv{name, "Conv", "", {x, name + ".w", name + ".b"}, {name + ".out"}};
    if (dims[2] == 3) conv.attributes["pads"] = Attribute{Dims{1, 1, 1, 1}};
    g.nodes.push_back(conv);
    x = name + ".out";
    if (name != "c") {
      g.nodes.push_back(Node{name + ".relu", "Relu", "", {x}, {x + ".relu"}});
      x += ".relu";
    }
  }
  g.nodes.back().outputs = {"y"};
  g.outputs = {"y"};
  infer_types(g, OpRegistry::builtin());
  return g;
}

// The precision a candidate graph gives `node`, read from what feeds its weight.
NumType precision_of(const Graph& g, const std::string& node) {
  for (const Node& n : g.nodes)
    if (n.name == node) {
      if (n.inputs[1].ends_with("_fp16_as_f32")) return NumType::fp16;
      for (const Node& p : g.nodes)
        if (p.outputs[0] == n.inputs[1] && p.op_type == "DequantizeLinear") return NumType::int8;
      return NumType::fp32;
    }
  ADD_FAILURE() << "no node " << node;
  return NumType::fp32;
}

struct Fixture {
  Graph model = three_layers();
  std::vector<TensorMap> samples = random_calibration(model, 4, 1);
  Session session{model};
  CalibrationRunner run = [this](const TensorMap& s, const ValueCallback& observe) {
    session.run(s, observe);
  };
};

// A known accuracy landscape: `a` loses 5 points at int8 and 1 at fp16, `b` and `c` 0.1 and 0.2
// points at int8; the losses add up.
double landscape(const Graph& g) {
  double acc = 0.9;
  const auto a = precision_of(g, "a");
  if (a == NumType::int8) acc -= 0.05;
  if (a == NumType::fp16) acc -= 0.01;
  if (precision_of(g, "b") == NumType::int8) acc -= 0.001;
  if (precision_of(g, "c") == NumType::int8) acc -= 0.002;
  return acc;
}

TEST(MixedPrecision, PromotesOnlyTheSensitiveLayerAsFarAsTheBudgetNeeds) {
  Fixture f;
  MixedPrecisionOptions o;
  o.budget = 0.0135;  // a at fp16 (-1) with b, c at int8 (-0.3) fits; all int8 (-5.3) does not
  MixedPrecisionReport r;
  const Graph g = mixed_precision(f.model, f.samples, f.run, landscape, o, &r);
  EXPECT_EQ(precision_of(g, "a"), NumType::fp16);
  EXPECT_EQ(precision_of(g, "b"), NumType::int8);
  EXPECT_EQ(precision_of(g, "c"), NumType::int8);
  ASSERT_EQ(r.layers.size(), 3u);
  EXPECT_NEAR(r.layers[0].int8_drop, 0.05, 1e-12);
  EXPECT_NEAR(r.layers[0].fp16_drop, 0.01, 1e-12);
  EXPECT_EQ(r.layers[0].macs, 2592);
  EXPECT_NEAR(r.fp32_accuracy, 0.9, 1e-12);
  EXPECT_NEAR(r.int8_accuracy, 0.847, 1e-12);
  EXPECT_NEAR(r.accuracy, 0.887, 1e-12);
  EXPECT_DOUBLE_EQ(r.cost, 2592.0 * 16 + 576 * 8 + 288 * 8);
  EXPECT_DOUBLE_EQ(r.fp32_cost, (2592.0 + 576 + 288) * 32);

  // Now a must go to fp32. The greedy search first promotes c too (it buys back most per cost
  // after a's first step); the pass that takes promotions back returns c to int8.
  o.budget = 0.005;
  const Graph strict = mixed_precision(f.model, f.samples, f.run, landscape, o, &r);
  EXPECT_EQ(precision_of(strict, "a"), NumType::fp32);
  EXPECT_EQ(precision_of(strict, "c"), NumType::int8);
  EXPECT_NEAR(r.accuracy, 0.897, 1e-12);
}

TEST(MixedPrecision, CostIsPluggable) {
  Fixture f;
  MixedPrecisionOptions o;
  o.budget = 0.0015;  // after a -> fp32: c (-0.2) or b (-0.1) must be promoted too
  // A cost that makes promoting c free and b dear: c goes, though b loses less.
  o.cost = [](const std::string& node, int64_t, NumType p) {
    if (node == "c") return 1.0;
    return double(bits(p)) * (node == "b" ? 1000 : 1);
  };
  MixedPrecisionReport r;
  const Graph g = mixed_precision(f.model, f.samples, f.run, landscape, o, &r);
  EXPECT_EQ(precision_of(g, "b"), NumType::int8);
  EXPECT_NE(precision_of(g, "c"), NumType::int8);
  EXPECT_GE(r.accuracy, 0.9 - 0.0015);
}

TEST(MixedPrecision, Fp16LayersComputeWithinHalfPrecision) {
  Fixture f;
  const Graph g =
      apply_precisions(f.model, {{"a", NumType::fp16}, {"c", NumType::int8}}, f.samples, f.run);
  EXPECT_EQ(g.value("a.w_fp16").initializer->dtype(), DType::f16);
  EXPECT_EQ(precision_of(g, "b"), NumType::fp32);
  const TensorMap in{{"x", random_floats({1, 2, 6, 6}, -1, 1, 9)}};
  Session exact(f.model), mixed(g);
  const auto want = exact.run(in).at("y").to_doubles();
  const auto got = mixed.run(in).at("y").to_doubles();
  double worst = 0, scale = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    worst = std::max(worst, std::abs(want[i] - got[i]));
    scale = std::max(scale, std::abs(want[i]));
  }
  EXPECT_GT(worst, 0.0);           // it did change precision
  EXPECT_LT(worst, 0.05 * scale);  // within int8 + fp16 rounding
}

TEST(MixedPrecision, RejectsANegativeBudget) {
  Fixture f;
  MixedPrecisionOptions o;
  o.budget = -0.1;
  EXPECT_THROW(mixed_precision(f.model, f.samples, f.run, landscape, o), Error);
}

}  // namespace
}  // namespace edgeco
