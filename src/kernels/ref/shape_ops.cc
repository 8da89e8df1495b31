// Data movement: views (Reshape, Flatten, Squeeze, Unsqueeze), Transpose, Concat, Pad, Slice,
// Gather, Shape, ConstantOfShape. These copy bytes, so they work for every element type.
#include <cstring>

#include "common.h"

namespace edgeco::kernels::ref {
namespace {

void view(const KernelArgs& args) {
  args.outputs[0] = args.in(0).reshaped(args.output_types[0].dims);
}

// Visits every element of `dims` in row-major order with its multi-index.
template <class F>
void for_each_index(std::span<const int64_t> dims, F f) {
  const int64_t total = product(dims);
  Dims index(dims.size(), 0);
  for (int64_t i = 0; i < total; ++i) {
    f(i, index);
    for (size_t d = dims.size(); d-- > 0;) {
      if (++index[d] < dims[d]) break;
      index[d] = 0;
    }
  }
}

void transpose(const KernelArgs& args) {
  const Tensor& x = args.in(0);
  Dims perm(x.rank());
  std::iota(perm.rbegin(), perm.rend(), 0);
  args.outputs[0] = x.permuted(args.node.attr_ints("perm", perm));
}

}  // namespace

void run_channels_last(const KernelArgs& args, const KernelFn& nchw_kernel,
                       std::initializer_list<size_t> nhwc_inputs) {
  std::vector<Tensor> nchw;
  nchw.reserve(nhwc_inputs.size());
  std::vector<const Tensor*> inputs(args.inputs.begin(), args.inputs.end());
  for (size_t i : nhwc_inputs)
    if (args.has(i)) inputs[i] = &nchw.emplace_back(args.in(i).permuted(kToChannelsFirst));
  std::vector<TensorType> types(args.output_types.begin(), args.output_types.end());
  const Dims y = types[0].dims;
  types[0].dims = {y[0], y[3], y[1], y[2]};
  std::vector<Tensor> outputs(types.size());
  nchw_kernel(KernelArgs{args.node, args.opset, inputs, types, outputs, args.threads});
  args.outputs[0] = outputs[0].permuted(kToChannelsLast);
}

namespace {

void concat(const KernelArgs& args) {
  Tensor& y = args.out(0);
  const size_t axis = size_t(normalize_axis(args.node.attr_int("axis"), int64_t(y.rank()), "axis"));
  const int64_t outer = product(y.dims(), 0, axis);
  const size_t elem = dtype_size(y.dtype());
  const size_t out_row = size_t(product(y.dims(), axis)) * elem;
  size_t offset = 0;
  for (size_t k = 0; k < args.inputs.size(); ++k) {
    const Tensor& x = args.in(k);
    const size_t row = size_t(product(x.dims(), axis)) * elem;
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(y.bytes().data() + size_t(o) * out_row + offset,
                  x.bytes().data() + size_t(o) * row, row);
    offset += row;
  }
}

void slice(const KernelArgs& args) {
  const Tensor& x = args.in(0);
  Tensor& y = args.out(0);
  Dims starts, ends, axes, steps;
  if (args.opset < 10) {
    starts = args.node.attr_ints("starts");
    ends = args.node.attr_ints("ends");
    axes = args.node.attr_ints("axes", Dims{});
  } else {
    starts = args.in(1).to_int64s();
    ends = args.in(2).to_int64s();
    if (args.has(3)) axes = args.in(3).to_int64s();
    if (args.has(4)) steps = args.in(4).to_int64s();
  }
  const auto ranges = slice_ranges(x.dims(), starts, ends, axes, steps);
  const Dims in_strides = row_major_strides(x.dims());
  const size_t elem = dtype_size(x.dtype());
  for_each_index(y.dims(), [&](int64_t i, const Dims& index) {
    int64_t offset = 0;
    for (size_t d = 0; d < index.size(); ++d)
      offset += (ranges[d].start + index[d] * ranges[d].step) * in_strides[d];
    std::memcpy(y.bytes().data() + size_t(i) * elem, x.bytes().data() + size_t(offset) * elem,
                elem);
  });
}

void pad(const KernelArgs& args) {
  const Tensor& x = args.in(0);
  Tensor& y = args.out(0);
  const std::string mode = args.node.attr_string("mode", "constant");
  const size_t rank = x.rank();
  const Dims pads = args.opset < 11 ? args.node.attr_ints("pads") : args.in(1).to_int64s();
  const Dims in_strides = row_major_strides(x.dims());
  const size_t elem = dtype_size(x.dtype());
  if (mode != "constant")
    for (size_t d = 0; d < rank; ++d)
      if (x.dim(d) == 0 && y.dim(d) > 0) args.fail("cannot pad an empty axis with mode " + mode);
  // The constant as one element of x's type.
  Tensor fill(x.dtype(), {});
  if (args.opset < 11) {
    fill = Tensor::scalar<double>(args.node.attr_float("value", 0.0f)).cast(x.dtype());
  } else if (args.has(2)) {
    fill = args.in(2).reshaped({});
  }
  for_each_index(y.dims(), [&](int64_t i, const Dims& index) {
    int64_t offset = 0;
    for (size_t d = 0; d < rank; ++d) {
      int64_t v = index[d] - pads[d];
      const int64_t n = x.dim(d);
      if (v < 0 || v >= n) {
        if (mode == "constant") {
          offset = -1;
          break;
        }
        if (mode == "edge")
          v = std::clamp<int64_t>(v, 0, n - 1);
        else {  // reflect, repeating the mirror for pads longer than the axis
          const int64_t period = std::max<int64_t>(1, 2 * (n - 1));
          v = ((v % period) + period) % period;
          if (v >= n) v = period - v;
        }
      }
      offset += v * in_strides[d];
    }
    const std::byte* src =
        offset < 0 ? fill.bytes().data() : x.bytes().data() + size_t(offset) * elem;
    std::memcpy(y.bytes().data() + size_t(i) * elem, src, elem);
  });
}

void gather(const KernelArgs& args) {
  const Tensor& data = args.in(0);
  const Tensor& indices_tensor = args.in(1);
  Tensor& y = args.out(0);
  const size_t axis =
      size_t(normalize_axis(args.node.attr_int("axis", 0), int64_t(data.rank()), "axis"));
  const int64_t outer = product(data.dims(), 0, axis);
  const int64_t extent = data.dim(axis);
  const size_t inner_bytes = size_t(product(data.dims(), axis + 1)) * dtype_size(data.dtype());
  const std::vector<int64_t> indices = indices_tensor.to_int64s();
  std::byte* dst = y.bytes().data();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t idx : indices) {
      const int64_t i = idx < 0 ? idx + extent : idx;
      if (i < 0 || i >= extent)
        args.fail("index " + std::to_string(idx) + " is out of range for axis of size " +
                  std::to_string(extent));
      std::memcpy(dst, data.bytes().data() + size_t(o * extent + i) * inner_bytes, inner_bytes);
      dst += inner_bytes;
    }
}

void shape(const KernelArgs& args) {
  const Tensor& x = args.in(0);
  const int64_t rank = int64_t(x.rank());
  auto clamp = [rank](int64_t v) { return std::clamp(v < 0 ? v + rank : v, int64_t{0}, rank); };
  const int64_t start = clamp(args.node.attr_int("start", 0)),
                end = clamp(args.node.attr_int("end", rank));
  auto out = args.out(0).data<int64_t>();
  for (int64_t i = start; i < end; ++i) out[size_t(i - start)] = x.dim(size_t(i));
}

void constant_of_shape(const KernelArgs& args) {
  Tensor& y = args.out(0);
  if (!args.node.has_attr("value")) return;  // zeros
  const Tensor& value = args.node.attr_tensor("value");
  if (value.numel() != 1) args.fail("value must hold one element", ErrorKind::invalid_model);
  const size_t elem = dtype_size(y.dtype());
  for (int64_t i = 0; i < y.numel(); ++i)
    std::memcpy(y.bytes().data() + size_t(i) * elem, value.bytes().data(), elem);
}

void split(const KernelArgs& args) {
  const Tensor& x = args.in(0);
  const size_t axis =
      size_t(normalize_axis(args.node.attr_int("axis", 0), int64_t(x.rank()), "axis"));
  const int64_t outer = product(x.dims(), 0, axis);
  const size_t elem = dtype_size(x.dtype());
  const size_t in_row = size_t(product(x.dims(), axis)) * elem;
  size_t offset = 0;
  for (size_t k = 0; k < args.output_types.size(); ++k) {
    const size_t row = size_t(product(args.output_types[k].dims, axis)) * elem;
    if (args.node.outputs[k].empty()) {  // an omitted output still takes its share
      offset += row;
      continue;
    }
    Tensor& y = args.out(k);
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(y.bytes().data() + size_t(o) * row,
                  x.bytes().data() + size_t(o) * in_row + offset, row);
    offset += row;
  }
}

// Expand and Tile: each output element copies the input element its index maps to.
template <class MapIndex>
void gather_by_index(const KernelArgs& args, MapIndex map) {
  const Tensor& x = args.in(0);
  Tensor& y = args.out(0);
  const Dims in_strides = row_major_strides(x.dims());
  const size_t elem = dtype_size(x.dtype());
  for_each_index(y.dims(), [&](int64_t i, const Dims& index) {
    int64_t offset = 0;
    for (size_t d = 0; d < index.size(); ++d) offset += map(d, index[d]) * in_strides[d];
    std::memcpy(y.bytes().data() + size_t(i) * elem, x.bytes().data() + size_t(offset) * elem,
                elem);
  });
}

void expand(const KernelArgs& args) {
  const Tensor& x = args.in(0);
  const Tensor reshaped = x.reshaped([&] {
    Dims d(args.output_types[0].dims.size() - x.rank(), 1);
    d.insert(d.end(), x.dims().begin(), x.dims().end());
    return d;
  }());
  // Run on the input lifted to the output's rank with leading unit dims.
  const Tensor* in[] = {&reshaped};
  const KernelArgs with_rank{args.node,         args.opset,   in,
                             args.output_types, args.outputs, args.threads};
  gather_by_index(with_rank, [&](size_t d, int64_t i) { return reshaped.dim(d) == 1 ? 0 : i; });
}

void tile(const KernelArgs& args) {
  const Tensor& x = args.in(0);
  gather_by_index(args, [&](size_t d, int64_t i) { return i % x.dim(d); });
}

void gather_elements(const KernelArgs& args) {
  const Tensor& data = args.in(0);
  const std::vector<int64_t> indices = args.in(1).to_int64s();
  Tensor& y = args.out(0);
  const size_t axis =
      size_t(normalize_axis(args.node.attr_int("axis", 0), int64_t(data.rank()), "axis"));
  const Dims strides = row_major_strides(data.dims());
  const size_t elem = dtype_size(data.dtype());
  for_each_index(y.dims(), [&](int64_t i, const Dims& index) {
    int64_t offset = 0;
    for (size_t d = 0; d < index.size(); ++d) {
      int64_t v = index[d];
      if (d == axis) {
        v = indices[size_t(i)];
        if (v < 0) v += data.dim(d);
        if (v < 0 || v >= data.dim(d))
          args.fail("index " + std::to_string(indices[size_t(i)]) +
                    " is out of range for axis of size " + std::to_string(data.dim(d)));
      } else if (v >= data.dim(d)) {
        args.fail("indices shape " + dims_to_string(y.dims()) + " exceeds data shape " +
                  dims_to_string(data.dims()));
      }
      offset += v * strides[d];
    }
    std::memcpy(y.bytes().data() + size_t(i) * elem, data.bytes().data() + size_t(offset) * elem,
                elem);
  });
}

void trilu(const KernelArgs& args) {
  const Tensor& x = args.in(0);
  Tensor& y = args.out(0);
  const int64_t k = args.has(1) ? args.in(1).to_int64s().at(0) : 0;
  const bool upper = args.node.attr_int("upper", 1) != 0;
  const int64_t rows = x.dim(x.rank() - 2), cols = x.dim(x.rank() - 1);
  const size_t elem = dtype_size(x.dtype());
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t c = i % cols, r = (i / cols) % rows;
    // Keep j - i >= k (upper) or j - i <= k (lower); the rest stays zero.
    if (upper ? c - r >= k : c - r <= k)
      std::memcpy(y.bytes().data() + size_t(i) * elem, x.bytes().data() + size_t(i) * elem, elem);
  }
}

void depth_space(const KernelArgs& args, bool to_depth) {
  const Tensor& x = args.in(0);
  Tensor& y = args.out(0);
  const int64_t b = args.node.attr_int("blocksize");
  const bool crd = args.node.attr_string("mode", "DCR") == "CRD";
  // Index math on the larger (space) side: [n, c, h, w] of the space tensor and its depth twin.
  const Tensor& space = to_depth ? x : y;
  const int64_t n = space.dim(0), c = space.dim(1), h = space.dim(2), w = space.dim(3);
  const int64_t depth_c = c * b * b, dh = h / b, dw = w / b;
  const size_t elem = dtype_size(x.dtype());
  for (int64_t in = 0; in < n; ++in)
    for (int64_t ic = 0; ic < c; ++ic)
      for (int64_t ih = 0; ih < h; ++ih)
        for (int64_t iw = 0; iw < w; ++iw) {
          const int64_t bh = ih % b, bw = iw % b;
          const int64_t dc = crd ? (ic * b + bh) * b + bw : (bh * b + bw) * c + ic;
          const int64_t space_index = ((in * c + ic) * h + ih) * w + iw;
          const int64_t depth_index = ((in * depth_c + dc) * dh + ih / b) * dw + iw / b;
          const int64_t from = to_depth ? space_index : depth_index,
                        to = to_depth ? depth_index : space_index;
          std::memcpy(y.bytes().data() + size_t(to) * elem, x.bytes().data() + size_t(from) * elem,
                      elem);
        }
}

void range(const KernelArgs& args) {
  Tensor& y = args.out(0);
  dispatch_numeric(y.dtype(), args, [&](auto tag) {
    using T = decltype(tag);
    const T start = args.in(0).data<T>()[0], delta = args.in(2).data<T>()[0];
    auto py = y.data<T>();
    for (size_t i = 0; i < py.size(); ++i)
      py[i] = static_cast<T>(start + static_cast<T>(i) * delta);
  });
}

}  // namespace

void register_shape_ops(KernelRegistry& r) {
  r.add(
      "Size", [](const KernelArgs& a) { a.out(0).data<int64_t>()[0] = a.in(0).numel(); }, false);
  r.add("Expand", expand, false);
  r.add("Tile", tile, false);
  r.add("Range", range);
  r.add("GatherElements", gather_elements, false);
  r.add("Trilu", trilu, false);
  r.add(
      "SpaceToDepth", [](const KernelArgs& a) { depth_space(a, true); }, false);
  r.add(
      "DepthToSpace", [](const KernelArgs& a) { depth_space(a, false); }, false);
  r.add("Split", split, false);
  for (const char* op : {"Reshape", "Flatten", "Squeeze", "Unsqueeze"}) r.add(op, view, false);
  r.add("Transpose", transpose, false);
  r.add("Concat", concat, false);
  r.add("Slice", slice, false);
  r.add("Pad", pad, false);
  r.add("Gather", gather, false);
  r.add("Shape", shape, false);
  r.add("ConstantOfShape", constant_of_shape, false);
}

}  // namespace edgeco::kernels::ref
