// Graph passes that rewrite a model for faster execution without changing its outputs (beyond
// float rounding): shared by the runtime and the co-design compiler.
#pragma once

#include <string>
#include <vector>

#include "edgeco/ir.h"

namespace edgeco {

// What a pass changed, one line per rewrite, for `edgeco info`/profiles ("fold BN 'bn1' into
// 'conv1'").
struct PassLog {
  std::vector<std::string> lines;
};

// Conv followed by an inference BatchNormalization, with constant weights and BN parameters and
// no other reader of the Conv's output, becomes one Conv with scaled weights and a new bias.
int fold_batch_norm(Graph& graph, PassLog* log = nullptr);

// Conv [+ Add of a same-shaped residual] [+ activation] becomes one edgeco.FusedConv, when each
// intermediate has a single reader and is not a graph output. Activations: Relu, Clip (constant
// bounds), LeakyRelu, HardSigmoid, HardSwish, Sigmoid, Tanh, and the gated forms PyTorch
// exports: x * HardSigmoid(x) (hardswish before opset 14) and x * Sigmoid(x) (SiLU/Swish).
int fuse_conv(Graph& graph, PassLog* log = nullptr);

// QDQ patterns become integer nodes, so activations stay 8-bit between layers:
// DequantizeLinear(x) -> Conv(DequantizeLinear(w), DequantizeLinear(b) or float b) [-> activation]
// -> QuantizeLinear becomes edgeco.QFusedConv (int32 accumulation, per-channel weight scales,
// requantization), and Add(DequantizeLinear(a), DequantizeLinear(b)) [-> Relu] -> QuantizeLinear
// becomes edgeco.QAdd, and DequantizeLinear(a) -> Gemm/MatMul(DequantizeLinear(constant B))
// [-> QuantizeLinear] becomes edgeco.QMatMul (float output without the QuantizeLinear).
// QLinearConv and QLinearMatMul with constant parameters become the same two nodes. With
// `evaluate` (the reference kernels), DequantizeLinear -> element-wise ops (Sigmoid, HardSwish,
// x * Sigmoid(x), Clip, ...) -> QuantizeLinear becomes edgeco.QLookup, a 256-entry table.
// Parameters must be constants; activations per tensor, weights per tensor or
// per output channel. DequantizeLinear nodes left without readers go with remove_dead_nodes.
int fuse_quantized(Graph& graph, PassLog* log = nullptr,
                   const ConstantEvaluator& evaluate = nullptr);

// Removes nodes none of whose outputs reach a graph output, and initializers nothing reads.
int remove_dead_nodes(Graph& graph, PassLog* log = nullptr);

// Regions that start at a 2-D convolution switch to NHWC (channels last) through the element-wise,
// Concat and global-pool nodes that follow, with one Transpose at each edge of a region. For
// kernels that run NHWC natively; the reference kernels still compute it (via transposes).
int to_channels_last(Graph& graph, PassLog* log = nullptr);

// The passes above, in order, after type inference (with `evaluate` to see through shape
// arithmetic); the layout pass only when `channels_last`.
PassLog optimize(Graph& graph, const ConstantEvaluator& evaluate = nullptr,
                 bool channels_last = false);

}  // namespace edgeco
