// Own kernels for the memory-bound int8 nodes between the int8 convolutions: per-tensor
// QuantizeLinear and DequantizeLinear, edgeco.QAdd and edgeco.QLookup (AVX-512 VBMI byte permutes),
// and the NCHW -> NHWC Transpose of a quantized 3-channel image (byte permutes too).
// They compute exactly what the reference kernels compute (float32 arithmetic, round half to even,
// saturation), so results are bit-exact. AVX-512 (chosen at run time) does 16 elements at a time,
// SSE2 (every x86-64) 4, a scalar loop the rest and other targets. The division is kept (not a
// multiplication by the reciprocal): it is what makes the results bit-exact, and it dominates these
// loops, hence the wide vectors.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__)
// GCC 12 warns inside its own AVX-512 headers (_mm512_undefined_* in masked intrinsics, GCC bug
// 105593) when they are used from target("avx512...") functions; the warning is not about this
// code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#endif

#include "kernels/fast/fast_kernels.h"

namespace edgeco::kernels::fast {
namespace {

// Fewer elements than this per thread run on one thread. 16 K with libomp's 1.4 us fork and join:
// MobileNetV2 int8's last DequantizeLinear (63 K elements, written by a 2-thread convolution)
// 0.028 -> 0.019 ms at 2 threads; EfficientNet-B0 int8 3.94-4.14 ms against 4.01-4.34 with 64 K.
constexpr int64_t kMinElementsPerThread = 1 << 14;

// Rounding before the conversion keeps values inside int32 (the hardware conversion of a float
// beyond int32 gives INT_MIN); anything past this bound saturates either way.
constexpr float kRoundBound = 1 << 30;

// Per-tensor parameters of a Q/DQ input (scale at `scale_index`, optional zero point after it).
struct Params {
  float scale = 1;
  int32_t zero = 0;
};

// round half to even (the default rounding mode), plus zero point, saturated to T.
template <class T>
T to_quantized(float q, int32_t zero) {
  const float bounded = std::clamp(q, -kRoundBound, kRoundBound);
  const int64_t v = int64_t(std::nearbyint(bounded)) + zero;
  return T(std::clamp<int64_t>(v, std::numeric_limits<T>::lowest(), std::numeric_limits<T>::max()));
}

#if defined(__SSE2__)
// Four int32 lanes (already rounded, zero point added) saturated to 8 bits, stored to `out`.
template <class T>
void store4(T* out, __m128i v) {
  const __m128i words = _mm_packs_epi32(v, v);
  const __m128i bytes =
      std::is_same_v<T, uint8_t> ? _mm_packus_epi16(words, words) : _mm_packs_epi16(words, words);
  const int32_t packed = _mm_cvtsi128_si32(bytes);
  std::memcpy(out, &packed, 4);
}

// Four 8-bit values widened to int32 lanes.
template <class T>
__m128i load4(const T* in) {
  int32_t packed;
  std::memcpy(&packed, in, 4);
  const __m128i bytes = _mm_cvtsi32_si128(packed);
  if constexpr (std::is_same_v<T, uint8_t>) {
    const __m128i zero = _mm_setzero_si128();
    return _mm_unpacklo_epi16(_mm_unpacklo_epi8(bytes, zero), zero);
  } else {
    // Sign-extend: put each byte in the top of its lane, then shift arithmetically.
    const __m128i words = _mm_unpacklo_epi8(bytes, bytes);
    return _mm_srai_epi32(_mm_unpacklo_epi16(words, words), 24);
  }
}

// round(q) + zero for four lanes: cvtps2dq rounds half to even in the default mode.
inline __m128i round_add(__m128 q, __m128i zero) {
  const __m128 bound = _mm_set1_ps(kRoundBound);
  q = _mm_min_ps(_mm_max_ps(q, _mm_sub_ps(_mm_setzero_ps(), bound)), bound);
  return _mm_add_epi32(_mm_cvtps_epi32(q), zero);
}
#endif

Params params(const PrepareArgs& a, size_t scale_index) {
  Params p;
  p.scale = float(a.constants[scale_index]->to_doubles()[0]);
  if (a.node.has_input(scale_index + 1))
    p.zero = int32_t(a.constants[scale_index + 1]->to_int64s()[0]);
  return p;
}

bool per_tensor_constant(const PrepareArgs& a, size_t scale_index) {
  if (a.constants.size() <= scale_index || !a.constants[scale_index] ||
      a.constants[scale_index]->numel() != 1 || !is_float(a.constants[scale_index]->dtype()))
    return false;
  const size_t zp = scale_index + 1;
  return !a.node.has_input(zp) || (a.constants[zp] && a.constants[zp]->numel() == 1);
}

bool is_8bit(DType d) {
  return d == DType::u8 || d == DType::i8;
}

#if defined(__x86_64__)
#define EDGECO_AVX512 __attribute__((target("avx512f,avx512bw")))

template <class T>
EDGECO_AVX512 __m512i load16(const T* in) {
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in));
  if constexpr (std::is_same_v<T, uint8_t>)
    return _mm512_cvtepu8_epi32(bytes);
  else
    return _mm512_cvtepi8_epi32(bytes);
}

template <class T>
EDGECO_AVX512 void store16(T* out, __m512i v) {
  __m128i bytes;
  if constexpr (std::is_same_v<T, uint8_t>)  // the unsigned narrowing needs non-negative lanes
    bytes = _mm512_cvtusepi32_epi8(_mm512_max_epi32(v, _mm512_setzero_si512()));
  else
    bytes = _mm512_cvtsepi32_epi8(v);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), bytes);
}

EDGECO_AVX512 inline __m512i round_add16(__m512 q, __m512i zero) {
  const __m512 bound = _mm512_set1_ps(kRoundBound);
  q = _mm512_min_ps(_mm512_max_ps(q, _mm512_sub_ps(_mm512_setzero_ps(), bound)), bound);
  return _mm512_add_epi32(_mm512_cvtps_epi32(q), zero);
}

EDGECO_AVX512 inline __m512 dequantize16(__m512i v, __m512i zero, __m512 scale) {
  return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(v, zero)), scale);
}

// Each returns the first index it left to the narrower loops.
template <class T>
EDGECO_AVX512 int64_t quantize_avx512(const float* x, T* out, int64_t i, int64_t end, Params p) {
  const __m512 scale = _mm512_set1_ps(p.scale);
  const __m512i zero = _mm512_set1_epi32(p.zero);
  for (; i + 16 <= end; i += 16)
    store16(out + i, round_add16(_mm512_div_ps(_mm512_loadu_ps(x + i), scale), zero));
  return i;
}

template <class T>
EDGECO_AVX512 int64_t dequantize_avx512(const T* in, float* out, int64_t i, int64_t end, Params p) {
  const __m512 scale = _mm512_set1_ps(p.scale);
  const __m512i zero = _mm512_set1_epi32(p.zero);
  for (; i + 16 <= end; i += 16)
    _mm512_storeu_ps(out + i, dequantize16(load16(in + i), zero, scale));
  return i;
}

template <class T>
EDGECO_AVX512 int64_t qadd_avx512(const T* a, const T* b, T* out, int64_t i, int64_t end, Params pa,
                                  Params pb, Params py, bool relu) {
  const __m512 sa = _mm512_set1_ps(pa.scale), sb = _mm512_set1_ps(pb.scale),
               sy = _mm512_set1_ps(py.scale);
  const __m512i za = _mm512_set1_epi32(pa.zero), zb = _mm512_set1_epi32(pb.zero),
                zy = _mm512_set1_epi32(py.zero);
  for (; i + 16 <= end; i += 16) {
    __m512 sum =
        _mm512_add_ps(dequantize16(load16(a + i), za, sa), dequantize16(load16(b + i), zb, sb));
    if (relu) sum = _mm512_max_ps(sum, _mm512_setzero_ps());
    store16(out + i, round_add16(_mm512_div_ps(sum, sy), zy));
  }
  return i;
}
#endif

#if defined(__x86_64__)
#define EDGECO_AVX512_VBMI __attribute__((target("avx512f,avx512bw,avx512vbmi")))

bool has_avx512_vbmi() {
  static const bool yes = has_avx512() && __builtin_cpu_supports("avx512vbmi");
  return yes;
}

// 64 lookups per step: two 128-entry byte permutes, chosen by each index's top bit.
EDGECO_AVX512_VBMI int64_t lookup_avx512(const uint8_t* x, uint8_t* y, int64_t i, int64_t end,
                                         const uint8_t* table) {
  const __m512i t0 = _mm512_loadu_si512(table), t1 = _mm512_loadu_si512(table + 64),
                t2 = _mm512_loadu_si512(table + 128), t3 = _mm512_loadu_si512(table + 192);
  for (; i + 64 <= end; i += 64) {
    const __m512i index = _mm512_loadu_si512(x + i);
    const __m512i low = _mm512_permutex2var_epi8(t0, index, t1);
    const __m512i high = _mm512_permutex2var_epi8(t2, index, t3);
    _mm512_storeu_si512(y + i, _mm512_mask_blend_epi8(_mm512_movepi8_mask(index), low, high));
  }
  return i;
}
#endif

// Calls body(T{}) with T the 8-bit element type of `type`.
template <class F>
void by_code_type(DType type, F&& body) {
  if (type == DType::u8)
    body(uint8_t{});
  else
    body(int8_t{});
}

// The dimension a band splits in an element-wise node's batch-1 tensor: dim 1, NHWC's rows, unless
// it has fewer than 2 per band; then dim 2 (an NCHW image's 3 channel planes split by rows, the
// rows the image's channels-last transpose reads in the same band). -1: none.
int band_dim(const Dims& d, int bands) {
  if (d.size() < 2 || d[0] != 1) return -1;
  if (d[1] >= 2 * bands) return 1;
  if (d.size() >= 3 && d[2] >= 2 * bands) return 2;
  return d[1] >= bands ? 1 : -1;
}

// An element-wise kernel: its output's elements split over the session's threads, or, in a chain
// run by row bands, the band's rows of band_dim() in every slice above it.
class ElementwiseKernel : public PreparedKernel {
 public:
  std::string_view name() const override { return "own-simd"; }
  void run(const KernelArgs& args) override {
    check(args);
    parallel_for(
        args.out(0).numel(), args.threads,
        [&](int64_t begin, int64_t end) { apply(args, begin, end); }, kMinElementsPerThread);
  }
  bool prepare_bands(const KernelArgs& args, int bands) override {
    const Tensor& y = args.out(0);
    bands_ = bands;
    for (size_t i : operands())
      if (args.in(i).dims() != y.dims()) return false;
    check(args);
    return band_dim(y.dims(), bands) >= 0;
  }
  void run_band(const KernelArgs& args, int band) override {
    const Dims& d = args.out(0).dims();
    const int dim = band_dim(d, bands_);
    int64_t slices = 1, inner = 1;
    for (int i = 0; i < dim; ++i) slices *= d[size_t(i)];
    for (size_t i = size_t(dim) + 1; i < d.size(); ++i) inner *= d[i];
    const RowBand rows = row_band(d[size_t(dim)], band, bands_);
    for (int64_t s = 0; s < slices; ++s) {
      const int64_t base = s * d[size_t(dim)] * inner;
      apply(args, base + rows.begin * inner, base + rows.end * inner);
    }
  }

 protected:
  // Computes output elements [begin, end).
  virtual void apply(const KernelArgs& args, int64_t begin, int64_t end) const = 0;
  // The inputs read element by element (the others are parameters).
  virtual std::vector<size_t> operands() const { return {0}; }
  // Throws where the inputs are not what the kernel was made for.
  virtual void check(const KernelArgs&) const {}

 private:
  int bands_ = 1;
};

class QuantizeKernel final : public ElementwiseKernel {
 public:
  explicit QuantizeKernel(Params p) : p_(p) {}

 private:
  void apply(const KernelArgs& args, int64_t i, int64_t end) const override {
    const float* x = args.in(0).data<float>().data();
    Tensor& y = args.out(0);
    by_code_type(y.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* out = y.data<T>().data();
#if defined(__x86_64__)
      if (has_avx512()) i = quantize_avx512(x, out, i, end, p_);
#endif
#if defined(__SSE2__)
      const __m128 scale = _mm_set1_ps(p_.scale);
      const __m128i zero = _mm_set1_epi32(p_.zero);
      for (; i + 4 <= end; i += 4)
        store4(out + i, round_add(_mm_div_ps(_mm_loadu_ps(x + i), scale), zero));
#endif
      for (; i < end; ++i) out[i] = to_quantized<T>(x[i] / p_.scale, p_.zero);
    });
  }

  Params p_;
};

class DequantizeKernel final : public ElementwiseKernel {
 public:
  explicit DequantizeKernel(Params p) : p_(p) {}

 private:
  void apply(const KernelArgs& args, int64_t i, int64_t end) const override {
    const Tensor& x = args.in(0);
    float* out = args.out(0).data<float>().data();
    by_code_type(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* in = x.data<T>().data();
#if defined(__x86_64__)
      if (has_avx512()) i = dequantize_avx512(in, out, i, end, p_);
#endif
#if defined(__SSE2__)
      const __m128 scale = _mm_set1_ps(p_.scale);
      const __m128i zero = _mm_set1_epi32(p_.zero);
      for (; i + 4 <= end; i += 4)
        _mm_storeu_ps(out + i,
                      _mm_mul_ps(_mm_cvtepi32_ps(_mm_sub_epi32(load4(in + i), zero)), scale));
#endif
      for (; i < end; ++i) out[i] = float(int32_t(in[i]) - p_.zero) * p_.scale;
    });
  }

  Params p_;
};

// y = q(dq(a) + dq(b)), optionally through Relu, in float32 as the reference computes it.
class QAddKernel final : public ElementwiseKernel {
 public:
  QAddKernel(Params a, Params b, Params y, bool relu) : a_(a), b_(b), y_(y), relu_(relu) {}

 private:
  std::vector<size_t> operands() const override { return {0, 3}; }
  void check(const KernelArgs& args) const override {
    const Tensor& a = args.in(0);
    const Tensor& b = args.in(3);
    const Tensor& y = args.out(0);
    if (a.dims() != b.dims() || a.dtype() != y.dtype() || b.dtype() != y.dtype())
      args.fail("operands changed shape or type since prepare", ErrorKind::internal);
  }
  void apply(const KernelArgs& args, int64_t i, int64_t end) const override {
    by_code_type(args.out(0).dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* pa = args.in(0).data<T>().data();
      const T* pb = args.in(3).data<T>().data();
      T* out = args.out(0).data<T>().data();
#if defined(__x86_64__)
      if (has_avx512()) i = qadd_avx512(pa, pb, out, i, end, a_, b_, y_, relu_);
#endif
#if defined(__SSE2__)
      const __m128 sa = _mm_set1_ps(a_.scale), sb = _mm_set1_ps(b_.scale),
                   sy = _mm_set1_ps(y_.scale);
      const __m128i za = _mm_set1_epi32(a_.zero), zb = _mm_set1_epi32(b_.zero),
                    zy = _mm_set1_epi32(y_.zero);
      for (; i + 4 <= end; i += 4) {
        const __m128 va = _mm_mul_ps(_mm_cvtepi32_ps(_mm_sub_epi32(load4(pa + i), za)), sa);
        const __m128 vb = _mm_mul_ps(_mm_cvtepi32_ps(_mm_sub_epi32(load4(pb + i), zb)), sb);
        __m128 sum = _mm_add_ps(va, vb);
        if (relu_) sum = _mm_max_ps(sum, _mm_setzero_ps());
        store4(out + i, round_add(_mm_div_ps(sum, sy), zy));
      }
#endif
      for (; i < end; ++i) {
        float sum =
            float(int32_t(pa[i]) - a_.zero) * a_.scale + float(int32_t(pb[i]) - b_.zero) * b_.scale;
        if (relu_) sum = std::max(sum, 0.0f);
        out[i] = to_quantized<T>(sum / y_.scale, y_.zero);
      }
    });
  }

  Params a_, b_, y_;
  bool relu_;
};

// edgeco.QLookup with a constant table of 8-bit codes or floats.
template <class T>
class LookupKernel final : public ElementwiseKernel {
 public:
  explicit LookupKernel(const Tensor& table) {
    std::memcpy(table_, table.bytes().data(), sizeof table_);
  }

 private:
  void apply(const KernelArgs& args, int64_t i, int64_t end) const override {
    const auto* x = reinterpret_cast<const uint8_t*>(args.in(0).bytes().data());
    auto* y = reinterpret_cast<T*>(args.out(0).bytes().data());
#if defined(__x86_64__)
    if constexpr (sizeof(T) == 1)
      if (has_avx512_vbmi())
        i = lookup_avx512(x, reinterpret_cast<uint8_t*>(y), i, end,
                          reinterpret_cast<const uint8_t*>(table_));
#endif
    for (; i < end; ++i) y[i] = table_[x[i]];
  }

  T table_[256];
};

#if defined(__x86_64__)
// Byte j of the three 64-byte vectors that hold 64 interleaved pixels comes from channel j % 3 of
// pixel j / 3 (j over 0..191): for channels 0 and 1 an index into a|b (b from 64), for 2 into c.
struct InterleaveIndexes {
  alignas(64) uint8_t ab[3][64];
  alignas(64) uint8_t c[3][64];
  uint64_t from_c[3] = {0, 0, 0};
  InterleaveIndexes() {
    for (int v = 0; v < 3; ++v)
      for (int j = 0; j < 64; ++j) {
        const int byte = 64 * v + j, pixel = byte / 3, channel = byte % 3;
        ab[v][j] = uint8_t(channel == 1 ? 64 + pixel : pixel);
        c[v][j] = uint8_t(pixel);
        if (channel == 2) from_c[v] |= uint64_t{1} << j;
      }
  }
};

EDGECO_AVX512_VBMI int64_t interleave3_avx512(const uint8_t* p0, const uint8_t* p1,
                                              const uint8_t* p2, uint8_t* out, int64_t i,
                                              int64_t end) {
  static const InterleaveIndexes idx;
  __m512i ab[3], c[3];
  for (int v = 0; v < 3; ++v) {
    ab[v] = _mm512_load_si512(idx.ab[v]);
    c[v] = _mm512_load_si512(idx.c[v]);
  }
  for (; i + 64 <= end; i += 64) {
    const __m512i a = _mm512_loadu_si512(p0 + i), b = _mm512_loadu_si512(p1 + i),
                  cc = _mm512_loadu_si512(p2 + i);
    for (int v = 0; v < 3; ++v) {
      const __m512i from_ab = _mm512_permutex2var_epi8(a, ab[v], b);
      _mm512_storeu_si512(out + 3 * i + 64 * v,
                          _mm512_mask_permutexvar_epi8(from_ab, idx.from_c[v], c[v], cc));
    }
  }
  return i;
}
#endif

#if defined(__x86_64__)
// Per-channel int32 sums over the pixels of an NHWC image, 64 channels at a time (four 16-lane
// accumulators); returns the channels done.
template <class T>
EDGECO_AVX512 int64_t channel_sums_avx512(const T* image, int64_t plane, int64_t channels,
                                          int32_t* sums) {
  int64_t c = 0;
  for (; c + 64 <= channels; c += 64) {
    __m512i acc[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                      _mm512_setzero_si512()};
    for (int64_t p = 0; p < plane; ++p) {
      const T* at = image + p * channels + c;
      for (int k = 0; k < 4; ++k) {
        const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at + 16 * k));
        acc[k] = _mm512_add_epi32(acc[k], std::is_same_v<T, uint8_t> ? _mm512_cvtepu8_epi32(bytes)
                                                                     : _mm512_cvtepi8_epi32(bytes));
      }
    }
    for (int k = 0; k < 4; ++k) _mm512_storeu_si512(sums + c + 16 * k, acc[k]);
  }
  return c;
}

// The quantized means of 16 channels at a time, as the scalar loop computes them (float32,
// round half to even, saturation); returns the channels done.
template <class T>
EDGECO_AVX512 int64_t finish_avx512(const int32_t* sums, int64_t channels, int32_t offset,
                                    float factor, Params y, T* out) {
  const __m512i off = _mm512_set1_epi32(offset), zero = _mm512_set1_epi32(y.zero);
  const __m512i lo = _mm512_set1_epi32(std::numeric_limits<T>::lowest()),
                hi = _mm512_set1_epi32(std::numeric_limits<T>::max());
  const __m512 f = _mm512_set1_ps(factor), scale = _mm512_set1_ps(y.scale),
               bound = _mm512_set1_ps(kRoundBound);
  int64_t c = 0;
  for (; c + 16 <= channels; c += 16) {
    const __m512 mean =
        _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_loadu_si512(sums + c), off)), f);
    __m512 q = _mm512_div_ps(mean, scale);
    q = _mm512_max_ps(_mm512_min_ps(q, bound), _mm512_sub_ps(_mm512_setzero_ps(), bound));
    const __m512i v =
        _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(q), zero), lo), hi);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + c), _mm512_cvtepi32_epi8(v));
  }
  return c;
}
#endif

// edgeco.QGlobalAveragePool on NHWC codes: exact integer sums per channel, then the mean and its
// quantization in float32. The reference sums the dequantized float32 values, each rounded, so a
// mean within float rounding of a .5 boundary can land one step away: within 1 LSB of it
// (MobileNetV2's 7x7x1280: DequantizeLinear, ReduceMean and the transpose back 0.038 ms at 2
// threads, this 0.008).
class QGlobalAveragePoolKernel final : public PreparedKernel {
 public:
  QGlobalAveragePoolKernel(Params x, Params y) : x_(x), y_(y) {}
  std::string_view name() const override { return "own-simd"; }
  void run(const KernelArgs& args) override {
    const Dims& d = args.in(0).dims();
    const int64_t plane = d[1] * d[2], channels = d[3];
    // int32 sums hold 2^23 pixels of 8-bit codes; larger planes sum in int64.
    const bool wide = plane >= (int64_t{1} << 23);
    if (args.in(0).dtype() == DType::u8)
      wide ? pool<uint8_t, int64_t>(args, plane, channels)
           : pool<uint8_t, int32_t>(args, plane, channels);
    else
      wide ? pool<int8_t, int64_t>(args, plane, channels)
           : pool<int8_t, int32_t>(args, plane, channels);
  }

 private:
  template <class T, class Acc>
  void pool(const KernelArgs& args, int64_t plane, int64_t channels) {
    const T* x = args.in(0).data<T>().data();
    std::vector<Acc> sums(static_cast<size_t>(channels), Acc{0});
    for (int64_t n = 0; n < args.in(0).dim(0); ++n) {
      std::fill(sums.begin(), sums.end(), Acc{0});
      const T* image = x + n * plane * channels;
      int64_t c0 = 0;
#if defined(__x86_64__)
      if constexpr (std::is_same_v<Acc, int32_t>)
        if (has_avx512()) c0 = channel_sums_avx512(image, plane, channels, sums.data());
#endif
      for (int64_t p = 0; p < plane; ++p) {
        const T* row = image + p * channels;
        for (int64_t c = c0; c < channels; ++c) sums[size_t(c)] += row[c];
      }
      // mean = float(sum - zero * plane) * (scale / plane), then onto y's grid.
      const int64_t offset = int64_t(x_.zero) * plane;
      const float factor = float(double(x_.scale) / double(plane));
      if (args.out(0).dtype() == DType::u8)
        finish(sums, offset, factor, args.out(0).data<uint8_t>().data() + n * channels);
      else
        finish(sums, offset, factor, args.out(0).data<int8_t>().data() + n * channels);
    }
  }

  template <class Acc, class O>
  void finish(const std::vector<Acc>& sums, int64_t offset, float factor, O* out) const {
    const int64_t channels = int64_t(sums.size());
    int64_t c = 0;
#if defined(__x86_64__)
    if constexpr (std::is_same_v<Acc, int32_t>)
      if (has_avx512()) c = finish_avx512(sums.data(), channels, int32_t(offset), factor, y_, out);
#endif
    for (; c < channels; ++c) {
      const float mean = float(int64_t(sums[size_t(c)]) - offset) * factor;
      out[c] = to_quantized<O>(mean / y_.scale, y_.zero);
    }
  }

  Params x_, y_;
};

std::unique_ptr<PreparedKernel> make_qgap(const PrepareArgs& a) {
  if (a.node.attr_int("channels_last", 0) == 0 || !per_tensor_constant(a, 1) ||
      !per_tensor_constant(a, 3))
    return nullptr;
  return std::make_unique<QGlobalAveragePoolKernel>(params(a, 1), params(a, 3));
}

// Transpose perm [0, 2, 3, 1] of an 8-bit [N, 3, H, W] tensor (the quantized image entering an
// int8 network): three planes interleaved into pixels. oneDNN's reorder took 0.026-0.043 ms for a
// 224x224 image; this 0.009-0.012.
class InterleaveThreePlanes final : public PreparedKernel {
 public:
  std::string_view name() const override { return "own-simd"; }
  void run(const KernelArgs& args) override {
    const Dims& d = args.in(0).dims();
    const int64_t plane = d[2] * d[3];
    for (int64_t n = 0; n < d[0]; ++n)
      parallel_for(
          plane, args.threads, [&](int64_t i, int64_t end) { interleave(args, n, i, end); },
          4 * kMinElementsPerThread);
  }
  // Output rows (dim 1 of NHWC) are the same rows of the three planes.
  bool prepare_bands(const KernelArgs& args, int bands) override {
    bands_ = bands;
    return args.in(0).dim(0) == 1 && args.in(0).dim(2) >= bands;
  }
  void run_band(const KernelArgs& args, int band) override {
    const Dims& d = args.in(0).dims();
    const RowBand rows = row_band(d[2], band, bands_);
    interleave(args, 0, rows.begin * d[3], rows.end * d[3]);
  }

 private:
  // Pixels [i, end) of image n.
  static void interleave(const KernelArgs& args, int64_t n, int64_t i, int64_t end) {
    const Dims& d = args.in(0).dims();
    const int64_t plane = d[2] * d[3];
    const auto* p0 = reinterpret_cast<const uint8_t*>(args.in(0).bytes().data()) + n * 3 * plane;
    const uint8_t *p1 = p0 + plane, *p2 = p1 + plane;
    auto* out = reinterpret_cast<uint8_t*>(args.out(0).bytes().data()) + n * 3 * plane;
#if defined(__x86_64__)
    if (has_avx512_vbmi()) i = interleave3_avx512(p0, p1, p2, out, i, end);
#endif
    for (; i < end; ++i) {
      out[3 * i] = p0[i];
      out[3 * i + 1] = p1[i];
      out[3 * i + 2] = p2[i];
    }
  }

  int bands_ = 1;
};

std::unique_ptr<PreparedKernel> make_interleave(const PrepareArgs& a) {
  const TensorType* x = a.input_types.empty() ? nullptr : a.input_types[0];
  if (!x || !is_8bit(x->dtype) || !x->rank_known || x->dims.size() != 4 || x->dims[1] != 3 ||
      !a.node.has_attr("perm") || a.node.attr_ints("perm") != Dims{0, 2, 3, 1})
    return nullptr;
  return std::make_unique<InterleaveThreePlanes>();
}

std::unique_ptr<PreparedKernel> make_lookup(const PrepareArgs& a) {
  if (a.constants.size() != 2 || !a.constants[1] || a.constants[1]->numel() != 256) return nullptr;
  if (is_8bit(a.constants[1]->dtype()))
    return std::make_unique<LookupKernel<uint8_t>>(*a.constants[1]);
  if (a.constants[1]->dtype() == DType::f32)
    return std::make_unique<LookupKernel<float>>(*a.constants[1]);
  return nullptr;
}

std::unique_ptr<PreparedKernel> make_quantize(const PrepareArgs& a) {
  const TensorType* x = a.input_types.empty() ? nullptr : a.input_types[0];
  if (!x || x->dtype != DType::f32 || !per_tensor_constant(a, 1)) return nullptr;
  // The output type is the zero point's (uint8 without one).
  if (a.node.has_input(2) && !is_8bit(a.constants[2]->dtype())) return nullptr;
  return std::make_unique<QuantizeKernel>(params(a, 1));
}

std::unique_ptr<PreparedKernel> make_dequantize(const PrepareArgs& a) {
  const TensorType* x = a.input_types.empty() ? nullptr : a.input_types[0];
  if (!x || !is_8bit(x->dtype) || !per_tensor_constant(a, 1) ||
      a.constants[1]->dtype() != DType::f32)
    return nullptr;
  return std::make_unique<DequantizeKernel>(params(a, 1));
}

std::unique_ptr<PreparedKernel> make_qadd(const PrepareArgs& a) {
  if (a.input_types.size() != 8 || !per_tensor_constant(a, 1) || !per_tensor_constant(a, 4) ||
      !per_tensor_constant(a, 6) || !a.constants[7])
    return nullptr;
  const std::string activation = a.node.attr_string("activation", "");
  if (!activation.empty() && activation != "Relu") return nullptr;
  return std::make_unique<QAddKernel>(params(a, 1), params(a, 4), params(a, 6),
                                      activation == "Relu");
}

}  // namespace

void register_simd_quant(FastKernelRegistry& registry) {
  registry.add("QuantizeLinear", make_quantize);
  registry.add("DequantizeLinear", make_dequantize);
  registry.add("edgeco.QAdd", make_qadd);
  registry.add("edgeco.QLookup", make_lookup);
  registry.add("Transpose", make_interleave);
  registry.add("edgeco.QGlobalAveragePool", make_qgap);
}

}  // namespace edgeco::kernels::fast
