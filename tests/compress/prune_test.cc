#include <gtest/gtest.h>

#include "../test_util.h"
#include "edgeco/compress.h"
#include "edgeco/zoo.h"

namespace edgeco {
namespace {

using testing::random_floats;

Node conv(const std::string& name, const std::string& x, const std::string& y, int64_t group = 1) {
  Node n{name, "Conv", "", {x, name + ".w", name + ".b"}, {y}};
  n.attributes["group"] = Attribute{group};
  return n;
}

// x [1, 2, 3, 3] -> a (4 filters, 1x1) -> Relu -> b (3 filters, 1x1) -> y. Filters 1 and 3 of
// `a` are zero, so removing them changes nothing downstream.
Graph chain_with_dead_filters() {
  Graph g;
  g.opset = 13;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {1, 2, 3, 3}};
  g.value("a.w").initializer =
      Tensor::from_values<float>({4, 2, 1, 1}, {0.5f, -1.0f, 0, 0, 2.0f, 0.25f, 0, 0});
  g.value("a.b").initializer = Tensor::from_values<float>({4}, {0.1f, 0, -0.2f, 0});
  g.value("b.w").initializer = random_floats({3, 4, 1, 1}, -1, 1, 7);
  g.value("b.b").initializer = Tensor::from_values<float>({3}, {0.3f, 0.0f, -0.1f});
  g.nodes = {conv("a", "x", "a.out"), Node{"relu", "Relu", "", {"a.out"}, {"r"}},
             conv("b", "r", "y")};
  g.outputs = {"y"};
  infer_types(g, OpRegistry::builtin());
  return g;
}

Tensor output(const Graph& g, const Tensor& x) {
  Session s(g);
  return s.run({{g.inputs[0], x}}).at(g.outputs[0]);
}

TEST(MatrixRank, KnownRanks) {
  const std::vector<float> identity{1, 0, 0, 0, 1, 0, 0, 0, 1};
  EXPECT_EQ(matrix_rank(identity, 3, 3), 3);
  const std::vector<float> outer{1, 2, 2, 4, 3, 6};  // [1 2 3]^T [1 2]
  EXPECT_EQ(matrix_rank(outer, 3, 2), 1);
  EXPECT_EQ(matrix_rank(std::vector<float>(6, 0.0f), 2, 3), 0);
  const std::vector<float> two{1, 2, 3, 2, 4, 6.5f};
  EXPECT_EQ(matrix_rank(two, 2, 3), 2);
  const std::vector<float> constant(16, 5.0f);
  EXPECT_EQ(matrix_rank(constant, 4, 4), 1);
}

TEST(Prune, L1RemovesTheZeroFiltersAndKeepsTheOutput) {
  const Graph g = chain_with_dead_filters();
  PruneOptions o;
  o.ratio = 0.5;
  o.min_channels = 1;
  PruneReport report;
  const Graph p = prune_channels(g, o, {}, {}, &report);
  EXPECT_EQ(p.value("a.w").initializer->dims(), (Dims{2, 2, 1, 1}));
  EXPECT_EQ(p.value("a.w").initializer->to_doubles(), (std::vector<double>{0.5, -1.0, 2.0, 0.25}));
  EXPECT_EQ(p.value("a.b").initializer->dims(), (Dims{2}));
  EXPECT_EQ(p.value("b.w").initializer->dims(), (Dims{3, 2, 1, 1}));
  EXPECT_EQ(report.filters_before, 7);
  EXPECT_EQ(report.filters_after, 5);  // b's output reaches the graph output: kept whole
  const Tensor x = random_floats({1, 2, 3, 3}, -1, 1, 3);
  const Tensor expected = output(g, x);
  testing::expect_near(output(p, x), expected.dims(), expected.to_doubles(), 1e-6);
}

TEST(Prune, ChannelsReachingAGraphOutputStay) {
  const Graph g = chain_with_dead_filters();
  PruneReport report;
  prune_channels(g, PruneOptions{0.5, PruneCriterion::l1, PruneScope::uniform, 1}, {}, {}, &report);
  ASSERT_EQ(report.groups.size(), 3u);  // x, a's output, b's output
  int prunable = 0;
  for (const PruneGroup& group : report.groups) {
    if (group.kept_because.empty()) {
      ++prunable;
      EXPECT_EQ(group.producers, (std::vector<std::string>{"a"}));
      EXPECT_EQ(group.kept, 2);
    } else {
      EXPECT_EQ(group.kept, group.channels);
    }
  }
  EXPECT_EQ(prunable, 1);
}

// x -> a (4 filters) and c (4 filters) -> Add (residual tie) -> depthwise d -> Concat with a ->
// e (2 filters) -> y. One group {a, c} through d, concatenated twice into e's input.
TEST(Prune, ResidualDepthwiseAndConcatStayConsistent) {
  Graph g;
  g.opset = 13;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {1, 3, 4, 4}};
  g.value("a.w").initializer = random_floats({4, 3, 1, 1}, -1, 1, 1);
  g.value("a.b").initializer = random_floats({4}, -1, 1, 2);
  g.value("c.w").initializer = random_floats({4, 3, 3, 3}, -1, 1, 3);
  g.value("c.b").initializer = random_floats({4}, -1, 1, 4);
  g.value("d.w").initializer = random_floats({4, 1, 3, 3}, -1, 1, 5);
  g.value("d.b").initializer = random_floats({4}, -1, 1, 6);
  g.value("e.w").initializer = random_floats({2, 8, 1, 1}, -1, 1, 8);
  g.value("e.b").initializer = random_floats({2}, -1, 1, 9);
  // Channel 2 of both a and c carries nothing: the group's weakest channel in L1.
  for (const char* w : {"a.w", "c.w"}) {
    Tensor& t = *g.value(w).initializer;
    const int64_t per = t.numel() / 4;
    for (int64_t i = 0; i < per; ++i) t.data<float>()[size_t(2 * per + i)] = 0;
    g.value(std::string(w, 1) + ".b").initializer->data<float>()[2] = 0;
  }
  Node c = conv("c", "x", "c.out");
  c.attributes["pads"] = Attribute{Dims{1, 1, 1, 1}};
  Node d = conv("d", "sum", "d.out", 4);
  d.attributes["pads"] = Attribute{Dims{1, 1, 1, 1}};
  g.nodes = {
      conv("a", "x", "a.out"),
      c,
      Node{"add", "Add", "", {"a.out", "c.out"}, {"sum"}},
      d,
      Node{"cat", "Concat", "", {"d.out", "a.out"}, {"cat.out"}, {{"axis", Attribute{int64_t{1}}}}},
      conv("e", "cat.out", "y")};
  g.outputs = {"y"};
  infer_types(g, OpRegistry::builtin());
  // Zero d's filter 2 too, so the removed channel is dead on every path.
  Tensor& dw = *g.value("d.w").initializer;
  for (int64_t i = 0; i < 9; ++i) dw.data<float>()[size_t(18 + i)] = 0;
  g.value("d.b").initializer->data<float>()[2] = 0;

  PruneOptions o;
  o.ratio = 0.25;
  o.min_channels = 1;
  PruneReport report;
  const Graph p = prune_channels(g, o, {}, {}, &report);
  EXPECT_EQ(p.value("a.w").initializer->dims(), (Dims{3, 3, 1, 1}));
  EXPECT_EQ(p.value("c.w").initializer->dims(), (Dims{3, 3, 3, 3}));
  EXPECT_EQ(p.value("d.w").initializer->dims(), (Dims{3, 1, 3, 3}));
  EXPECT_EQ(p.find_value("d.out") ? p.value("d.out").type->dims : Dims{}, (Dims{1, 3, 4, 4}));
  EXPECT_EQ(p.value("e.w").initializer->dims(), (Dims{2, 6, 1, 1}));
  bool tied = false;
  for (const PruneGroup& group : report.groups)
    if (group.producers.size() == 2) {
      tied = true;
      EXPECT_EQ(group.kept, 3);
    }
  EXPECT_TRUE(tied);
  const Tensor x = random_floats({1, 3, 4, 4}, -1, 1, 11);
  const Tensor expected = output(g, x);
  testing::expect_near(output(p, x), expected.dims(), expected.to_doubles(), 1e-5);
}

// a: 4 filters (1x1, one input channel). Channels 0 and 2 scale the input (full-rank maps) with
// small weights; channels 1 and 3 have large weights on a constant input channel (rank-1 maps).
Graph rank_versus_norm() {
  Graph g;
  g.opset = 13;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {1, 2, 4, 4}};
  g.value("a.w").initializer =
      Tensor::from_values<float>({4, 2, 1, 1}, {0.1f, 0, 0, 3, 0.1f, 0, 0, 3});
  g.value("a.b").initializer = Tensor(DType::f32, {4});
  g.value("b.w").initializer = random_floats({2, 4, 1, 1}, -1, 1, 1);
  g.value("b.b").initializer = Tensor(DType::f32, {2});
  g.nodes = {conv("a", "x", "a.out"), conv("b", "a.out", "y")};
  g.outputs = {"y"};
  infer_types(g, OpRegistry::builtin());
  return g;
}

TEST(Prune, HRankKeepsRichFeatureMapsWhereL1KeepsLargeWeights) {
  const Graph g = rank_versus_norm();
  Tensor x = random_floats({1, 2, 4, 4}, 0.5f, 1.5f, 2);
  for (size_t i = 16; i < 32; ++i) x.data<float>()[i] = 1.0f;  // channel 1: constant
  const std::vector<TensorMap> samples{{{"x", x}}};
  Session session(g);
  const CalibrationRunner run = [&](const TensorMap& s, const ValueCallback& observe) {
    session.run(s, observe);
  };
  PruneOptions o{0.5, PruneCriterion::hrank, PruneScope::uniform, 1};
  const Graph by_rank = prune_channels(g, o, samples, run);
  EXPECT_EQ(by_rank.value("a.w").initializer->to_doubles(),
            (std::vector<double>{0.1f, 0, 0.1f, 0}));
  o.criterion = PruneCriterion::l1;
  const Graph by_norm = prune_channels(g, o);
  EXPECT_EQ(by_norm.value("a.w").initializer->to_doubles(), (std::vector<double>{0, 3, 0, 3}));
  EXPECT_THROW(prune_channels(g, PruneOptions{0.5, PruneCriterion::hrank}), Error);
}

// Two independent groups: a's filters all alike, b's half near zero. Global ranking spends the
// cut where it hurts least; uniform cuts each group alike.
TEST(Prune, GlobalScopeCutsTheWeakGroupHarder) {
  Graph g;
  g.opset = 13;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {1, 1, 2, 2}};
  g.value("a.w").initializer = Tensor::from_values<float>({4, 1, 1, 1}, {1, 1.01f, 0.99f, 1});
  g.value("a.b").initializer = Tensor(DType::f32, {4});
  g.value("b.w").initializer = Tensor::from_values<float>({4, 1, 1, 1}, {2, 0.01f, 2.1f, 0.02f});
  g.value("b.b").initializer = Tensor(DType::f32, {4});
  g.value("c.w").initializer = random_floats({2, 8, 1, 1}, -1, 1, 4);
  g.value("c.b").initializer = Tensor(DType::f32, {2});
  g.nodes = {
      conv("a", "x", "a.out"), conv("b", "x", "b.out"),
      Node{"cat", "Concat", "", {"a.out", "b.out"}, {"cat"}, {{"axis", Attribute{int64_t{1}}}}},
      conv("c", "cat", "y")};
  g.outputs = {"y"};
  infer_types(g, OpRegistry::builtin());
  PruneOptions o{0.25, PruneCriterion::l1, PruneScope::global, 1};
  const Graph global = prune_channels(g, o);
  EXPECT_EQ(global.value("a.w").initializer->dim(0), 4);
  EXPECT_EQ(global.value("b.w").initializer->to_doubles(), (std::vector<double>{2, 2.1f}));
  o.scope = PruneScope::uniform;
  const Graph uniform = prune_channels(g, o);
  EXPECT_EQ(uniform.value("a.w").initializer->dim(0), 3);
  EXPECT_EQ(uniform.value("b.w").initializer->dim(0), 3);
  EXPECT_EQ(uniform.value("c.w").initializer->dims(), (Dims{2, 6, 1, 1}));
}

int64_t macs(const Graph& g) {
  return analyze(g).macs;
}

// The zoo's nets prune to valid, smaller graphs: MobileNetV2 (residual adds, depthwise),
// MobileNetV3-small (SE blocks, hard-swish), the CIFAR ResNet (projection shortcuts).
TEST(Prune, ZooArchitecturesPruneToValidSmallerGraphs) {
  ZooOptions z;
  z.in_channels = 1;
  z.resolution = 28;
  z.classes = 10;
  z.width = 0.35;
  z.small_input = true;
  for (const char* arch : {"mobilenet_v2", "mobilenet_v3_small", "resnet8"}) {
    SCOPED_TRACE(arch);
    const Graph g = build_model(arch, z);
    PruneReport report;
    const Graph p = prune_channels(g, PruneOptions{0.4}, {}, {}, &report);
    p.validate(OpRegistry::builtin());
    const double filters = 1.0 - double(report.filters_after) / double(report.filters_before);
    EXPECT_GT(filters, 0.3);
    EXPECT_LT(double(macs(p)), 0.75 * double(macs(g)));
    EXPECT_EQ(output(p, random_floats({1, 1, 28, 28}, 0, 1, 1)).dims(), (Dims{1, 10}));
  }
}

TEST(Prune, RejectsARatioOutsideZeroToOne) {
  EXPECT_THROW(prune_channels(chain_with_dead_filters(), PruneOptions{1.0}), Error);
  EXPECT_THROW(prune_channels(chain_with_dead_filters(), PruneOptions{-0.1}), Error);
}

}  // namespace
}  // namespace edgeco
