// Resize: nearest, linear and cubic interpolation over any dims, separable per axis, with the
// coordinate transformation modes of opsets 10-17.
#include "common.h"

namespace edgeco::kernels::ref {
namespace {

struct Tap {
  int64_t index;
  double weight;
};
// Taps of one output coordinate along one axis; `outside` marks tf_crop_and_resize extrapolation.
struct AxisTaps {
  std::vector<std::vector<Tap>> taps;
  std::vector<bool> outside;
};

AxisTaps axis_taps(const KernelArgs& args, int64_t in_len, int64_t out_len, double scale,
                   double roi_start, double roi_end) {
  const Node& node = args.node;
  const bool opset10 = args.opset < 11;
  const std::string mode = node.attr_string("mode", "nearest");
  const std::string transform =
      opset10 ? "asymmetric" : node.attr_string("coordinate_transformation_mode", "half_pixel");
  const std::string nearest_mode =
      opset10 ? "floor" : node.attr_string("nearest_mode", "round_prefer_floor");
  const double cubic_a = node.attr_float("cubic_coeff_a", -0.75f);
  const bool exclude_outside = node.attr_int("exclude_outside", 0) != 0;
  AxisTaps result;
  result.taps.resize(size_t(out_len));
  result.outside.assign(size_t(out_len), false);
  // The reference resizes to in_len * scale, unrounded, in its coordinate transforms.
  const double resized = double(in_len) * scale;
  for (int64_t o = 0; o < out_len; ++o) {
    double x;
    const double xo = double(o);
    if (transform == "half_pixel")
      x = (xo + 0.5) / scale - 0.5;
    else if (transform == "pytorch_half_pixel")
      x = resized > 1 ? (xo + 0.5) / scale - 0.5 : 0.0;
    else if (transform == "align_corners")
      x = resized == 1 ? 0.0 : xo * double(in_len - 1) / (resized - 1);
    else if (transform == "asymmetric")
      x = xo / scale;
    else if (transform == "tf_half_pixel_for_nn")
      x = (xo + 0.5) / scale;
    else if (transform == "tf_crop_and_resize") {
      x = resized > 1 ? roi_start * double(in_len - 1) +
                            xo * (roi_end - roi_start) * double(in_len - 1) / (resized - 1)
                      : 0.5 * (roi_start + roi_end) * double(in_len - 1);
      if (x < 0 || x > double(in_len - 1)) {
        result.outside[size_t(o)] = true;
        continue;
      }
    } else {
      args.fail("coordinate_transformation_mode '" + transform + "' is not supported",
                ErrorKind::unsupported);
    }
    auto clamp_index = [in_len](int64_t i) { return std::clamp<int64_t>(i, 0, in_len - 1); };
    const double base = std::floor(x);
    double ratio = x - base;
    auto& taps = result.taps[size_t(o)];
    if (mode == "nearest") {
      int64_t pick;
      if (ratio == 0 || nearest_mode == "floor")  // on a sample every mode picks it
        pick = int64_t(base);
      else if (nearest_mode == "round_prefer_floor")
        pick = int64_t(base) + (ratio > 0.5 ? 1 : 0);
      else if (nearest_mode == "round_prefer_ceil")
        pick = int64_t(base) + (ratio >= 0.5 ? 1 : 0);
      else if (nearest_mode == "ceil")
        pick = int64_t(base) + 1;
      else
        args.fail("nearest_mode '" + nearest_mode + "' is not supported", ErrorKind::unsupported);
      taps.push_back({clamp_index(pick), 1.0});
    } else if (mode == "linear") {
      taps.push_back({clamp_index(int64_t(base)), 1.0 - ratio});
      taps.push_back({clamp_index(int64_t(base) + 1), ratio});
    } else {  // cubic (Keys), with optional renormalisation that drops taps outside the input
      const double a = cubic_a;
      const double r = ratio;
      const double coeffs[4] = {((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a,
                                ((a + 2) * r - (a + 3)) * r * r + 1,
                                ((a + 2) * (1 - r) - (a + 3)) * (1 - r) * (1 - r) + 1,
                                ((a * (2 - r) - 5 * a) * (2 - r) + 8 * a) * (2 - r) - 4 * a};
      double sum = 0;
      for (int k = 0; k < 4; ++k) {
        const int64_t i = int64_t(base) - 1 + k;
        const double w = exclude_outside && (i < 0 || i >= in_len) ? 0.0 : coeffs[k];
        taps.push_back({clamp_index(i), w});
        sum += w;
      }
      if (exclude_outside && sum != 0)
        for (auto& t : taps) t.weight /= sum;
    }
    (void)ratio;
  }
  return result;
}

void resize(const KernelArgs& args) {
  const Tensor& x = args.in(0);
  Tensor& y = args.out(0);
  const size_t rank = x.rank();
  const bool opset10 = args.opset < 11;
  std::vector<double> scales(rank, 1.0), roi(2 * rank, 0.0);
  for (size_t d = 0; d < rank; ++d) roi[rank + d] = 1.0;
  const size_t scales_index = opset10 ? 1 : 2;
  const bool has_sizes = !opset10 && args.has(3) && args.in(3).numel() > 0;
  if (has_sizes) {
    for (size_t d = 0; d < rank; ++d) scales[d] = double(y.dim(d)) / double(x.dim(d));
  } else if (args.has(scales_index)) {
    scales = args.in(scales_index).to_doubles();
  }
  if (!opset10 && args.has(1) && args.in(1).numel() == int64_t(2 * rank))
    roi = args.in(1).to_doubles();

  std::vector<AxisTaps> taps;
  for (size_t d = 0; d < rank; ++d)
    taps.push_back(axis_taps(args, x.dim(d), y.dim(d), scales[d], roi[d], roi[rank + d]));
  const double extrapolation = args.node.attr_float("extrapolation_value", 0.0f);
  const Dims in_strides = row_major_strides(x.dims());

  auto run = [&](auto tag) {
    using T = decltype(tag);
    auto px = x.data<T>();
    auto py = y.data<T>();
    Dims index(rank, 0);
    for (int64_t i = 0; i < y.numel(); ++i) {
      bool outside = false;
      for (size_t d = 0; d < rank; ++d) outside = outside || taps[d].outside[size_t(index[d])];
      double value = extrapolation;
      if (!outside) {
        // Sum over the product of per-axis taps, enumerated like an odometer.
        value = 0;
        std::vector<size_t> pick(rank, 0);
        while (true) {
          double w = 1;
          int64_t offset = 0;
          for (size_t d = 0; d < rank; ++d) {
            const Tap& t = taps[d].taps[size_t(index[d])][pick[d]];
            w *= t.weight;
            offset += t.index * in_strides[d];
          }
          value += w * double(px[size_t(offset)]);
          size_t d = rank;
          while (d-- > 0) {
            if (++pick[d] < taps[d].taps[size_t(index[d])].size()) break;
            pick[d] = 0;
          }
          if (d == SIZE_MAX) break;
        }
      }
      if constexpr (std::is_integral_v<T>)
        py[size_t(i)] = saturate<T>(std::nearbyint(value));
      else
        py[size_t(i)] = static_cast<T>(value);
      for (size_t d = rank; d-- > 0;) {
        if (++index[d] < y.dim(d)) break;
        index[d] = 0;
      }
    }
  };
  switch (x.dtype()) {
    case DType::u8:
      run(uint8_t{});
      break;
    case DType::i8:
      run(int8_t{});
      break;
    default:
      dispatch_float(x.dtype(), args, run);
  }
}

}  // namespace

void register_resize(KernelRegistry& r) {
  r.add("Resize", resize);
}

}  // namespace edgeco::kernels::ref
