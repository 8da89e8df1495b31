#include <gtest/gtest.h>

#include "edgeco/analysis.h"
#include "edgeco/data.h"
#include "edgeco/pipeline.h"
#include "edgeco/session.h"
#include "edgeco/zoo.h"

namespace edgeco {
namespace {

int64_t total_macs(const Graph& g) {
  Graph typed = g;
  for (const auto& name : typed.inputs)
    for (auto& d : typed.value(name).type->dims)
      if (d < 0) d = 1;
  return analyze(typed).macs;
}

TEST(AtResolution, AFullyConvolutionalNetRunsNativelyAtTheNewSize) {
  ZooOptions o;
  o.in_channels = 1;
  o.resolution = 96;
  o.classes = 10;
  o.width = 0.35;
  const Graph net = build_model("mobilenet_v2", o);
  bool in_front = true;
  const Graph at64 = at_resolution(net, 64, &in_front);
  EXPECT_FALSE(in_front);
  EXPECT_EQ(at64.value(at64.inputs[0]).type->dims, (Dims{-1, 1, 64, 64}));
  // Every convolution's work scales with the pixels, the classifier's does not: between
  // (64/96)^2 of the MACs and all of them, and clearly fewer.
  const double ratio = double(total_macs(at64)) / double(total_macs(net));
  EXPECT_GT(ratio, (64.0 * 64) / (96.0 * 96) - 0.01);
  EXPECT_LT(ratio, 0.6);
  Session s(at64);
  const Tensor x = Tensor::from_values<float>({1, 1, 64, 64}, std::vector<float>(64 * 64, 0.5f));
  EXPECT_EQ(s.run({{at64.inputs[0], x}}).at("logits").dims(), (Dims{1, 10}));
}

// x [N, 1, 8, 8] -> Flatten -> MatMul(w [64, 2]): fixed to 8 x 8 by its weights.
Graph fixed_size_net() {
  Graph g;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {-1, 1, 8, 8}};
  std::vector<float> w(64 * 2);
  for (size_t i = 0; i < w.size(); ++i) w[i] = float(int(i % 7) - 3) * 0.25f;
  g.value("w").initializer = Tensor::from_values<float>({64, 2}, w);
  Node flatten{"flatten", "Flatten", "", {"x"}, {"flat"}};
  flatten.attributes["axis"] = Attribute{int64_t(1)};
  g.nodes = {flatten, Node{"mm", "MatMul", "", {"flat", "w"}, {"y"}}};
  g.outputs = {"y"};
  return g;
}

TEST(AtResolution, AFixedSizeNetGetsABilinearResizeInFront) {
  bool in_front = false;
  const Graph at12 = at_resolution(fixed_size_net(), 12, &in_front);
  EXPECT_TRUE(in_front);
  std::vector<float> pixels(2 * 12 * 12);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = float((i * 37) % 101) / 101.0f;
  const Tensor image = Tensor::from_values<float>({2, 1, 12, 12}, pixels);
  Session scaled(at12);
  const Tensor got = scaled.run({{"x", image}}).at("y");
  // The same as resizing the images first (edgeco's data path) and running the 8 x 8 network.
  Session native(fixed_size_net());
  const Tensor want = native.run({{"x", resize_bilinear(image, 8, 8)}}).at("y");
  ASSERT_EQ(got.dims(), (Dims{2, 2}));
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(got.data<float>()[i], want.data<float>()[i], 1e-5);
  EXPECT_THROW(at_resolution(fixed_size_net(), 0), Error);
}

}  // namespace
}  // namespace edgeco
