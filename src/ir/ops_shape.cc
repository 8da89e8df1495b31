// Operators that move or reshape data without arithmetic.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "op_helpers.h"

namespace edgeco {

std::vector<SliceRange> slice_ranges(std::span<const int64_t> dims, std::span<const int64_t> starts,
                                     std::span<const int64_t> ends, std::span<const int64_t> axes,
                                     std::span<const int64_t> steps) {
  const int64_t rank = int64_t(dims.size());
  std::vector<SliceRange> ranges(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) ranges[i] = {0, 1, dims[i]};
  if (starts.size() != ends.size() || (!axes.empty() && axes.size() != starts.size()) ||
      (!steps.empty() && steps.size() != starts.size()))
    throw Error(ErrorKind::invalid_model, "starts, ends, axes and steps differ in length");
  std::set<int64_t> seen;
  for (size_t i = 0; i < starts.size(); ++i) {
    const int64_t axis = normalize_axis(axes.empty() ? int64_t(i) : axes[i], rank, "axis");
    if (!seen.insert(axis).second)
      throw Error(ErrorKind::invalid_model, "axis " + std::to_string(axis) + " repeats");
    const int64_t step = steps.empty() ? 1 : steps[i];
    if (step == 0) throw Error(ErrorKind::invalid_model, "slice step must not be 0");
    const int64_t d = dims[size_t(axis)];
    auto clamp_index = [&](int64_t v, int64_t lo, int64_t hi) {
      if (v < 0) v += d;
      return std::clamp(v, lo, hi);
    };
    int64_t start, end;
    if (step > 0) {
      start = clamp_index(starts[i] < -d ? 0 : starts[i], 0, d);
      end = clamp_index(ends[i] < -d ? 0 : ends[i], 0, d);
    } else {
      start = clamp_index(starts[i] < -d ? -1 : starts[i], -1, d - 1);
      end = ends[i] < -d ? -1 : clamp_index(ends[i], -1, d - 1);
    }
    const int64_t count = step > 0 ? std::max<int64_t>(0, (end - start + step - 1) / step)
                                   : std::max<int64_t>(0, (start - end + (-step) - 1) / (-step));
    ranges[size_t(axis)] = {start, step, count};
  }
  return ranges;
}

namespace ops {
namespace {

int64_t product(std::span<const int64_t> dims) {
  int64_t p = 1;
  for (int64_t d : dims) {
    if (d < 0) return -1;
    p *= d;
  }
  return p;
}

void infer_reshape(InferContext& ctx) {
  const TensorType& x = ctx.input_type(0);
  const TensorType& shape_type = ctx.input_type(1);
  auto shape = ctx.input_ints(1);
  if (!shape) {
    if (shape_type.fully_known() && shape_type.dims.size() == 1)
      return ctx.set_output(0, TensorType{x.dtype, Dims(size_t(shape_type.dims[0]), -1)});
    return ctx.set_output(0, unknown_rank(x.dtype));
  }
  const bool allow_zero = ctx.node().attr_int("allowzero", 0) != 0;
  Dims out = *shape;
  int64_t infer_at = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == 0 && !allow_zero) {
      if (!x.rank_known || i >= x.dims.size())
        ctx.fail("shape entry 0 at " + std::to_string(i) + " has no input dim to copy");
      out[i] = x.dims[i];
    } else if (out[i] == -1) {
      if (infer_at >= 0) ctx.fail("shape " + dims_to_string(*shape) + " has more than one -1");
      infer_at = int64_t(i);
    } else if (out[i] < -1) {
      ctx.fail("shape " + dims_to_string(*shape) + " has a negative entry");
    }
  }
  const int64_t total = x.rank_known ? product(x.dims) : -1;
  if (infer_at >= 0) {
    int64_t known = 1;
    bool all_known = true;
    for (size_t i = 0; i < out.size(); ++i)
      if (int64_t(i) != infer_at) {
        if (out[i] < 0)
          all_known = false;
        else
          known *= out[i];
      }
    if (total >= 0 && all_known) {
      if (known == 0 || total % known != 0)
        ctx.fail("cannot reshape " + dims_to_string(x.dims) + " to " + dims_to_string(*shape));
      out[size_t(infer_at)] = total / known;
    }
  } else if (total >= 0 && product(out) >= 0 && product(out) != total) {
    ctx.fail("cannot reshape " + dims_to_string(x.dims) + " (" + std::to_string(total) +
             " elements) to " + dims_to_string(out));
  }
  ctx.set_output(0, TensorType{x.dtype, out});
}

// Axes of Squeeze/Unsqueeze/ReduceSum: an attribute before opset 13, an input from 13 on.
std::optional<Dims> axes_of(InferContext& ctx, bool& known) {
  known = true;
  if (ctx.node().has_attr("axes")) return ctx.node().attr_ints("axes");
  if (ctx.has_input(1)) {
    auto v = ctx.input_ints(1);
    if (!v) known = false;
    return v;
  }
  return std::nullopt;
}

void infer_squeeze(InferContext& ctx) {
  const TensorType& x = ctx.input_type(0);
  bool known;
  auto axes = axes_of(ctx, known);
  if (!known || !x.rank_known) return ctx.set_output(0, unknown_rank(x.dtype));
  const int64_t rank = int64_t(x.dims.size());
  std::set<int64_t> drop;
  if (axes) {
    for (int64_t a : *axes) {
      const int64_t axis = normalize_axis(a, rank, "axis");
      if (x.dims[size_t(axis)] > 1)
        ctx.fail("cannot squeeze axis " + std::to_string(a) + " of size " +
                 std::to_string(x.dims[size_t(axis)]));
      drop.insert(axis);
    }
  } else {
    for (int64_t i = 0; i < rank; ++i) {
      if (x.dims[size_t(i)] < 0) return ctx.set_output(0, unknown_rank(x.dtype));
      if (x.dims[size_t(i)] == 1) drop.insert(i);
    }
  }
  Dims out;
  for (int64_t i = 0; i < rank; ++i)
    if (!drop.count(i)) out.push_back(x.dims[size_t(i)]);
  ctx.set_output(0, TensorType{x.dtype, out});
}

void infer_unsqueeze(InferContext& ctx) {
  const TensorType& x = ctx.input_type(0);
  bool known;
  auto axes = axes_of(ctx, known);
  if (!known || !x.rank_known) return ctx.set_output(0, unknown_rank(x.dtype));
  if (!axes) ctx.fail("Unsqueeze needs axes");
  const int64_t out_rank = int64_t(x.dims.size() + axes->size());
  std::set<int64_t> insert;
  for (int64_t a : *axes)
    if (!insert.insert(normalize_axis(a, out_rank, "axis")).second) ctx.fail("axes repeat");
  Dims out;
  size_t next = 0;
  for (int64_t i = 0; i < out_rank; ++i) out.push_back(insert.count(i) ? 1 : x.dims[next++]);
  ctx.set_output(0, TensorType{x.dtype, out});
}

void infer_slice(InferContext& ctx) {
  const TensorType& x = ctx.input_type(0);
  if (!x.rank_known) return ctx.set_output(0, unknown_rank(x.dtype));
  Dims starts, ends, axes, steps;
  if (ctx.opset() < 10) {
    starts = ctx.node().attr_ints("starts");
    ends = ctx.node().attr_ints("ends");
    axes = ctx.node().attr_ints("axes", Dims{});
  } else {
    auto s = ctx.input_ints(1), e = ctx.input_ints(2);
    std::optional<Dims> a = ctx.has_input(3) ? ctx.input_ints(3) : Dims{};
    std::optional<Dims> st = ctx.has_input(4) ? ctx.input_ints(4) : Dims{};
    if (!s || !e || !a || !st) {
      // Without the slice parameters only the axes that cannot change are known.
      return ctx.set_output(0, TensorType{x.dtype, Dims(x.dims.size(), -1)});
    }
    starts = *s, ends = *e, axes = *a, steps = *st;
  }
  Dims dims = x.dims;
  // Unknown dims get a stand-in extent so the other axes can be clamped; their result stays
  // unknown.
  for (auto& d : dims)
    if (d < 0) d = std::numeric_limits<int32_t>::max();
  std::vector<SliceRange> ranges;
  try {
    ranges = slice_ranges(dims, starts, ends, axes, steps);
  } catch (const Error& e) {
    ctx.fail(e.message());
  }
  Dims out(x.dims.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = x.dims[i] < 0 ? -1 : ranges[i].count;
  ctx.set_output(0, TensorType{x.dtype, out});
}

void infer_pad(InferContext& ctx) {
  const TensorType& x = ctx.input_type(0);
  const std::string mode = ctx.node().attr_string("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge")
    ctx.fail("mode '" + mode + "' is not one of constant, reflect, edge");
  if (!x.rank_known) return ctx.set_output(0, unknown_rank(x.dtype));
  std::optional<Dims> pads;
  if (ctx.opset() < 11)
    pads = ctx.node().attr_ints("pads");
  else
    pads = ctx.input_ints(1);
  if (!pads) return ctx.set_output(0, TensorType{x.dtype, Dims(x.dims.size(), -1)});
  const size_t rank = x.dims.size();
  if (pads->size() != 2 * rank)
    ctx.fail("pads has " + std::to_string(pads->size()) + " entries, expected " +
             std::to_string(2 * rank));
  Dims out(rank);
  for (size_t i = 0; i < rank; ++i) {
    out[i] = x.dims[i] < 0 ? -1 : x.dims[i] + (*pads)[i] + (*pads)[i + rank];
    if (out[i] < -1 || (x.dims[i] >= 0 && out[i] < 0)) ctx.fail("pads make a negative dimension");
  }
  ctx.set_output(0, TensorType{x.dtype, out});
}

// Sizes of Split's outputs along its axis: given (attribute before opset 13, input after) or even.
std::optional<Dims> split_sizes(InferContext& ctx, int64_t extent) {
  std::optional<Dims> sizes;
  if (ctx.node().has_attr("split"))
    sizes = ctx.node().attr_ints("split");
  else if (ctx.has_input(1)) {
    sizes = ctx.input_ints(1);
    if (!sizes) return std::nullopt;
  }
  const int64_t parts = int64_t(ctx.num_outputs());
  if (!sizes) {
    if (extent < 0) return std::nullopt;
    if (extent % parts != 0)
      ctx.fail("axis of size " + std::to_string(extent) + " does not split evenly into " +
               std::to_string(parts) + " outputs");
    return Dims(size_t(parts), extent / parts);
  }
  if (int64_t(sizes->size()) != parts)
    ctx.fail("split has " + std::to_string(sizes->size()) + " sizes for " + std::to_string(parts) +
             " outputs");
  int64_t total = 0;
  for (int64_t s : *sizes) {
    if (s < 0) ctx.fail("split sizes must be non-negative");
    total += s;
  }
  if (extent >= 0 && total != extent)
    ctx.fail("split sizes sum to " + std::to_string(total) + ", the axis has " +
             std::to_string(extent));
  return sizes;
}

}  // namespace

void register_shape_ops(OpRegistry& r) {
  r.add(schema(
      "Split", 1, 2, {{"axis", AttrType::i}, {"split", AttrType::ints}},
      [](InferContext& ctx) {
        const TensorType& x = ctx.input_type(0);
        if (!x.rank_known) {
          for (size_t i = 0; i < ctx.num_outputs(); ++i) ctx.set_output(i, unknown_rank(x.dtype));
          return;
        }
        const size_t axis =
            size_t(normalize_axis(ctx.node().attr_int("axis", 0), int64_t(x.dims.size()), "axis"));
        const auto sizes = split_sizes(ctx, x.dims[axis]);
        for (size_t i = 0; i < ctx.num_outputs(); ++i) {
          TensorType t = x;
          t.dims[axis] = sizes ? (*sizes)[i] : -1;
          ctx.set_output(i, t);
        }
      },
      1, 1 << 20));
  r.add(schema("Reshape", 2, 2, {{"allowzero", AttrType::i}}, infer_reshape));
  r.add(schema("Squeeze", 1, 2, {{"axes", AttrType::ints}}, infer_squeeze));
  r.add(schema("Unsqueeze", 1, 2, {{"axes", AttrType::ints}}, infer_unsqueeze));
  r.add(schema("Slice", 1, 5,
               {{"starts", AttrType::ints}, {"ends", AttrType::ints}, {"axes", AttrType::ints}},
               infer_slice));
  r.add(schema("Pad", 1, 3,
               {{"mode", AttrType::s}, {"pads", AttrType::ints}, {"value", AttrType::f}},
               infer_pad));

  r.add(schema("Flatten", 1, 1, {{"axis", AttrType::i}}, [](InferContext& ctx) {
    const TensorType& x = ctx.input_type(0);
    if (!x.rank_known) return ctx.set_output(0, TensorType{x.dtype, {-1, -1}});
    const int64_t rank = int64_t(x.dims.size());
    int64_t axis = ctx.node().attr_int("axis", 1);
    if (axis < -rank || axis > rank)
      ctx.fail("axis " + std::to_string(axis) + " is out of range for rank " +
               std::to_string(rank));
    if (axis < 0) axis += rank;
    ctx.set_output(0, TensorType{x.dtype,
                                 {product(std::span(x.dims).first(size_t(axis))),
                                  product(std::span(x.dims).subspan(size_t(axis)))}});
  }));

  r.add(schema("Transpose", 1, 1, {{"perm", AttrType::ints}}, [](InferContext& ctx) {
    const TensorType& x = ctx.input_type(0);
    if (!x.rank_known) return ctx.set_output(0, x);
    Dims perm(x.dims.size());
    std::iota(perm.rbegin(), perm.rend(), 0);
    perm = ctx.node().attr_ints("perm", perm);
    Dims sorted = perm;
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0; i < sorted.size(); ++i)
      if (sorted.size() != x.dims.size() || sorted[i] != int64_t(i))
        ctx.fail("perm " + dims_to_string(perm) + " is not a permutation of rank " +
                 std::to_string(x.dims.size()));
    Dims out;
    for (int64_t p : perm) out.push_back(x.dims[size_t(p)]);
    ctx.set_output(0, TensorType{x.dtype, out});
  }));

  r.add(schema("Concat", 1, 1 << 20, {{"axis", AttrType::i, true}}, [](InferContext& ctx) {
    TensorType out = ctx.input_type(0);
    for (size_t i = 0; i < ctx.num_inputs(); ++i)
      if (!ctx.input_type(i).rank_known) return ctx.set_output(0, unknown_rank(out.dtype));
    const int64_t rank = int64_t(out.dims.size());
    const int64_t axis = normalize_axis(ctx.node().attr_int("axis"), rank, "axis");
    for (size_t i = 1; i < ctx.num_inputs(); ++i) {
      require_same_dtype(ctx, 0, i);
      const TensorType& t = ctx.input_type(i);
      if (int64_t(t.dims.size()) != rank)
        ctx.fail("input " + std::to_string(i) + " " + dims_to_string(t.dims) +
                 " differs in rank from " + dims_to_string(out.dims));
      for (int64_t d = 0; d < rank; ++d) {
        int64_t& o = out.dims[size_t(d)];
        const int64_t v = t.dims[size_t(d)];
        if (d == axis)
          o = (o < 0 || v < 0) ? -1 : o + v;
        else if (o >= 0 && v >= 0 && o != v)
          ctx.fail("input " + std::to_string(i) + " " + dims_to_string(t.dims) +
                   " does not match on axis " + std::to_string(d));
        else if (o < 0)
          o = v;
      }
    }
    ctx.set_output(0, out);
  }));

  r.add(schema("Gather", 2, 2, {{"axis", AttrType::i}}, [](InferContext& ctx) {
    const TensorType& data = ctx.input_type(0);
    const TensorType& idx = ctx.input_type(1);
    require_dtype_in(ctx, 1, {DType::i32, DType::i64});
    if (!data.rank_known || !idx.rank_known) return ctx.set_output(0, unknown_rank(data.dtype));
    const int64_t axis =
        normalize_axis(ctx.node().attr_int("axis", 0), int64_t(data.dims.size()), "axis");
    Dims out(data.dims.begin(), data.dims.begin() + axis);
    out.insert(out.end(), idx.dims.begin(), idx.dims.end());
    out.insert(out.end(), data.dims.begin() + axis + 1, data.dims.end());
    ctx.set_output(0, TensorType{data.dtype, out});
  }));

  r.add(
      schema("Shape", 1, 1, {{"start", AttrType::i}, {"end", AttrType::i}}, [](InferContext& ctx) {
        const TensorType& x = ctx.input_type(0);
        if (!x.rank_known) return ctx.set_output(0, TensorType{DType::i64, {-1}});
        const int64_t rank = int64_t(x.dims.size());
        auto clamp = [rank](int64_t v) {
          return std::clamp(v < 0 ? v + rank : v, int64_t{0}, rank);
        };
        const int64_t start = clamp(ctx.node().attr_int("start", 0));
        const int64_t end = clamp(ctx.node().attr_int("end", rank));
        Dims part(x.dims.begin() + start, x.dims.begin() + std::max(start, end));
        ctx.set_output(0, TensorType{DType::i64, {int64_t(part.size())}});
        if (std::all_of(part.begin(), part.end(), [](int64_t d) { return d >= 0; }))
          ctx.set_output_value(0, Tensor::from_values<int64_t>({int64_t(part.size())},
                                                               std::span<const int64_t>(part)));
      }));

  r.add(schema("GatherElements", 2, 2, {{"axis", AttrType::i}}, [](InferContext& ctx) {
    require_dtype_in(ctx, 1, {DType::i32, DType::i64});
    const TensorType& data = ctx.input_type(0);
    const TensorType& idx = ctx.input_type(1);
    if (data.rank_known && idx.rank_known && data.dims.size() != idx.dims.size())
      ctx.fail("data " + dims_to_string(data.dims) + " and indices " + dims_to_string(idx.dims) +
               " differ in rank");
    ctx.set_output(0, TensorType{data.dtype, idx.dims, idx.rank_known});
  }));
  r.add(schema("Trilu", 1, 2, {{"upper", AttrType::i}}, [](InferContext& ctx) {
    require_rank_at_least(ctx, 0, 2);
    ctx.set_output(0, ctx.input_type(0));
  }));
  for (const bool to_depth : {true, false})
    r.add(schema(
        to_depth ? "SpaceToDepth" : "DepthToSpace", 1, 1,
        {{"blocksize", AttrType::i, true}, {"mode", AttrType::s}}, [to_depth](InferContext& ctx) {
          const TensorType& x = ctx.input_type(0);
          if (!x.rank_known) return ctx.set_output(0, x);
          if (x.dims.size() != 4) ctx.fail("input must be 4-D, got " + dims_to_string(x.dims));
          const int64_t b = ctx.node().attr_int("blocksize");
          if (b < 1) ctx.fail("blocksize must be positive");
          Dims out = x.dims;
          if (to_depth) {
            if ((x.dims[2] >= 0 && x.dims[2] % b) || (x.dims[3] >= 0 && x.dims[3] % b))
              ctx.fail("height and width must be divisible by blocksize " + std::to_string(b));
            out = {x.dims[0], x.dims[1] < 0 ? -1 : x.dims[1] * b * b,
                   x.dims[2] < 0 ? -1 : x.dims[2] / b, x.dims[3] < 0 ? -1 : x.dims[3] / b};
          } else {
            if (x.dims[1] >= 0 && x.dims[1] % (b * b))
              ctx.fail("channels must be divisible by blocksize^2 = " + std::to_string(b * b));
            out = {x.dims[0], x.dims[1] < 0 ? -1 : x.dims[1] / (b * b),
                   x.dims[2] < 0 ? -1 : x.dims[2] * b, x.dims[3] < 0 ? -1 : x.dims[3] * b};
          }
          ctx.set_output(0, TensorType{x.dtype, out});
        }));

  r.add(schema("Size", 1, 1, {}, [](InferContext& ctx) {
    const TensorType& x = ctx.input_type(0);
    ctx.set_output(0, TensorType{DType::i64, {}});
    if (x.fully_known()) ctx.set_output_value(0, Tensor::scalar<int64_t>(product(x.dims)));
  }));

  r.add(schema("Expand", 2, 2, {}, [](InferContext& ctx) {
    const TensorType& x = ctx.input_type(0);
    require_dtype_in(ctx, 1, {DType::i64});
    auto shape = ctx.input_ints(1);
    if (!shape || !x.rank_known) return ctx.set_output(0, unknown_rank(x.dtype));
    try {
      ctx.set_output(0, TensorType{x.dtype, broadcast_dims(x.dims, *shape)});
    } catch (const Error& e) {
      ctx.fail(e.message());
    }
  }));

  r.add(schema("Tile", 2, 2, {}, [](InferContext& ctx) {
    const TensorType& x = ctx.input_type(0);
    require_dtype_in(ctx, 1, {DType::i64});
    auto repeats = ctx.input_ints(1);
    if (!x.rank_known) return ctx.set_output(0, unknown_rank(x.dtype));
    if (!repeats) return ctx.set_output(0, TensorType{x.dtype, Dims(x.dims.size(), -1)});
    if (repeats->size() != x.dims.size())
      ctx.fail("repeats has " + std::to_string(repeats->size()) + " entries for rank " +
               std::to_string(x.dims.size()));
    Dims out = x.dims;
    for (size_t i = 0; i < out.size(); ++i) {
      if ((*repeats)[i] < 0) ctx.fail("repeats must be non-negative");
      if (out[i] >= 0) out[i] *= (*repeats)[i];
    }
    ctx.set_output(0, TensorType{x.dtype, out});
  }));

  r.add(schema("Range", 3, 3, {}, [](InferContext& ctx) {
    require_dtype_in(ctx, 0, {DType::f32, DType::f64, DType::i16, DType::i32, DType::i64});
    require_same_dtype(ctx, 0, 1);
    require_same_dtype(ctx, 0, 2);
    const DType dtype = ctx.input_type(0).dtype;
    const Tensor* start = ctx.input_value(0);
    const Tensor* limit = ctx.input_value(1);
    const Tensor* delta = ctx.input_value(2);
    if (!start || !limit || !delta) return ctx.set_output(0, TensorType{dtype, {-1}});
    const double s = start->to_doubles().at(0), l = limit->to_doubles().at(0),
                 d = delta->to_doubles().at(0);
    if (d == 0) ctx.fail("delta must not be 0");
    ctx.set_output(0, TensorType{dtype, {std::max<int64_t>(0, int64_t(std::ceil((l - s) / d)))}});
  }));

  r.add(schema("ConstantOfShape", 1, 1, {{"value", AttrType::t}}, [](InferContext& ctx) {
    require_dtype_in(ctx, 0, {DType::i64});
    DType dtype =
        ctx.node().has_attr("value") ? ctx.node().attr_tensor("value").dtype() : DType::f32;
    auto shape = ctx.input_ints(0);
    if (!shape) {
      const TensorType& t = ctx.input_type(0);
      return ctx.set_output(0, t.fully_known() ? TensorType{dtype, Dims(size_t(t.dims[0]), -1)}
                                               : unknown_rank(dtype));
    }
    for (int64_t d : *shape)
      if (d < 0) ctx.fail("shape " + dims_to_string(*shape) + " has a negative entry");
    ctx.set_output(0, TensorType{dtype, *shape});
  }));

  // Cost-model traits: data movement, priced as one pass over the elements.
  for (const char* op : {"Concat", "Transpose", "Flatten", "Reshape"})
    r.at("", op).cost_class = CostClass::elementwise;
}

}  // namespace ops
}  // namespace edgeco
