// The architectures against published figures: MobileNetV2 and MobileNetV3-small have exactly
// the MACs edgeco counts on torchvision's own ONNX exports (tests/models/check_models.py) and the
// trainable parameters torchvision's documentation lists (3,504,872 and 2,542,856); the CIFAR
// ResNet-20 the 0.27 M parameters of He et al. (2016).
#include <gtest/gtest.h>

#include <set>

#include "../test_util.h"
#include "edgeco/compiler.h"
#include "edgeco/onnx.h"
#include "edgeco/zoo.h"

namespace edgeco {
namespace {

// Parameters as PyTorch counts them: weights, biases and BatchNormalization's scale and shift, not
// its running statistics nor scalar constants (Clip bounds).
int64_t trainable_params(const Graph& g) {
  std::set<std::string> statistics;
  for (const Node& n : g.nodes)
    if (n.op_type == "BatchNormalization") statistics.insert({n.inputs[3], n.inputs[4]});
  int64_t count = 0;
  for (const auto& [name, v] : g.values)
    if (v.initializer && v.initializer->rank() > 0 && !statistics.count(name))
      count += v.initializer->numel();
  return count;
}

ModelSummary folded_summary(Graph g) {
  fold_batch_norm(g);
  remove_dead_nodes(g);
  return analyze(std::move(g));
}

TEST(Zoo, MobileNetV2MatchesTorchvision) {
  const Graph g = build_model("mobilenet_v2");
  EXPECT_EQ(trainable_params(g), 3504872);
  const ModelSummary s = folded_summary(g);
  EXPECT_EQ(s.macs, 300774272);
  EXPECT_EQ(s.outputs[0].second.dims, (Dims{1, 1000}));
}

TEST(Zoo, MobileNetV3SmallMatchesTorchvision) {
  const Graph g = build_model("mobilenet_v3_small");
  EXPECT_EQ(trainable_params(g), 2542856);
  EXPECT_EQ(folded_summary(g).macs, 56510400);
}

// TensorFlow's EfficientNet-Lite table gives Lite0 4.7 M parameters; timm's port counts 4,652,008
// trainable ones. Its layout: 16 inverted-residual blocks, five of them 5x5, no SE, ReLU6 only.
TEST(Zoo, EfficientNetLite0HasThePublishedSize) {
  const Graph g = build_model("efficientnet_lite0");
  EXPECT_NEAR(double(trainable_params(g)), 4652008.0, 10.0);
  int depthwise_5x5 = 0, blocks = 0;
  for (const Node& n : g.nodes) {
    if (n.op_type == "Conv" && n.attr_int("group", 1) > 1) {
      ++blocks;
      if (n.attr_ints("kernel_shape")[0] == 5) ++depthwise_5x5;
    }
    EXPECT_NE(n.op_type, "Sigmoid");
  }
  EXPECT_EQ(blocks, 16);
  EXPECT_EQ(depthwise_5x5, 9);
}

TEST(Zoo, CifarResNetsHaveThePaperSize) {
  ZooOptions cifar;
  cifar.resolution = 32;
  cifar.classes = 10;
  const ModelSummary r20 = folded_summary(build_model("resnet20", cifar));
  // 0.27 M in the paper (identity shortcuts); the two 1x1 projections add 0.003 M.
  EXPECT_NEAR(double(r20.params), 0.27e6, 0.01e6);
  EXPECT_NEAR(double(r20.macs), 41e6, 1e6);
  const ModelSummary r8 = folded_summary(build_model("resnet8", cifar));
  EXPECT_LT(r8.params, r20.params / 3);
}

TEST(Zoo, SmallInputsAndWidthForFashionMnist) {
  ZooOptions fmnist;
  fmnist.in_channels = 1;
  fmnist.resolution = 28;
  fmnist.classes = 10;
  fmnist.width = 0.5;
  fmnist.small_input = true;
  const Graph g = build_model("mobilenet_v2", fmnist);
  const ModelSummary s = folded_summary(g);
  EXPECT_EQ(s.inputs[0].second.dims, (Dims{1, 1, 28, 28}));
  EXPECT_EQ(s.outputs[0].second.dims, (Dims{1, 10}));
  EXPECT_LT(s.params, 1'000'000);
  // It runs, with a batch of 3, and the logits are finite.
  Session session(g);
  const auto y =
      session.run({{"input", testing::random_floats({3, 1, 28, 28}, 0, 1, 1)}}).at("logits");
  EXPECT_EQ(y.dims(), (Dims{3, 10}));
  for (double v : y.to_doubles()) EXPECT_TRUE(std::isfinite(v));
}

TEST(Zoo, HarCnnTakesSignalWindows) {
  ZooOptions har;
  har.in_channels = 9;
  har.resolution = 128;
  har.classes = 6;
  const Graph g = build_model("har_cnn", har);
  Session session(g);
  const auto y =
      session.run({{"input", testing::random_floats({2, 9, 128}, -1, 1, 2)}}).at("logits");
  EXPECT_EQ(y.dims(), (Dims{2, 6}));
}

TEST(Zoo, ExportsToOnnxAndBack) {
  ZooOptions o;
  o.resolution = 32;
  o.classes = 10;
  const Graph g = build_model("resnet8", o);
  const std::string bytes = serialize_onnx(g);
  const Graph back = parse_onnx(std::as_bytes(std::span(bytes)));
  const Tensor x = testing::random_floats({1, 3, 32, 32}, 0, 1, 3);
  const auto a = Session(g).run({{"input", x}}).at("logits").to_doubles();
  const auto b = Session(back).run({{"input", x}}).at("logits").to_doubles();
  EXPECT_EQ(a, b);
}

TEST(Zoo, BadRequestsAreErrors) {
  EXPECT_THROW(build_model("vgg16"), Error);
  ZooOptions o;
  o.width = 0;
  EXPECT_THROW(build_model("mobilenet_v2", o), Error);
}

}  // namespace
}  // namespace edgeco
