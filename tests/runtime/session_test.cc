#include <gtest/gtest.h>
#include <omp.h>

#include <cstdlib>

#include "../test_util.h"
#include "edgeco/compress.h"

namespace edgeco {
namespace {

using testing::capture_error;

// y = Relu(Conv(x, W) + B), with x of shape [N, 2, 4, 4].
Graph conv_relu() {
  Graph g;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {-1, 2, 4, 4}};
  g.value("w").initializer = testing::filled({3, 2, 3, 3}, 0.5f);
  g.value("b").initializer = Tensor::from_values<float>({3}, {-1, 0, 1});
  g.nodes = {
      Node{"conv", "Conv", "", {"x", "w", "b"}, {"c"}, {{"pads", testing::ints({1, 1, 1, 1})}}},
      Node{"relu", "Relu", "", {"c"}, {"y"}}};
  g.outputs = {"y"};
  return g;
}

TEST(Session, RunsAndTimesEveryNode) {
  Session s(conv_relu());
  const TensorMap out = s.run({{"x", testing::filled({1, 2, 4, 4}, 1.0f)}});
  const Tensor& y = out.at("y");
  EXPECT_EQ(y.dims(), (Dims{1, 3, 4, 4}));
  // Corner: 2 channels x 4 taps x 0.5 = 4; centre: 2 x 9 x 0.5 = 9; plus bias -1/0/1.
  EXPECT_FLOAT_EQ(y.data<float>()[0], 3.0f);
  EXPECT_FLOAT_EQ(y.data<float>()[5], 8.0f);
  EXPECT_FLOAT_EQ(y.data<float>()[16 + 5], 9.0f);
  ASSERT_EQ(s.last_timings().size(), 2u);
  EXPECT_EQ(s.last_timings()[0].op_type, "Conv");
  EXPECT_GE(s.last_timings()[0].ms, 0.0);
}

TEST(Session, WrongShapeDtypeOrNameIsReportedAgainstTheInput) {
  Session s(conv_relu());
  const Error shape = capture_error([&] { s.run({{"x", testing::filled({1, 3, 4, 4}, 1)}}); });
  EXPECT_EQ(shape.kind(), ErrorKind::invalid_argument);
  EXPECT_NE(std::string(shape.what())
                .find("input 'x': has shape [1, 3, 4, 4], the model expects [?, 2, 4, 4]"),
            std::string::npos);
  const Error dtype = capture_error([&] { s.run({{"x", Tensor(DType::i32, {1, 2, 4, 4})}}); });
  EXPECT_NE(std::string(dtype.what()).find("has type int32"), std::string::npos);
  EXPECT_THROW(s.run({}), Error);
  EXPECT_THROW(s.run({{"x", testing::filled({1, 2, 4, 4}, 1)}, {"z", testing::filled({1}, 1)}}),
               Error);
}

TEST(Session, UnsupportedOperatorFailsAtPrepareNamingNode) {
  Graph g = conv_relu();
  g.nodes[1].op_type = "Gelu";
  const Error e = capture_error([&] { Session s(g); });
  EXPECT_EQ(e.kind(), ErrorKind::unsupported);
  EXPECT_NE(std::string(e.what()).find("node 'relu' (Gelu)"), std::string::npos);
}

TEST(Session, CyclicGraphIsRejected) {
  Graph g = conv_relu();
  g.nodes[0].inputs[0] = "y";
  g.inputs.clear();
  const Error e = capture_error([&] { Session s(g); });
  EXPECT_NE(std::string(e.what()).find("cycle"), std::string::npos);
}

TEST(Session, ConstantSubgraphsAreFoldedOnce) {
  Graph g;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {2}};
  g.value("a").initializer = Tensor::from_values<float>({2}, {1, 2});
  g.value("b").initializer = Tensor::from_values<float>({2}, {10, 20});
  g.nodes = {Node{"k", "Mul", "", {"a", "b"}, {"k"}}, Node{"y", "Add", "", {"x", "k"}, {"y"}}};
  g.outputs = {"y"};
  Session s(g);
  EXPECT_EQ(s.run({{"x", Tensor::from_values<float>({2}, {1, 1})}}).at("y").to_doubles(),
            (std::vector<double>{11, 41}));
  ASSERT_EQ(s.last_timings().size(), 1u);  // only the Add runs
  EXPECT_EQ(s.last_timings()[0].op_type, "Add");
}

TEST(Session, ActivationOverTheMemoryLimitIsAnErrorNotACrash) {
  Session s(conv_relu());
  const Tensor big(DType::f32, {400, 2, 4, 4});  // 51 KB in, 77 KB out
  setenv("EDGECO_MAX_TENSOR_BYTES", "60000", 1);
  const Error oom = capture_error([&] { s.run({{"x", big}}); });
  unsetenv("EDGECO_MAX_TENSOR_BYTES");
  EXPECT_EQ(oom.kind(), ErrorKind::out_of_memory);
  EXPECT_NE(std::string(oom.what()).find("node 'conv'"), std::string::npos);
}

// conv_relu with a fixed batch: shapes cannot change, so kernels may pack weights once.
Graph static_conv_relu() {
  Graph g = conv_relu();
  g.value("x").type = TensorType{DType::f32, {2, 2, 4, 4}};
  return g;
}

TEST(SessionMemory, PackedWeightsAreTheOnlyCopyWithStaticShapes) {
  const Tensor x = testing::random_floats({2, 2, 4, 4}, -1, 1, 3);
  const auto expected = Session(static_conv_relu()).run({{"x", x}}).at("y").to_doubles();
  Session fast(static_conv_relu(),
               SessionOptions{.threads = 1, .optimize = true, .fast_kernels = true});
  EXPECT_FALSE(fast.graph().find_value("w")->initializer);  // the oneDNN kernel holds it packed
  for (int run = 0; run < 2; ++run) {
    const auto got = fast.run({{"x", x}}).at("y").to_doubles();
    ASSERT_EQ(got.size(), expected.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], 1e-5) << i;
  }
  SessionOptions keep{.threads = 1, .optimize = true, .fast_kernels = true};
  keep.keep_constants = true;
  EXPECT_TRUE(Session(static_conv_relu(), keep).graph().find_value("w")->initializer);
  // With a symbolic batch the kernel repacks float weights from its packed copy when a new batch
  // size needs another layout (fast_kernels_test: DynamicBatchRebuildsForEachShape).
  EXPECT_FALSE(
      Session(conv_relu(), SessionOptions{.threads = 1, .optimize = true, .fast_kernels = true})
          .graph()
          .find_value("w")
          ->initializer);
}

TEST(SessionMemory, LargestTwoLiveActivationsOfAChain) {
  // x [1000] -> Relu a [1000] -> Relu b [1000] -> Concat(b, b) y [2000]: when y is written, b
  // (4000 B) and y (8000 B) are live; x and a are already freed.
  Graph g;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {1000}};
  g.nodes = {Node{"r1", "Relu", "", {"x"}, {"a"}}, Node{"r2", "Relu", "", {"a"}, {"b"}},
             Node{"cat", "Concat", "", {"b", "b"}, {"y"}, {{"axis", testing::i64(0)}}}};
  g.outputs = {"y"};
  Session s(g);
  s.set_measure_memory(true);
  s.run({{"x", testing::filled({1000}, 1.0f)}});
  EXPECT_EQ(s.last_memory().largest_two_live_bytes, 12000u);
  // After r1: x and a (8000); after r2: a and b; after cat: b and y (12000).
  EXPECT_EQ(s.last_memory().peak_live_bytes, 12000u);
}

// x [1, 4, 8, 8] through 3x3 convolutions with their own weights: `name` = Conv(`from`).
void add_conv(Graph& g, const std::string& name, const std::string& from, uint32_t seed) {
  g.value(name + ".w").initializer = testing::random_floats({4, 4, 3, 3}, -0.3f, 0.3f, seed);
  g.nodes.push_back(
      Node{name, "Conv", "", {from, name + ".w"}, {name}, {{"pads", testing::ints({1, 1, 1, 1})}}});
}

Graph static_input_graph() {
  Graph g;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {1, 4, 8, 8}};
  return g;
}

// Runs `g` with fast kernels three times on different inputs; every run must match the reference
// kernels (the arena is reused between runs). Returns the fast session's arena bytes.
size_t expect_arena_runs_match_reference(const Graph& g, Dims input_dims) {
  Session reference(g);
  Session fast(g, SessionOptions{.threads = 1, .optimize = false, .fast_kernels = true});
  for (uint32_t run = 0; run < 3; ++run) {
    const TensorMap feed{{"x", testing::random_floats(input_dims, -1, 1, 10 + run)}};
    const auto expected = reference.run(feed).at("y").to_doubles();
    const auto got = fast.run(feed).at("y").to_doubles();
    EXPECT_EQ(got.size(), expected.size());
    for (size_t i = 0; i < got.size() && i < expected.size(); ++i)
      EXPECT_NEAR(got[i], expected[i], 1e-4) << "run " << run << ", element " << i;
  }
  return fast.arena_bytes();
}

TEST(SessionArena, AChainOfConvolutionsPingPongsBetweenTwoBuffers) {
  Graph g = static_input_graph();
  add_conv(g, "c1", "x", 1);
  add_conv(g, "c2", "c1", 2);
  add_conv(g, "c3", "c2", 3);
  add_conv(g, "y", "c3", 4);  // a graph output: allocated on its own, not in the arena
  g.outputs = {"y"};
  // c1, c2, c3: 1 x 4 x 8 x 8 floats = 1024 bytes each; c1 and c3 share a place.
  EXPECT_EQ(expect_arena_runs_match_reference(g, {1, 4, 8, 8}), 2048u);
}

TEST(SessionArena, AReshapeViewKeepsItsSourceAlive) {
  // r = Reshape(a) shares a's storage (reference kernel). If a's place were free after the
  // Reshape, b would overwrite it before the Add reads r.
  Graph g = static_input_graph();
  add_conv(g, "a", "x", 1);
  g.value("shape").initializer = Tensor::from_values<int64_t>({4}, {1, 4, 8, 8});
  g.nodes.push_back(Node{"r", "Reshape", "", {"a", "shape"}, {"r"}});
  add_conv(g, "b", "x", 2);
  add_conv(g, "c", "b", 3);
  g.nodes.push_back(Node{"add", "Add", "", {"r", "c"}, {"y"}});
  g.outputs = {"y"};
  // a lives until the Add, so a, b and c need three places.
  EXPECT_EQ(expect_arena_runs_match_reference(g, {1, 4, 8, 8}), 3072u);
}

TEST(SessionArena, AnOutputThatViewsTheArenaIsCopiedOut) {
  Graph g = static_input_graph();
  add_conv(g, "a", "x", 1);
  g.value("shape").initializer = Tensor::from_values<int64_t>({2}, {4, 64});
  g.nodes.push_back(Node{"r", "Reshape", "", {"a", "shape"}, {"y"}});
  g.outputs = {"y"};
  Session fast(g, SessionOptions{.threads = 1, .optimize = false, .fast_kernels = true});
  const Tensor first = fast.run({{"x", testing::random_floats({1, 4, 8, 8}, -1, 1, 1)}}).at("y");
  const auto kept = first.to_doubles();
  fast.run({{"x", testing::random_floats({1, 4, 8, 8}, -1, 1, 2)}});
  EXPECT_EQ(first.to_doubles(), kept);  // the second run did not write into the first's output
  EXPECT_EQ(fast.arena_bytes(), 1024u);
}

TEST(SessionArena, ASymbolicBatchIsPlannedForEachBatchSize) {
  Graph g;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {-1, 4, 8, 8}};
  add_conv(g, "c1", "x", 1);
  add_conv(g, "y", "c1", 2);
  g.outputs = {"y"};
  Session reference(g);
  Session fast(g, SessionOptions{.threads = 1, .optimize = false, .fast_kernels = true});
  EXPECT_EQ(fast.arena_bytes(), 0u);  // planned after the first run with each batch size
  for (int64_t batch : {1, 3, 3, 2}) {
    const TensorMap feed{{"x", testing::random_floats({batch, 4, 8, 8}, -1, 1, uint32_t(batch))}};
    const auto expected = reference.run(feed).at("y").to_doubles();
    const auto got = fast.run(feed).at("y").to_doubles();
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], expected[i], 1e-4) << batch;
    EXPECT_EQ(fast.arena_bytes(), size_t(batch) * 1024u);  // c1, planned after the run
  }
}

TEST(Evaluate, TopOneTopFiveAndConfusionOnKnownLogits) {
  // logits = the four pixels of a 2x2 image: the brightest pixel is the predicted class.
  Graph g;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {-1, 1, 2, 2}};
  std::vector<float> eye(16, 0.0f);
  for (int i = 0; i < 4; ++i) eye[size_t(i * 4 + i)] = 1.0f;
  g.value("w").initializer = Tensor::from_values<float>({4, 4}, std::span<const float>(eye));
  g.nodes = {Node{"flat", "Flatten", "", {"x"}, {"f"}},
             Node{"fc", "Gemm", "", {"f", "w"}, {"y"}, {{"transB", testing::i64(1)}}}};
  g.outputs = {"y"};
  Dataset d;
  d.name = "toy";
  d.classes = {"a", "b", "c", "d"};
  // Brightest pixels 0, 1, 2, 3, 3; labels 0, 1, 2, 3, 0 (the last is wrong, its runner-up is 0).
  d.samples = Tensor::from_values<float>(
      {5, 1, 2, 2}, {9, 1, 0, 0, 0, 9, 0, 0, 0, 0, 9, 0, 0, 0, 0, 9, 5, 0, 0, 9});
  d.labels = Tensor::from_values<int64_t>({5}, {0, 1, 2, 3, 0});
  for (const int64_t batch : {2, 64}) {  // a partial last batch either way
    Session s(g);
    EvalOptions options;
    options.batch_size = batch;
    const EvalResult r = evaluate(s, d, options);
    EXPECT_EQ(r.samples, 5);
    EXPECT_DOUBLE_EQ(r.top1, 0.8);
    EXPECT_DOUBLE_EQ(r.top5, 1.0);
    EXPECT_EQ(r.per_class, (std::vector<double>{0.5, 1, 1, 1}));
    EXPECT_EQ(r.confusion[0], (std::vector<int64_t>{1, 0, 0, 1}));
  }
}

// A quantized chain as in MobileNetV2's blocks, on a 3-channel image: 3x3 convolution, strided
// depthwise, 1x1 convolution, a residual add (13 rows: bands of 6 and 7 rows at 2 threads, halos
// between them), then a float 3x3 output layer.
Graph quantized_block_chain() {
  Graph g;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {1, 3, 26, 11}};
  auto conv = [&](const std::string& name, const std::string& from, int64_t c_in, int64_t c_out,
                  int64_t k, int64_t stride, int64_t group, uint32_t seed) {
    g.value(name + ".w").initializer =
        testing::random_floats({c_out, c_in / group, k, k}, -0.4f, 0.4f, seed);
    g.value(name + ".b").initializer = testing::random_floats({c_out}, -0.2f, 0.2f, seed + 100);
    const int64_t pad = k / 2;
    g.nodes.push_back(Node{name,
                           "Conv",
                           "",
                           {from, name + ".w", name + ".b"},
                           {name + ".c"},
                           {{"pads", testing::ints({pad, pad, pad, pad})},
                            {"strides", testing::ints({stride, stride})},
                            {"group", Attribute{group}}}});
    g.nodes.push_back(Node{name + ".relu", "Relu", "", {name + ".c"}, {name}});
  };
  conv("c1", "x", 3, 16, 3, 1, 1, 1);
  conv("dw", "c1", 16, 16, 3, 2, 16, 2);  // 26 -> 13 rows
  conv("pw", "dw", 16, 16, 1, 1, 1, 3);
  g.nodes.push_back(Node{"add", "Add", "", {"pw", "dw"}, {"sum"}});
  conv("c2", "sum", 16, 8, 3, 1, 1, 4);
  g.outputs = {"c2"};
  Session calibration(g);
  return quantize_qdq(g, random_calibration(g, 4, 7),
                      [&](const TensorMap& sample, const ValueCallback& observe) {
                        calibration.run(sample, observe);
                      });
}

TEST(SessionRowBands, ChainsRunByBandsGiveTheBitsOfWholeNodes) {
  const Graph g = quantized_block_chain();
  SessionOptions whole_options{.threads = 2, .optimize = true, .fast_kernels = true};
  whole_options.row_bands = false;
  Session banded(g, SessionOptions{.threads = 2, .optimize = true, .fast_kernels = true});
  Session whole(g, whole_options);
  for (uint32_t run = 0; run < 3; ++run) {
    const TensorMap feed{{"x", testing::random_floats({1, 3, 26, 11}, -1, 1, 20 + run)}};
    const Tensor want = whole.run(feed).at("c2");
    const Tensor got = banded.run(feed).at("c2");
    ASSERT_EQ(got.dims(), want.dims());
    EXPECT_EQ(got.to_doubles(), want.to_doubles()) << "run " << run;
    // The first run plans the arena; later ones run the quantized chain by bands: the image's
    // Quantize (its 3 channel planes split by rows) and 8-bit channels-last transpose, the
    // convolutions and add, the Dequantize at the end. The transpose back to NCHW and the float
    // output layer run whole.
    std::vector<std::string> by_bands;
    for (const NodeTiming& t : banded.last_timings())
      if (t.row_bands) by_bands.push_back(t.op_type);
    const std::vector<std::string> chain{"QuantizeLinear",  "Transpose",  "QFusedConv",
                                         "QFusedConv",      "QFusedConv", "QAdd",
                                         "DequantizeLinear"};
    EXPECT_EQ(by_bands, run == 0 ? std::vector<std::string>{} : chain) << "run " << run;
    for (const NodeTiming& t : whole.last_timings()) EXPECT_FALSE(t.row_bands) << t.node;
  }
}

TEST(Session, RunsWithItsThreadCountAndGivesTheCallersOpenMpLimitBack) {
  // A caller's own OpenMP code keeps its thread limit across a session's runs, whatever thread
  // count the session (and the oneDNN primitives it prepares) uses.
  const int before = omp_get_max_threads();
  for (int threads : {1, 2}) {
    omp_set_num_threads(3);
    Session s(conv_relu(),
              SessionOptions{.threads = threads, .optimize = true, .fast_kernels = true});
    const TensorMap feed{{"x", testing::random_floats({1, 2, 4, 4}, -1, 1, 4)}};
    s.run(feed);
    s.run(feed);
    EXPECT_EQ(omp_get_max_threads(), 3) << threads << " thread(s)";
  }
  omp_set_num_threads(before);
}

TEST(SessionRowBands, OneThreadOrAnObserverRunsWholeNodes) {
  const Graph g = quantized_block_chain();
  Session one(g, SessionOptions{.threads = 1, .optimize = true, .fast_kernels = true});
  Session two(g, SessionOptions{.threads = 2, .optimize = true, .fast_kernels = true});
  const TensorMap feed{{"x", testing::random_floats({1, 3, 26, 11}, -1, 1, 5)}};
  for (int run = 0; run < 2; ++run) {
    const auto want = one.run(feed).at("c2").to_doubles();
    size_t observed = 0;
    const auto got =
        two.run(feed, [&](const std::string&, const Tensor&) { ++observed; }).at("c2").to_doubles();
    EXPECT_EQ(got, want);
    EXPECT_GT(observed, 0u);
    for (const NodeTiming& t : one.last_timings()) EXPECT_FALSE(t.row_bands) << t.node;
    for (const NodeTiming& t : two.last_timings()) EXPECT_FALSE(t.row_bands) << t.node;
  }
}

}  // namespace
}  // namespace edgeco
