// The int8 kernels: known answers for the reference edgeco.QFusedConv and edgeco.QAdd, and the
// fast kernels against the reference. QuantizeLinear, DequantizeLinear and QAdd must be bit-exact
// (same float32 arithmetic); QFusedConv may differ by 1 LSB, because oneDNN scales the int32
// accumulator in float32 where the reference uses double, so a value within float rounding of a
// .5 boundary can round the other way.
#include <gtest/gtest.h>

#include <random>

#include "../test_util.h"

namespace edgeco {
namespace {

using testing::f32;
using testing::i64;
using testing::ints;
using testing::random_floats;
using testing::random_integers;
using testing::str;

template <class T>
Tensor values(Dims dims, std::vector<T> v) {
  return Tensor::from_values<T>(dims, std::span<const T>(v));
}

// One node; input 0 is the graph input, the others initializers (empty handle = omitted).
Graph one_node(const std::string& op, const std::string& domain, const Tensor& x,
               const std::vector<Tensor>& constants, std::map<std::string, Attribute> attrs = {}) {
  Graph g;
  g.inputs = {"x"};
  g.value("x").type = TensorType{x.dtype(), x.dims()};
  Node n{"node", op, domain, {"x"}, {"y"}, std::move(attrs)};
  for (size_t i = 0; i < constants.size(); ++i) {
    if (constants[i].empty_handle()) {
      n.inputs.push_back("");
      continue;
    }
    const std::string name = "c" + std::to_string(i + 1);
    g.value(name).initializer = constants[i];
    n.inputs.push_back(name);
  }
  g.nodes = {n};
  g.outputs = {"y"};
  return g;
}

Tensor run(const Graph& g, const Tensor& x, bool fast, std::string* kernel = nullptr) {
  Session s(g, SessionOptions{.threads = 2, .optimize = false, .fast_kernels = fast});
  Tensor y = s.run({{"x", x}}).at("y");
  if (kernel) *kernel = s.last_timings().at(0).kernel;
  return y;
}

TEST(Int8Reference, QFusedConvKnownAnswerRoundsHalfToEven) {
  // x - 10 = {0, 10, 20, 30} at scale 0.5; weights {2, -3} at per-channel scales {0.25, 1}.
  const Tensor x = values<uint8_t>({1, 1, 2, 2}, {10, 20, 30, 40});
  const Graph g =
      one_node("QFusedConv", "edgeco", x,
               {Tensor::scalar<float>(0.5f), Tensor::scalar<uint8_t>(10),
                values<int8_t>({2, 1, 1, 1}, {2, -3}), values<float>({2}, {0.25f, 1.0f}),
                values<int8_t>({2}, {0, 0}), Tensor::scalar<float>(0.5f),
                Tensor::scalar<uint8_t>(128), values<float>({2}, {1.25f, 0.0f})},
               {{"activation", str("Relu")}});
  // Channel 0: 0.125 * {0, 20, 40, 60} + 1.25 = {1.25, 3.75, 6.25, 8.75}; / 0.5 = {2.5, 7.5,
  // 12.5, 17.5}, half to even {2, 8, 12, 18}, + 128. Channel 1 is negative: Relu gives 0 -> 128.
  const auto y = run(g, x, false).to_int64s();
  EXPECT_EQ(y, (std::vector<int64_t>{130, 136, 140, 146, 128, 128, 128, 128}));
}

TEST(Int8Reference, QAddKnownAnswerSaturatesAndAppliesRelu) {
  const Tensor a = values<uint8_t>({3}, {0, 100, 255});
  const std::vector<Tensor> rest{Tensor::scalar<float>(0.5f),        Tensor::scalar<uint8_t>(100),
                                 values<uint8_t>({3}, {50, 50, 50}), Tensor::scalar<float>(0.25f),
                                 Tensor::scalar<uint8_t>(0),         Tensor::scalar<float>(0.5f),
                                 Tensor::scalar<uint8_t>(10)};
  // a = {-50, 0, 77.5}, b = 12.5: sum {-37.5, 12.5, 90} -> {-75, 25, 180} + 10, saturated.
  EXPECT_EQ(run(one_node("QAdd", "edgeco", a, rest), a, false).to_int64s(),
            (std::vector<int64_t>{0, 35, 190}));
  EXPECT_EQ(
      run(one_node("QAdd", "edgeco", a, rest, {{"activation", str("Relu")}}), a, false).to_int64s(),
      (std::vector<int64_t>{10, 35, 190}));
}

TEST(Int8Reference, QMatMulKnownAnswerFloatAndQuantized) {
  // a - 10 = {2, 4} at scale 0.5; B = [[1, -1], [2, 3]] at column scales {0.25, 1}: acc = {10, 10},
  // real = {0.125 * 10 + 0.5, 0.5 * 10 - 1} = {1.75, 4}; on a 0.5 grid: {3.5 -> 4, 8}, + 3.
  const Tensor a = values<uint8_t>({1, 2}, {12, 14});
  std::vector<Tensor> rest{Tensor::scalar<float>(0.5f),
                           Tensor::scalar<uint8_t>(10),
                           values<int8_t>({2, 2}, {1, -1, 2, 3}),
                           values<float>({2}, {0.25f, 1.0f}),
                           Tensor::scalar<int8_t>(0),
                           values<float>({2}, {0.5f, -1.0f})};
  EXPECT_EQ(run(one_node("QMatMul", "edgeco", a, rest), a, false).to_doubles(),
            (std::vector<double>{1.75, 4.0}));
  rest.push_back(Tensor::scalar<float>(0.5f));
  rest.push_back(Tensor::scalar<uint8_t>(3));
  EXPECT_EQ(run(one_node("QMatMul", "edgeco", a, rest), a, false).to_int64s(),
            (std::vector<int64_t>{7, 11}));
}

TEST(FastInt8, QMatMulMatchesReference) {
  const Tensor a = random_integers<uint8_t>({3, 2, 40}, 0, 255, 21);
  std::vector<Tensor> rest{Tensor::scalar<float>(0.02f),
                           Tensor::scalar<uint8_t>(120),
                           random_integers<int8_t>({40, 10}, -127, 127, 22),
                           random_floats({10}, 0.001f, 0.01f, 23),
                           Tensor(DType::i8, {10}),
                           random_floats({10}, -1, 1, 24)};
  std::string kernel;
  const auto expected = run(one_node("QMatMul", "edgeco", a, rest), a, false).to_doubles();
  const auto actual = run(one_node("QMatMul", "edgeco", a, rest), a, true, &kernel).to_doubles();
  EXPECT_EQ(kernel, "onednn");
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i)
    EXPECT_NEAR(actual[i], expected[i], 1e-5 * std::max(1.0, std::abs(expected[i])));
  // Requantized: within one step of the grid.
  rest.push_back(Tensor::scalar<float>(0.05f));
  rest.push_back(Tensor::scalar<uint8_t>(128));
  const auto q_expected = run(one_node("QMatMul", "edgeco", a, rest), a, false).to_int64s();
  const auto q_actual = run(one_node("QMatMul", "edgeco", a, rest), a, true, &kernel).to_int64s();
  EXPECT_EQ(kernel, "onednn");
  size_t saturated = 0;
  for (size_t i = 0; i < q_actual.size(); ++i) {
    EXPECT_LE(std::abs(q_actual[i] - q_expected[i]), 1) << "element " << i;
    saturated += q_expected[i] == 0 || q_expected[i] == 255;
  }
  EXPECT_LT(saturated, q_actual.size() / 4);
}

TEST(Int8Reference, QLookupIndexesByTheRawByte) {
  std::vector<uint8_t> table(256);
  for (size_t b = 0; b < 256; ++b) table[b] = uint8_t(255 - b);
  const Tensor x = values<int8_t>({4}, {0, 1, -1, -128});  // bytes 0, 1, 255, 128
  EXPECT_EQ(
      run(one_node("QLookup", "edgeco", x, {values<uint8_t>({256}, table)}), x, false).to_int64s(),
      (std::vector<int64_t>{255, 254, 0, 127}));
}

TEST(FastInt8, QLookupMatchesReferenceForByteAndFloatTables) {
  const Tensor x = random_integers<uint8_t>({3, 7, 5, 11}, 0, 255, 31);  // 1155: 64-wide + tail
  for (const Tensor& table :
       {random_integers<uint8_t>({256}, 0, 255, 32), random_floats({256}, -3, 3, 33)}) {
    const Graph g = one_node("QLookup", "edgeco", x, {table});
    std::string kernel;
    const auto actual = run(g, x, true, &kernel).to_doubles();
    EXPECT_EQ(kernel, "own-simd");
    EXPECT_EQ(actual, run(g, x, false).to_doubles());
    EXPECT_EQ(actual[5], table.to_doubles()[x.to_int64s()[5]]);
  }
}

TEST(FastInt8, NhwcMaxPoolOnCodesEqualsReference) {
  for (const bool is_signed : {false, true}) {
    const Tensor x = is_signed ? random_integers<int8_t>({1, 9, 11, 24}, -128, 127, 41)
                               : random_integers<uint8_t>({1, 9, 11, 24}, 0, 255, 41);
    const Graph g = one_node("MaxPool", "edgeco", x, {},
                             {{"kernel_shape", ints({3, 3})},
                              {"strides", ints({2, 2})},
                              {"pads", ints({1, 1, 1, 1})},
                              {"channels_last", i64(1)}});
    std::string kernel;
    const auto actual = run(g, x, true, &kernel).to_int64s();
    EXPECT_EQ(kernel, "onednn");
    EXPECT_EQ(actual, run(g, x, false).to_int64s());  // padding never wins: the lowest code
  }
}

TEST(FastInt8, ThreeChannelImageTransposeInterleavesThePlanes) {
  // 5 x 29 = 145 pixels a plane: two 64-pixel steps and a scalar tail; two images.
  const Tensor x = random_integers<uint8_t>({2, 3, 5, 29}, 0, 255, 43);
  const Graph g = one_node("Transpose", "", x, {}, {{"perm", ints({0, 2, 3, 1})}});
  std::string kernel;
  const auto actual = run(g, x, true, &kernel).to_int64s();
  EXPECT_EQ(kernel, "own-simd");
  EXPECT_EQ(actual, run(g, x, false).to_int64s());
  const auto in = x.to_int64s();
  EXPECT_EQ(actual[3 * 100 + 2], in[2 * 145 + 100]);  // pixel 100, channel 2 of image 0
  const Tensor four = random_integers<uint8_t>({1, 4, 5, 29}, 0, 255, 44);
  run(one_node("Transpose", "", four, {}, {{"perm", ints({0, 2, 3, 1})}}), four, true, &kernel);
  EXPECT_EQ(kernel, "onednn");  // other channel counts stay on oneDNN's reorder
}

TEST(Int8Reference, QGlobalAveragePoolKnownAnswer) {
  // Channel 0: codes 10, 20, 30, 41 -> (x - 10) * 0.5 = 0, 5, 10, 15.5, mean 7.625; / 0.25 =
  // 30.5, rounds to even 30, + 3 = 33. Channel 1: all 255 -> 122.5 / 0.25 = 490 + 3: saturates.
  const Tensor x = values<uint8_t>({1, 2, 2, 2}, {10, 20, 30, 41, 255, 255, 255, 255});
  const Graph g = one_node("QGlobalAveragePool", "edgeco", x,
                           {Tensor::scalar<float>(0.5f), Tensor::scalar<uint8_t>(10),
                            Tensor::scalar<float>(0.25f), Tensor::scalar<uint8_t>(3)});
  EXPECT_EQ(run(g, x, false).to_int64s(), (std::vector<int64_t>{33, 255}));
}

TEST(FastInt8, QGlobalAveragePoolWithinOneLsbOfReference) {
  // 83 channels: one 64-wide block, a 16-lane finish past it and a scalar tail; NHWC, 2 images.
  for (const bool is_signed : {false, true}) {
    const Tensor x = is_signed ? random_integers<int8_t>({2, 7, 7, 83}, -128, 127, 45)
                               : random_integers<uint8_t>({2, 7, 7, 83}, 0, 255, 45);
    const Tensor x_zero = is_signed ? Tensor::scalar<int8_t>(-7) : Tensor::scalar<uint8_t>(121);
    const Graph g = one_node("QGlobalAveragePool", "edgeco", x,
                             {Tensor::scalar<float>(0.0313f), x_zero,
                              Tensor::scalar<float>(0.0041f), Tensor::scalar<uint8_t>(128)},
                             {{"channels_last", i64(1)}});
    std::string kernel;
    const auto actual = run(g, x, true, &kernel).to_int64s();
    const auto expected = run(g, x, false).to_int64s();
    EXPECT_EQ(kernel, "own-simd");
    ASSERT_EQ(actual.size(), size_t(2 * 83));
    size_t same = 0, saturated = 0;
    for (size_t i = 0; i < actual.size(); ++i) {
      EXPECT_LE(std::abs(actual[i] - expected[i]), 1) << "element " << i;
      same += actual[i] == expected[i];
      saturated += expected[i] == 0 || expected[i] == 255;
    }
    EXPECT_GT(same, actual.size() * 9 / 10);
    EXPECT_LT(saturated, actual.size() / 4);
  }
}

struct QConvCase {
  std::string name;
  Dims x, w;  // x as the node sees it (NHWC when channels_last)
  std::map<std::string, Attribute> attrs;
  bool signed_input = false;
  bool per_channel = true;
  bool bias = true;
};

void PrintTo(const QConvCase& c, std::ostream* os) {
  *os << c.name;
}

class FastQFusedConv : public ::testing::TestWithParam<QConvCase> {};

TEST_P(FastQFusedConv, WithinOneLsbOfReference) {
  const QConvCase& c = GetParam();
  const int64_t m = c.w[0];
  const Tensor x = c.signed_input ? random_integers<int8_t>(c.x, -128, 127, 1)
                                  : random_integers<uint8_t>(c.x, 0, 255, 1);
  const Tensor x_zero =
      c.signed_input ? Tensor::scalar<int8_t>(-3) : Tensor::scalar<uint8_t>(uint8_t(117));
  const Tensor w_scale =
      c.per_channel ? random_floats({m}, 0.001f, 0.01f, 3) : Tensor::scalar<float>(0.004f);
  const int64_t fan_in = checked_numel(c.w) / m;
  const Graph g =
      one_node("QFusedConv", "edgeco", x,
               {Tensor::scalar<float>(0.02f), x_zero, random_integers<int8_t>(c.w, -127, 127, 2),
                w_scale, c.per_channel ? Tensor(DType::i8, {m}) : Tensor::scalar<int8_t>(0),
                // An output scale that keeps most results inside the uint8 grid.
                Tensor::scalar<float>(0.02f * 0.006f * 200.0f * float(std::sqrt(double(fan_in)))),
                Tensor::scalar<uint8_t>(100), c.bias ? random_floats({m}, -1, 1, 4) : Tensor()},
               c.attrs);
  std::string kernel;
  const auto expected = run(g, x, false).to_int64s();
  const auto actual = run(g, x, true, &kernel).to_int64s();
  EXPECT_EQ(kernel, "onednn");
  ASSERT_EQ(actual.size(), expected.size());
  size_t off_by_one = 0, saturated = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    ASSERT_LE(std::abs(actual[i] - expected[i]), 1) << "element " << i;
    off_by_one += actual[i] != expected[i];
    saturated += expected[i] == 0 || expected[i] == 255;
  }
  // Rounding-order differences are rare; the grid must be exercised, not saturated.
  EXPECT_LE(off_by_one, actual.size() / 100 + 1);
  EXPECT_LT(saturated, actual.size() / 4);
}

std::map<std::string, Attribute> with(std::map<std::string, Attribute> a) {
  return a;
}

INSTANTIATE_TEST_SUITE_P(OneDnn, FastQFusedConv,
                         ::testing::Values(QConvCase{"nchw_3x3_relu",
                                                     {1, 16, 12, 12},
                                                     {24, 16, 3, 3},
                                                     with({{"pads", ints({1, 1, 1, 1})},
                                                           {"activation", str("Relu")}})},
                                           QConvCase{"nhwc_pointwise_no_activation",
                                                     {2, 7, 7, 32},
                                                     {16, 32, 1, 1},
                                                     with({{"channels_last", i64(1)}})},
                                           QConvCase{"nhwc_depthwise_stride2_relu6",
                                                     {1, 15, 15, 32},
                                                     {32, 1, 3, 3},
                                                     with({{"channels_last", i64(1)},
                                                           {"group", i64(32)},
                                                           {"strides", ints({2, 2})},
                                                           {"pads", ints({1, 1, 1, 1})},
                                                           {"activation", str("Clip")},
                                                           {"activation_alpha", f32(0)},
                                                           {"activation_beta", f32(6)}})},
                                           QConvCase{"nhwc_stem_signed_input_per_tensor",
                                                     {1, 17, 17, 3},
                                                     {8, 3, 3, 3},
                                                     with({{"channels_last", i64(1)},
                                                           {"strides", ints({2, 2})},
                                                           {"pads", ints({1, 1, 1, 1})}}),
                                                     true,
                                                     false},
                                           QConvCase{"nhwc_hardswish_no_bias",
                                                     {1, 6, 6, 8},
                                                     {8, 8, 3, 3},
                                                     with({{"channels_last", i64(1)},
                                                           {"auto_pad", str("SAME_UPPER")},
                                                           {"activation", str("HardSwish")}}),
                                                     false,
                                                     true,
                                                     false}),
                         [](const auto& info) { return info.param.name; });

TEST(FastInt8, QFusedConvWithDynamicBatchRebuildsForEachShape) {
  Graph g = one_node(
      "QFusedConv", "edgeco", Tensor(DType::u8, {1, 7, 7, 16}),
      {Tensor::scalar<float>(0.02f), Tensor::scalar<uint8_t>(117),
       random_integers<int8_t>({24, 16, 3, 3}, -127, 127, 2), random_floats({24}, 0.001f, 0.01f, 3),
       Tensor(DType::i8, {24}), Tensor::scalar<float>(0.3f), Tensor::scalar<uint8_t>(100),
       random_floats({24}, -1, 1, 4)},
      {{"channels_last", i64(1)}, {"pads", ints({1, 1, 1, 1})}});
  g.value("x").type = TensorType{DType::u8, {-1, 7, 7, 16}};
  Session reference(g),
      fast(g, SessionOptions{.threads = 1, .optimize = false, .fast_kernels = true});
  for (int64_t batch : {1, 3, 64, 2}) {
    const Tensor x = random_integers<uint8_t>({batch, 7, 7, 16}, 0, 255, uint32_t(batch));
    const auto e = reference.run({{"x", x}}).at("y").to_int64s();
    const auto a = fast.run({{"x", x}}).at("y").to_int64s();
    ASSERT_EQ(a.size(), e.size());
    for (size_t i = 0; i < a.size(); ++i) ASSERT_LE(std::abs(a[i] - e[i]), 1) << "batch " << batch;
  }
}

TEST(FastInt8, QuantizeDequantizeAndQAddAreBitExact) {
  const Tensor x = random_floats({2, 5, 5, 7}, -4, 4, 11);
  for (DType type : {DType::u8, DType::i8}) {
    const Tensor zero =
        type == DType::u8 ? Tensor::scalar<uint8_t>(128) : Tensor::scalar<int8_t>(3);
    // Scale 1/32: many values land exactly on .5 boundaries, where rounding must be half-to-even.
    const Graph q = one_node("QuantizeLinear", "", x, {Tensor::scalar<float>(0.03125f), zero});
    std::string kernel;
    const Tensor expected_q = run(q, x, false);
    const Tensor actual_q = run(q, x, true, &kernel);
    EXPECT_EQ(kernel, "own-simd");
    EXPECT_EQ(actual_q.to_int64s(), expected_q.to_int64s());

    const Graph dq =
        one_node("DequantizeLinear", "", expected_q, {Tensor::scalar<float>(0.1f), zero});
    EXPECT_EQ(run(dq, expected_q, true, &kernel).to_doubles(),
              run(dq, expected_q, false).to_doubles());
    EXPECT_EQ(kernel, "own-simd");

    for (const std::string activation : {"", "Relu"}) {
      const Tensor b = run(q, random_floats(x.dims(), -4, 4, 12), false);
      const Graph add =
          one_node("QAdd", "edgeco", expected_q,
                   {Tensor::scalar<float>(0.03125f), zero, b, Tensor::scalar<float>(0.05f), zero,
                    Tensor::scalar<float>(0.04f), zero},
                   {{"activation", str(activation)}});
      EXPECT_EQ(run(add, expected_q, true, &kernel).to_int64s(),
                run(add, expected_q, false).to_int64s());
      EXPECT_EQ(kernel, "own-simd");
    }
  }
}

}  // namespace
}  // namespace edgeco
