// Table-driven known-answer tests of the reference kernels. Expected values were computed once with
// PyTorch/NumPy (an independent implementation) or by hand, and are written here as golden data.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "../test_util.h"

namespace edgeco {
namespace {

using namespace edgeco::testing;

struct Case {
  std::string name;
  NodeSpec spec;
  Dims dims;
  std::vector<double> expected;
  double tol = 1e-5;
};

std::vector<Case> cases() {
  const Tensor x44 = arange({1, 1, 4, 4});
  const Tensor pool_in =
      Tensor::from_values<float>({1, 1, 4, 4}, {1, 5, 3, 0, 2, 9, 4, 8, 7, 6, 1, 2, 0, 3, 4, 5});
  return {
      {"conv2d_pad1",
       {"Conv", {x44, filled({1, 1, 3, 3}, 1)}, {{"pads", ints({1, 1, 1, 1})}}},
       {1, 1, 4, 4},
       {10, 18, 24, 18, 27, 45, 54, 39, 51, 81, 90, 63, 42, 66, 72, 50}},
      {"conv1d_stride2_dilation2",
       {"Conv",
        {arange({1, 1, 10}), Tensor::from_values<float>({1, 1, 3}, {1, -1, 2})},
        {{"strides", ints({2})}, {"dilations", ints({2})}}},
       {1, 1, 3},
       {6, 10, 14}},
      {"conv3d",
       {"Conv", {arange({1, 1, 3, 3, 3}), filled({1, 1, 2, 2, 2}, 1)}},
       {1, 1, 2, 2, 2},
       {52, 60, 76, 84, 124, 132, 148, 156}},
      {"depthwise_with_bias",
       {"Conv",
        {arange({1, 2, 4, 4}), Tensor::from_values<float>({2, 1, 2, 2}, {1, 0, 0, 1, 0, 1, 1, 0}),
         Tensor::from_values<float>({2}, {0.5f, -0.5f})},
        {{"group", i64(2)}}},
       {1, 2, 3, 3},
       {5.5, 7.5, 9.5, 13.5, 15.5, 17.5, 21.5, 23.5, 25.5, 36.5, 38.5, 40.5, 44.5, 46.5, 48.5, 52.5,
        54.5, 56.5}},
      {"conv_same_upper_stride2",
       {"Conv",
        {arange({1, 1, 5, 5}), filled({1, 1, 3, 3}, 1)},
        {{"auto_pad", str("SAME_UPPER")}, {"strides", ints({2, 2})}}},
       {1, 1, 3, 3},
       {12, 27, 24, 63, 108, 81, 72, 117, 84}},
      {"conv_transpose_stride2_outpad",
       {"ConvTranspose",
        {arange({1, 1, 3, 3}, 1), filled({1, 1, 3, 3}, 1)},
        {{"strides", ints({2, 2})},
         {"pads", ints({1, 1, 1, 1})},
         {"output_padding", ints({1, 1})}}},
       {1, 1, 6, 6},
       {1,  3,  2,  5,  3,  3,  5, 12, 7, 16, 9, 9, 4, 9,  5, 11, 6, 6,
        11, 24, 13, 28, 15, 15, 7, 15, 8, 17, 9, 9, 7, 15, 8, 17, 9, 9}},
      {"maxpool_2x2",
       {"MaxPool", {pool_in}, {{"kernel_shape", ints({2, 2})}, {"strides", ints({2, 2})}}},
       {1, 1, 2, 2},
       {9, 8, 7, 5}},
      {"maxpool_ceil",
       {"MaxPool",
        {pool_in},
        {{"kernel_shape", ints({3, 3})}, {"strides", ints({2, 2})}, {"ceil_mode", i64(1)}}},
       {1, 1, 2, 2},
       {9, 8, 7, 5}},
      {"avgpool_count_include_pad",
       {"AveragePool",
        {pool_in},
        {{"kernel_shape", ints({3, 3})},
         {"strides", ints({2, 2})},
         {"pads", ints({1, 1, 1, 1})},
         {"count_include_pad", i64(1)}}},
       {1, 1, 2, 2},
       {1.8888889, 3.2222222, 3.0, 4.6666667}},
      {"avgpool_exclude_pad",
       {"AveragePool",
        {pool_in},
        {{"kernel_shape", ints({3, 3})}, {"strides", ints({2, 2})}, {"pads", ints({1, 1, 1, 1})}}},
       {1, 1, 2, 2},
       {4.25, 4.8333333, 4.5, 4.6666667}},
      {"global_average_pool_1d", {"GlobalAveragePool", {arange({1, 2, 4})}}, {1, 2, 1}, {1.5, 5.5}},
      {"gemm_transB_alpha_beta",
       {"Gemm",
        {Tensor::from_values<float>({2, 3}, {1, 2, 3, 4, 5, 6}),
         Tensor::from_values<float>({2, 3}, {1, 0, 1, 0, 1, 0}),
         Tensor::from_values<float>({2}, {10, 20})},
        {{"transB", i64(1)}, {"alpha", f32(2)}, {"beta", f32(0.5f)}}},
       {2, 2},
       {2 * 4 + 5, 2 * 2 + 10, 2 * 10 + 5, 2 * 5 + 10}},
      {"matmul_batch_broadcast",
       {"MatMul", {arange({2, 1, 2}), Tensor::from_values<float>({2, 3}, {1, 2, 3, 4, 5, 6})}},
       {2, 1, 3},
       {4, 5, 6, 14, 19, 24}},
      {"softmax_last_axis",
       {"Softmax", {Tensor::from_values<float>({2, 3}, {1, 2, 3, 1, 1, 1})}},
       {2, 3},
       {0.09003057, 0.24472847, 0.66524094, 1.0 / 3, 1.0 / 3, 1.0 / 3}},
      {"hardswish_and_clip_bounds",
       {"HardSwish", {Tensor::from_values<float>({4}, {-4, -1, 1, 4})}},
       {4},
       {0, -1.0 / 3, 2.0 / 3, 4}},
      {"resize_linear_half_pixel",
       {"Resize",
        {Tensor::from_values<float>({1, 1, 2, 2}, {1, 2, 3, 4}), Tensor(),
         Tensor::from_values<float>({4}, {1, 1, 2, 2})},
        {{"mode", str("linear")}}},
       {1, 1, 4, 4},
       {1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4}},
      {"pad_reflect",
       {"Pad",
        {Tensor::from_values<float>({1, 3}, {1, 2, 3}),
         Tensor::from_values<int64_t>({4}, {0, 2, 0, 1})},
        {{"mode", str("reflect")}}},
       {1, 6},
       {3, 2, 1, 2, 3, 2}},
      {"gather_negative_index",
       {"Gather",
        {Tensor::from_values<float>({3, 2}, {1, 2, 3, 4, 5, 6}),
         Tensor::from_values<int64_t>({2}, {-1, 0})}},
       {2, 2},
       {5, 6, 1, 2}},
      {"slice_negative_step",
       {"Slice",
        {arange({6}), Tensor::from_values<int64_t>({1}, {-1}),
         Tensor::from_values<int64_t>({1}, {-100}), Tensor::from_values<int64_t>({1}, {0}),
         Tensor::from_values<int64_t>({1}, {-2})}},
       {3},
       {5, 3, 1}},
      {"quantize_rounds_half_even_and_saturates",
       {"QuantizeLinear",
        {Tensor::from_values<float>({6}, {0, 1.5f, 2.5f, -1, 300, 5}), Tensor::scalar<float>(1.0f),
         Tensor::scalar<uint8_t>(0)}},
       {6},
       {0, 2, 2, 0, 255, 5}},
      {"dequantize_per_axis",
       {"DequantizeLinear",
        {Tensor::from_values<int8_t>({2, 2}, {10, -10, 10, -10}),
         Tensor::from_values<float>({2}, {0.5f, 2.0f}), Tensor::from_values<int8_t>({2}, {0, 2})},
        {{"axis", i64(0)}}},
       {2, 2},
       {5, -5, 16, -24}},
      {"conv_integer_zero_points",
       {"ConvInteger",
        {Tensor::from_values<uint8_t>({1, 1, 2, 2}, {2, 3, 4, 5}),
         Tensor::from_values<uint8_t>({1, 1, 2, 2}, {1, 1, 1, 1}), Tensor::scalar<uint8_t>(1),
         Tensor::scalar<uint8_t>(0)}},
       {1, 1, 1, 1},
       {10}},
  };
}

class RefKernel : public ::testing::TestWithParam<Case> {};

TEST_P(RefKernel, MatchesKnownAnswer) {
  const Case& c = GetParam();
  const std::vector<Tensor> out = run_node_graph(c.spec);
  expect_near(out[0], c.dims, c.expected, c.tol);
}

INSTANTIATE_TEST_SUITE_P(KnownAnswers, RefKernel, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

TEST(RefKernel, MaxPoolIndicesAreRowMajorOverTheWholeTensor) {
  const Tensor x =
      Tensor::from_values<float>({1, 1, 4, 4}, {1, 5, 3, 0, 2, 9, 4, 8, 7, 6, 1, 2, 0, 3, 4, 5});
  NodeSpec spec{"MaxPool", {x}, {{"kernel_shape", ints({2, 2})}, {"strides", ints({2, 2})}}};
  spec.outputs = 2;
  const auto out = run_node_graph(spec);
  EXPECT_EQ(out[1].to_int64s(), (std::vector<int64_t>{5, 7, 8, 15}));
}

TEST(RefKernel, QLinearConvEqualsRequantizedFloatConvolution) {
  // x = (q - 128) * 0.1, w = q_w * 0.05 (per channel 0.05 / 0.1), y scale 0.2, zero point 100.
  const Tensor xq =
      Tensor::from_values<uint8_t>({1, 1, 3, 3}, {128, 138, 148, 118, 108, 98, 200, 20, 128});
  const Tensor wq = Tensor::from_values<int8_t>({2, 1, 2, 2}, {1, 2, 3, 4, -4, -3, -2, -1});
  NodeSpec spec{"QLinearConv",
                {xq, Tensor::scalar<float>(0.1f), Tensor::scalar<uint8_t>(128), wq,
                 Tensor::from_values<float>({2}, {0.05f, 0.1f}),
                 Tensor::from_values<int8_t>({2}, {0, 0}), Tensor::scalar<float>(0.2f),
                 Tensor::scalar<uint8_t>(100), Tensor::from_values<int32_t>({2}, {0, 50})}};
  const auto q = run_node_graph(spec)[0].to_int64s();
  // Float reference of the same arithmetic.
  const std::vector<double> x = {0, 1, 2, -1, -2, -3, 7.2, -10.8, 0};
  const double w[2][4] = {{0.05, 0.1, 0.15, 0.2}, {-0.4, -0.3, -0.2, -0.1}};
  const double bias[2] = {0, 50 * 0.1 * 0.1};
  std::vector<int64_t> expected;
  for (int m = 0; m < 2; ++m)
    for (int oh = 0; oh < 2; ++oh)
      for (int ow = 0; ow < 2; ++ow) {
        double acc = bias[m];
        for (int kh = 0; kh < 2; ++kh)
          for (int kw = 0; kw < 2; ++kw)
            acc += x[size_t((oh + kh) * 3 + ow + kw)] * w[m][kh * 2 + kw];
        expected.push_back(std::clamp<int64_t>(int64_t(std::nearbyint(acc / 0.2)) + 100, 0, 255));
      }
  ASSERT_EQ(q.size(), expected.size());
  for (size_t i = 0; i < q.size(); ++i)
    EXPECT_LE(std::abs(q[i] - expected[i]), 1) << "element " << i;
}

TEST(RefKernel, Float16IsComputedInFloatAndStoredAsHalf) {
  const Tensor a = Tensor::from_values<float>({3}, {1.5f, -2.0f, 1000.0f}).cast(DType::f16);
  const Tensor b = Tensor::from_values<float>({3}, {0.25f, 0.5f, 0.5f}).cast(DType::f16);
  const Tensor y = run_node_graph({"Add", {a, b}})[0];
  EXPECT_EQ(y.dtype(), DType::f16);
  expect_near(y, {3}, {1.75, -1.5, 1000.5});
}

TEST(RefKernel, GatherOutOfRangeIndexIsAnError) {
  const Error e = capture_error([] {
    run_node_graph({"Gather", {arange({3}), Tensor::from_values<int64_t>({1}, {3})}});
  });
  EXPECT_NE(std::string(e.what()).find("index 3 is out of range"), std::string::npos);
  EXPECT_NE(std::string(e.what()).find("(Gather)"), std::string::npos);
}

TEST(RefKernel, IntegerDivisionByZeroIsAnError) {
  EXPECT_THROW(run_node_graph({"Div",
                               {Tensor::from_values<int32_t>({1}, {4}),
                                Tensor::from_values<int32_t>({1}, {0})}}),
               Error);
}

TEST(RefKernel, ConvRunsTheSameWithTwoThreads) {
  Graph g = single_node_graph({"Conv", {arange({2, 4, 6, 6}), arange({8, 4, 3, 3})}});
  const TensorMap in{{"x0", arange({2, 4, 6, 6})}, {"x1", arange({8, 4, 3, 3})}};
  Session one(g, SessionOptions{.threads = 1});
  Session two(g, SessionOptions{.threads = 2});
  EXPECT_EQ(one.run(in).at("y0").to_doubles(), two.run(in).at("y0").to_doubles());
}

}  // namespace
}  // namespace edgeco
