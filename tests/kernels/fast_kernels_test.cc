// Every fast kernel against the reference kernel (the oracle), through one shared helper: same
// node, same random inputs; the fast path must run and agree within 1e-4 relative (FP32).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "../test_util.h"
#include "kernels/fast/fast_kernels.h"

namespace edgeco {
namespace {

using testing::f32;
using testing::i64;
using testing::ints;
using testing::str;

Tensor random_tensor(Dims dims, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(size_t(checked_numel(dims)));
  for (auto& x : v) x = u(rng);
  return Tensor::from_values<float>(dims, std::span<const float>(v));
}

struct FastCase {
  std::string name;
  std::string op;            // "Conv", "FusedConv" (domain edgeco) or "Gemm"
  std::vector<Dims> inputs;  // input 0 is the graph input; the others become initializers
  std::map<std::string, Attribute> attrs;
  std::string expected_kernel = "onednn";
};

// Runs the case on the reference and the fast path; returns the kernel the fast path used.
void expect_fast_matches_reference(const FastCase& c) {
  Graph g;
  // "edgeco.X" names an op of edgeco's domain; FusedConv is always one.
  const bool own = c.op.rfind("edgeco.", 0) == 0 || c.op == "FusedConv";
  const std::string op = c.op.rfind("edgeco.", 0) == 0 ? c.op.substr(7) : c.op;
  Node n{"node", op, own ? "edgeco" : "", {}, {"y"}, c.attrs};
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const std::string name = "in" + std::to_string(i);
    if (c.inputs[i].empty()) {  // omitted optional input
      n.inputs.push_back("");
      continue;
    }
    n.inputs.push_back(name);
    if (i == 0) {
      g.inputs.push_back(name);
      g.value(name).type = TensorType{DType::f32, c.inputs[i]};
    } else {
      g.value(name).initializer = random_tensor(c.inputs[i], uint32_t(100 + i));
    }
  }
  g.nodes.push_back(n);
  g.outputs = {"y"};
  const TensorMap feed{{"in0", random_tensor(c.inputs[0], 7)}};
  Session reference(g, SessionOptions{.threads = 1, .optimize = false, .fast_kernels = false});
  Session fast(g, SessionOptions{.threads = 2, .optimize = false, .fast_kernels = true});
  const auto expected = reference.run(feed).at("y").to_doubles();
  const auto actual = fast.run(feed).at("y").to_doubles();
  ASSERT_EQ(fast.last_timings().size(), 1u);
  EXPECT_EQ(fast.last_timings()[0].kernel, c.expected_kernel);
  ASSERT_EQ(actual.size(), expected.size());
  double scale = 0;
  for (double v : expected) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < actual.size(); ++i)
    ASSERT_NEAR(actual[i], expected[i], 1e-4 * scale) << "element " << i;
}

std::map<std::string, Attribute> fused(std::string activation, float alpha = 0, float beta = 0,
                                       std::map<std::string, Attribute> extra = {}) {
  extra["activation"] = str(std::move(activation));
  extra["activation_alpha"] = f32(alpha);
  extra["activation_beta"] = f32(beta);
  return extra;
}

std::vector<FastCase> cases() {
  return {
      {"conv3x3_bias",
       "Conv",
       {{1, 16, 14, 14}, {32, 16, 3, 3}, {32}},
       {{"pads", ints({1, 1, 1, 1})}}},
      {"conv_no_bias_batch2", "Conv", {{2, 8, 9, 7}, {4, 8, 3, 3}}, {}},
      {"stem_7x7_stride2_leaky",
       "FusedConv",
       {{1, 3, 33, 33}, {16, 3, 7, 7}, {16}},
       fused("LeakyRelu", 0.1f, 0, {{"strides", ints({2, 2})}, {"pads", ints({3, 3, 3, 3})}})},
      {"depthwise_stride2_relu6",
       "FusedConv",
       {{1, 32, 15, 15}, {32, 1, 3, 3}, {32}},
       fused("Clip", 0, 6,
             {{"group", i64(32)}, {"strides", ints({2, 2})}, {"pads", ints({1, 1, 1, 1})}})},
      {"grouped_asymmetric_pads_sigmoid",
       "FusedConv",
       {{1, 8, 10, 10}, {8, 2, 3, 3}, {8}},
       fused("Sigmoid", 0, 0, {{"group", i64(4)}, {"pads", ints({0, 1, 1, 0})}})},
      {"dilated_residual_hardswish",
       "FusedConv",
       {{2, 8, 9, 7}, {8, 8, 5, 5}, {8}, {2, 8, 9, 7}},
       fused("HardSwish", 0, 0, {{"dilations", ints({2, 2})}, {"pads", ints({4, 4, 4, 4})}})},
      {"pointwise_residual_no_activation",
       "FusedConv",
       {{1, 64, 7, 7}, {16, 64, 1, 1}, {}, {1, 16, 7, 7}},
       fused("")},
      {"hardsigmoid",
       "FusedConv",
       {{1, 4, 6, 6}, {4, 4, 3, 3}, {4}},
       fused("HardSigmoid", 0.2f, 0.5f)},
      {"pointwise_residual_swish_odd_size",  // 210 outputs: the vector loop's tail
       "FusedConv",
       {{1, 8, 7, 5}, {6, 8, 1, 1}, {6}, {1, 6, 7, 5}},
       fused("Swish")},
      {"tanh_same_upper",
       "FusedConv",
       {{1, 4, 7, 7}, {4, 4, 3, 3}, {4}},
       fused("Tanh", 0, 0, {{"auto_pad", str("SAME_UPPER")}, {"strides", ints({2, 2})}})},
      {"gemm_transB_bias", "Gemm", {{3, 40}, {10, 40}, {10}}, {{"transB", i64(1)}}},
      {"gemm_transA_alpha_beta",
       "Gemm",
       {{40, 3}, {40, 10}, {1, 10}},
       {{"transA", i64(1)}, {"alpha", f32(0.5f)}, {"beta", f32(2.0f)}}},
      {"gemm_no_bias", "Gemm", {{2, 16}, {16, 5}}, {}},
      {"gemm_full_c_stays_reference", "Gemm", {{2, 16}, {16, 5}, {2, 5}}, {}, "reference"},
      {"conv1d_stays_reference", "Conv", {{1, 4, 10}, {4, 4, 3}}, {}, "reference"},
      {"mul_same_shape", "Mul", {{2, 5, 5, 8}, {2, 5, 5, 8}}, {}, "own-simd"},
      {"mul_channel_broadcast_nhwc", "Mul", {{2, 5, 5, 8}, {2, 1, 1, 8}}, {}, "own-simd"},
      {"add_broadcast_first_operand", "Add", {{1, 1, 1, 8}, {3, 4, 4, 8}}, {}, "own-simd"},
      {"add_other_broadcast_stays_reference", "Add", {{2, 8, 5, 5}, {8, 1, 1}}, {}, "reference"},
      {"concat_channels_nhwc",
       "Concat",
       {{2, 5, 5, 8}, {2, 5, 5, 3}, {2, 5, 5, 16}},
       {{"axis", i64(-1)}},
       "own-simd"},
      {"concat_axis1", "Concat", {{2, 3, 4}, {2, 1, 4}}, {{"axis", i64(1)}}, "own-simd"},
      {"reduce_mean_spatial", "ReduceMean", {{2, 7, 5, 16}}, {{"axes", ints({1, 2})}}, "own-simd"},
      {"reduce_mean_spatial_no_kept_dims",
       "ReduceMean",
       {{2, 7, 5, 16}},
       {{"axes", ints({1, 2})}, {"keepdims", i64(0)}},
       "own-simd"},
      {"reduce_mean_other_axes_stay_reference",
       "ReduceMean",
       {{2, 7, 5, 16}},
       {{"axes", ints({2, 3})}, {"keepdims", i64(0)}},
       "reference"},
      {"nhwc_maxpool_ceil",
       "edgeco.MaxPool",
       {{1, 13, 13, 8}},
       {{"channels_last", i64(1)},
        {"kernel_shape", ints({3, 3})},
        {"strides", ints({2, 2})},
        {"ceil_mode", i64(1)}}},
      {"nhwc_maxpool_dilated_padded",
       "edgeco.MaxPool",
       {{2, 9, 8, 4}},
       {{"channels_last", i64(1)},
        {"kernel_shape", ints({3, 2})},
        {"dilations", ints({2, 1})},
        {"pads", ints({1, 0, 1, 1})}}},
      {"nhwc_avgpool_exclude_pad_ceil",
       "edgeco.AveragePool",
       {{1, 10, 10, 4}},
       {{"channels_last", i64(1)},
        {"kernel_shape", ints({3, 3})},
        {"strides", ints({2, 2})},
        {"pads", ints({1, 1, 1, 1})},
        {"ceil_mode", i64(1)}}},
      {"nhwc_avgpool_include_pad",
       "edgeco.AveragePool",
       {{1, 10, 10, 4}},
       {{"channels_last", i64(1)},
        {"kernel_shape", ints({3, 3})},
        {"pads", ints({1, 1, 1, 1})},
        {"count_include_pad", i64(1)}}},
      {"nhwc_avgpool_include_pad_ceil_stays_reference",
       "edgeco.AveragePool",
       {{1, 10, 10, 4}},
       {{"channels_last", i64(1)},
        {"kernel_shape", ints({3, 3})},
        {"strides", ints({2, 2})},
        {"pads", ints({1, 1, 1, 1})},
        {"count_include_pad", i64(1)},
        {"ceil_mode", i64(1)}},
       "reference"},
  };
}

class FastKernel : public ::testing::TestWithParam<FastCase> {};

TEST_P(FastKernel, MatchesReference) {
  expect_fast_matches_reference(GetParam());
}

INSTANTIATE_TEST_SUITE_P(OneDnn, FastKernel, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

TEST(FastKernel, DynamicBatchRebuildsForEachShape) {
  Graph g;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {-1, 4, 5, 5}};
  g.value("w").initializer = random_tensor({6, 4, 3, 3}, 1);
  g.nodes = {Node{"conv", "Conv", "", {"x", "w"}, {"y"}}};
  g.outputs = {"y"};
  Session reference(g),
      fast(g, SessionOptions{.threads = 1, .optimize = false, .fast_kernels = true});
  for (int64_t batch : {1, 3, 2}) {
    const TensorMap feed{{"x", random_tensor({batch, 4, 5, 5}, uint32_t(batch))}};
    const auto e = reference.run(feed).at("y").to_doubles();
    const auto a = fast.run(feed).at("y").to_doubles();
    ASSERT_EQ(a.size(), e.size());
    for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], e[i], 1e-4) << "batch " << batch;
  }
}

// A data-movement node with int64 constant inputs (Slice's starts, ends, axes) on both paths: the
// fast one must pick `kernel` and copy exactly what the reference copies.
void expect_copy_matches_reference(Node node, Dims x_dims,
                                   const std::vector<std::pair<std::string, Dims>>& constants,
                                   const std::string& kernel) {
  Graph g;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, x_dims};
  node.inputs.insert(node.inputs.begin(), "x");
  for (const auto& [name, values] : constants) {
    g.value(name).initializer =
        Tensor::from_values<int64_t>({int64_t(values.size())}, std::span<const int64_t>(values));
    node.inputs.push_back(name);
  }
  node.outputs = {"y"};
  g.nodes.push_back(node);
  g.outputs = {"y"};
  const TensorMap feed{{"x", random_tensor(x_dims, 3)}};
  Session reference(g, SessionOptions{.threads = 1, .optimize = false, .fast_kernels = false});
  Session fast(g, SessionOptions{.threads = 1, .optimize = false, .fast_kernels = true});
  const Tensor expected = reference.run(feed).at("y");
  const Tensor actual = fast.run(feed).at("y");
  EXPECT_EQ(fast.last_timings()[0].kernel, kernel) << node.op_type;
  EXPECT_EQ(actual.dims(), expected.dims());
  EXPECT_EQ(actual.to_doubles(), expected.to_doubles()) << node.op_type;
}

TEST(FastKernel, SliceCopiesRunsOfTheAxesAfterTheLastSliced) {
  const Node slice{"s", "Slice"};
  // ShuffleNet's channel split, then slices of inner axes, negative and clamped bounds, several
  // axes, and nothing sliced at all.
  expect_copy_matches_reference(slice, {2, 8, 5, 5}, {{"st", {4}}, {"en", {8}}, {"ax", {1}}},
                                "own-simd");
  expect_copy_matches_reference(slice, {2, 8, 5, 5}, {{"st", {1}}, {"en", {-1}}, {"ax", {3}}},
                                "own-simd");
  expect_copy_matches_reference(slice, {3, 4, 6},
                                {{"st", {1, -4}}, {"en", {100, 5}}, {"ax", {0, 2}}}, "own-simd");
  expect_copy_matches_reference(slice, {3, 4}, {{"st", {0}}, {"en", {10}}}, "own-simd");
  // A step other than 1 stays on the reference kernel.
  expect_copy_matches_reference(slice, {3, 8}, {{"st", {0}}, {"en", {8}}, {"ax", {1}}, {"sp", {2}}},
                                "reference");
}

TEST(FastKernel, TransposeCopiesRunsOfTheAxesItKeepsInPlace) {
  const auto transpose = [](Dims perm) {
    return Node{"t", "Transpose", "", {}, {}, {{"perm", ints(std::move(perm))}}};
  };
  // ShuffleNet's channel shuffle (the last two axes stay: runs of H x W), a full reversal (runs
  // of one element), and the layout permutation oneDNN takes.
  expect_copy_matches_reference(transpose({0, 2, 1, 3, 4}), {2, 2, 3, 4, 5}, {}, "own-simd");
  expect_copy_matches_reference(transpose({2, 1, 0}), {3, 4, 5}, {}, "own-simd");
  expect_copy_matches_reference(Node{"t", "Transpose"}, {3, 4, 5}, {}, "own-simd");
  expect_copy_matches_reference(transpose({0, 2, 3, 1}), {1, 3, 4, 5}, {}, "onednn");
}

// The float convolutions' own Sigmoid and Swish loop against exp in double precision: 40,001
// values (not a multiple of the vector width), where exp(-x) overflows or vanishes, NaN, and the
// split over two threads.
TEST(FastKernel, ExpActivationsAgreeWithDoublePrecision) {
  std::vector<float> x;
  for (int i = 0; i <= 40000; ++i) x.push_back(-100.0f + 0.005f * float(i));
  x[123] = std::numeric_limits<float>::quiet_NaN();
  using kernels::fast::ExpActivation;
  for (ExpActivation kind : {ExpActivation::sigmoid, ExpActivation::swish}) {
    for (int threads : {1, 2}) {
      std::vector<float> y = x;
      kernels::fast::apply_exp_activation(kind, y, threads);
      EXPECT_TRUE(std::isnan(y[123]));
      for (size_t i = 0; i < x.size(); ++i) {
        if (i == 123) continue;
        const double sigmoid = 1.0 / (1.0 + std::exp(-double(x[i])));
        const double expected = kind == ExpActivation::swish ? double(x[i]) * sigmoid : sigmoid;
        ASSERT_NEAR(y[i], expected, 1e-6 * std::abs(expected) + 1e-30)
            << "x = " << x[i] << ", threads " << threads;
      }
    }
  }
}

}  // namespace
}  // namespace edgeco
