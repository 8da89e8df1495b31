// Own kernels for the memory-bound int8 nodes between the int8 convolutions: per-tensor
// QuantizeLinear and DequantizeLinear, and edgeco.QAdd. They compute exactly what the reference
// kernels compute (float32 arithmetic, round half to even, saturation), so results are bit-exact;
// SSE2 (every x86-64) does four elements at a time, a scalar loop the rest and other targets.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "kernels/fast/fast_kernels.h"

namespace edgeco::kernels::fast {
namespace {

constexpr int64_t kMinElementsPerThread = 1 << 16;

// Rounding before the conversion keeps values inside int32 (the hardware conversion of a float
// beyond int32 gives INT_MIN); anything past this bound saturates either way.
constexpr float kRoundBound = 1 << 30;

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

// Per-tensor parameters of a Q/DQ input (scale at `scale_index`, optional zero point after it).
struct Params {
  float scale = 1;
  int32_t zero = 0;
};

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

// Runs body(T{}, begin, end) over chunks of [0, n) on the session's threads, T being `type`'s
// 8-bit element type.
template <class F>
void for_chunks(const KernelArgs& args, DType type, int64_t n, F&& body) {
  auto split = [&](auto tag) {
    parallel_for(
        n, args.threads, [&](int64_t begin, int64_t end) { body(tag, begin, end); },
        kMinElementsPerThread);
  };
  if (type == DType::u8)
    split(uint8_t{});
  else
    split(int8_t{});
}

class QuantizeKernel final : public PreparedKernel {
 public:
  explicit QuantizeKernel(Params p) : p_(p) {}
  std::string_view name() const override { return "own-simd"; }
  void run(const KernelArgs& args) override {
    const float* x = args.in(0).data<float>().data();
    Tensor& y = args.out(0);
    for_chunks(args, y.dtype(), y.numel(), [&](auto tag, int64_t i, int64_t end) {
      using T = decltype(tag);
      T* out = y.data<T>().data();
#if defined(__SSE2__)
      const __m128 scale = _mm_set1_ps(p_.scale);
      const __m128i zero = _mm_set1_epi32(p_.zero);
      for (; i + 4 <= end; i += 4)
        store4(out + i, round_add(_mm_div_ps(_mm_loadu_ps(x + i), scale), zero));
#endif
      for (; i < end; ++i) out[i] = to_quantized<T>(x[i] / p_.scale, p_.zero);
    });
  }

 private:
  Params p_;
};

class DequantizeKernel final : public PreparedKernel {
 public:
  explicit DequantizeKernel(Params p) : p_(p) {}
  std::string_view name() const override { return "own-simd"; }
  void run(const KernelArgs& args) override {
    const Tensor& x = args.in(0);
    float* out = args.out(0).data<float>().data();
    for_chunks(args, x.dtype(), x.numel(), [&](auto tag, int64_t i, int64_t end) {
      using T = decltype(tag);
      const T* in = x.data<T>().data();
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

 private:
  Params p_;
};

// y = q(dq(a) + dq(b)), optionally through Relu, in float32 as the reference computes it.
class QAddKernel final : public PreparedKernel {
 public:
  QAddKernel(Params a, Params b, Params y, bool relu) : a_(a), b_(b), y_(y), relu_(relu) {}
  std::string_view name() const override { return "own-simd"; }
  void run(const KernelArgs& args) override {
    const Tensor& a = args.in(0);
    const Tensor& b = args.in(3);
    Tensor& y = args.out(0);
    if (a.dims() != b.dims() || a.dtype() != y.dtype() || b.dtype() != y.dtype())
      args.fail("operands changed shape or type since prepare", ErrorKind::internal);
    for_chunks(args, y.dtype(), y.numel(), [&](auto tag, int64_t i, int64_t end) {
      using T = decltype(tag);
      const T* pa = a.data<T>().data();
      const T* pb = b.data<T>().data();
      T* out = y.data<T>().data();
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

 private:
  Params a_, b_, y_;
  bool relu_;
};

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
}

}  // namespace edgeco::kernels::fast
