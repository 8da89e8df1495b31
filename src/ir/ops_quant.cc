// Quantization operators (ONNX QDQ and QLinear forms).
#include "op_helpers.h"

namespace edgeco::ops {
namespace {

void check_scale_shape(InferContext& ctx, size_t scale_index, size_t zero_point_index,
                       size_t data_index) {
  const TensorType& scale = ctx.input_type(scale_index);
  const TensorType& data = ctx.input_type(data_index);
  if (!scale.fully_known() || numel_or_zero(scale) == 1) return;
  if (scale.dims.size() != 1)
    ctx.fail("scale must be a scalar or 1-D, got " + dims_to_string(scale.dims));
  if (data.rank_known) {
    const int64_t axis =
        normalize_axis(ctx.node().attr_int("axis", 1), int64_t(data.dims.size()), "axis");
    if (data.dims[size_t(axis)] >= 0 && data.dims[size_t(axis)] != scale.dims[0])
      ctx.fail("scale has " + std::to_string(scale.dims[0]) + " entries but axis " +
               std::to_string(axis) + " of " + dims_to_string(data.dims) + " has " +
               std::to_string(data.dims[size_t(axis)]));
  }
  if (ctx.has_input(zero_point_index) && ctx.input_type(zero_point_index).fully_known() &&
      ctx.input_type(zero_point_index).dims != scale.dims)
    ctx.fail("zero point shape " + dims_to_string(ctx.input_type(zero_point_index).dims) +
             " differs from scale shape " + dims_to_string(scale.dims));
}

}  // namespace

void register_quant_ops(OpRegistry& r) {
  r.add(schema("QuantizeLinear", 2, 3, {{"axis", AttrType::i}}, [](InferContext& ctx) {
    require_dtype_in(ctx, 0, {DType::f32, DType::f16, DType::i32});
    DType out = ctx.has_input(2) ? ctx.input_type(2).dtype : DType::u8;
    if (out != DType::u8 && out != DType::i8)
      ctx.fail("zero point must be uint8 or int8", ErrorKind::unsupported);
    check_scale_shape(ctx, 1, 2, 0);
    TensorType t = ctx.input_type(0);
    t.dtype = out;
    ctx.set_output(0, t);
  }));
  r.add(schema("DequantizeLinear", 2, 3, {{"axis", AttrType::i}}, [](InferContext& ctx) {
    require_dtype_in(ctx, 0, {DType::u8, DType::i8, DType::i32});
    if (ctx.has_input(2)) require_same_dtype(ctx, 0, 2);
    check_scale_shape(ctx, 1, 2, 0);
    TensorType t = ctx.input_type(0);
    t.dtype = ctx.input_type(1).dtype;
    ctx.set_output(0, t);
  }));

  OpSchema qconv = schema("QLinearConv", 8, 9,
                          {{"auto_pad", AttrType::s},
                           {"dilations", AttrType::ints},
                           {"group", AttrType::i},
                           {"kernel_shape", AttrType::ints},
                           {"pads", AttrType::ints},
                           {"strides", AttrType::ints}},
                          [](InferContext& ctx) {
                            require_dtype_in(ctx, 0, {DType::u8, DType::i8});
                            require_dtype_in(ctx, 3, {DType::u8, DType::i8});
                            require_same_dtype(ctx, 0, 2);
                            if (ctx.has_input(8)) require_dtype_in(ctx, 8, {DType::i32});
                            infer_conv(ctx, WindowKind::conv, 0, 3, 8, ctx.input_type(7).dtype);
                          });
  qconv.macs = [](const InferContext& ctx) -> int64_t {
    const auto& y = ctx.output_types()[0];
    const TensorType& w = ctx.input_type(3);
    if (!y || !y->fully_known() || !w.fully_known()) return 0;
    int64_t n = 1;
    for (int64_t d : y->dims) n *= d;
    for (size_t i = 1; i < w.dims.size(); ++i) n *= w.dims[i];
    return n;
  };
  r.add(qconv);

  OpSchema qmatmul = schema("QLinearMatMul", 8, 8, {}, [](InferContext& ctx) {
    require_dtype_in(ctx, 0, {DType::u8, DType::i8});
    require_dtype_in(ctx, 3, {DType::u8, DType::i8});
    Node mm = ctx.node();
    mm.op_type = "MatMulInteger";
    mm.inputs = {ctx.node().inputs[0], ctx.node().inputs[3]};
    InferContext inner(mm, ctx.opset(), {&ctx.input_type(0), &ctx.input_type(3)},
                       {nullptr, nullptr});
    OpRegistry::builtin().find("", "MatMulInteger")->infer(inner);
    TensorType y = *inner.output_types()[0];
    y.dtype = ctx.input_type(7).dtype;
    ctx.set_output(0, y);
  });
  qmatmul.macs = [](const InferContext& ctx) -> int64_t {
    const auto& y = ctx.output_types()[0];
    const TensorType& a = ctx.input_type(0);
    if (!y || !y->fully_known() || !a.fully_known() || a.dims.empty()) return 0;
    int64_t n = a.dims.back();
    for (int64_t d : y->dims) n *= d;
    return n;
  };
  r.add(qmatmul);
}

}  // namespace edgeco::ops
