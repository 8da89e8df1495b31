// Element-wise operators: arithmetic with broadcasting, activations, Softmax, Cast.
#include "op_helpers.h"

namespace edgeco::ops {
namespace {

const DTypes kFloats = {DType::f32, DType::f16, DType::f64};
const DTypes kNumeric = {DType::f32, DType::f16, DType::f64, DType::i8,  DType::u8, DType::i16,
                         DType::u16, DType::i32, DType::u32, DType::i64, DType::u64};

TensorType broadcast_inputs(InferContext& ctx, size_t count) {
  TensorType out = ctx.input_type(0);
  for (size_t i = 1; i < count; ++i) {
    const TensorType& t = ctx.input_type(i);
    if (!out.rank_known || !t.rank_known) return unknown_rank(out.dtype);
    try {
      out.dims = broadcast_dims(out.dims, t.dims);
    } catch (const Error& e) {
      ctx.fail(e.message());
    }
  }
  return out;
}

Infer binary(DTypes allowed, bool same_type = true) {
  return [allowed = std::move(allowed), same_type](InferContext& ctx) {
    require_dtype_in(ctx, 0, allowed);
    if (same_type) require_same_dtype(ctx, 0, 1);
    ctx.set_output(0, broadcast_inputs(ctx, 2));
  };
}

Infer variadic(DTypes allowed) {
  return [allowed = std::move(allowed)](InferContext& ctx) {
    require_dtype_in(ctx, 0, allowed);
    for (size_t i = 1; i < ctx.num_inputs(); ++i) require_same_dtype(ctx, 0, i);
    ctx.set_output(0, broadcast_inputs(ctx, ctx.num_inputs()));
  };
}

Infer unary(DTypes allowed) {
  return [allowed = std::move(allowed)](InferContext& ctx) {
    require_dtype_in(ctx, 0, allowed);
    ctx.set_output(0, ctx.input_type(0));
  };
}

Infer softmax() {
  return [](InferContext& ctx) {
    require_dtype_in(ctx, 0, kFloats);
    const TensorType& t = ctx.input_type(0);
    if (t.rank_known)
      normalize_axis(ctx.node().attr_int("axis", ctx.opset() >= 13 ? -1 : 1),
                     int64_t(t.dims.size()), "axis");
    ctx.set_output(0, t);
  };
}

}  // namespace

void register_elementwise_ops(OpRegistry& r) {
  for (const char* op : {"Add", "Sub", "Mul", "Div"}) r.add(schema(op, 2, 2, {}, binary(kNumeric)));
  r.add(schema("Pow", 2, 2, {}, binary(kNumeric, false)));
  for (const char* op : {"Max", "Min", "Sum", "Mean"})
    r.add(schema(op, 1, 1 << 20, {}, variadic(kNumeric)));
  for (const char* op :
       {"Sigmoid", "Tanh", "Sqrt", "Exp", "Log", "Erf", "Reciprocal", "Floor", "Ceil", "HardSwish"})
    r.add(schema(op, 1, 1, {}, unary(kFloats)));
  for (const char* op : {"Relu", "Abs", "Neg"}) r.add(schema(op, 1, 1, {}, unary(kNumeric)));
  r.add(schema("Identity", 1, 1, {},
               [](InferContext& ctx) { ctx.set_output(0, ctx.input_type(0)); }));
  r.add(schema("LeakyRelu", 1, 1, {{"alpha", AttrType::f}}, unary(kFloats)));
  r.add(schema("Elu", 1, 1, {{"alpha", AttrType::f}}, unary(kFloats)));
  r.add(
      schema("HardSigmoid", 1, 1, {{"alpha", AttrType::f}, {"beta", AttrType::f}}, unary(kFloats)));
  r.add(schema("PRelu", 2, 2, {}, [](InferContext& ctx) {
    require_dtype_in(ctx, 0, kFloats);
    require_same_dtype(ctx, 0, 1);
    const TensorType& x = ctx.input_type(0);
    const TensorType& slope = ctx.input_type(1);
    // Before opset 7 a 1-D slope of C entries applies per channel (legacy broadcasting).
    if (ctx.opset() < 7 && x.rank_known && x.dims.size() >= 2 && slope.fully_known() &&
        slope.dims.size() == 1 && slope.dims[0] == x.dims[1])
      return ctx.set_output(0, x);
    ctx.set_output(0, broadcast_inputs(ctx, 2));
  }));
  r.add(schema("Clip", 1, 3, {{"min", AttrType::f}, {"max", AttrType::f}}, [](InferContext& ctx) {
    require_dtype_in(ctx, 0, kNumeric);
    for (size_t i = 1; i < 3; ++i)
      if (ctx.has_input(i)) {
        require_same_dtype(ctx, 0, i);
        const TensorType& bound = ctx.input_type(i);
        if (bound.rank_known && numel_or_zero(bound) != 1 && bound.fully_known())
          ctx.fail("min and max must be scalars");
      }
    ctx.set_output(0, ctx.input_type(0));
  }));
  r.add(schema("Softmax", 1, 1, {{"axis", AttrType::i}}, softmax()));
  r.add(schema("LogSoftmax", 1, 1, {{"axis", AttrType::i}}, softmax()));
  for (const char* op : {"Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh",
                         "Acosh", "Atanh", "Softplus", "Softsign", "Round"})
    r.add(schema(op, 1, 1, {}, unary(kFloats)));
  r.add(schema("Sign", 1, 1, {}, unary(kNumeric)));
  r.add(schema("Selu", 1, 1, {{"alpha", AttrType::f}, {"gamma", AttrType::f}}, unary(kFloats)));
  r.add(schema("ThresholdedRelu", 1, 1, {{"alpha", AttrType::f}}, unary(kFloats)));
  r.add(schema("Celu", 1, 1, {{"alpha", AttrType::f}}, unary(kFloats)));
  r.add(schema("Mod", 2, 2, {{"fmod", AttrType::i}}, binary(kNumeric)));

  // Comparisons and logic produce bool.
  auto to_bool = [](DTypes allowed) {
    return [allowed = std::move(allowed)](InferContext& ctx) {
      require_dtype_in(ctx, 0, allowed);
      require_same_dtype(ctx, 0, 1);
      TensorType t = broadcast_inputs(ctx, 2);
      t.dtype = DType::boolean;
      ctx.set_output(0, t);
    };
  };
  const DTypes comparable = {DType::f32, DType::f16, DType::f64, DType::i8,
                             DType::u8,  DType::i16, DType::u16, DType::i32,
                             DType::u32, DType::i64, DType::u64, DType::boolean};
  for (const char* op : {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"})
    r.add(schema(op, 2, 2, {}, to_bool(comparable)));
  for (const char* op : {"And", "Or", "Xor"})
    r.add(schema(op, 2, 2, {}, to_bool({DType::boolean})));
  r.add(schema("Not", 1, 1, {}, unary({DType::boolean})));
  r.add(schema("Where", 3, 3, {}, [](InferContext& ctx) {
    require_dtype_in(ctx, 0, {DType::boolean});
    require_same_dtype(ctx, 1, 2);
    TensorType t = broadcast_inputs(ctx, 3);
    t.dtype = ctx.input_type(1).dtype;
    ctx.set_output(0, t);
  }));

  for (const char* op : {"IsNaN", "IsInf"})
    r.add(schema(op, 1, 1, {{"detect_negative", AttrType::i}, {"detect_positive", AttrType::i}},
                 [](InferContext& ctx) {
                   require_dtype_in(ctx, 0, kFloats);
                   TensorType t = ctx.input_type(0);
                   t.dtype = DType::boolean;
                   ctx.set_output(0, t);
                 }));
  r.add(schema("Hardmax", 1, 1, {{"axis", AttrType::i}}, softmax()));
  r.add(schema("CastLike", 2, 2, {}, [](InferContext& ctx) {
    TensorType t = ctx.input_type(0);
    t.dtype = ctx.input_type(1).dtype;
    ctx.set_output(0, t);
  }));

  r.add(schema("Cast", 1, 1, {{"to", AttrType::i, true}}, [](InferContext& ctx) {
    const auto to = dtype_from_code(ctx.node().attr_int("to"));
    if (!to)
      ctx.fail(
          "Cast to type code " + std::to_string(ctx.node().attr_int("to")) + " is not supported",
          ErrorKind::unsupported);
    TensorType t = ctx.input_type(0);
    t.dtype = *to;
    ctx.set_output(0, t);
  }));

  // Cost-model traits: one pass over the elements.
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Relu", "Clip", "Sigmoid", "HardSigmoid",
                         "HardSwish", "Tanh", "LeakyRelu", "Softmax", "Identity", "Cast"})
    r.at("", op).cost_class = CostClass::elementwise;
  for (const char* op : {"Sigmoid", "Tanh"}) r.at("", op).exp_based = true;
}

}  // namespace edgeco::ops
