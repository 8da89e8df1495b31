// Neural-network operators: convolutions, pooling, normalization, matrix products, reductions,
// Resize.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "op_helpers.h"

namespace edgeco::ops {
namespace {

const DTypes kFloats = {DType::f32, DType::f16, DType::f64};

int64_t product(std::span<const int64_t> dims) {
  return std::accumulate(dims.begin(), dims.end(), int64_t{1}, std::multiplies<>());
}

// Output type of a conv-like op whose input is 0 and weights are input `w`; nullopt when shapes are
// not fully known.
}  // namespace

void infer_conv(InferContext& ctx, WindowKind kind, size_t x_index, size_t w_index,
                std::optional<size_t> bias_index, DType out_dtype) {
  const TensorType& x = ctx.input_type(x_index);
  const TensorType& w = ctx.input_type(w_index);
  require_rank_at_least(ctx, x_index, 3);
  require_rank_at_least(ctx, w_index, 3);
  const Node& node = ctx.node();
  const int64_t group = node.attr_int("group", 1);
  if (group < 1) ctx.fail("group must be >= 1");
  if (!x.rank_known || !w.rank_known) return ctx.set_output(0, unknown_rank(out_dtype));
  if (x.dims.size() != w.dims.size())
    ctx.fail("input " + dims_to_string(x.dims) + " and weights " + dims_to_string(w.dims) +
             " differ in rank");
  const size_t spatial = x.dims.size() - 2;
  Dims kernel(w.dims.begin() + 2, w.dims.end());
  if (node.has_attr("kernel_shape") && node.attr_ints("kernel_shape") != kernel)
    ctx.fail("kernel_shape " + dims_to_string(node.attr_ints("kernel_shape")) +
             " does not match weights " + dims_to_string(w.dims));
  const int64_t channels = x.dims[1];
  int64_t out_channels;
  if (kind == WindowKind::conv) {
    if (channels >= 0 && w.dims[1] >= 0 && channels != w.dims[1] * group)
      ctx.fail("input has " + std::to_string(channels) + " channels but weights " +
               dims_to_string(w.dims) + " with group " + std::to_string(group) + " expect " +
               std::to_string(w.dims[1] * group));
    if (w.dims[0] >= 0 && w.dims[0] % group != 0)
      ctx.fail("output channels are not divisible by group");
    out_channels = w.dims[0];
  } else {
    if (channels >= 0 && w.dims[0] >= 0 && channels != w.dims[0])
      ctx.fail("input has " + std::to_string(channels) + " channels but weights " +
               dims_to_string(w.dims) + " expect " + std::to_string(w.dims[0]));
    out_channels = w.dims[1] < 0 ? -1 : w.dims[1] * group;
  }
  if (bias_index && ctx.has_input(*bias_index)) {
    const TensorType& b = ctx.input_type(*bias_index);
    if (b.rank_known &&
        (b.dims.size() != 1 || (b.dims[0] >= 0 && out_channels >= 0 && b.dims[0] != out_channels)))
      ctx.fail("bias shape " + dims_to_string(b.dims) + " does not match " +
               std::to_string(out_channels) + " output channels");
  }
  for (int64_t k : kernel)
    if (k < 0) return ctx.set_output(0, TensorType{out_dtype, Dims(x.dims.size(), -1)});
  WindowGeometry g = window_geometry(node, kind, std::span(x.dims).subspan(2), kernel);
  Dims out{x.dims[0], out_channels};
  out.insert(out.end(), g.output.begin(), g.output.end());
  (void)spatial;
  ctx.set_output(0, TensorType{out_dtype, out});
}

void infer_conv_with_layout(InferContext& ctx, size_t x_index, size_t w_index, size_t bias_index,
                            DType out_dtype) {
  if (ctx.node().attr_int("channels_last", 0) == 0)
    return infer_conv(ctx, WindowKind::conv, x_index, w_index, bias_index, out_dtype);
  const TensorType& x = ctx.input_type(x_index);
  if (!x.rank_known || x.dims.size() != 4) ctx.fail("channels_last needs a 4-D input");
  // Infer as NCHW, then permute the output to NHWC.
  TensorType x_nchw = x;
  x_nchw.dims = {x.dims[0], x.dims[3], x.dims[1], x.dims[2]};
  std::vector<const TensorType*> types;
  for (size_t i = 0; i < ctx.num_inputs(); ++i)
    types.push_back(i == x_index ? &x_nchw : ctx.has_input(i) ? &ctx.input_type(i) : nullptr);
  InferContext nchw(ctx.node(), ctx.opset(), types,
                    std::vector<const Tensor*>(types.size(), nullptr));
  infer_conv(nchw, WindowKind::conv, x_index, w_index, bias_index, out_dtype);
  TensorType y = *nchw.output_types()[0];
  if (y.rank_known) y.dims = {y.dims[0], y.dims[2], y.dims[3], y.dims[1]};
  ctx.set_output(0, y);
}

namespace {

int64_t conv_macs(const InferContext& ctx) {
  const auto& y = ctx.output_types()[0];
  const TensorType& w = ctx.input_type(ctx.node().op_type == "QLinearConv" ? 3 : 1);
  if (!y || !y->fully_known() || !w.fully_known()) return 0;
  // Each output element needs (C/group) * prod(kernel) MACs = prod(W dims except the first).
  return product(y->dims) * product(std::span(w.dims).subspan(1));
}

int64_t conv_transpose_macs(const InferContext& ctx) {
  const TensorType& x = ctx.input_type(0);
  const TensorType& w = ctx.input_type(1);
  if (!x.fully_known() || !w.fully_known()) return 0;
  return product(x.dims) * product(std::span(w.dims).subspan(1));
}

void infer_pool(InferContext& ctx, bool max_pool) {
  require_dtype_in(
      ctx, 0,
      max_pool ? DTypes{DType::f32, DType::f16, DType::f64, DType::i8, DType::u8} : kFloats);
  require_rank_at_least(ctx, 0, 3);
  const TensorType& x = ctx.input_type(0);
  if (!x.rank_known) return ctx.set_output(0, unknown_rank(x.dtype));
  const Dims kernel = ctx.node().attr_ints("kernel_shape");
  if (kernel.size() != x.dims.size() - 2)
    ctx.fail("kernel_shape " + dims_to_string(kernel) + " does not match input " +
             dims_to_string(x.dims));
  WindowGeometry g =
      window_geometry(ctx.node(), WindowKind::pool, std::span(x.dims).subspan(2), kernel);
  Dims out{x.dims[0], x.dims[1]};
  out.insert(out.end(), g.output.begin(), g.output.end());
  ctx.set_output(0, TensorType{x.dtype, out});
  ctx.set_output(1, TensorType{DType::i64, out});
}

void infer_global_pool(InferContext& ctx) {
  require_dtype_in(ctx, 0, kFloats);
  require_rank_at_least(ctx, 0, 3);
  TensorType t = ctx.input_type(0);
  if (t.rank_known) std::fill(t.dims.begin() + 2, t.dims.end(), 1);
  ctx.set_output(0, t);
}

// The batch and matrix dims of a numpy matmul; returns false when ranks are unknown.
void infer_matmul(InferContext& ctx, DType out_dtype) {
  const TensorType& a = ctx.input_type(0);
  const TensorType& b = ctx.input_type(1);
  if (!a.rank_known || !b.rank_known) return ctx.set_output(0, unknown_rank(out_dtype));
  if (a.dims.empty() || b.dims.empty()) ctx.fail("MatMul inputs must have rank >= 1");
  Dims ad = a.dims, bd = b.dims;
  if (ad.size() == 1) ad.insert(ad.begin(), 1);
  if (bd.size() == 1) bd.push_back(1);
  const int64_t k_a = ad.back(), k_b = bd[bd.size() - 2];
  if (k_a >= 0 && k_b >= 0 && k_a != k_b)
    ctx.fail("inner dimensions differ: " + dims_to_string(a.dims) + " x " + dims_to_string(b.dims));
  Dims batch;
  try {
    batch = broadcast_dims(std::span(ad).first(ad.size() - 2), std::span(bd).first(bd.size() - 2));
  } catch (const Error& e) {
    ctx.fail(e.message());
  }
  Dims out = batch;
  if (a.dims.size() > 1) out.push_back(ad[ad.size() - 2]);
  if (b.dims.size() > 1) out.push_back(bd.back());
  ctx.set_output(0, TensorType{out_dtype, out});
}

int64_t matmul_macs(const InferContext& ctx) {
  const auto& y = ctx.output_types()[0];
  const size_t b_index = ctx.node().op_type == "QLinearMatMul" ? 3 : 1;
  const TensorType& a = ctx.input_type(0);
  const TensorType& b = ctx.input_type(b_index);
  if (!y || !y->fully_known() || !a.fully_known() || !b.fully_known() || a.dims.empty()) return 0;
  return product(y->dims) * a.dims.back();
}

void infer_reduce(InferContext& ctx) {
  const Node& node = ctx.node();
  const TensorType& x = ctx.input_type(0);
  if (!x.rank_known) return ctx.set_output(0, unknown_rank(x.dtype));
  const bool keep = node.attr_int("keepdims", 1) != 0;
  std::optional<Dims> axes;
  if (node.has_attr("axes"))
    axes = node.attr_ints("axes");
  else if (ctx.has_input(1)) {
    axes = ctx.input_ints(1);
    if (!axes)
      return ctx.set_output(
          0, keep ? TensorType{x.dtype, Dims(x.dims.size(), -1)} : unknown_rank(x.dtype));
  }
  const int64_t rank = int64_t(x.dims.size());
  std::vector<bool> reduced(x.dims.size(), false);
  if (!axes || axes->empty()) {
    if (node.attr_int("noop_with_empty_axes", 0) != 0) return ctx.set_output(0, x);
    std::fill(reduced.begin(), reduced.end(), true);
  } else {
    for (int64_t a : *axes) reduced[size_t(normalize_axis(a, rank, "axis"))] = true;
  }
  Dims out;
  for (size_t i = 0; i < x.dims.size(); ++i) {
    if (!reduced[i])
      out.push_back(x.dims[i]);
    else if (keep)
      out.push_back(1);
  }
  ctx.set_output(0, TensorType{x.dtype, out});
}

void infer_resize(InferContext& ctx) {
  const Node& node = ctx.node();
  require_dtype_in(ctx, 0, {DType::f32, DType::f16, DType::f64, DType::u8, DType::i8});
  const TensorType& x = ctx.input_type(0);
  const std::string mode = node.attr_string("mode", "nearest");
  if (mode != "nearest" && mode != "linear" && mode != "cubic")
    ctx.fail("mode '" + mode + "' is not one of nearest, linear, cubic");
  if (!x.rank_known) return ctx.set_output(0, unknown_rank(x.dtype));
  const size_t scales_index = ctx.opset() >= 11 ? 2 : 1;
  const size_t rank = x.dims.size();
  Dims out(rank, -1);
  if (ctx.opset() >= 11 && ctx.has_input(3) && numel_or_zero(ctx.input_type(3)) > 0) {
    if (auto sizes = ctx.input_ints(3)) {
      if (sizes->size() != rank)
        ctx.fail("sizes has " + std::to_string(sizes->size()) + " entries for rank " +
                 std::to_string(rank));
      out = *sizes;
    }
  } else if (ctx.has_input(scales_index)) {
    if (const Tensor* scales = ctx.input_value(scales_index)) {
      auto s = scales->to_doubles();
      if (s.size() != rank)
        ctx.fail("scales has " + std::to_string(s.size()) + " entries for rank " +
                 std::to_string(rank));
      for (size_t i = 0; i < rank; ++i) {
        if (s[i] <= 0) ctx.fail("scales must be positive");
        out[i] = x.dims[i] < 0 ? -1 : int64_t(std::floor(double(x.dims[i]) * s[i]));
      }
    }
  } else {
    ctx.fail("Resize needs scales or sizes");
  }
  ctx.set_output(0, TensorType{x.dtype, out});
}

}  // namespace

void register_nn_ops(OpRegistry& r) {
  const std::vector<AttrSpec> conv_attrs = {
      {"auto_pad", AttrType::s},        {"dilations", AttrType::ints}, {"group", AttrType::i},
      {"kernel_shape", AttrType::ints}, {"pads", AttrType::ints},      {"strides", AttrType::ints}};
  OpSchema conv = schema("Conv", 2, 3, conv_attrs, [](InferContext& ctx) {
    require_dtype_in(ctx, 0, kFloats);
    require_same_dtype(ctx, 0, 1);
    if (ctx.has_input(2)) require_same_dtype(ctx, 0, 2);
    infer_conv(ctx, WindowKind::conv, 0, 1, 2, ctx.input_type(0).dtype);
  });
  conv.macs = conv_macs;
  r.add(conv);

  auto ct_attrs = conv_attrs;
  ct_attrs.push_back({"output_padding", AttrType::ints});
  ct_attrs.push_back({"output_shape", AttrType::ints});
  // edgeco.FusedConv: Conv (+ Z, a residual of the output's shape) then an activation, as the
  // compiler's fusion pass emits it. activation is "" or one of Relu, Clip, LeakyRelu, HardSigmoid,
  // HardSwish, Sigmoid, Tanh, Swish (x * sigmoid(x)); activation_alpha/beta carry Clip's bounds or
  // the slope/offset.
  auto fused_attrs = conv_attrs;
  fused_attrs.push_back({"activation", AttrType::s});
  fused_attrs.push_back({"activation_alpha", AttrType::f});
  fused_attrs.push_back({"activation_beta", AttrType::f});
  // channels_last=1: X, Z and Y are NHWC (the layout pass's choice); W stays [M, C/group, kH, kW].
  fused_attrs.push_back({"channels_last", AttrType::i});
  // algorithm="winograd": the compiler's choice for a kernel that has it (same result up to
  // rounding); "" or "direct" otherwise.
  fused_attrs.push_back({"algorithm", AttrType::s});
  OpSchema fused = schema("FusedConv", 2, 4, fused_attrs, [](InferContext& ctx) {
    require_dtype_in(ctx, 0, kFloats);
    require_same_dtype(ctx, 0, 1);
    infer_conv_with_layout(ctx, 0, 1, 2, ctx.input_type(0).dtype);
    if (ctx.has_input(3)) {
      require_same_dtype(ctx, 0, 3);
      const auto& y = ctx.output_types()[0];
      const TensorType& z = ctx.input_type(3);
      if (y && y->fully_known() && z.fully_known() && z.dims != y->dims)
        ctx.fail("residual input " + dims_to_string(z.dims) + " does not match the output " +
                 dims_to_string(y->dims));
    }
  });
  fused.domain = "edgeco";
  fused.macs = conv_macs;
  r.add(fused);

  OpSchema conv_t = schema("ConvTranspose", 2, 3, ct_attrs, [](InferContext& ctx) {
    require_dtype_in(ctx, 0, kFloats);
    require_same_dtype(ctx, 0, 1);
    infer_conv(ctx, WindowKind::conv_transpose, 0, 1, 2, ctx.input_type(0).dtype);
  });
  conv_t.macs = conv_transpose_macs;
  r.add(conv_t);

  OpSchema conv_int = schema("ConvInteger", 2, 4, conv_attrs, [](InferContext& ctx) {
    require_dtype_in(ctx, 0, {DType::u8, DType::i8});
    require_dtype_in(ctx, 1, {DType::u8, DType::i8});
    infer_conv(ctx, WindowKind::conv, 0, 1, std::nullopt, DType::i32);
  });
  conv_int.macs = conv_macs;
  r.add(conv_int);

  const std::vector<AttrSpec> pool_attrs = {
      {"auto_pad", AttrType::s},      {"ceil_mode", AttrType::i},
      {"dilations", AttrType::ints},  {"kernel_shape", AttrType::ints, true},
      {"pads", AttrType::ints},       {"strides", AttrType::ints},
      {"storage_order", AttrType::i}, {"count_include_pad", AttrType::i}};
  r.add(schema(
      "MaxPool", 1, 1, pool_attrs, [](InferContext& ctx) { infer_pool(ctx, true); }, 1, 2));
  r.add(schema("AveragePool", 1, 1, pool_attrs, [](InferContext& ctx) { infer_pool(ctx, false); }));
  // edgeco.MaxPool / edgeco.AveragePool: the same pools on NHWC tensors (channels_last=1), as the
  // layout pass writes them; one output.
  auto nhwc_pool_attrs = pool_attrs;
  nhwc_pool_attrs.push_back({"channels_last", AttrType::i});
  for (const bool max : {true, false}) {
    OpSchema pool =
        schema(max ? "MaxPool" : "AveragePool", 1, 1, nhwc_pool_attrs, [max](InferContext& ctx) {
          const TensorType& x = ctx.input_type(0);
          if (!x.rank_known || x.dims.size() != 4)
            ctx.fail("channels_last pooling needs a 4-D input");
          TensorType x_nchw = x;
          x_nchw.dims = {x.dims[0], x.dims[3], x.dims[1], x.dims[2]};
          InferContext nchw(ctx.node(), ctx.opset(), {&x_nchw}, {nullptr});
          infer_pool(nchw, max);
          TensorType y = *nchw.output_types()[0];
          y.dims = {y.dims[0], y.dims[2], y.dims[3], y.dims[1]};
          ctx.set_output(0, y);
        });
    pool.domain = "edgeco";
    r.add(pool);
  }
  r.add(schema("GlobalAveragePool", 1, 1, {}, infer_global_pool));
  r.add(schema("GlobalMaxPool", 1, 1, {}, infer_global_pool));

  r.add(schema(
      "BatchNormalization", 5, 5,
      {{"epsilon", AttrType::f},
       {"momentum", AttrType::f},
       {"training_mode", AttrType::i},
       {"spatial", AttrType::i}},
      [](InferContext& ctx) {
        require_dtype_in(ctx, 0, kFloats);
        const bool training = ctx.node().attr_int("training_mode", 0) != 0;
        if (!training && ctx.opset() >= 14 && ctx.num_outputs() > 1)
          ctx.fail("running mean and variance outputs need training_mode=1");
        if (ctx.opset() < 14 && ctx.num_outputs() > 1)
          ctx.fail("the training outputs of BatchNormalization before opset 14 are not supported",
                   ErrorKind::unsupported);
        const TensorType& x = ctx.input_type(0);
        require_rank_at_least(ctx, 0, 2);
        for (size_t i = 1; i < 5; ++i) {
          const TensorType& p = ctx.input_type(i);
          if (x.rank_known && p.fully_known() && x.dims[1] >= 0 &&
              (p.dims.size() != 1 || p.dims[0] != x.dims[1]))
            ctx.fail("parameter " + std::to_string(i) + " has shape " + dims_to_string(p.dims) +
                     ", expected [" + std::to_string(x.dims[1]) + "]");
        }
        ctx.set_output(0, x);
        // Training mode also outputs the updated running mean and variance.
        ctx.set_output(1, ctx.input_type(3));
        ctx.set_output(2, ctx.input_type(4));
      },
      1, 3));

  OpSchema gemm = schema(
      "Gemm", 2, 3,
      {{"alpha", AttrType::f},
       {"beta", AttrType::f},
       {"transA", AttrType::i},
       {"transB", AttrType::i}},
      [](InferContext& ctx) {
        require_dtype_in(ctx, 0, {DType::f32, DType::f16, DType::f64, DType::i32, DType::i64});
        require_same_dtype(ctx, 0, 1);
        const TensorType& a = ctx.input_type(0);
        const TensorType& b = ctx.input_type(1);
        if (!a.rank_known || !b.rank_known) return ctx.set_output(0, unknown_rank(a.dtype));
        if (a.dims.size() != 2 || b.dims.size() != 2)
          ctx.fail("A and B must be matrices, got " + dims_to_string(a.dims) + " and " +
                   dims_to_string(b.dims));
        const bool ta = ctx.node().attr_int("transA", 0), tb = ctx.node().attr_int("transB", 0);
        const int64_t m = a.dims[ta ? 1 : 0], ka = a.dims[ta ? 0 : 1];
        const int64_t kb = b.dims[tb ? 1 : 0], n = b.dims[tb ? 0 : 1];
        if (ka >= 0 && kb >= 0 && ka != kb)
          ctx.fail("inner dimensions differ: A " + dims_to_string(a.dims) + ", B " +
                   dims_to_string(b.dims));
        if (ctx.has_input(2)) {
          const TensorType& c = ctx.input_type(2);
          if (c.rank_known && m >= 0 && n >= 0) {
            Dims mn{m, n};
            try {
              if (broadcast_dims(c.dims, mn) != mn) throw Error(ErrorKind::invalid_model, "");
            } catch (const Error&) {
              ctx.fail("C of shape " + dims_to_string(c.dims) + " does not broadcast to " +
                       dims_to_string(mn));
            }
          }
        }
        ctx.set_output(0, TensorType{a.dtype, {m, n}});
      });
  gemm.macs = [](const InferContext& ctx) -> int64_t {
    const auto& y = ctx.output_types()[0];
    const TensorType& a = ctx.input_type(0);
    if (!y || !y->fully_known() || !a.fully_known()) return 0;
    return product(y->dims) * a.dims[ctx.node().attr_int("transA", 0) ? 0 : 1];
  };
  r.add(gemm);

  OpSchema matmul = schema("MatMul", 2, 2, {}, [](InferContext& ctx) {
    require_dtype_in(
        ctx, 0,
        {DType::f32, DType::f16, DType::f64, DType::i32, DType::i64, DType::u32, DType::u64});
    require_same_dtype(ctx, 0, 1);
    infer_matmul(ctx, ctx.input_type(0).dtype);
  });
  matmul.macs = matmul_macs;
  r.add(matmul);
  OpSchema matmul_int = schema("MatMulInteger", 2, 4, {}, [](InferContext& ctx) {
    require_dtype_in(ctx, 0, {DType::u8, DType::i8});
    require_dtype_in(ctx, 1, {DType::u8, DType::i8});
    infer_matmul(ctx, DType::i32);
  });
  matmul_int.macs = matmul_macs;
  r.add(matmul_int);

  const std::vector<AttrSpec> reduce_attrs = {
      {"axes", AttrType::ints}, {"keepdims", AttrType::i}, {"noop_with_empty_axes", AttrType::i}};
  for (const char* op :
       {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
        "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"})
    r.add(schema(op, 1, 2, reduce_attrs, infer_reduce));

  for (const char* op : {"ArgMax", "ArgMin"})
    r.add(schema(
        op, 1, 1,
        {{"axis", AttrType::i}, {"keepdims", AttrType::i}, {"select_last_index", AttrType::i}},
        [](InferContext& ctx) {
          const TensorType& x = ctx.input_type(0);
          if (!x.rank_known) return ctx.set_output(0, unknown_rank(DType::i64));
          const size_t axis = size_t(
              normalize_axis(ctx.node().attr_int("axis", 0), int64_t(x.dims.size()), "axis"));
          Dims out = x.dims;
          if (ctx.node().attr_int("keepdims", 1) != 0)
            out[axis] = 1;
          else
            out.erase(out.begin() + int64_t(axis));
          ctx.set_output(0, TensorType{DType::i64, out});
        }));

  r.add(schema(
      "LayerNormalization", 2, 3,
      {{"axis", AttrType::i}, {"epsilon", AttrType::f}, {"stash_type", AttrType::i}},
      [](InferContext& ctx) {
        require_dtype_in(ctx, 0, kFloats);
        const TensorType& x = ctx.input_type(0);
        ctx.set_output(0, x);
        if (!x.rank_known) return;
        // Mean and inverse standard deviation keep the normalised axes as 1.
        const size_t axis =
            size_t(normalize_axis(ctx.node().attr_int("axis", -1), int64_t(x.dims.size()), "axis"));
        Dims stats = x.dims;
        std::fill(stats.begin() + int64_t(axis), stats.end(), 1);
        const DType stash = ctx.node().attr_int("stash_type", 1) == 1 ? DType::f32 : x.dtype;
        ctx.set_output(1, TensorType{stash, stats});
        ctx.set_output(2, TensorType{stash, stats});
      },
      1, 3));
  r.add(schema("CumSum", 2, 2, {{"exclusive", AttrType::i}, {"reverse", AttrType::i}},
               [](InferContext& ctx) {
                 require_dtype_in(ctx, 1, {DType::i32, DType::i64});
                 ctx.set_output(0, ctx.input_type(0));
               }));

  r.add(schema("Resize", 1, 4,
               {{"mode", AttrType::s},
                {"coordinate_transformation_mode", AttrType::s},
                {"nearest_mode", AttrType::s},
                {"cubic_coeff_a", AttrType::f},
                {"exclude_outside", AttrType::i},
                {"extrapolation_value", AttrType::f}},
               infer_resize));

  // Cost-model traits.
  for (const char* op : {"Conv", "ConvInteger", "ConvTranspose"})
    r.at("", op).cost_class = CostClass::conv;
  r.at("edgeco", "FusedConv").cost_class = CostClass::conv;
  for (const char* op : {"Gemm", "MatMul", "MatMulInteger"})
    r.at("", op).cost_class = CostClass::matmul;
  for (const char* op :
       {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "ReduceMean"})
    r.at("", op).cost_class = CostClass::pooling;
  r.at("", "BatchNormalization").cost_class = CostClass::elementwise;
  for (const char* op : {"ConvInteger", "MatMulInteger"}) r.at("", op).integer = true;
}

}  // namespace edgeco::ops
