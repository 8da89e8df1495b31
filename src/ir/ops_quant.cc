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

int64_t qconv_macs(const InferContext& ctx) {
  const auto& y = ctx.output_types()[0];
  const TensorType& w = ctx.input_type(3);
  if (!y || !y->fully_known() || !w.fully_known()) return 0;
  int64_t n = 1;
  for (int64_t d : y->dims) n *= d;
  for (size_t i = 1; i < w.dims.size(); ++i) n *= w.dims[i];
  return n;
}

// A quantization parameter the int8 ops take per tensor: a scalar (or one-element) constant-shaped
// input.
void require_per_tensor(const InferContext& ctx, size_t i) {
  if (!ctx.has_input(i)) return;
  const TensorType& t = ctx.input_type(i);
  if (t.fully_known() && numel_or_zero(t) != 1)
    ctx.fail("input " + std::to_string(i) + " must hold one value, got shape " +
             dims_to_string(t.dims));
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
  qconv.macs = qconv_macs;
  r.add(qconv);

  // edgeco.QFusedConv: a convolution in integer arithmetic, as the compiler's fusion of
  // DequantizeLinear -> Conv [-> activation] -> QuantizeLinear emits it. Inputs follow QLinearConv
  // (x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point) except B, a float
  // bias in real units. y = saturate(round(act(x_scale * w_scale[m] * acc + B[m]) / y_scale) +
  // y_zero_point), acc the int32 sum of (x - x_zero_point) * (w - w_zero_point[m]).
  // Activations as edgeco.FusedConv; channels_last=1: X and Y are NHWC.
  OpSchema qfused = schema("QFusedConv", 8, 9,
                           {{"auto_pad", AttrType::s},
                            {"dilations", AttrType::ints},
                            {"group", AttrType::i},
                            {"kernel_shape", AttrType::ints},
                            {"pads", AttrType::ints},
                            {"strides", AttrType::ints},
                            {"activation", AttrType::s},
                            {"activation_alpha", AttrType::f},
                            {"activation_beta", AttrType::f},
                            {"channels_last", AttrType::i}},
                           [](InferContext& ctx) {
                             require_dtype_in(ctx, 0, {DType::u8, DType::i8});
                             require_dtype_in(ctx, 3, {DType::u8, DType::i8});
                             require_dtype_in(ctx, 7, {DType::u8, DType::i8});
                             if (ctx.has_input(2)) require_same_dtype(ctx, 0, 2);
                             if (ctx.has_input(8)) require_dtype_in(ctx, 8, {DType::f32});
                             for (size_t i : {1, 2, 6, 7}) require_per_tensor(ctx, i);
                             infer_conv_with_layout(ctx, 0, 3, 8, ctx.input_type(7).dtype);
                           });
  qfused.domain = "edgeco";
  qfused.macs = qconv_macs;
  r.add(qfused);

  // edgeco.QMatMul: A [..., K] (8-bit, per-tensor parameters) times a constant int8 B [K, N]
  // (per-tensor or per-column scale), as the fusion of DequantizeLinear -> Gemm/MatMul emits it.
  // Inputs: a, a_scale, a_zero_point, b, b_scale, b_zero_point, bias (float32 [N], real units,
  // optional), y_scale, y_zero_point (optional). y = a_scale * b_scale[n] * acc + bias[n] in
  // float32, or, with y_scale, saturate(round(that / y_scale) + y_zero_point).
  OpSchema qmm = schema("QMatMul", 6, 9, {}, [](InferContext& ctx) {
    require_dtype_in(ctx, 0, {DType::u8, DType::i8});
    require_dtype_in(ctx, 3, {DType::u8, DType::i8});
    for (size_t i : {1, 2, 7, 8}) require_per_tensor(ctx, i);
    if (ctx.has_input(6)) require_dtype_in(ctx, 6, {DType::f32});
    const TensorType& a = ctx.input_type(0);
    const TensorType& b = ctx.input_type(3);
    if (b.rank_known && b.dims.size() != 2)
      ctx.fail("B must be a matrix, got " + dims_to_string(b.dims));
    if (a.rank_known && a.dims.size() < 2)
      ctx.fail("A must have rank >= 2, got " + dims_to_string(a.dims));
    const bool quantized = ctx.has_input(7);
    if (quantized && ctx.has_input(8)) require_dtype_in(ctx, 8, {DType::u8, DType::i8});
    const DType out =
        quantized ? (ctx.has_input(8) ? ctx.input_type(8).dtype : DType::u8) : DType::f32;
    if (!a.rank_known || !b.rank_known) return ctx.set_output(0, unknown_rank(out));
    if (a.dims.back() >= 0 && b.dims[0] >= 0 && a.dims.back() != b.dims[0])
      ctx.fail("A " + dims_to_string(a.dims) + " and B " + dims_to_string(b.dims) +
               " do not chain");
    TensorType y{out, a.dims};
    y.dims.back() = b.dims[1];
    ctx.set_output(0, y);
  });
  qmm.domain = "edgeco";
  qmm.macs = [](const InferContext& ctx) -> int64_t {
    const auto& y = ctx.output_types()[0];
    const TensorType& b = ctx.input_type(3);
    if (!y || !y->fully_known() || !b.fully_known()) return 0;
    return numel_or_zero(*y) * b.dims[0];
  };
  r.add(qmm);

  // edgeco.QLookup: y = table[byte of x], an element-wise function of 8-bit codes as a 256-entry
  // table (8-bit or float32) indexed by the raw byte (an int8 x of -1 reads entry 255). Output
  // type: the table's.
  OpSchema lookup = schema("QLookup", 2, 2, {}, [](InferContext& ctx) {
    require_dtype_in(ctx, 0, {DType::u8, DType::i8});
    require_dtype_in(ctx, 1, {DType::u8, DType::i8, DType::f32});
    const TensorType& table = ctx.input_type(1);
    if (table.fully_known() && (table.dims.size() != 1 || table.dims[0] != 256))
      ctx.fail("table must have shape [256], got " + dims_to_string(table.dims));
    TensorType y = ctx.input_type(0);
    y.dtype = table.dtype;
    ctx.set_output(0, y);
  });
  lookup.domain = "edgeco";
  r.add(lookup);

  // edgeco.QAdd: Add of two same-shaped quantized tensors, computed as ONNX's
  // DequantizeLinear -> Add -> QuantizeLinear computes it in float32 (so results are bit-exact):
  // y = saturate(round((float(a - a_zp) * a_scale + float(b - b_zp) * b_scale) / y_scale) + y_zp).
  // Inputs as com.microsoft QLinearAdd: a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp.
  // activation "Relu" applies max(sum, 0) before quantizing.
  OpSchema qadd = schema("QAdd", 8, 8, {{"activation", AttrType::s}}, [](InferContext& ctx) {
    const std::string activation = ctx.node().attr_string("activation", "");
    if (!activation.empty() && activation != "Relu")
      ctx.fail("activation '" + activation + "' is not supported (only Relu)",
               ErrorKind::unsupported);
    require_dtype_in(ctx, 0, {DType::u8, DType::i8});
    require_dtype_in(ctx, 3, {DType::u8, DType::i8});
    require_dtype_in(ctx, 7, {DType::u8, DType::i8});
    for (size_t i : {1, 2, 4, 5, 6, 7}) require_per_tensor(ctx, i);
    const TensorType& a = ctx.input_type(0);
    const TensorType& b = ctx.input_type(3);
    if (a.fully_known() && b.fully_known() && a.dims != b.dims)
      ctx.fail("inputs have different shapes " + dims_to_string(a.dims) + " and " +
               dims_to_string(b.dims));
    TensorType y = a.rank_known ? a : b;
    y.dtype = ctx.input_type(7).dtype;
    ctx.set_output(0, y);
  });
  qadd.domain = "edgeco";
  r.add(qadd);

  // edgeco.QGlobalAveragePool: DequantizeLinear -> GlobalAveragePool -> QuantizeLinear of a 4-D
  // 8-bit tensor. Inputs: x, x_scale, x_zero_point, y_scale, y_zero_point (all per tensor);
  // output [N, C, 1, 1] of y_zero_point's type. channels_last=1 reads x as NHWC; the output is the
  // same bytes in either layout.
  OpSchema qgap =
      schema("QGlobalAveragePool", 5, 5, {{"channels_last", AttrType::i}}, [](InferContext& ctx) {
        if (!ctx.has_input(4)) ctx.fail("needs y_zero_point (input 4)");
        require_dtype_in(ctx, 0, {DType::u8, DType::i8});
        require_dtype_in(ctx, 4, {DType::u8, DType::i8});
        if (ctx.has_input(2)) require_same_dtype(ctx, 0, 2);
        for (size_t i : {1, 2, 3, 4}) require_per_tensor(ctx, i);
        const TensorType& x = ctx.input_type(0);
        if (!x.rank_known || x.dims.size() != 4)
          ctx.fail("needs a 4-D input, got " + x.to_string());
        const bool nhwc = ctx.node().attr_int("channels_last", 0) != 0;
        ctx.set_output(
            0, TensorType{ctx.input_type(4).dtype, {x.dims[0], x.dims[nhwc ? 3 : 1], 1, 1}});
      });
  qgap.domain = "edgeco";
  r.add(qgap);

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

  // Cost-model traits, and the operators that compute in integer arithmetic.
  r.at("edgeco", "QFusedConv").cost_class = r.at("", "QLinearConv").cost_class = CostClass::conv;
  r.at("edgeco", "QMatMul").cost_class = r.at("", "QLinearMatMul").cost_class = CostClass::matmul;
  r.at("edgeco", "QGlobalAveragePool").cost_class = CostClass::pooling;
  for (const char* op : {"QuantizeLinear", "DequantizeLinear"})
    r.at("", op).cost_class = CostClass::elementwise;
  for (const char* op : {"QAdd", "QLookup"}) r.at("edgeco", op).cost_class = CostClass::elementwise;
  for (const char* op : {"QLinearConv", "QLinearMatMul"}) r.at("", op).integer = true;
  for (const char* op : {"QFusedConv", "QMatMul", "QAdd", "QLookup", "QGlobalAveragePool"})
    r.at("edgeco", op).integer = true;
}

}  // namespace edgeco::ops
