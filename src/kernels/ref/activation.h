// The activation of the fused convolution nodes, shared by the float and integer reference kernels.
#pragma once

#include <algorithm>
#include <cmath>
#include <map>

#include "common.h"

namespace edgeco::kernels::ref {

// The activation a fused convolution (edgeco.FusedConv, edgeco.QFusedConv) applies, with ONNX
// semantics, resolved once per node; none for nodes without an activation attribute.
struct Activation {
  enum Kind {
    none,
    relu,
    clip,
    leaky_relu,
    hard_sigmoid,
    hard_swish,
    sigmoid,
    tanh,
    swish
  } kind = none;
  double alpha = 0, beta = 0;

  static Activation of(const KernelArgs& args) {
    static const std::map<std::string, Kind> kinds = {{"", none},
                                                      {"Relu", relu},
                                                      {"Clip", clip},
                                                      {"LeakyRelu", leaky_relu},
                                                      {"HardSigmoid", hard_sigmoid},
                                                      {"HardSwish", hard_swish},
                                                      {"Sigmoid", sigmoid},
                                                      {"Swish", swish},
                                                      {"Tanh", tanh}};
    const std::string name = args.node.attr_string("activation", "");
    auto it = kinds.find(name);
    if (it == kinds.end())
      args.fail("FusedConv activation '" + name + "' is not supported", ErrorKind::unsupported);
    return {it->second, args.node.attr_float("activation_alpha", 0.0f),
            args.node.attr_float("activation_beta", 0.0f)};
  }

  double operator()(double v) const {
    switch (kind) {
      case none:
        return v;
      case relu:
        return v > 0 ? v : 0;
      case clip:
        return std::min(std::max(v, alpha), beta);
      case leaky_relu:
        return v < 0 ? v * alpha : v;
      case hard_sigmoid:
        return std::clamp(alpha * v + beta, 0.0, 1.0);
      case hard_swish:
        return v * std::clamp(v / 6.0 + 0.5, 0.0, 1.0);
      case sigmoid:
        return 1.0 / (1.0 + std::exp(-v));
      case tanh:
        return std::tanh(v);
      case swish:
        return v / (1.0 + std::exp(-v));
    }
    return v;
  }
};

}  // namespace edgeco::kernels::ref
