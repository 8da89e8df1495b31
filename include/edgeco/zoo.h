// Builders for the edge architectures of the experiments, as edgeco graphs (exportable to ONNX
// with save_onnx). Weights are seeded random (He-normal convolutions, BatchNormalization as
// identity) until training replaces them; BatchNormalization nodes are kept for training and
// folded for inference by the compiler's fold_batch_norm.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "edgeco/ir.h"

namespace edgeco {

struct ZooOptions {
  int64_t in_channels = 3;
  int64_t resolution = 224;  // images: H = W; 1-D nets: the sequence length
  int64_t classes = 1000;
  double width = 1.0;  // MobileNet width multiplier (channels rounded to multiples of 8)
  // For 28x28 / 32x32 inputs: the stem and the first downsampling stage keep stride 1, so the
  // last feature map is 4x4 rather than 1x1.
  bool small_input = false;
  uint32_t seed = 0;
};

// mobilenet_v2 and mobilenet_v3_small (as torchvision builds them), efficientnet_lite0 (as
// TensorFlow's EfficientNet-Lite), resnet8 and resnet20 (the CIFAR
// ResNets of He et al., 1x1 projection shortcuts), har_cnn (a 1-D CNN over [N, C, length]).
// The input is "input" with a symbolic batch; the output "logits" [N, classes].
Graph build_model(std::string_view architecture, const ZooOptions& options = {});
std::vector<std::string> zoo_architectures();

}  // namespace edgeco
