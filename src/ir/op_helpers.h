// Helpers shared by the operator schema files (internal to src/ir).
#pragma once

#include <string>
#include <vector>

#include "edgeco/ir.h"

namespace edgeco::ops {

using Infer = std::function<void(InferContext&)>;

inline OpSchema schema(std::string name, int min_in, int max_in, std::vector<AttrSpec> attrs,
                       Infer infer, int min_out = 1, int max_out = 1) {
  OpSchema s;
  s.name = std::move(name);
  s.min_inputs = min_in;
  s.max_inputs = max_in;
  s.min_outputs = min_out;
  s.max_outputs = max_out;
  s.attributes = std::move(attrs);
  s.infer = std::move(infer);
  return s;
}

// Lists of accepted types are owned by value: lambdas that keep one must not point at a temporary.
using DTypes = std::vector<DType>;

inline void require_dtype_in(const InferContext& ctx, size_t i, const DTypes& allowed) {
  const DType d = ctx.input_type(i).dtype;
  for (DType a : allowed)
    if (a == d) return;
  ctx.fail("input " + std::to_string(i) + " has type " + std::string(to_string(d)) +
               ", which this operator does not accept",
           ErrorKind::unsupported);
}

inline void require_same_dtype(const InferContext& ctx, size_t a, size_t b) {
  if (ctx.input_type(a).dtype != ctx.input_type(b).dtype)
    ctx.fail("inputs " + std::to_string(a) + " and " + std::to_string(b) +
             " have different types (" + std::string(to_string(ctx.input_type(a).dtype)) + " and " +
             std::string(to_string(ctx.input_type(b).dtype)) + ")");
}

inline void require_rank_at_least(const InferContext& ctx, size_t i, size_t rank) {
  const TensorType& t = ctx.input_type(i);
  if (t.rank_known && t.dims.size() < rank)
    ctx.fail("input " + std::to_string(i) + " has shape " + dims_to_string(t.dims) +
             ", expected rank >= " + std::to_string(rank));
}

inline TensorType unknown_rank(DType dtype) {
  return TensorType{dtype, {}, false};
}

inline int64_t numel_or_zero(const TensorType& t) {
  if (!t.fully_known()) return 0;
  int64_t n = 1;
  for (int64_t d : t.dims) n *= d;
  return n;
}

// Output type of a convolution of input x_index with weights w_index (Conv, ConvTranspose,
// ConvInteger, QLinearConv), checking channels, group and bias.
void infer_conv(InferContext& ctx, WindowKind kind, size_t x_index, size_t w_index,
                std::optional<size_t> bias_index, DType out_dtype);

// infer_conv for a 2-D convolution whose X and Y are NHWC when the node's channels_last is set
// (W stays [M, C/group, kH, kW]).
void infer_conv_with_layout(InferContext& ctx, size_t x_index, size_t w_index, size_t bias_index,
                            DType out_dtype);

void register_elementwise_ops(OpRegistry& r);
void register_nn_ops(OpRegistry& r);
void register_shape_ops(OpRegistry& r);
void register_quant_ops(OpRegistry& r);

}  // namespace edgeco::ops
