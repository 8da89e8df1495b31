// Sigmoid and Swish (x * sigmoid(x)) in place over a float buffer: the activation of a float
// convolution whose oneDNN post-op would cost more (see fast_kernels.h). AVX-512 (chosen at run
// time) computes exp(-x) as 2^k * p(r) with a degree-6 polynomial and 1 / (1 + e) as rcp14 plus
// one Newton step, 16 elements at a time; other CPUs and the tail use std::exp.
#include <algorithm>
#include <cmath>

#if defined(__x86_64__)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC bug 105593, see simd_quant.cc
#endif
#include <immintrin.h>
#endif

#include "kernels/fast/fast_kernels.h"

namespace edgeco::kernels::fast {
namespace {

// Below this many elements per thread the split costs more than it saves.
constexpr int64_t kMinElementsPerThread = 1 << 14;

template <ExpActivation kind>
void apply_scalar(float* v, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) {
    const float sigmoid = 1.0f / (1.0f + std::exp(-v[i]));
    v[i] = kind == ExpActivation::swish ? v[i] * sigmoid : sigmoid;
  }
}

#if defined(__x86_64__)
#define EDGECO_AVX512F __attribute__((target("avx512f")))

// exp(t) for t in [-88, 88]: t = k ln2 + r (ln2 split in two for precision), exp(r) by Cephes'
// expf polynomial, then scaled by 2^k.
EDGECO_AVX512F __m512 exp_avx512(__m512 t) {
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(t, _mm512_set1_ps(1.44269504f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), t);
  r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  for (float c :
       {1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f})
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, k);
}

template <ExpActivation kind>
EDGECO_AVX512F __m512 activation_avx512(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  // exp(-x), its argument clamped where expf would overflow or vanish (sigmoid is 0 or 1 there
  // to float precision, and a NaN passes through the multiplication below).
  const __m512 minus_x = _mm512_sub_ps(_mm512_setzero_ps(), x);
  const __m512 t =
      _mm512_min_ps(_mm512_max_ps(minus_x, _mm512_set1_ps(-88.0f)), _mm512_set1_ps(88.0f));
  const __m512 d = _mm512_add_ps(one, exp_avx512(t));
  __m512 s = _mm512_rcp14_ps(d);
  s = _mm512_mul_ps(s, _mm512_fnmadd_ps(d, s, _mm512_set1_ps(2.0f)));
  // NaN in, NaN out (min/max above would have replaced it).
  s = _mm512_mask_mov_ps(s, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);
  return kind == ExpActivation::swish ? _mm512_mul_ps(x, s) : s;
}

template <ExpActivation kind>
EDGECO_AVX512F void apply_avx512(float* v, int64_t begin, int64_t end) {
  int64_t i = begin;
  for (; i + 16 <= end; i += 16)
    _mm512_storeu_ps(v + i, activation_avx512<kind>(_mm512_loadu_ps(v + i)));
  if (i < end) {
    const __mmask16 tail = __mmask16((1u << (end - i)) - 1);
    _mm512_mask_storeu_ps(v + i, tail, activation_avx512<kind>(_mm512_maskz_loadu_ps(tail, v + i)));
  }
}
#endif

template <ExpActivation kind>
void apply(float* v, int64_t begin, int64_t end) {
#if defined(__x86_64__)
  if (has_avx512()) return apply_avx512<kind>(v, begin, end);
#endif
  apply_scalar<kind>(v, begin, end);
}

}  // namespace

bool has_avx512() {
#if defined(__x86_64__)
  static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
  return yes;
#else
  return false;
#endif
}

void apply_exp_activation(ExpActivation kind, std::span<float> values, int threads) {
  float* v = values.data();
  parallel_for(
      int64_t(values.size()), threads,
      [&](int64_t begin, int64_t end) {
        if (kind == ExpActivation::swish)
          apply<ExpActivation::swish>(v, begin, end);
        else
          apply<ExpActivation::sigmoid>(v, begin, end);
      },
      kMinElementsPerThread);
}

}  // namespace edgeco::kernels::fast
