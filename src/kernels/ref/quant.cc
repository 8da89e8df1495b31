// Quantization kernels: QuantizeLinear, DequantizeLinear, and the integer convolution and matrix
// products (ConvInteger, MatMulInteger, QLinearConv, QLinearMatMul) with int32 accumulation.
#include <cstring>

#include "activation.h"
#include "conv_core.h"
#include "matmul_core.h"

namespace edgeco::kernels::ref {
namespace {

// Per-axis parameters broadcast over `dims`: the parameter index of each element is its
// coordinate on `axis` (or 0 for per-tensor parameters).
struct AxisIndexer {
  int64_t inner = 1, extent = 1;
  bool per_axis = false;
  int64_t operator()(int64_t i) const { return per_axis ? (i / inner) % extent : 0; }
};

AxisIndexer axis_indexer(const KernelArgs& args, const Dims& dims, const Tensor& scale) {
  AxisIndexer ix;
  if (scale.numel() <= 1 && scale.rank() <= 1) return ix;
  const size_t axis =
      size_t(normalize_axis(args.node.attr_int("axis", 1), int64_t(dims.size()), "axis"));
  if (scale.numel() != dims[axis])
    args.fail("scale has " + std::to_string(scale.numel()) + " entries for axis of size " +
              std::to_string(dims[axis]));
  ix.per_axis = true;
  ix.extent = dims[axis];
  ix.inner = product(dims, axis + 1);
  return ix;
}

std::vector<int32_t> zero_points(const KernelArgs& args, size_t index) {
  if (!args.has(index)) return {0};
  std::vector<int32_t> out;
  for (int64_t v : args.in(index).to_int64s()) out.push_back(int32_t(v));
  return out;
}

void quantize_linear(const KernelArgs& args) {
  const Tensor& x = args.in(0);
  const Tensor& scale = args.in(1);
  Tensor& y = args.out(0);
  const auto ix = axis_indexer(args, x.dims(), scale);
  const auto scales = scale.to_doubles();
  const auto zps = zero_points(args, 2);
  const auto xs = x.to_doubles();
  auto store = [&](auto tag) {
    using T = decltype(tag);
    auto py = y.data<T>();
    for (size_t i = 0; i < xs.size(); ++i) {
      const int64_t k = ix(int64_t(i));
      // Divide in float32, as the spec's reference does, so results match bit for bit.
      const float q = float(xs[i]) / float(scales[size_t(k)]);
      py[i] = saturate<T>(round_half_even(q) + zps[zps.size() == 1 ? 0 : size_t(k)]);
    }
  };
  if (y.dtype() == DType::i8)
    store(int8_t{});
  else
    store(uint8_t{});
}

void dequantize_linear(const KernelArgs& args) {
  const Tensor& x = args.in(0);
  const Tensor& scale = args.in(1);
  Tensor& y = args.out(0);
  const auto ix = axis_indexer(args, x.dims(), scale);
  const auto scales = scale.to_doubles();
  const auto zps = zero_points(args, 2);
  const auto xs = x.to_int64s();
  dispatch_float(y.dtype(), args, [&](auto tag) {
    using T = decltype(tag);
    auto py = y.data<T>();
    for (size_t i = 0; i < xs.size(); ++i) {
      const int64_t k = ix(int64_t(i));
      py[i] = static_cast<T>(float(xs[i] - zps[zps.size() == 1 ? 0 : size_t(k)]) *
                             float(scales[size_t(k)]));
    }
  });
}

template <class F>
void dispatch_u8_i8(DType dtype, const KernelArgs& args, F&& f) {
  if (dtype == DType::u8) return f(uint8_t{});
  if (dtype == DType::i8) return f(int8_t{});
  args.fail("expected uint8 or int8, got " + std::string(to_string(dtype)), ErrorKind::unsupported);
}

// int32 accumulators of the integer convolution of inputs (x, w) with zero points at x_zp_index
// and w_zp_index.
std::vector<int32_t> integer_conv(const KernelArgs& args, size_t x_index, size_t w_index,
                                  size_t x_zp_index, size_t w_zp_index, Conv3d& geometry) {
  const Tensor& x = args.in(x_index);
  const Tensor& w = args.in(w_index);
  geometry = conv3d_geometry(args, x.dims(), w.dims(), WindowKind::conv);
  const int32_t x_zero = zero_points(args, x_zp_index)[0];
  const auto w_zero = zero_points(args, w_zp_index);
  if (w_zero.size() != 1 && int64_t(w_zero.size()) != geometry.m)
    args.fail("weight zero point has " + std::to_string(w_zero.size()) + " entries for " +
              std::to_string(geometry.m) + " output channels");
  std::vector<int32_t> acc;
  dispatch_u8_i8(x.dtype(), args, [&](auto xt) {
    dispatch_u8_i8(w.dtype(), args, [&](auto wt) {
      acc = conv3d_accumulate<int32_t, decltype(xt), decltype(wt)>(
          geometry, x.data<decltype(xt)>(), w.data<decltype(wt)>(), x_zero, w_zero, args.threads);
    });
  });
  return acc;
}

// `a_override`: A reshaped by the caller (QMatMul's rank-2 view), instead of input a_index.
std::vector<int32_t> integer_matmul(const KernelArgs& args, size_t a_index, size_t b_index,
                                    size_t a_zp_index, size_t b_zp_index, const Dims& out_dims,
                                    const Tensor* a_override = nullptr) {
  const Tensor& a = a_override ? *a_override : args.in(a_index);
  const Tensor& b = args.in(b_index);
  const auto a_zero = zero_points(args, a_zp_index);
  if (a_zero.size() != 1)
    args.fail("per-row zero points for A are not supported", ErrorKind::unsupported);
  const auto b_zero = zero_points(args, b_zp_index);
  std::vector<int32_t> acc;
  dispatch_u8_i8(a.dtype(), args, [&](auto at) {
    dispatch_u8_i8(b.dtype(), args, [&](auto bt) {
      acc =
          matmul_accumulate<int32_t, decltype(at), decltype(bt)>(a, b, out_dims, a_zero[0], b_zero);
    });
  });
  return acc;
}

// y = saturate(round(acc * multiplier[channel]) + y_zero), the requantization step.
void requantize(const KernelArgs& args, std::span<const int32_t> acc,
                std::span<const double> multiplier, const AxisIndexer& channel, int32_t y_zero) {
  Tensor& y = args.out(0);
  dispatch_u8_i8(y.dtype(), args, [&](auto tag) {
    using T = decltype(tag);
    auto py = y.data<T>();
    for (size_t i = 0; i < acc.size(); ++i) {
      const double m = multiplier[multiplier.size() == 1 ? 0 : size_t(channel(int64_t(i)))];
      py[i] = saturate<T>(round_half_even(double(acc[i]) * m) + y_zero);
    }
  });
}

void qlinear_conv(const KernelArgs& args) {
  Conv3d g;
  auto acc = integer_conv(args, 0, 3, 2, 5, g);
  if (args.has(8)) {
    auto bias = args.in(8).data<int32_t>();
    const int64_t plane = g.out[0] * g.out[1] * g.out[2];
    for (size_t i = 0; i < acc.size(); ++i) acc[i] += bias[size_t((int64_t(i) / plane) % g.m)];
  }
  const double x_scale = args.in(1).to_doubles()[0], y_scale = args.in(6).to_doubles()[0];
  std::vector<double> multiplier;
  for (double ws : args.in(4).to_doubles())
    multiplier.push_back(double(float(x_scale) * float(ws)) / y_scale);
  AxisIndexer channel{g.out[0] * g.out[1] * g.out[2], g.m, multiplier.size() > 1};
  requantize(args, acc, multiplier, channel, zero_points(args, 7)[0]);
}

// edgeco.QFusedConv in NCHW: exact int32 accumulation, then the real-valued result (with bias and
// activation) in double, rounded half to even onto the output's grid.
void qfused_conv_nchw(const KernelArgs& args) {
  Conv3d g;
  const auto acc = integer_conv(args, 0, 3, 2, 5, g);
  const Activation activation = Activation::of(args);
  const double x_scale = args.in(1).to_doubles()[0], y_scale = args.in(6).to_doubles()[0];
  const auto w_scales = args.in(4).to_doubles();
  if (w_scales.size() != 1 && int64_t(w_scales.size()) != g.m)
    args.fail("weight scale has " + std::to_string(w_scales.size()) + " entries for " +
              std::to_string(g.m) + " output channels");
  const auto bias = args.has(8) ? args.in(8).to_doubles() : std::vector<double>{};
  const int32_t y_zero = zero_points(args, 7)[0];
  const int64_t plane = g.out[0] * g.out[1] * g.out[2];
  dispatch_u8_i8(args.out(0).dtype(), args, [&](auto tag) {
    using T = decltype(tag);
    auto py = args.out(0).data<T>();
    for (size_t i = 0; i < acc.size(); ++i) {
      const size_t m = size_t((int64_t(i) / plane) % g.m);
      double v = x_scale * w_scales[w_scales.size() == 1 ? 0 : m] * double(acc[i]);
      if (!bias.empty()) v += bias[m];
      py[i] = saturate<T>(round_half_even(activation(v) / y_scale) + y_zero);
    }
  });
}

void qfused_conv(const KernelArgs& args) {
  if (args.node.attr_int("channels_last", 0) == 0) return qfused_conv_nchw(args);
  run_channels_last(args, qfused_conv_nchw, {0});
}

// edgeco.QMatMul: exact int32 products of A [rows, K] and B [K, N], scaled and biased in double.
void qmatmul(const KernelArgs& args) {
  const Tensor& a = args.in(0);
  const Tensor& b = args.in(3);
  const int64_t k = b.dim(0), n = b.dim(1);
  const Tensor a2 = a.reshaped({a.numel() / k, k});
  const auto acc = integer_matmul(args, 0, 3, 2, 5, {a2.dim(0), n}, &a2);
  const double a_scale = args.in(1).to_doubles()[0];
  const auto b_scales = args.in(4).to_doubles();
  if (b_scales.size() != 1 && int64_t(b_scales.size()) != n)
    args.fail("B scale has " + std::to_string(b_scales.size()) + " entries for " +
              std::to_string(n) + " columns");
  const auto bias = args.has(6) ? args.in(6).to_doubles() : std::vector<double>{};
  auto real = [&](size_t i) {
    const size_t j = i % size_t(n);
    return a_scale * b_scales[b_scales.size() == 1 ? 0 : j] * double(acc[i]) +
           (bias.empty() ? 0.0 : bias[j]);
  };
  Tensor& y = args.out(0);
  if (!args.has(7)) {
    auto py = y.data<float>();
    for (size_t i = 0; i < acc.size(); ++i) py[i] = float(real(i));
    return;
  }
  const double y_scale = args.in(7).to_doubles()[0];
  const int32_t y_zero = zero_points(args, 8)[0];
  dispatch_u8_i8(y.dtype(), args, [&](auto tag) {
    using T = decltype(tag);
    auto py = y.data<T>();
    for (size_t i = 0; i < acc.size(); ++i)
      py[i] = saturate<T>(round_half_even(real(i) / y_scale) + y_zero);
  });
}

void qlookup(const KernelArgs& args) {
  const Tensor& table = args.in(1);
  if (table.numel() != 256) args.fail("table has " + std::to_string(table.numel()) + " entries");
  const auto x = args.in(0).bytes();
  const auto t = table.bytes();
  auto y = args.out(0).bytes();
  const size_t width = dtype_size(table.dtype());
  for (size_t i = 0; i < x.size(); ++i)
    std::memcpy(&y[i * width], &t[size_t(std::to_integer<uint8_t>(x[i])) * width], width);
}

// As DequantizeLinear -> GlobalAveragePool -> QuantizeLinear compute it: float32 values, summed
// and divided in double, then quantized from float32 (bit-exact with the three reference kernels).
void qglobal_average_pool(const KernelArgs& args) {
  const Tensor& x = args.in(0);
  const Dims& d = x.dims();
  const bool nhwc = args.node.attr_int("channels_last", 0) != 0;
  const int64_t channels = nhwc ? d[3] : d[1], plane = nhwc ? d[1] * d[2] : d[2] * d[3];
  const float x_scale = float(args.in(1).to_doubles()[0]),
              y_scale = float(args.in(3).to_doubles()[0]);
  const int32_t x_zero = zero_points(args, 2)[0], y_zero = zero_points(args, 4)[0];
  const auto xv = x.to_int64s();
  dispatch_u8_i8(args.out(0).dtype(), args, [&](auto tag) {
    using T = decltype(tag);
    auto py = args.out(0).data<T>();
    for (int64_t n = 0; n < d[0]; ++n)
      for (int64_t c = 0; c < channels; ++c) {
        double sum = 0;
        for (int64_t p = 0; p < plane; ++p) {
          const int64_t i = nhwc ? (n * plane + p) * channels + c : (n * channels + c) * plane + p;
          sum += double(float(xv[size_t(i)] - x_zero) * x_scale);
        }
        const float mean = float(sum / double(plane));
        py[size_t(n * channels + c)] = saturate<T>(round_half_even(mean / y_scale) + y_zero);
      }
  });
}

void qadd(const KernelArgs& args) {
  const Tensor& a = args.in(0);
  const Tensor& b = args.in(3);
  if (a.dims() != b.dims())
    args.fail("inputs have different shapes " + dims_to_string(a.dims()) + " and " +
              dims_to_string(b.dims()));
  const float a_scale = float(args.in(1).to_doubles()[0]),
              b_scale = float(args.in(4).to_doubles()[0]),
              y_scale = float(args.in(6).to_doubles()[0]);
  const int32_t a_zero = zero_points(args, 2)[0], b_zero = zero_points(args, 5)[0],
                y_zero = zero_points(args, 7)[0];
  const bool relu = args.node.attr_string("activation", "") == "Relu";
  const auto av = a.to_int64s(), bv = b.to_int64s();
  dispatch_u8_i8(args.out(0).dtype(), args, [&](auto tag) {
    using T = decltype(tag);
    auto py = args.out(0).data<T>();
    for (size_t i = 0; i < av.size(); ++i) {
      float sum = float(av[i] - a_zero) * a_scale + float(bv[i] - b_zero) * b_scale;
      if (relu) sum = std::max(sum, 0.0f);
      py[i] = saturate<T>(round_half_even(sum / y_scale) + y_zero);
    }
  });
}

void qlinear_matmul(const KernelArgs& args) {
  auto acc = integer_matmul(args, 0, 3, 2, 5, args.output_types[0].dims);
  const double a_scale = args.in(1).to_doubles()[0], y_scale = args.in(6).to_doubles()[0];
  std::vector<double> multiplier;
  for (double bs : args.in(4).to_doubles())
    multiplier.push_back(double(float(a_scale) * float(bs)) / y_scale);
  const Dims& dims = args.output_types[0].dims;
  AxisIndexer column{1, dims.empty() ? 1 : dims.back(), multiplier.size() > 1};
  requantize(args, acc, multiplier, column, zero_points(args, 7)[0]);
}

void conv_integer(const KernelArgs& args) {
  Conv3d g;
  auto acc = integer_conv(args, 0, 1, 2, 3, g);
  std::copy(acc.begin(), acc.end(), args.out(0).data<int32_t>().begin());
}

void matmul_integer(const KernelArgs& args) {
  auto acc = integer_matmul(args, 0, 1, 2, 3, args.output_types[0].dims);
  std::copy(acc.begin(), acc.end(), args.out(0).data<int32_t>().begin());
}

}  // namespace

void register_quant(KernelRegistry& r) {
  r.add("QuantizeLinear", quantize_linear);
  r.add("DequantizeLinear", dequantize_linear);
  r.add("QLinearConv", qlinear_conv);
  r.add("QLinearMatMul", qlinear_matmul);
  r.add("edgeco.QFusedConv", qfused_conv);
  r.add("edgeco.QAdd", qadd);
  r.add("edgeco.QMatMul", qmatmul);
  r.add("edgeco.QLookup", qlookup);
  r.add("edgeco.QGlobalAveragePool", qglobal_average_pool);
  r.add("ConvInteger", conv_integer);
  r.add("MatMulInteger", matmul_integer);
}

}  // namespace edgeco::kernels::ref
