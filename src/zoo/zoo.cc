#include "edgeco/zoo.h"

#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <span>

namespace edgeco {
namespace {

// Appends nodes and seeded initializers to a graph; every helper returns its output's name.
class Builder {
 public:
  Builder(std::string name, uint32_t seed) : rng_(seed) {
    g_.name = std::move(name);
    g_.opset = 13;
  }

  std::string input(Dims dims) {
    g_.inputs = {"input"};
    Value& v = g_.value("input");
    v.type = TensorType{DType::f32, std::move(dims)};
    v.dim_params.assign(v.type->dims.size(), "");
    v.dim_params[0] = "batch";
    return "input";
  }

  // Convolution (no bias; BatchNormalization follows) over 1 or 2 spatial dims.
  std::string conv(const std::string& x, int64_t in, int64_t out, int64_t k, int64_t stride,
                   int64_t groups = 1, bool bias = false, int spatial = 2) {
    const std::string name = "conv" + std::to_string(++count_);
    Dims w_dims{out, in / groups};
    for (int d = 0; d < spatial; ++d) w_dims.push_back(k);
    const int64_t per_group = in / groups;  // whole channels per group
    const double fan_in = double(per_group) * std::pow(double(k), spatial);
    g_.value(name + ".weight").initializer = normal(w_dims, std::sqrt(2.0 / fan_in));
    Node n{name, "Conv", "", {x, name + ".weight"}, {name + ".out"}};
    if (bias) {
      g_.value(name + ".bias").initializer = Tensor(DType::f32, {out});
      n.inputs.push_back(name + ".bias");
    }
    n.attributes["kernel_shape"] = Attribute{Dims(size_t(spatial), k)};
    n.attributes["strides"] = Attribute{Dims(size_t(spatial), stride)};
    n.attributes["pads"] = Attribute{Dims(size_t(2 * spatial), (k - 1) / 2)};
    n.attributes["group"] = Attribute{groups};
    g_.nodes.push_back(std::move(n));
    return name + ".out";
  }

  std::string batch_norm(const std::string& x, int64_t channels) {
    const std::string name = "bn" + std::to_string(++count_);
    std::vector<float> ones(size_t(channels), 1.0f);
    g_.value(name + ".scale").initializer =
        Tensor::from_values<float>({channels}, std::span<const float>(ones));
    g_.value(name + ".shift").initializer = Tensor(DType::f32, {channels});
    g_.value(name + ".mean").initializer = Tensor(DType::f32, {channels});
    g_.value(name + ".var").initializer =
        Tensor::from_values<float>({channels}, std::span<const float>(ones));
    g_.nodes.push_back(Node{name,
                            "BatchNormalization",
                            "",
                            {x, name + ".scale", name + ".shift", name + ".mean", name + ".var"},
                            {name + ".out"},
                            {{"epsilon", Attribute{1e-5f}}}});
    return name + ".out";
  }

  std::string op(const std::string& type, std::vector<std::string> inputs,
                 std::map<std::string, Attribute> attrs = {}) {
    const std::string name = type + std::to_string(++count_);
    g_.nodes.push_back(Node{name, type, "", std::move(inputs), {name + ".out"}, std::move(attrs)});
    return name + ".out";
  }

  std::string activation(const std::string& x, std::string_view kind) {
    if (kind == "relu") return op("Relu", {x});
    if (kind == "relu6") {
      if (!g_.find_value("zero")) {
        g_.value("zero").initializer = Tensor::scalar<float>(0.0f);
        g_.value("six").initializer = Tensor::scalar<float>(6.0f);
      }
      return op("Clip", {x, "zero", "six"});
    }
    if (kind == "hardswish") return op("Mul", {x, hard_sigmoid(x)});
    if (kind == "hardsigmoid") return hard_sigmoid(x);
    return x;
  }

  std::string conv_bn_act(const std::string& x, int64_t in, int64_t out, int64_t k, int64_t stride,
                          int64_t groups, std::string_view act, int spatial = 2) {
    return activation(batch_norm(conv(x, in, out, k, stride, groups, false, spatial), out), act);
  }

  // Global average pool, flatten, fully connected layer (Gemm, bias).
  std::string classifier(const std::string& x, int64_t in, int64_t out) {
    const std::string flat = op("Flatten", {op("GlobalAveragePool", {x})});
    return linear(flat, in, out);
  }

  std::string linear(const std::string& x, int64_t in, int64_t out) {
    const std::string name = "fc" + std::to_string(++count_);
    g_.value(name + ".weight").initializer = normal({out, in}, std::sqrt(1.0 / double(in)));
    g_.value(name + ".bias").initializer = Tensor(DType::f32, {out});
    g_.nodes.push_back(Node{name,
                            "Gemm",
                            "",
                            {x, name + ".weight", name + ".bias"},
                            {name + ".out"},
                            {{"transB", Attribute{int64_t{1}}}}});
    return name + ".out";
  }

  Graph finish(const std::string& logits) {
    g_.nodes.push_back(Node{"logits", "Identity", "", {logits}, {"logits"}});
    g_.outputs = {"logits"};
    g_.value("logits");
    infer_types(g_, OpRegistry::builtin());
    return std::move(g_);
  }

 private:
  std::string hard_sigmoid(const std::string& x) {
    return op("HardSigmoid", {x}, {{"alpha", Attribute{1.0f / 6.0f}}, {"beta", Attribute{0.5f}}});
  }

  Tensor normal(Dims dims, double stddev) {
    std::normal_distribution<float> n(0.0f, float(stddev));
    Tensor t(DType::f32, std::move(dims));
    for (float& v : t.data<float>()) v = n(rng_);
    return t;
  }

  Graph g_;
  std::mt19937 rng_;
  int count_ = 0;
};

// torchvision's _make_divisible: the nearest multiple of 8, never 10% below v.
int64_t divisible(double v) {
  int64_t out = std::max<int64_t>(8, int64_t(v + 4) / 8 * 8);
  if (double(out) < 0.9 * v) out += 8;
  return out;
}

Dims image_input(const ZooOptions& o) {
  return {-1, o.in_channels, o.resolution, o.resolution};
}

// The MobileNets' input and 3x3 stem convolution (stride 2, or 1 for small inputs).
std::string mobilenet_stem(Builder& b, const ZooOptions& o, int64_t channels,
                           std::string_view activation) {
  return b.conv_bn_act(b.input(image_input(o)), o.in_channels, channels, 3, o.small_input ? 1 : 2,
                       1, activation);
}

// An inverted-residual stage (MobileNetV2, EfficientNet's MBConv without squeeze-excitation): 1x1
// expansion, k x k depthwise, linear 1x1 projection, identity shortcut where shapes allow.
struct InvertedResidualStage {
  int64_t expand, kernel, out, repeats, stride;
};

// The stages of an inverted-residual net after its stem; the first stride-2 stage keeps stride 1
// for small inputs. Returns the output; `channels` becomes its channel count.
std::string inverted_residual_stages(Builder& b, const ZooOptions& o, std::string x,
                                     int64_t& channels,
                                     std::span<const InvertedResidualStage> stages) {
  bool first_downsampling = true;
  for (const InvertedResidualStage& s : stages) {
    const int64_t out = divisible(double(s.out) * o.width);
    for (int64_t i = 0; i < s.repeats; ++i) {
      int64_t stride = i == 0 ? s.stride : 1;
      if (stride == 2 && first_downsampling) {
        first_downsampling = false;
        if (o.small_input) stride = 1;
      }
      const int64_t hidden = channels * s.expand;
      std::string y = x;
      if (s.expand != 1) y = b.conv_bn_act(y, channels, hidden, 1, 1, 1, "relu6");
      y = b.conv_bn_act(y, hidden, hidden, s.kernel, stride, hidden, "relu6");
      y = b.conv_bn_act(y, hidden, out, 1, 1, 1, "");
      x = stride == 1 && channels == out ? b.op("Add", {x, y}) : y;
      channels = out;
    }
  }
  return x;
}

Graph mobilenet_v2(const ZooOptions& o) {
  Builder b("mobilenet_v2", o.seed);
  int64_t channels = divisible(32 * o.width);
  std::string x = mobilenet_stem(b, o, channels, "relu6");
  const InvertedResidualStage stages[] = {{1, 3, 16, 1, 1}, {6, 3, 24, 2, 2}, {6, 3, 32, 3, 2},
                                          {6, 3, 64, 4, 2}, {6, 3, 96, 3, 1}, {6, 3, 160, 3, 2},
                                          {6, 3, 320, 1, 1}};
  x = inverted_residual_stages(b, o, x, channels, stages);
  const int64_t last = divisible(1280 * std::max(1.0, o.width));
  x = b.conv_bn_act(x, channels, last, 1, 1, 1, "relu6");
  return b.finish(b.classifier(x, last, o.classes));
}

// EfficientNet-Lite0 (the EfficientNet-B0 layout made edge-friendly, as TensorFlow's
// efficientnet-lite ships it): no squeeze-excitation, ReLU6 instead of swish, stem (32) and head
// (1280) channels fixed while the width multiplier scales the stages.
Graph efficientnet_lite0(const ZooOptions& o) {
  Builder b("efficientnet_lite0", o.seed);
  int64_t channels = 32;
  std::string x = mobilenet_stem(b, o, channels, "relu6");
  const InvertedResidualStage stages[] = {{1, 3, 16, 1, 1}, {6, 3, 24, 2, 2},  {6, 5, 40, 2, 2},
                                          {6, 3, 80, 3, 2}, {6, 5, 112, 3, 1}, {6, 5, 192, 4, 2},
                                          {6, 3, 320, 1, 1}};
  x = inverted_residual_stages(b, o, x, channels, stages);
  x = b.conv_bn_act(x, channels, 1280, 1, 1, 1, "relu6");
  return b.finish(b.classifier(x, 1280, o.classes));
}

Graph mobilenet_v3_small(const ZooOptions& o) {
  Builder b("mobilenet_v3_small", o.seed);
  int64_t channels = divisible(16 * o.width);
  std::string x = mobilenet_stem(b, o, channels, "hardswish");
  struct Block {
    int64_t kernel, expand, out;
    bool se;
    const char* act;
    int64_t stride;
  };
  const Block blocks[] = {{3, 16, 16, true, "relu", 2},       {3, 72, 24, false, "relu", 2},
                          {3, 88, 24, false, "relu", 1},      {5, 96, 40, true, "hardswish", 2},
                          {5, 240, 40, true, "hardswish", 1}, {5, 240, 40, true, "hardswish", 1},
                          {5, 120, 48, true, "hardswish", 1}, {5, 144, 48, true, "hardswish", 1},
                          {5, 288, 96, true, "hardswish", 2}, {5, 576, 96, true, "hardswish", 1},
                          {5, 576, 96, true, "hardswish", 1}};
  bool first = true;
  for (const Block& k : blocks) {
    const int64_t expand = divisible(double(k.expand) * o.width);
    const int64_t out = divisible(double(k.out) * o.width);
    int64_t stride = k.stride;
    if (first && o.small_input) stride = 1;
    first = false;
    std::string y = x;
    if (expand != channels) y = b.conv_bn_act(y, channels, expand, 1, 1, 1, k.act);
    y = b.conv_bn_act(y, expand, expand, k.kernel, stride, expand, k.act);
    if (k.se) {
      const int64_t quarter = expand / 4;  // torchvision: _make_divisible(expand // 4, 8)
      const int64_t squeeze = divisible(double(quarter));
      std::string s = b.op("GlobalAveragePool", {y});
      s = b.activation(b.conv(s, expand, squeeze, 1, 1, 1, true), "relu");
      s = b.activation(b.conv(s, squeeze, expand, 1, 1, 1, true), "hardsigmoid");
      y = b.op("Mul", {s, y});
    }
    y = b.conv_bn_act(y, expand, out, 1, 1, 1, "");
    x = stride == 1 && channels == out ? b.op("Add", {x, y}) : y;
    channels = out;
  }
  const int64_t last = 6 * channels;
  x = b.conv_bn_act(x, channels, last, 1, 1, 1, "hardswish");
  x = b.op("Flatten", {b.op("GlobalAveragePool", {x})});
  const int64_t hidden = divisible(1024 * o.width);
  x = b.activation(b.linear(x, last, hidden), "hardswish");
  return b.finish(b.linear(x, hidden, o.classes));
}

// CIFAR ResNet (He et al. 2016, section 4.2): 3 stages of 16/32/64 channels, `blocks` basic
// blocks each; a 1x1 convolution + BN projects the shortcut where the shape changes.
Graph cifar_resnet(const ZooOptions& o, int64_t blocks, const std::string& name) {
  Builder b(name, o.seed);
  std::string x = b.input(image_input(o));
  int64_t channels = 16;
  x = b.conv_bn_act(x, o.in_channels, channels, 3, 1, 1, "relu");
  for (int64_t stage = 0; stage < 3; ++stage) {
    const int64_t out = 16 << stage;
    for (int64_t i = 0; i < blocks; ++i) {
      const int64_t stride = stage > 0 && i == 0 ? 2 : 1;
      std::string y = b.conv_bn_act(x, channels, out, 3, stride, 1, "relu");
      y = b.conv_bn_act(y, out, out, 3, 1, 1, "");
      const std::string shortcut =
          stride == 1 && channels == out ? x : b.conv_bn_act(x, channels, out, 1, stride, 1, "");
      x = b.activation(b.op("Add", {y, shortcut}), "relu");
      channels = out;
    }
  }
  return b.finish(b.classifier(x, channels, o.classes));
}

// Three 1-D convolution blocks over [N, C, length] (UCI HAR's nine inertial signals), global
// average pooling and a linear classifier.
Graph har_cnn(const ZooOptions& o) {
  Builder b("har_cnn", o.seed);
  std::string x = b.input({-1, o.in_channels, o.resolution});
  const int64_t w1 = divisible(32 * o.width), w2 = divisible(64 * o.width);
  x = b.conv_bn_act(x, o.in_channels, w1, 5, 1, 1, "relu", 1);
  x = b.conv_bn_act(x, w1, w2, 5, 2, 1, "relu", 1);
  x = b.conv_bn_act(x, w2, w2, 3, 2, 1, "relu", 1);
  return b.finish(b.classifier(x, w2, o.classes));
}

}  // namespace

std::vector<std::string> zoo_architectures() {
  return {"mobilenet_v2", "mobilenet_v3_small", "efficientnet_lite0",
          "resnet8",      "resnet20",           "har_cnn"};
}

Graph build_model(std::string_view architecture, const ZooOptions& o) {
  if (o.in_channels < 1 || o.resolution < 8 || o.classes < 1 || !(o.width > 0) || o.width > 8)
    throw Error(ErrorKind::invalid_argument,
                "options out of range (in_channels >= 1, resolution >= 8, classes >= 1, 0 < width "
                "<= 8)",
                std::string(architecture));
  if (architecture == "mobilenet_v2") return mobilenet_v2(o);
  if (architecture == "mobilenet_v3_small") return mobilenet_v3_small(o);
  if (architecture == "efficientnet_lite0") return efficientnet_lite0(o);
  if (architecture == "resnet8") return cifar_resnet(o, 1, "resnet8");
  if (architecture == "resnet20") return cifar_resnet(o, 3, "resnet20");
  if (architecture == "har_cnn") return har_cnn(o);
  std::string known;
  for (const auto& a : zoo_architectures()) known += (known.empty() ? "" : ", ") + a;
  throw Error(ErrorKind::invalid_argument, "unknown architecture (known: " + known + ")",
              std::string(architecture));
}

}  // namespace edgeco
