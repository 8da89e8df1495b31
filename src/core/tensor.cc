#include <unistd.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

#include <atomic>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "edgeco/core.h"

namespace edgeco {

std::string_view to_string(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return "float32";
    case DType::f16:
      return "float16";
    case DType::f64:
      return "float64";
    case DType::i8:
      return "int8";
    case DType::u8:
      return "uint8";
    case DType::i16:
      return "int16";
    case DType::u16:
      return "uint16";
    case DType::i32:
      return "int32";
    case DType::u32:
      return "uint32";
    case DType::i64:
      return "int64";
    case DType::u64:
      return "uint64";
    case DType::boolean:
      return "bool";
  }
  return "?";
}

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f64:
    case DType::i64:
    case DType::u64:
      return 8;
    case DType::f32:
    case DType::i32:
    case DType::u32:
      return 4;
    case DType::f16:
    case DType::i16:
    case DType::u16:
      return 2;
    case DType::i8:
    case DType::u8:
    case DType::boolean:
      return 1;
  }
  return 1;
}

std::optional<DType> dtype_from_code(int64_t code) {
  switch (code) {
    case 1:
      return DType::f32;
    case 2:
      return DType::u8;
    case 3:
      return DType::i8;
    case 4:
      return DType::u16;
    case 5:
      return DType::i16;
    case 6:
      return DType::i32;
    case 7:
      return DType::i64;
    case 9:
      return DType::boolean;
    case 10:
      return DType::f16;
    case 11:
      return DType::f64;
    case 12:
      return DType::u32;
    case 13:
      return DType::u64;
    default:
      return std::nullopt;
  }
}

int64_t dtype_code(DType dtype) {
  static constexpr int64_t codes[] = {1, 10, 11, 3, 2, 5, 4, 6, 12, 7, 13, 9};
  return codes[static_cast<size_t>(dtype)];
}

bool is_float(DType d) {
  return d == DType::f32 || d == DType::f16 || d == DType::f64;
}
bool is_integer(DType d) {
  return !is_float(d) && d != DType::boolean;
}

float half_to_float(Half h) {
  const uint32_t sign = (h.bits & 0x8000u) << 16;
  uint32_t exponent = (h.bits >> 10) & 0x1f;
  uint32_t mantissa = h.bits & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: renormalize
      int shift = 0;
      while ((mantissa & 0x400u) == 0) {
        mantissa <<= 1;
        ++shift;
      }
      mantissa &= 0x3ffu;
      bits = sign | (static_cast<uint32_t>(113 - shift) << 23) | (mantissa << 13);
    }
  } else {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

Half float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u)  // inf or nan
    return {static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u))};
  if (abs >= 0x477ff000u) return {static_cast<uint16_t>(sign | 0x7c00u)};  // overflow to inf
  if (abs < 0x38800000u) {  // subnormal half or zero: round to nearest even
    if (abs < 0x33000000u) return {sign};
    const uint32_t exponent = abs >> 23;
    const uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - exponent;
    uint32_t value = mantissa >> shift;
    const uint32_t remainder = mantissa & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (remainder > halfway || (remainder == halfway && (value & 1u))) ++value;
    return {static_cast<uint16_t>(sign | value)};
  }
  uint32_t value = ((abs - 0x38000000u) >> 13);
  const uint32_t remainder = abs & 0x1fffu;
  if (remainder > 0x1000u || (remainder == 0x1000u && (value & 1u))) ++value;
  return {static_cast<uint16_t>(sign | value)};
}

std::string dims_to_string(std::span<const int64_t> dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ", ";
    s += dims[i] < 0 ? std::string("?") : std::to_string(dims[i]);
  }
  return s + "]";
}

Dims row_major_strides(std::span<const int64_t> dims, int64_t unit) {
  Dims strides(dims.size(), unit);
  for (size_t d = dims.size(); d-- > 1;) strides[d - 1] = strides[d] * dims[d];
  return strides;
}

int64_t checked_numel(std::span<const int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0)
      throw Error(ErrorKind::invalid_argument,
                  "negative dimension in shape " + dims_to_string(dims));
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d)
      throw Error(ErrorKind::out_of_memory, "shape " + dims_to_string(dims) + " overflows int64");
    n *= d;
  }
  return n;
}

size_t max_tensor_bytes() {
  if (const char* env = std::getenv("EDGECO_MAX_TENSOR_BYTES"))
    return size_t(std::strtoull(env, nullptr, 10));
  static const size_t physical = [] {
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long page_size = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page_size > 0 ? size_t(pages) * size_t(page_size) : size_t(1) << 34;
  }();
  return physical;
}

Tensor::Tensor(DType dtype, Dims dims) : Tensor(dtype, std::move(dims), true) {}

namespace {

// Bytes held by tensor storage now, and the most held at once since the last reset.
std::atomic<size_t> live_bytes{0};
std::atomic<size_t> peak_bytes{0};

void count_allocation(size_t bytes) {
  const size_t now = live_bytes.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  size_t peak = peak_bytes.load(std::memory_order_relaxed);
  while (now > peak && !peak_bytes.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

}  // namespace

TensorMemory tensor_memory() {
  return {live_bytes.load(std::memory_order_relaxed), peak_bytes.load(std::memory_order_relaxed)};
}

void reset_tensor_memory_peak() {
  peak_bytes.store(live_bytes.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

Tensor Tensor::uninitialized(DType dtype, Dims dims) {
  return Tensor(dtype, std::move(dims), false);
}

Tensor::Tensor(DType dtype, Dims dims, bool zero_fill) : dtype_(dtype), dims_(std::move(dims)) {
  numel_ = checked_numel(dims_);
  const size_t elem = dtype_size(dtype_);
  if (static_cast<uint64_t>(numel_) > max_tensor_bytes() / elem)
    throw Error(ErrorKind::out_of_memory,
                "tensor of shape " + dims_to_string(dims_) + " and type " +
                    std::string(to_string(dtype_)) + " needs " +
                    std::to_string(static_cast<double>(numel_) * double(elem) / 1e9) +
                    " GB, more than the limit of " +
                    std::to_string(double(max_tensor_bytes()) / 1e9) + " GB");
  // At least one element so that data() of an empty tensor is a valid pointer; 64-byte aligned.
  const size_t bytes = std::max<size_t>(64, (nbytes() + 63) / 64 * 64);
  try {
    std::byte* p = zero_fill ? new (std::align_val_t(64)) std::byte[bytes]()
                             : new (std::align_val_t(64)) std::byte[bytes];
    count_allocation(bytes);
    storage_ = std::shared_ptr<std::byte[]>(p, [bytes](std::byte* q) {
      ::operator delete[](q, std::align_val_t(64));
      live_bytes.fetch_sub(bytes, std::memory_order_relaxed);
    });
  } catch (const std::bad_alloc&) {
    throw Error(ErrorKind::out_of_memory, "cannot allocate " + std::to_string(bytes) +
                                              " bytes for tensor of shape " +
                                              dims_to_string(dims_));
  }
}

void Tensor::check_type(DType requested) const {
  if (!storage_) throw Error(ErrorKind::internal, "access to an unset tensor");
  if (requested != dtype_)
    throw Error(ErrorKind::internal, "tensor holds " + std::string(to_string(dtype_)) +
                                         ", accessed as " + std::string(to_string(requested)));
}

Tensor Tensor::reshaped(Dims dims) const {
  if (checked_numel(dims) != numel_)
    throw Error(ErrorKind::invalid_argument,
                "cannot reshape " + dims_to_string(dims_) + " to " + dims_to_string(dims));
  Tensor t = *this;
  t.dims_ = std::move(dims);
  return t;
}

Tensor Tensor::permuted(std::span<const int64_t> perm) const {
  if (perm.size() != rank())
    throw Error(ErrorKind::invalid_argument, "permutation of " + std::to_string(perm.size()) +
                                                 " axes for a rank-" + std::to_string(rank()) +
                                                 " tensor");
  const Dims in_strides = row_major_strides(dims_);
  Dims out_dims, src_stride;
  for (int64_t p : perm) {
    if (p < 0 || p >= int64_t(rank()))
      throw Error(ErrorKind::invalid_argument, "permutation axis out of range");
    out_dims.push_back(dims_[size_t(p)]);
    src_stride.push_back(in_strides[size_t(p)]);
  }
  Tensor out = uninitialized(dtype_, out_dims);
  const size_t elem = dtype_size(dtype_);
  Dims index(out_dims.size(), 0);
  int64_t offset = 0;  // source element of the current output index
  for (int64_t i = 0; i < out.numel(); ++i) {
    std::memcpy(out.storage_.get() + size_t(i) * elem, storage_.get() + size_t(offset) * elem,
                elem);
    for (size_t d = out_dims.size(); d-- > 0;) {
      offset += src_stride[d];
      if (++index[d] < out_dims[d]) break;
      offset -= src_stride[d] * out_dims[d];
      index[d] = 0;
    }
  }
  return out;
}

Tensor Tensor::view(size_t byte_offset, DType dtype, Dims dims) const {
  Tensor t;
  t.dtype_ = dtype;
  t.numel_ = checked_numel(dims);
  t.dims_ = std::move(dims);
  if (byte_offset > nbytes() || t.nbytes() > nbytes() - byte_offset)
    throw Error(ErrorKind::internal, "a view of " + std::to_string(t.nbytes()) +
                                         " bytes at offset " + std::to_string(byte_offset) +
                                         " does not fit in " + std::to_string(nbytes()) + " bytes");
  t.storage_ = std::shared_ptr<std::byte[]>(storage_, storage_.get() + byte_offset);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t(dtype_, dims_);
  if (nbytes()) std::memcpy(t.storage_.get(), storage_.get(), nbytes());
  return t;
}

namespace {

template <class T>
double load_as_double(T v) {
  if constexpr (std::is_same_v<T, Half>)
    return half_to_float(v);
  else
    return static_cast<double>(v);
}

template <class T>
T store_from_double(double v) {
  if constexpr (std::is_same_v<T, Half>)
    return float_to_half(static_cast<float>(v));
  else if constexpr (std::is_same_v<T, bool>)
    return v != 0.0;
  else if constexpr (std::is_floating_point_v<T>)
    return static_cast<T>(v);
  else {
    if (std::isnan(v)) return T{0};
    // Saturate instead of invoking undefined behaviour on out-of-range conversions.
    const double lo = static_cast<double>(std::numeric_limits<T>::lowest());
    const double hi = static_cast<double>(std::numeric_limits<T>::max());
    if (v <= lo) return std::numeric_limits<T>::lowest();
    if (v >= hi) return std::numeric_limits<T>::max();
    return static_cast<T>(v);
  }
}

}  // namespace

std::vector<double> Tensor::to_doubles() const {
  std::vector<double> out(static_cast<size_t>(numel_));
  visit_dtype(dtype_, [&](auto tag) {
    using T = decltype(tag);
    auto src = data<T>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = load_as_double(src[i]);
  });
  return out;
}

std::vector<int64_t> Tensor::to_int64s() const {
  if (dtype_ == DType::i64) return {data<int64_t>().begin(), data<int64_t>().end()};
  std::vector<int64_t> out(static_cast<size_t>(numel_));
  visit_dtype(dtype_, [&](auto tag) {
    using T = decltype(tag);
    auto src = data<T>();
    for (size_t i = 0; i < out.size(); ++i)
      out[i] = store_from_double<int64_t>(load_as_double(src[i]));
  });
  return out;
}

namespace {

// F16C converts 8 values per instruction with IEEE round-to-nearest-even, the rounding
// float_to_half does one by one; the scalar loop is the fallback and does the tails.
#if defined(__x86_64__)
__attribute__((target("f16c,avx"))) void floats_to_halves_f16c(const float* src, Half* dst,
                                                               size_t n, size_t* done) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
  }
  *done = i;
}
__attribute__((target("f16c,avx"))) void halves_to_floats_f16c(const Half* src, float* dst,
                                                               size_t n, size_t* done) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i,
                     _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  *done = i;
}
bool has_f16c() {
  // clang 14 does not know "f16c" in __builtin_cpu_supports: CPUID leaf 1, ECX bit 29 says it.
  static const bool yes = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    return __builtin_cpu_supports("avx") && __get_cpuid(1, &eax, &ebx, &ecx, &edx) &&
           (ecx & (1u << 29)) != 0;
  }();
  return yes;
}
#endif

void floats_to_halves(std::span<const float> src, std::span<Half> dst) {
  size_t i = 0;
#if defined(__x86_64__)
  if (has_f16c()) floats_to_halves_f16c(src.data(), dst.data(), src.size(), &i);
#endif
  for (; i < src.size(); ++i) dst[i] = float_to_half(src[i]);
}

void halves_to_floats(std::span<const Half> src, std::span<float> dst) {
  size_t i = 0;
#if defined(__x86_64__)
  if (has_f16c()) halves_to_floats_f16c(src.data(), dst.data(), src.size(), &i);
#endif
  for (; i < src.size(); ++i) dst[i] = half_to_float(src[i]);
}

}  // namespace

Tensor Tensor::cast(DType to) const {
  Tensor out(to, dims_);
  // Half precision both ways without the double in between: a deployed fp16 device rounds every
  // activation it reads and writes this way (deploy.h).
  if (dtype_ == DType::f32 && to == DType::f16) {
    floats_to_halves(data<float>(), out.data<Half>());
    return out;
  }
  if (dtype_ == DType::f16 && to == DType::f32) {
    halves_to_floats(data<Half>(), out.data<float>());
    return out;
  }
  visit_dtype(dtype_, [&](auto from_tag) {
    using From = decltype(from_tag);
    auto src = data<From>();
    visit_dtype(to, [&](auto to_tag) {
      using To = decltype(to_tag);
      auto dst = out.data<To>();
      for (size_t i = 0; i < src.size(); ++i) {
        if constexpr (std::is_integral_v<From> && std::is_integral_v<To> &&
                      !std::is_same_v<To, bool>)
          // Wraps (and sign-extends int8), as ONNX Cast between integers does.
          dst[i] = static_cast<To>(src[i]);  // NOLINT(bugprone-signed-char-misuse)
        else
          dst[i] = store_from_double<To>(load_as_double(src[i]));
      }
    });
  });
  return out;
}

std::string_view to_string(NumType t) {
  switch (t) {
    case NumType::int8:
      return "int8";
    case NumType::fp16:
      return "fp16";
    case NumType::fp32:
      return "fp32";
  }
  return "?";
}

std::optional<NumType> parse_num_type(std::string_view text) {
  for (NumType t : {NumType::int8, NumType::fp16, NumType::fp32})
    if (text == to_string(t)) return t;
  return std::nullopt;
}

int bits(NumType t) {
  return t == NumType::int8 ? 8 : t == NumType::fp16 ? 16 : 32;
}

}  // namespace edgeco
