#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "../test_util.h"
#include "edgeco/compress.h"
#include "edgeco/onnx.h"

namespace edgeco {
namespace {

using testing::ints;

// x [1, 1, 1, 4] -> Conv (2 output channels, 1x2 kernel, bias) -> y
Graph conv_model() {
  Graph g;
  g.opset = 13;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {1, 1, 1, 4}};
  g.value("w").initializer = Tensor::from_values<float>({2, 1, 1, 2}, {1.0f, -0.5f, 0.25f, 2.54f});
  g.value("b").initializer = Tensor::from_values<float>({2}, {0.1f, -0.2f});
  g.nodes = {Node{"conv", "Conv", "", {"x", "w", "b"}, {"y"}}};
  g.outputs = {"y"};
  return g;
}

Graph quantize(const Graph& g, const std::vector<TensorMap>& samples,
               QuantizeReport* report = nullptr) {
  Session session(g);
  return quantize_qdq(
      g, samples,
      [&](const TensorMap& s, const ValueCallback& observe) { session.run(s, observe); }, {},
      report);
}

const Tensor& initializer(const Graph& g, const std::string& name) {
  const Value* v = g.find_value(name);
  EXPECT_TRUE(v && v->initializer) << name;
  return *v->initializer;
}

TEST(Quantize, WeightsArePerChannelSymmetricInt8) {
  const Graph q =
      quantize(conv_model(), {{{"x", Tensor::from_values<float>({1, 1, 1, 4}, {-1, 0, 1, 3})}}});
  // Channel scales max|w| / 127; values round half to even: -0.5 * 127 = -63.5 -> -64, 12.5 -> 12.
  EXPECT_EQ(initializer(q, "conv_weight_quantized").to_int64s(),
            (std::vector<int64_t>{127, -64, 12, 127}));
  const auto scales = initializer(q, "conv_weight_scale").to_doubles();
  ASSERT_EQ(scales.size(), 2u);
  EXPECT_FLOAT_EQ(float(scales[0]), 1.0f / 127.0f);
  EXPECT_FLOAT_EQ(float(scales[1]), 2.54f / 127.0f);
}

TEST(Quantize, ActivationsAreAsymmetricUint8FromTheCalibratedRange) {
  const Graph q =
      quantize(conv_model(), {{{"x", Tensor::from_values<float>({1, 1, 1, 4}, {-1, 0, 1, 3})}}});
  // x in [-1, 3]: scale 4 / 255, zero point round(1 / scale) = round(63.75) = 64.
  EXPECT_FLOAT_EQ(float(initializer(q, "x_scale").to_doubles()[0]), 4.0f / 255.0f);
  EXPECT_EQ(initializer(q, "x_zero_point").to_int64s()[0], 64);
  EXPECT_EQ(initializer(q, "x_zero_point").dtype(), DType::u8);
  // Bias: int32 at x_scale * w_scale[c].
  const auto b = initializer(q, "conv_bias_quantized").to_int64s();
  EXPECT_EQ(b[0], int64_t(std::nearbyint(0.1 / ((4.0 / 255.0) * (1.0 / 127.0)))));
  EXPECT_EQ(initializer(q, "conv_bias_quantized").dtype(), DType::i32);
}

TEST(Quantize, SymmetricActivationsAreInt8WithZeroPointZero) {
  const Graph g = conv_model();
  Session session(g);
  QuantizeOptions o;
  o.symmetric_activations = true;
  const TensorMap sample{{"x", Tensor::from_values<float>({1, 1, 1, 4}, {-1, 0, 1, 3})}};
  const Graph q = quantize_qdq(
      g, std::vector<TensorMap>{sample},
      [&](const TensorMap& s, const ValueCallback& observe) { session.run(s, observe); }, o);
  // x in [-1, 3]: scale max(|-1|, |3|) / 127, zero point int8 0.
  EXPECT_FLOAT_EQ(float(initializer(q, "x_scale").to_doubles()[0]), 3.0f / 127.0f);
  EXPECT_EQ(initializer(q, "x_zero_point").dtype(), DType::i8);
  EXPECT_EQ(initializer(q, "x_zero_point").to_int64s()[0], 0);
  // The model still computes the convolution, within the quantization step.
  Session quantized(q);
  const auto want = session.run(sample).at("y").to_doubles();
  const auto got = quantized.run(sample).at("y").to_doubles();
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 0.05);
}

TEST(Quantize, QuantizedModelStaysCloseAndSurvivesExport) {
  const Graph g = conv_model();
  QuantizeReport report;
  std::vector<TensorMap> samples;
  for (int s = 0; s < 4; ++s)
    samples.push_back({{"x", testing::arange({1, 1, 1, 4}, float(s) - 2)}});
  const Graph q = quantize(g, samples, &report);
  EXPECT_EQ(report.quantized, (std::vector<std::string>{"conv"}));
  EXPECT_EQ(report.calibration_samples, 4u);
  int q_nodes = 0, dq_nodes = 0;
  for (const auto& n : q.nodes)
    q_nodes += n.op_type == "QuantizeLinear", dq_nodes += n.op_type == "DequantizeLinear";
  EXPECT_EQ(q_nodes, 2);   // x and y
  EXPECT_EQ(dq_nodes, 4);  // x, y, weight, bias
  const std::string bytes = serialize_onnx(q);
  const Graph back = parse_onnx(std::as_bytes(std::span(bytes)));
  const Tensor x = testing::arange({1, 1, 1, 4}, -1);
  Session fp(g), int8(back);
  const auto expected = fp.run({{"x", x}}).at("y").to_doubles();
  const auto got = int8.run({{"x", x}}).at("y").to_doubles();
  // Within a couple of quantization steps of the output (its range here is about 10).
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], 0.15) << i;
}

TEST(Quantize, OutputIsQuantizedAfterAFollowingRelu) {
  Graph g = conv_model();
  g.nodes[0].outputs = {"c"};
  g.nodes.push_back(Node{"relu", "Relu", "", {"c"}, {"y"}});
  const Graph q = quantize(g, {{{"x", Tensor::from_values<float>({1, 1, 1, 4}, {-1, 0, 1, 3})}}});
  // y (after Relu) is quantized, with zero point 0 since it is never negative; c stays float.
  EXPECT_EQ(initializer(q, "y_zero_point").to_int64s()[0], 0);
  EXPECT_FALSE(q.find_value("c_scale"));
  int q_nodes = 0;
  for (const auto& n : q.nodes) q_nodes += n.op_type == "QuantizeLinear";
  EXPECT_EQ(q_nodes, 2);  // x and y
}

TEST(Quantize, NoCalibrationIsAnError) {
  EXPECT_THROW(quantize(conv_model(), {}), Error);
}

TEST(Quantize, RandomCalibrationIsDeterministic) {
  const auto a = random_calibration(conv_model(), 2, 5), b = random_calibration(conv_model(), 2, 5);
  EXPECT_EQ(a[1].at("x").to_doubles(), b[1].at("x").to_doubles());
  EXPECT_NE(a[0].at("x").to_doubles(), a[1].at("x").to_doubles());
}

}  // namespace
}  // namespace edgeco

namespace edgeco {
namespace {

// x [1, 1, 1, n] -> 1x1 Conv with weight 1 -> y: y's calibration sees exactly x.
Graph identity_conv(int64_t n) {
  Graph g;
  g.opset = 13;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {1, 1, 1, n}};
  g.value("w").initializer = Tensor::from_values<float>({1, 1, 1, 1}, {1.0f});
  g.nodes = {Node{"conv", "Conv", "", {"x", "w"}, {"y"}}};
  g.outputs = {"y"};
  return g;
}

float calibrated_scale(const std::vector<float>& values, CalibrationMethod method) {
  const int64_t n = int64_t(values.size());
  const Graph g = identity_conv(n);
  Session session(g);
  QuantizeOptions options;
  options.method = method;
  options.percentile = 99.9;
  const std::vector<TensorMap> samples{
      {{"x", Tensor::from_values<float>({1, 1, 1, n}, std::span<const float>(values))}}};
  const Graph q = quantize_qdq(
      g, samples,
      [&](const TensorMap& s, const ValueCallback& observe) { session.run(s, observe); }, options);
  return float(q.find_value("x_scale")->initializer->to_doubles()[0]);
}

// Mean squared error of quantizing `values` to uint8 with this scale and zero point 0.
double quantization_error(const std::vector<float>& values, float scale) {
  double err = 0;
  for (float v : values) {
    const double q = std::clamp(std::nearbyint(double(v) / scale), 0.0, 255.0) * scale;
    err += (q - v) * (q - v);
  }
  return err / double(values.size());
}

TEST(Calibration, PercentileAndEntropyClipAnOutlierThatMinMaxKeeps) {
  std::vector<float> values;
  for (double v : testing::random_floats({10000}, 0, 1, 7).to_doubles()) values.push_back(float(v));
  values.push_back(100.0f);
  EXPECT_FLOAT_EQ(calibrated_scale(values, CalibrationMethod::minmax), 100.0f / 255.0f);
  // 99.9% of the values lie below about 1.
  EXPECT_NEAR(calibrated_scale(values, CalibrationMethod::percentile), 1.0f / 255.0f,
              0.1f / 255.0f);
  // Entropy's finest clip is 128 of 2048 bins (6.25 here): far below the outlier.
  EXPECT_LE(calibrated_scale(values, CalibrationMethod::entropy), 6.5f / 255.0f);
}

TEST(Calibration, MseRangeHasNoMoreErrorThanMinMax) {
  // An exponential distribution: a long light tail, where clipping pays.
  std::vector<float> values;
  std::mt19937 rng(3);
  std::exponential_distribution<float> e(1.0f);
  for (int i = 0; i < 20000; ++i) values.push_back(e(rng));
  const float minmax = calibrated_scale(values, CalibrationMethod::minmax);
  const float mse = calibrated_scale(values, CalibrationMethod::mse);
  EXPECT_LT(mse, minmax);
  EXPECT_LT(quantization_error(values, mse), quantization_error(values, minmax));
}

TEST(Calibration, FashionMnistSamplesAreResizedAndRepeatedOverChannels) {
  if (!std::filesystem::exists(kFashionMnistDir / "train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  Graph g;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {1, 3, 32, 32}};
  const auto samples = fashion_mnist_calibration(g, 3, 5);
  ASSERT_EQ(samples.size(), 3u);
  const Tensor& x = samples[0].at("x");
  EXPECT_EQ(x.dims(), (Dims{1, 3, 32, 32}));
  const auto v = x.to_doubles();
  for (size_t i = 0; i < 32 * 32; ++i) EXPECT_EQ(v[i], v[i + 2 * 32 * 32]);
  EXPECT_GE(*std::min_element(v.begin(), v.end()), 0.0);
  EXPECT_LE(*std::max_element(v.begin(), v.end()), 1.0);
  EXPECT_GT(*std::max_element(v.begin(), v.end()), 0.5);  // an image, not blank
}

}  // namespace
}  // namespace edgeco
