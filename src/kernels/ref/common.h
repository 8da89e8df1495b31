// Helpers shared by the reference kernels.
#pragma once

#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "kernels/kernel.h"

namespace edgeco::kernels::ref {

template <class F>
void dispatch_float(DType dtype, const KernelArgs& args, F&& f) {
  switch (dtype) {
    case DType::f32:
      return f(float{});
    case DType::f64:
      return f(double{});
    default:
      args.fail("type " + std::string(to_string(dtype)) + " is not supported here",
                ErrorKind::unsupported);
  }
}

// Numeric types: every stored type but float16 (computed as float32 around the kernel) and bool.
template <class F>
void dispatch_numeric(DType dtype, const KernelArgs& args, F&& f) {
  if (dtype == DType::f16 || dtype == DType::boolean)
    args.fail("type " + std::string(to_string(dtype)) + " is not supported here",
              ErrorKind::unsupported);
  visit_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, Half> && !std::is_same_v<T, bool>) f(tag);
  });
}

inline int64_t product(std::span<const int64_t> dims, size_t begin = 0, size_t end = SIZE_MAX) {
  int64_t p = 1;
  for (size_t i = begin; i < std::min(end, dims.size()); ++i) p *= dims[i];
  return p;
}

// Row-major strides of `dims` expressed in the rank of `out_rank`, 0 on broadcast dims.
inline Dims broadcast_strides(std::span<const int64_t> dims, std::span<const int64_t> out) {
  Dims strides(out.size(), 0);
  int64_t stride = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    const size_t d = dims.size() - 1 - i;
    const size_t o = out.size() - 1 - i;
    strides[o] = dims[d] == 1 ? 0 : stride;
    stride *= dims[d];
  }
  return strides;
}

// Calls f(out_index, in_offsets...) for every element of `out`, with each input's offset under
// numpy broadcasting.
template <size_t N, class F>
void for_each_broadcast(std::span<const int64_t> out, const std::array<Dims, N>& in_dims, F&& f) {
  const int64_t total = product(out);
  if (total == 0) return;
  std::array<Dims, N> strides;
  for (size_t k = 0; k < N; ++k) strides[k] = broadcast_strides(in_dims[k], out);
  const size_t rank = out.size();
  Dims index(rank, 0);
  std::array<int64_t, N> offsets{};
  for (int64_t i = 0; i < total; ++i) {
    f(i, offsets);
    for (size_t d = rank; d-- > 0;) {
      ++index[d];
      for (size_t k = 0; k < N; ++k) offsets[k] += strides[k][d];
      if (index[d] < out[d]) break;
      for (size_t k = 0; k < N; ++k) offsets[k] -= strides[k][d] * out[d];
      index[d] = 0;
    }
  }
}

// Runs an NCHW kernel on a channels-last node: the `nhwc_inputs` and output 0 are transposed
// around it. The reference answer for edgeco's channels_last ops.
void run_channels_last(const KernelArgs& args, const KernelFn& nchw_kernel,
                       std::initializer_list<size_t> nhwc_inputs);

inline constexpr int64_t kToChannelsLast[] = {0, 2, 3, 1};   // NCHW -> NHWC
inline constexpr int64_t kToChannelsFirst[] = {0, 3, 1, 2};  // NHWC -> NCHW

// Round half to even, as ONNX quantization does.
inline double round_half_even(double v) {
  return std::nearbyint(v);
}

template <class T>
T saturate(double v) {
  const double lo = double(std::numeric_limits<T>::lowest()),
               hi = double(std::numeric_limits<T>::max());
  return static_cast<T>(std::clamp(v, lo, hi));
}

void register_elementwise(KernelRegistry& r);
void register_conv(KernelRegistry& r);
void register_pool(KernelRegistry& r);
void register_matmul(KernelRegistry& r);
void register_normalization(KernelRegistry& r);
void register_shape_ops(KernelRegistry& r);
void register_resize(KernelRegistry& r);
void register_quant(KernelRegistry& r);

}  // namespace edgeco::kernels::ref
