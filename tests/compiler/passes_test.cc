// The optimizing passes must not change outputs: every rewrite is checked by running the
// original and the rewritten graph on the reference runtime.
#include <gtest/gtest.h>

#include <random>

#include "../test_util.h"
#include "edgeco/compiler.h"

namespace edgeco {
namespace {

using testing::i64;
using testing::ints;

Tensor random_tensor(Dims dims, uint32_t seed, float lo = -1, float hi = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(size_t(checked_numel(dims)));
  for (auto& x : v) x = u(rng);
  return Tensor::from_values<float>(dims, std::span<const float>(v));
}

// x -> Conv(w1, b1) -> BN -> [Add(x)] -> activation -> Conv(w2) -> y, with x of shape [N, 4, 6, 6].
Graph block(const std::string& activation, bool residual) {
  Graph g;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {-1, 4, 6, 6}};
  g.value("w1").initializer = random_tensor({4, 4, 3, 3}, 1);
  g.value("b1").initializer = random_tensor({4}, 2);
  g.value("scale").initializer = random_tensor({4}, 3, 0.5f, 1.5f);
  g.value("shift").initializer = random_tensor({4}, 4);
  g.value("mean").initializer = random_tensor({4}, 5);
  g.value("var").initializer = random_tensor({4}, 6, 0.5f, 1.5f);
  g.value("w2").initializer = random_tensor({2, 4, 1, 1}, 7);
  g.value("lo").initializer = Tensor::scalar<float>(0.0f);
  g.value("hi").initializer = Tensor::scalar<float>(0.5f);
  g.nodes.push_back(
      Node{"conv1", "Conv", "", {"x", "w1", "b1"}, {"c1"}, {{"pads", ints({1, 1, 1, 1})}}});
  g.nodes.push_back(
      Node{"bn", "BatchNormalization", "", {"c1", "scale", "shift", "mean", "var"}, {"n1"}});
  std::string tail = "n1";
  if (residual) {
    g.nodes.push_back(Node{"add", "Add", "", {"x", tail}, {"s1"}});
    tail = "s1";
  }
  if (activation == "Clip")
    g.nodes.push_back(Node{"act", "Clip", "", {tail, "lo", "hi"}, {"a1"}});
  else
    g.nodes.push_back(Node{"act", activation, "", {tail}, {"a1"}});
  g.nodes.push_back(Node{"conv2", "Conv", "", {"a1", "w2"}, {"y"}});
  g.outputs = {"y"};
  return g;
}

std::vector<double> run(const Graph& g, bool optimize, std::vector<std::string>* log = nullptr) {
  Session s(g, SessionOptions{.threads = 1, .optimize = optimize});
  if (log) *log = s.pass_log();
  return s.run({{"x", random_tensor({2, 4, 6, 6}, 9)}}).at("y").to_doubles();
}

void expect_same_outputs(const std::vector<double>& a, const std::vector<double>& b) {
  ASSERT_EQ(a.size(), b.size());
  double scale = 0;
  for (double v : b) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5 * scale) << "element " << i;
}

class FusionPreservesOutputs : public ::testing::TestWithParam<std::tuple<std::string, bool>> {};

TEST_P(FusionPreservesOutputs, ConvBnResidualActivation) {
  const auto [activation, residual] = GetParam();
  const Graph g = block(activation, residual);
  std::vector<std::string> log;
  expect_same_outputs(run(g, true, &log), run(g, false));
  // BN folded, then Conv + [Add +] activation fused; conv2 stays a plain Conv.
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0], "fold BatchNormalization 'bn' into Conv 'conv1'");
  EXPECT_EQ(log[1], "fuse Conv 'conv1'" + std::string(residual ? " + Add 'add'" : "") + " + " +
                        activation + " 'act'");
}

INSTANTIATE_TEST_SUITE_P(Activations, FusionPreservesOutputs,
                         ::testing::Combine(::testing::Values("Relu", "Clip", "HardSwish",
                                                              "Sigmoid", "LeakyRelu", "HardSigmoid",
                                                              "Tanh"),
                                            ::testing::Bool()));

TEST(Passes, OptimizedGraphHasOneFusedNodePerBlock) {
  Graph g = block("Relu", true);
  optimize(g);
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.nodes[0].op_type, "FusedConv");
  EXPECT_EQ(g.nodes[0].domain, "edgeco");
  EXPECT_EQ(g.nodes[0].inputs.size(), 4u);  // x, folded weight, folded bias, residual
  EXPECT_EQ(g.nodes[0].inputs[3], "x");
  EXPECT_EQ(g.nodes[0].attr_string("activation"), "Relu");
  EXPECT_EQ(g.nodes[1].op_type, "Conv");
  EXPECT_FALSE(g.find_value("w1"));  // the original weights are dead once folded
}

TEST(Passes, AddOfTwoConvsIsFusedIntoOneOfThem) {
  // ResNet's downsampling block: Relu(Conv_a(x) + Conv_b(x)); each Conv's sole reader is the Add.
  Graph g;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {1, 4, 6, 6}};
  g.value("wa").initializer = random_tensor({4, 4, 3, 3}, 11);
  g.value("wb").initializer = random_tensor({4, 4, 1, 1}, 12);
  g.nodes = {Node{"conv_a", "Conv", "", {"x", "wa"}, {"a"}, {{"pads", ints({1, 1, 1, 1})}}},
             Node{"conv_b", "Conv", "", {"x", "wb"}, {"b"}},
             Node{"add", "Add", "", {"a", "b"}, {"s"}}, Node{"relu", "Relu", "", {"s"}, {"y"}}};
  g.outputs = {"y"};
  Graph optimized = g;
  optimize(optimized);
  ASSERT_EQ(optimized.nodes.size(), 2u);
  EXPECT_EQ(optimized.nodes[0].op_type, "Conv");  // conv_b runs first, unfused
  EXPECT_EQ(optimized.nodes[1].op_type, "FusedConv");
  EXPECT_EQ(optimized.nodes[1].inputs[3], "b");
  const Tensor x = random_tensor({1, 4, 6, 6}, 13);
  Session a(g), b(optimized);
  expect_same_outputs(b.run({{"x", x}}).at("y").to_doubles(),
                      a.run({{"x", x}}).at("y").to_doubles());
}

// Conv -> x * gate(x), as PyTorch exports hardswish (opset < 14) and SiLU.
void expect_gated_fusion(const std::string& gate, std::map<std::string, Attribute> gate_attrs,
                         const std::string& expected_activation) {
  Graph g;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {1, 4, 6, 6}};
  g.value("w").initializer = random_tensor({4, 4, 3, 3}, 21);
  g.nodes = {Node{"conv", "Conv", "", {"x", "w"}, {"c"}, {{"pads", ints({1, 1, 1, 1})}}},
             Node{"gate", gate, "", {"c"}, {"g"}, gate_attrs},
             Node{"mul", "Mul", "", {"g", "c"}, {"y"}}};
  g.outputs = {"y"};
  Graph optimized = g;
  optimize(optimized);
  ASSERT_EQ(optimized.nodes.size(), 1u);
  EXPECT_EQ(optimized.nodes[0].attr_string("activation"), expected_activation);
  const Tensor x = random_tensor({1, 4, 6, 6}, 22, -4, 4);
  Session a(g), b(optimized),
      fast(optimized, SessionOptions{.threads = 1, .optimize = false, .fast_kernels = true});
  const auto expected = a.run({{"x", x}}).at("y").to_doubles();
  expect_same_outputs(b.run({{"x", x}}).at("y").to_doubles(), expected);
  expect_same_outputs(fast.run({{"x", x}}).at("y").to_doubles(), expected);
  EXPECT_EQ(fast.last_timings()[0].kernel, "onednn");
}

TEST(Passes, GatedHardSigmoidBecomesHardSwish) {
  expect_gated_fusion("HardSigmoid",
                      {{"alpha", testing::f32(1.0f / 6.0f)}, {"beta", testing::f32(0.5f)}},
                      "HardSwish");
}

TEST(Passes, GatedSigmoidBecomesSwish) {
  expect_gated_fusion("Sigmoid", {}, "Swish");
}

TEST(Passes, HardSigmoidWithOtherSlopeIsNotAGate) {
  Graph g;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {1, 4, 6, 6}};
  g.value("w").initializer = random_tensor({4, 4, 1, 1}, 23);
  g.nodes = {Node{"conv", "Conv", "", {"x", "w"}, {"c"}},
             Node{"gate", "HardSigmoid", "", {"c"}, {"g"}, {{"alpha", testing::f32(0.2f)}}},
             Node{"mul", "Mul", "", {"g", "c"}, {"y"}}};
  g.outputs = {"y"};
  optimize(g);
  EXPECT_EQ(g.nodes.size(), 3u);
}

int count_op(const Graph& g, std::string_view op) {
  return int(std::count_if(g.nodes.begin(), g.nodes.end(),
                           [&](const Node& n) { return n.op_type == op; }));
}

// Every graph output of `rewritten`, on the reference and the fast kernels, equals `original`'s.
void expect_same_outputs_as_original(const Graph& original, const Graph& rewritten,
                                     const TensorMap& feed) {
  Session reference(original);
  const TensorMap expected = reference.run(feed);
  for (const bool fast : {false, true}) {
    Session session(rewritten,
                    SessionOptions{.threads = 1, .optimize = false, .fast_kernels = fast});
    const TensorMap got = session.run(feed);
    for (const auto& out : original.outputs) {
      ASSERT_EQ(got.at(out).dims(), expected.at(out).dims()) << out << (fast ? " fast" : "");
      expect_same_outputs(got.at(out).to_doubles(), expected.at(out).to_doubles());
    }
  }
}

TEST(ChannelsLast, RegionKeepsOutputsOnReferenceAndFastKernels) {
  // x -> Conv -> Relu -> MaxPool=r; GAP(r)=p; Mul(r, p); Add(const [4,1,1]); Concat(., r, axis 1);
  // Conv; Flatten. r is also a graph output, so it leaves the region twice.
  Graph g;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {-1, 4, 6, 6}};
  g.value("w1").initializer = random_tensor({4, 4, 3, 3}, 31);
  g.value("k").initializer = random_tensor({4, 1, 1}, 32);
  g.value("w2").initializer = random_tensor({2, 8, 1, 1}, 33);
  g.nodes = {Node{"conv1", "Conv", "", {"x", "w1"}, {"c1"}, {{"pads", ints({1, 1, 1, 1})}}},
             Node{"relu", "Relu", "", {"c1"}, {"r0"}},
             Node{"pool",
                  "MaxPool",
                  "",
                  {"r0"},
                  {"r"},
                  {{"kernel_shape", ints({3, 3})}, {"pads", ints({1, 1, 1, 1})}}},
             Node{"gap", "GlobalAveragePool", "", {"r"}, {"p"}},
             Node{"mul", "Mul", "", {"r", "p"}, {"m"}},
             Node{"add", "Add", "", {"m", "k"}, {"a"}},
             Node{"cat", "Concat", "", {"a", "r"}, {"cat"}, {{"axis", testing::i64(1)}}},
             Node{"conv2", "Conv", "", {"cat", "w2"}, {"y4"}},
             Node{"flat", "Flatten", "", {"y4"}, {"y"}}};
  g.outputs = {"y", "r"};
  Graph nhwc = g;
  PassLog log;
  infer_types(nhwc, OpRegistry::builtin());
  EXPECT_EQ(to_channels_last(nhwc, &log), 8);  // all but Flatten
  EXPECT_EQ(count_op(nhwc, "Transpose"),
            3);  // x in; y4 out before Flatten; r out as a graph output
  expect_same_outputs_as_original(g, nhwc, {{"x", random_tensor({2, 4, 6, 6}, 34)}});
}

TEST(ChannelsLast, SpatialMeanBeforeTheClassifierStaysInTheRegion) {
  // x -> Conv -> ReduceMean(axes, keepdims 0) -> Gemm: MnasNet's and ShuffleNet's `x.mean([2, 3])`.
  for (const Dims& axes : {Dims{2, 3}, Dims{-1, -2}, Dims{1}}) {
    Graph g;
    g.inputs = {"x"};
    g.value("x").type = TensorType{DType::f32, {2, 3, 5, 4}};
    g.value("w").initializer = random_tensor({6, 3, 3, 3}, 41);
    g.value("fc").initializer = random_tensor({2, axes.size() == 2 ? 6 : 20}, 42);
    g.nodes = {Node{"conv", "Conv", "", {"x", "w"}, {"c"}, {{"pads", ints({1, 1, 1, 1})}}},
               Node{"mean",
                    "ReduceMean",
                    "",
                    {"c"},
                    {"m"},
                    {{"axes", ints(axes)}, {"keepdims", testing::i64(0)}}},
               Node{"fc", "Gemm", "", {"m", "fc"}, {"y"}, {{"transB", testing::i64(1)}}}};
    g.outputs = {"y"};
    if (axes.size() != 2) {  // the mean over channels leaves [N, H, W]: not an NHWC node
      g.value("fc").initializer = random_tensor({2, 5 * 4}, 42);
      g.nodes.insert(g.nodes.begin() + 2, Node{"flat", "Flatten", "", {"m"}, {"f"}});
      g.nodes.back().inputs[0] = "f";
    }
    Graph nhwc = g;
    infer_types(nhwc, OpRegistry::builtin());
    const int converted = to_channels_last(nhwc, nullptr);
    if (axes.size() == 2) {
      EXPECT_EQ(converted, 2) << axes.front();    // the Conv and the mean
      EXPECT_EQ(count_op(nhwc, "Transpose"), 1);  // x in; nothing out
    } else {
      EXPECT_EQ(converted, 1);
      EXPECT_EQ(count_op(nhwc, "Transpose"), 2);  // x in, the conv's output back out
    }
    expect_same_outputs_as_original(g, nhwc, {{"x", random_tensor({2, 3, 5, 4}, 43)}});
  }
}

TEST(Passes, IntermediateThatIsAGraphOutputIsNotFused) {
  Graph g = block("Relu", false);
  g.outputs.push_back("n1");  // BN's output is visible: Conv+BN folds, but Relu must stay separate
  optimize(g);
  int relus = 0;
  for (const auto& n : g.nodes) relus += n.op_type == "Relu";
  EXPECT_EQ(relus, 1);
}

TEST(Passes, ClipWithRuntimeBoundsIsNotFused) {
  Graph g = block("Clip", false);
  g.value("hi").initializer.reset();
  g.inputs.push_back("hi");
  g.value("hi").type = TensorType{DType::f32, {}};
  optimize(g);
  bool has_clip = false;
  for (const auto& n : g.nodes) has_clip = has_clip || n.op_type == "Clip";
  EXPECT_TRUE(has_clip);
}

// x -> a = Relu(Conv 3x3, 3 channels), b = Conv 1x1 (5 channels) -> cat = Concat(a, b) [N, 8, 6, 6]
// read by a squeeze Conv (8 -> `squeeze_out`, + Relu) = y1 and a MaxPool whose output feeds a
// 3x3 Conv (8 -> 2) = y2: SqueezeNet's fire module and its pooled successor.
Graph fire(int64_t squeeze_out) {
  Graph g;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {-1, 4, 6, 6}};
  g.value("wa").initializer = random_tensor({3, 4, 3, 3}, 41);
  g.value("ba").initializer = random_tensor({3}, 42);
  g.value("wb").initializer = random_tensor({5, 4, 1, 1}, 43);
  g.value("ws").initializer = random_tensor({squeeze_out, 8, 1, 1}, 44);
  g.value("bs").initializer = random_tensor({squeeze_out}, 45);
  g.value("wp").initializer = random_tensor({2, 8, 3, 3}, 46);
  g.value("bp").initializer = random_tensor({2}, 47);
  g.nodes = {Node{"conv_a", "Conv", "", {"x", "wa", "ba"}, {"ca"}, {{"pads", ints({1, 1, 1, 1})}}},
             Node{"relu_a", "Relu", "", {"ca"}, {"a"}},
             Node{"conv_b", "Conv", "", {"x", "wb"}, {"b"}},
             Node{"cat", "Concat", "", {"a", "b"}, {"cat"}, {{"axis", testing::i64(1)}}},
             Node{"squeeze", "Conv", "", {"cat", "ws", "bs"}, {"s"}},
             Node{"relu_s", "Relu", "", {"s"}, {"y1"}},
             Node{"pool",
                  "MaxPool",
                  "",
                  {"cat"},
                  {"p"},
                  {{"kernel_shape", ints({3, 3})}, {"strides", ints({2, 2})}}},
             Node{"conv_p", "Conv", "", {"p", "wp", "bp"}, {"y2"}, {{"pads", ints({1, 1, 1, 1})}}}};
  g.outputs = {"y1", "y2"};
  return g;
}

int count_ops(const Graph& g, std::string_view op) {
  int n = 0;
  for (const auto& node : g.nodes) n += node.op_type == op;
  return n;
}

TEST(Passes, ChannelConcatReadBySqueezeConvAndPoolIsNeverWritten) {
  const Graph g = fire(2);
  const Tensor x = random_tensor({2, 4, 6, 6}, 48);
  const TensorMap expected = Session(g).run({{"x", x}});
  for (const bool fast : {false, true}) {
    Session s(g, SessionOptions{.threads = 1, .optimize = true, .fast_kernels = fast});
    // Both Concats (the original and the one the pool moved behind) are gone; the squeeze and
    // the pooled 3x3 Conv are each a sum of two convolutions, the pool runs on each part.
    EXPECT_EQ(count_ops(s.graph(), "Concat"), 0) << "fast " << fast;
    EXPECT_EQ(count_ops(s.graph(), "MaxPool"), 2) << "fast " << fast;
    const TensorMap got = s.run({{"x", x}});
    for (const char* out : {"y1", "y2"}) {
      ASSERT_EQ(got.at(out).dims(), expected.at(out).dims()) << out;
      expect_same_outputs(got.at(out).to_doubles(), expected.at(out).to_doubles());
    }
  }
}

TEST(Passes, ConcatStaysWhenAConvWouldReadBackMoreThanTheJoinedTensor) {
  // A squeeze to 16 channels (more than the 8 joined): the second slice would re-read 16 x 36
  // elements per sample to save writing 8 x 36. Nothing is split; the pool is not moved either.
  Graph g = fire(16);
  PassLog log;
  infer_types(g, OpRegistry::builtin());
  EXPECT_EQ(distribute_concat(g, &log), 0);
  EXPECT_EQ(count_ops(g, "Concat"), 1);
  EXPECT_EQ(count_ops(g, "Conv"), 4);
}

TEST(Passes, ConcatWithAnElementwiseReaderStays) {
  Graph g = fire(2);
  g.nodes.push_back(Node{"relu_cat", "Relu", "", {"cat"}, {"y3"}});
  g.outputs.push_back("y3");
  infer_types(g, OpRegistry::builtin());
  EXPECT_EQ(distribute_concat(g), 0);
  EXPECT_EQ(count_ops(g, "Concat"), 1);
}

// x [N, 64, 8, 8] -> Conv 3x3 (64 -> `out`, stride `stride`) + Relu -> y.
Graph conv3x3(int64_t out, int64_t stride, int64_t in = 64) {
  Graph g;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {-1, in, 8, 8}};
  g.value("w").initializer = random_tensor({out, in, 3, 3}, 51);
  g.value("b").initializer = random_tensor({out}, 52);
  g.nodes = {Node{"conv",
                  "Conv",
                  "",
                  {"x", "w", "b"},
                  {"c"},
                  {{"pads", ints({1, 1, 1, 1})}, {"strides", ints({stride, stride})}}},
             Node{"relu", "Relu", "", {"c"}, {"y"}}};
  g.outputs = {"y"};
  return g;
}

std::string algorithm_of(const Graph& g) {
  for (const auto& n : g.nodes)
    if (n.op_type == "FusedConv") return n.attr_string("algorithm", "");
  return "no FusedConv";
}

TEST(Passes, WinogradIsChosenFor3x3StrideOneLayersWithEnoughChannels) {
  auto chosen = [](Graph g) {
    optimize(g, nullptr, true, true, true);
    return algorithm_of(g);
  };
  EXPECT_EQ(chosen(conv3x3(64, 1)), "winograd");
  EXPECT_EQ(chosen(conv3x3(128, 1)), "winograd");  // at most twice the input channels
  EXPECT_EQ(chosen(conv3x3(129, 1)), "");
  EXPECT_EQ(chosen(conv3x3(64, 2)), "");      // strided
  EXPECT_EQ(chosen(conv3x3(64, 1, 32)), "");  // too few input channels
  Graph off = conv3x3(64, 1);
  optimize(off, nullptr, true, true, false);  // the option off
  EXPECT_EQ(algorithm_of(off), "");
}

TEST(Passes, WinogradConvolutionMatchesTheReferenceKernels) {
  // With a residual (the sum post-op starts from the reorder of Z into the blocked layout).
  Graph g = conv3x3(64, 1);
  g.nodes.back() = Node{"add", "Add", "", {"c", "x"}, {"s"}};
  g.nodes.push_back(Node{"relu", "Relu", "", {"s"}, {"y"}});
  // A second batch size repacks the weights (from the originals: oneDNN cannot reorder
  // Winograd-transformed weights into another Winograd layout).
  const Tensor x2 = random_tensor({2, 64, 8, 8}, 53), x3 = random_tensor({3, 64, 8, 8}, 54);
  Session reference(g);
  const TensorMap expected2 = reference.run({{"x", x2}}), expected3 = reference.run({{"x", x3}});
  for (const int threads : {1, 2}) {
    Session s(g, SessionOptions{.threads = threads, .optimize = true, .fast_kernels = true});
    EXPECT_EQ(algorithm_of(s.graph()), "winograd");
    expect_same_outputs(s.run({{"x", x2}}).at("y").to_doubles(), expected2.at("y").to_doubles());
    expect_same_outputs(s.run({{"x", x3}}).at("y").to_doubles(), expected3.at("y").to_doubles());
  }
}

TEST(Passes, DeadNodesAndUnusedInitializersAreRemoved) {
  Graph g = block("Relu", false);
  g.value("unused").initializer = Tensor(DType::f32, {1000});
  g.nodes.push_back(Node{"dead", "Relu", "", {"x"}, {"nobody"}});
  PassLog log;
  EXPECT_EQ(remove_dead_nodes(g, &log), 1);
  EXPECT_EQ(log.lines[0], "remove dead node 'dead'");
  EXPECT_FALSE(g.find_value("unused"));
  EXPECT_TRUE(g.find_value("w2"));
}

}  // namespace
}  // namespace edgeco

namespace edgeco {
namespace {

using testing::qdq_block;

TEST(QuantizedFusion, QdqBlockBecomesIntegerNodes) {
  Graph g = qdq_block();
  PassLog log = optimize(g);
  std::vector<std::string> ops;
  for (const Node& n : g.nodes) ops.push_back(n.op_type);
  EXPECT_EQ(ops, (std::vector<std::string>{"QuantizeLinear", "QFusedConv", "QFusedConv", "QAdd",
                                           "DequantizeLinear"}));
  EXPECT_EQ(g.nodes[1].attr_string("activation"), "Relu");
  EXPECT_EQ(g.nodes[1].inputs[0], "xq");  // the quantized tensor flows between integer nodes
  EXPECT_EQ(g.nodes[2].inputs[0], "r1q");
  EXPECT_EQ(g.nodes[3].inputs[0], "c2q");
  EXPECT_EQ(g.nodes[3].inputs[3], "xq");
  EXPECT_EQ(log.lines[0], "int8 Conv 'conv1' + Relu with its QuantizeLinear/DequantizeLinear");
}

TEST(QuantizedFusion, IntegerExecutionStaysWithinOneStepOfTheQdqGraph) {
  // The QDQ graph on the reference kernels computes in float; the integer nodes in int32 with
  // one rounding. A result within float error of a rounding boundary may land one step away, and
  // a step in an inner tensor can move the output by at most about one more.
  const Graph g = qdq_block();
  const TensorMap feed{{"x", random_tensor({1, 4, 6, 6}, 5, -2.5f, 2.5f)}};
  const auto expected = Session(g).run(feed).at("y").to_doubles();
  for (const bool fast : {false, true}) {
    Session s(g, SessionOptions{.threads = 1, .optimize = true, .fast_kernels = fast});
    const auto actual = s.run(feed).at("y").to_doubles();
    ASSERT_EQ(actual.size(), expected.size());
    size_t same = 0;
    for (size_t i = 0; i < actual.size(); ++i) {
      EXPECT_LE(std::abs(actual[i] - expected[i]), 2 * 0.03 + 1e-6) << "element " << i;
      same += actual[i] == expected[i];
    }
    EXPECT_GE(same, actual.size() * 9 / 10) << (fast ? "fast" : "reference");
  }
}

TEST(QuantizedFusion, QdqGemmBecomesQMatMulWithBStoredKByN) {
  // x -> Q -> DQ -> Gemm(transB, DQ w [N=3, K=5] per row, DQ int32 bias) -> y (float).
  Graph g;
  g.opset = 13;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {2, 5}};
  g.value("x_s").initializer = Tensor::scalar<float>(0.02f);
  g.value("x_z").initializer = Tensor::scalar<uint8_t>(128);
  g.value("w_q").initializer = testing::random_integers<int8_t>({3, 5}, -127, 127, 41);
  g.value("w_s").initializer = random_tensor({3}, 42, 0.002f, 0.004f);
  g.value("w_z").initializer = Tensor(DType::i8, {3});
  g.value("b_q").initializer = testing::random_integers<int32_t>({3}, -900, 900, 43);
  g.value("b_s").initializer = random_tensor({3}, 44, 1e-5f, 1e-4f);
  g.nodes = {
      Node{"q", "QuantizeLinear", "", {"x", "x_s", "x_z"}, {"xq"}},
      Node{"dq", "DequantizeLinear", "", {"xq", "x_s", "x_z"}, {"xd"}},
      Node{
          "wdq", "DequantizeLinear", "", {"w_q", "w_s", "w_z"}, {"w"}, {{"axis", testing::i64(0)}}},
      Node{"bdq", "DequantizeLinear", "", {"b_q", "b_s"}, {"b"}, {{"axis", testing::i64(0)}}},
      Node{"gemm", "Gemm", "", {"xd", "w", "b"}, {"y"}, {{"transB", testing::i64(1)}}}};
  g.outputs = {"y"};
  Graph optimized = g;
  optimize(optimized);
  ASSERT_EQ(optimized.nodes.size(), 2u);
  EXPECT_EQ(optimized.nodes[1].op_type, "QMatMul");
  EXPECT_EQ(optimized.find_value(optimized.nodes[1].inputs[3])->initializer->dims(), (Dims{5, 3}));
  const TensorMap feed{{"x", random_tensor({2, 5}, 45, -2, 2)}};
  const auto expected = Session(g).run(feed).at("y").to_doubles();
  for (const bool fast : {false, true}) {
    const auto actual =
        Session(g, SessionOptions{.threads = 1, .optimize = true, .fast_kernels = fast})
            .run(feed)
            .at("y")
            .to_doubles();
    ASSERT_EQ(actual.size(), expected.size());
    for (size_t i = 0; i < actual.size(); ++i)
      EXPECT_NEAR(actual[i], expected[i], 1e-5 * std::max(1.0, std::abs(expected[i])));
  }
}

TEST(QuantizedFusion, QLinearConvWithConstantsRunsOnTheInt8Kernels) {
  Graph g;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::u8, {1, 8, 9, 9}};
  g.value("xs").initializer = Tensor::scalar<float>(0.02f);
  g.value("xz").initializer = Tensor::scalar<uint8_t>(120);
  g.value("w").initializer = testing::random_integers<int8_t>({6, 8, 3, 3}, -127, 127, 51);
  g.value("ws").initializer = random_tensor({6}, 52, 0.002f, 0.004f);
  g.value("wz").initializer = Tensor(DType::i8, {6});
  g.value("ys").initializer = Tensor::scalar<float>(0.05f);
  g.value("yz").initializer = Tensor::scalar<uint8_t>(128);
  g.value("b").initializer = testing::random_integers<int32_t>({6}, -3000, 3000, 53);
  g.nodes = {Node{"qconv",
                  "QLinearConv",
                  "",
                  {"x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"},
                  {"y"},
                  {{"pads", ints({1, 1, 1, 1})}}}};
  g.outputs = {"y"};
  const TensorMap feed{{"x", testing::random_integers<uint8_t>({1, 8, 9, 9}, 0, 255, 54)}};
  const auto expected = Session(g).run(feed).at("y").to_int64s();
  Session fast(g, SessionOptions{.threads = 1, .optimize = true, .fast_kernels = true});
  const auto actual = fast.run(feed).at("y").to_int64s();
  bool on_onednn = false;
  for (const auto& t : fast.last_timings())
    on_onednn = on_onednn || (t.op_type == "QFusedConv" && t.kernel == "onednn");
  EXPECT_TRUE(on_onednn);
  ASSERT_EQ(actual.size(), expected.size());
  size_t saturated = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_LE(std::abs(actual[i] - expected[i]), 1) << "element " << i;
    saturated += expected[i] == 0 || expected[i] == 255;
  }
  EXPECT_LT(saturated, actual.size() / 4);
}

// x -> Q -> DQ -> x * Sigmoid(x) -> Q -> DQ -> HardSigmoid -> y: Swish between a DQ and a Q, then
// a HardSigmoid whose float result is the graph output.
Graph qdq_elementwise() {
  Graph g;
  g.opset = 13;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {2, 3, 5, 7}};
  g.value("s").initializer = Tensor::scalar<float>(0.03f);
  g.value("z").initializer = Tensor::scalar<uint8_t>(100);
  g.value("s2").initializer = Tensor::scalar<float>(0.02f);
  g.value("z2").initializer = Tensor::scalar<uint8_t>(20);
  g.nodes = {Node{"q", "QuantizeLinear", "", {"x", "s", "z"}, {"xq"}},
             Node{"dq", "DequantizeLinear", "", {"xq", "s", "z"}, {"xd"}},
             Node{"gate", "Sigmoid", "", {"xd"}, {"g"}},
             Node{"swish", "Mul", "", {"xd", "g"}, {"m"}},
             Node{"q2", "QuantizeLinear", "", {"m", "s2", "z2"}, {"mq"}},
             Node{"dq2", "DequantizeLinear", "", {"mq", "s2", "z2"}, {"md"}},
             Node{"hs", "HardSigmoid", "", {"md"}, {"y"}}};
  g.outputs = {"y"};
  return g;
}

TEST(QuantizedFusion, ElementwiseBetweenDqAndQBecomesABitExactLookupTable) {
  const Graph g = qdq_elementwise();
  const TensorMap feed{{"x", random_tensor({2, 3, 5, 7}, 61, -4, 4)}};
  const auto expected = Session(g).run(feed).at("y").to_doubles();
  for (const bool fast : {false, true}) {
    Session s(g, SessionOptions{.threads = 1, .optimize = true, .fast_kernels = fast});
    std::vector<std::string> ops;
    for (const Node& n : s.graph().nodes) ops.push_back(n.op_type);
    EXPECT_EQ(ops, (std::vector<std::string>{"QuantizeLinear", "QLookup", "QLookup"}));
    EXPECT_EQ(s.run(feed).at("y").to_doubles(), expected);  // the tables hold what DQ-f-Q computes
  }
}

// a, b -> Q -> DQ -> Concat -> MaxPool -> Q -> DQ -> y, and c -> Q -> DQ -> Concat -> Q -> DQ -> z:
// b shares the output's parameters, a is int8 with its own; c is read through one DQ twice.
Graph qdq_concat_pool() {
  Graph g;
  g.opset = 13;
  g.inputs = {"a", "b", "c"};
  for (const char* in : {"a", "b", "c"}) g.value(in).type = TensorType{DType::f32, {1, 3, 7, 7}};
  g.value("as").initializer = Tensor::scalar<float>(0.011f);
  g.value("az").initializer = Tensor::scalar<int8_t>(-5);
  g.value("ys").initializer = Tensor::scalar<float>(0.02f);
  g.value("yz").initializer = Tensor::scalar<uint8_t>(128);
  g.value("zs").initializer = Tensor::scalar<float>(0.007f);
  g.nodes = {Node{"qa", "QuantizeLinear", "", {"a", "as", "az"}, {"aq"}},
             Node{"dqa", "DequantizeLinear", "", {"aq", "as", "az"}, {"ad"}},
             Node{"qb", "QuantizeLinear", "", {"b", "ys", "yz"}, {"bq"}},
             Node{"dqb", "DequantizeLinear", "", {"bq", "ys", "yz"}, {"bd"}},
             Node{"cat", "Concat", "", {"ad", "bd"}, {"j"}, {{"axis", i64(1)}}},
             Node{"pool",
                  "MaxPool",
                  "",
                  {"j"},
                  {"p"},
                  {{"kernel_shape", ints({3, 3})},
                   {"strides", ints({2, 2})},
                   {"pads", ints({1, 1, 1, 1})}}},
             Node{"qy", "QuantizeLinear", "", {"p", "ys", "yz"}, {"pq"}},
             Node{"dqy", "DequantizeLinear", "", {"pq", "ys", "yz"}, {"y"}},
             Node{"qc", "QuantizeLinear", "", {"c", "ys", "yz"}, {"cq"}},
             Node{"dqc", "DequantizeLinear", "", {"cq", "ys", "yz"}, {"cd"}},
             Node{"cat2", "Concat", "", {"cd", "cd"}, {"k"}, {{"axis", i64(2)}}},
             Node{"qz", "QuantizeLinear", "", {"k", "zs"}, {"kq"}},
             Node{"dqz", "DequantizeLinear", "", {"kq", "zs"}, {"z"}}};
  g.outputs = {"y", "z"};
  return g;
}

TEST(QuantizedFusion, ConcatAndMaxPoolRunOnCodesBitExactly) {
  const Graph g = qdq_concat_pool();
  const TensorMap feed{{"a", random_tensor({1, 3, 7, 7}, 71, -1.5, 1.5)},
                       {"b", random_tensor({1, 3, 7, 7}, 72, -3, 3)},
                       {"c", random_tensor({1, 3, 7, 7}, 73, 0, 2)}};
  TensorMap expected = Session(g).run(feed);
  for (const bool fast : {false, true}) {
    Session s(g, SessionOptions{.threads = 1, .optimize = true, .fast_kernels = fast});
    std::map<std::string, int> ops;
    for (const Node& n : s.graph().nodes) ++ops[n.op_type];
    EXPECT_EQ(ops["QLookup"], 2);  // a's codes to the output's; c's to z's (b's are already)
    EXPECT_EQ(ops["DequantizeLinear"], 2);  // only the graph outputs' (y, z)
    EXPECT_EQ(ops["Concat"], 2);
    TensorMap actual = s.run(feed);
    for (const char* out : {"y", "z"})
      EXPECT_EQ(actual.at(out).to_doubles(), expected.at(out).to_doubles()) << out;
  }
}

TEST(QuantizedFusion, ConcatWithAFloatReaderStaysInFloat) {
  Graph g = qdq_concat_pool();
  g.outputs.push_back("j");  // the joined float tensor is wanted as it is
  // The code-region rewrite needs the evaluator (it builds the lookup tables): without it the
  // rule under test never runs.
  optimize(g, reference_evaluator());
  std::map<std::string, int> ops;
  const Node* cat = nullptr;
  for (const Node& n : g.nodes) {
    ++ops[n.op_type];
    for (const auto& out : n.outputs)
      if (out == "j") cat = &n;
  }
  // c's Concat (no float reader) still moves to codes, so the rewrite did run ...
  EXPECT_EQ(ops["QLookup"], 1);
  // ... and the Concat the graph output reads joins the float tensors, not codes.
  ASSERT_NE(cat, nullptr);
  EXPECT_EQ(cat->op_type, "Concat");
  EXPECT_EQ(cat->inputs, (std::vector<std::string>{"ad", "bd"}));
  EXPECT_EQ(g.value("j").type->dtype, DType::f32);
}

// x -> Q -> DQ -> Conv -> Q -> DQ -> GlobalAveragePool -> Flatten -> Q -> DQ -> y: a MobileNet
// head.
Graph qdq_pool_head() {
  Graph g;
  g.opset = 13;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {1, 8, 7, 7}};
  g.value("xs").initializer = Tensor::scalar<float>(0.02f);
  g.value("xz").initializer = Tensor::scalar<uint8_t>(128);
  g.value("ws").initializer = Tensor::scalar<float>(0.01f);
  g.value("wq").initializer = testing::random_integers<int8_t>({24, 8, 1, 1}, -100, 100, 81);
  g.value("cs").initializer = Tensor::scalar<float>(0.015f);
  g.value("cz").initializer = Tensor::scalar<uint8_t>(120);
  g.value("ps").initializer = Tensor::scalar<float>(0.003f);
  g.value("pz").initializer = Tensor::scalar<uint8_t>(125);
  g.nodes = {Node{"qx", "QuantizeLinear", "", {"x", "xs", "xz"}, {"xq"}},
             Node{"dqx", "DequantizeLinear", "", {"xq", "xs", "xz"}, {"xd"}},
             Node{"dqw", "DequantizeLinear", "", {"wq", "ws"}, {"wd"}},
             Node{"conv", "Conv", "", {"xd", "wd"}, {"c"}},
             Node{"qc", "QuantizeLinear", "", {"c", "cs", "cz"}, {"cq"}},
             Node{"dqc", "DequantizeLinear", "", {"cq", "cs", "cz"}, {"cd"}},
             Node{"gap", "GlobalAveragePool", "", {"cd"}, {"p"}},
             Node{"flat", "Flatten", "", {"p"}, {"f"}},
             Node{"qf", "QuantizeLinear", "", {"f", "ps", "pz"}, {"fq"}},
             Node{"dqf", "DequantizeLinear", "", {"fq", "ps", "pz"}, {"y"}}};
  g.outputs = {"y"};
  return g;
}

TEST(QuantizedFusion, GlobalPoolHeadAveragesCodesWithinOneStep) {
  const Graph g = qdq_pool_head();
  const TensorMap feed{{"x", random_tensor({1, 8, 7, 7}, 82, -2, 2)}};
  const auto expected = Session(g).run(feed).at("y").to_doubles();
  for (const bool fast : {false, true}) {
    Session s(g, SessionOptions{.threads = 2, .optimize = true, .fast_kernels = fast});
    std::vector<std::string> ops;
    for (const Node& n : s.graph().nodes) ops.push_back(n.op_type);
    EXPECT_NE(std::find(ops.begin(), ops.end(), "QGlobalAveragePool"), ops.end());
    EXPECT_EQ(std::count(ops.begin(), ops.end(), "DequantizeLinear"), 1);  // y's only
    const auto actual = s.run(feed).at("y").to_doubles();
    ASSERT_EQ(actual.size(), expected.size());
    for (size_t i = 0; i < actual.size(); ++i)  // one step of y's grid (the conv may round apart)
      EXPECT_LE(std::abs(actual[i] - expected[i]), 0.003 * 2 + 1e-6) << "element " << i;
  }
}

TEST(QuantizedFusion, NonConstantScaleKeepsTheQdqForm) {
  Graph g = qdq_block();
  g.inputs.push_back("r1_s");  // a runtime scale: the integer kernels cannot take it
  g.value("r1_s").initializer.reset();
  g.value("r1_s").type = TensorType{DType::f32, {}};
  optimize(g);
  int convs = 0, qconvs = 0;
  for (const Node& n : g.nodes) {
    convs += n.op_type == "Conv" || n.op_type == "FusedConv";
    qconvs += n.op_type == "QFusedConv";
  }
  EXPECT_EQ(convs, 2);  // conv1 writes r1 through a runtime Q; conv2 reads a runtime DQ
  EXPECT_EQ(qconvs, 0);
}

}  // namespace
}  // namespace edgeco
