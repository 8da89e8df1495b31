// Core types shared by every edgeco module: the one error type, element types, tensors and
// quantization parameters.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace edgeco {

// What went wrong, so callers (and the conformance runner) can tell a bad model from a missing
// feature without parsing messages.
enum class ErrorKind {
  invalid_model,     // the model or graph is malformed
  invalid_argument,  // a caller passed something wrong (shape, dtype, option)
  unsupported,       // valid input that edgeco does not implement (op, attribute value, dtype)
  io,                // a file could not be read or written
  out_of_memory,     // a tensor larger than the machine can hold
  internal,          // a bug in edgeco
};

std::string_view to_string(ErrorKind kind);

// The only exception type edgeco throws. `where` names the place in the user's terms: a file,
// a node, a tensor; it is prefixed to what() so a plain catch still prints both.
class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message, std::string where = {});

  ErrorKind kind() const { return kind_; }
  const std::string& message() const { return message_; }
  const std::string& where() const { return where_; }

  // A copy of this error with an outer location prepended ("model.onnx: node conv1: ...").
  Error within(std::string_view outer) const;

 private:
  ErrorKind kind_;
  std::string message_;
  std::string where_;
};

enum class DType : uint8_t { f32, f16, f64, i8, u8, i16, u16, i32, u32, i64, u64, boolean };

// The numeric type a node computes in: what a device runs it in (the hardware model's throughput
// tables), what a deployment rounds to, and a layer's precision in mixed-precision quantization.
enum class NumType { int8, fp16, fp32 };
std::string_view to_string(NumType t);
// The type a name ("int8", "fp16", "fp32") stands for; nullopt for any other text.
std::optional<NumType> parse_num_type(std::string_view text);
// 8, 16 or 32.
int bits(NumType t);

std::string_view to_string(DType dtype);
size_t dtype_size(DType dtype);
bool is_float(DType dtype);
bool is_integer(DType dtype);

// The numbering ONNX uses for element types (TensorProto.DataType); operator attributes such as
// Cast's `to` carry it. nullopt for types edgeco does not store (strings, complex, bfloat16).
std::optional<DType> dtype_from_code(int64_t code);
int64_t dtype_code(DType dtype);

// float16 storage; arithmetic happens in float.
struct Half {
  uint16_t bits = 0;
};
float half_to_float(Half h);
Half float_to_half(float f);

template <class T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>)
    return DType::f32;
  else if constexpr (std::is_same_v<T, Half>)
    return DType::f16;
  else if constexpr (std::is_same_v<T, double>)
    return DType::f64;
  else if constexpr (std::is_same_v<T, int8_t>)
    return DType::i8;
  else if constexpr (std::is_same_v<T, uint8_t>)
    return DType::u8;
  else if constexpr (std::is_same_v<T, int16_t>)
    return DType::i16;
  else if constexpr (std::is_same_v<T, uint16_t>)
    return DType::u16;
  else if constexpr (std::is_same_v<T, int32_t>)
    return DType::i32;
  else if constexpr (std::is_same_v<T, uint32_t>)
    return DType::u32;
  else if constexpr (std::is_same_v<T, int64_t>)
    return DType::i64;
  else if constexpr (std::is_same_v<T, uint64_t>)
    return DType::u64;
  else if constexpr (std::is_same_v<T, bool>)
    return DType::boolean;
  else
    static_assert(sizeof(T) == 0, "not an edgeco element type");
}

// Calls f with a value of the C++ type stored for `dtype` (Half for f16, bool for boolean).
template <class F>
decltype(auto) visit_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::f32:
      return f(float{});
    case DType::f16:
      return f(Half{});
    case DType::f64:
      return f(double{});
    case DType::i8:
      return f(int8_t{});
    case DType::u8:
      return f(uint8_t{});
    case DType::i16:
      return f(int16_t{});
    case DType::u16:
      return f(uint16_t{});
    case DType::i32:
      return f(int32_t{});
    case DType::u32:
      return f(uint32_t{});
    case DType::i64:
      return f(int64_t{});
    case DType::u64:
      return f(uint64_t{});
    case DType::boolean:
      return f(bool{});
  }
  return f(float{});  // unreachable: every enumerator is handled above
}

using Dims = std::vector<int64_t>;

std::string dims_to_string(std::span<const int64_t> dims);
// Product of dims; throws out_of_memory-kind Error on overflow or negative dims.
int64_t checked_numel(std::span<const int64_t> dims);
// Row-major strides of dims, in units of `unit` (1: elements; an element size: bytes).
Dims row_major_strides(std::span<const int64_t> dims, int64_t unit = 1);

// Scale and zero point, per tensor (one entry, axis unused) or per axis (one entry per slice).
struct QuantParams {
  std::vector<float> scales;
  std::vector<int32_t> zero_points;
  int64_t axis = 0;
  bool per_axis() const { return scales.size() > 1; }
};

// A dense row-major tensor. Copies share storage (like a shared_ptr); clone() makes a deep copy.
class Tensor {
 public:
  Tensor() = default;
  // Zero-filled. Throws Error(out_of_memory) when the size overflows or exceeds the memory limit.
  Tensor(DType dtype, Dims dims);
  // Not zero-filled: for outputs a kernel overwrites entirely (saves a memset per run).
  static Tensor uninitialized(DType dtype, Dims dims);

  template <class T>
  static Tensor from_values(Dims dims, std::span<const T> values) {
    Tensor t(dtype_of<T>(), std::move(dims));
    if (static_cast<int64_t>(values.size()) != t.numel())
      throw Error(ErrorKind::invalid_argument, "value count " + std::to_string(values.size()) +
                                                   " does not match shape " +
                                                   dims_to_string(t.dims()));
    auto out = t.data<T>();
    for (size_t i = 0; i < values.size(); ++i) out[i] = values[i];
    return t;
  }
  template <class T>
  static Tensor from_values(Dims dims, std::initializer_list<T> values) {
    return from_values<T>(std::move(dims), std::span<const T>(values.begin(), values.size()));
  }
  template <class T>
  static Tensor scalar(T value) {
    return from_values<T>({}, std::span<const T>(&value, 1));
  }

  bool empty_handle() const { return !storage_; }
  DType dtype() const { return dtype_; }
  const Dims& dims() const { return dims_; }
  size_t rank() const { return dims_.size(); }
  int64_t dim(size_t i) const { return dims_.at(i); }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }

  template <class T>
  std::span<T> data() {
    check_type(dtype_of<T>());
    return {reinterpret_cast<T*>(storage_.get()), static_cast<size_t>(numel_)};
  }
  template <class T>
  std::span<const T> data() const {
    check_type(dtype_of<T>());
    return {reinterpret_cast<const T*>(storage_.get()), static_cast<size_t>(numel_)};
  }
  std::span<std::byte> bytes() { return {storage_.get(), nbytes()}; }
  std::span<const std::byte> bytes() const { return {storage_.get(), nbytes()}; }

  // Same storage, new dims with the same element count.
  Tensor reshaped(Dims dims) const;
  // A `dtype` tensor of `dims` over this one's bytes from `byte_offset` (shared storage: the
  // session's arena hands out its buffers so); throws if it does not fit.
  Tensor view(size_t byte_offset, DType dtype, Dims dims) const;
  Tensor clone() const;
  // The Transpose of this tensor by `perm` (out dim i = this dim perm[i]); any element type.
  Tensor permuted(std::span<const int64_t> perm) const;
  // Element-wise conversion (float <-> int truncates toward zero, as ONNX Cast does).
  Tensor cast(DType to) const;
  // Elements as double / int64, whatever the stored type (for attributes, shape tensors, tests).
  std::vector<double> to_doubles() const;
  std::vector<int64_t> to_int64s() const;

 private:
  Tensor(DType dtype, Dims dims, bool zero_fill);
  void check_type(DType requested) const;

  DType dtype_ = DType::f32;
  Dims dims_;
  int64_t numel_ = 0;
  std::shared_ptr<std::byte[]> storage_;
};

// Named tensors: a model's inputs or outputs, calibration samples.
using TensorMap = std::map<std::string, Tensor>;

// Calls body(begin, end) over contiguous chunks of [0, count) on up to `threads` threads of one
// shared OpenMP pool (the one oneDNN uses, so it stays warm). Fewer threads are used when each
// would get under `min_items_per_thread` items: small work stays on the calling thread.
void parallel_for(int64_t count, int threads,
                  const std::function<void(int64_t begin, int64_t end)>& body,
                  int64_t min_items_per_thread = 1);

// Bytes held by all tensor storage (activations, weights, kernels' packed copies) now, and the most
// held at once since the last reset_tensor_memory_peak(): the memory a session's data needs,
// without code, libraries or allocator overhead.
struct TensorMemory {
  size_t live_bytes = 0;
  size_t peak_bytes = 0;
};
TensorMemory tensor_memory();
void reset_tensor_memory_peak();

// A text file's contents (a platform, a scenario, a trace). Only regular files up to 1 GiB are
// read: a FIFO or /dev/zero named by a user would never end. Errors (kind io) name the file and
// say what it was meant to be ("the scenario file").
std::string read_text_file(const std::filesystem::path& path, std::string_view what);

// The p-th quantile (p in [0, 1]) of the values, interpolated between neighbours; 0 for none.
double percentile(std::vector<double> values, double p);
// Their mean; 0 for none.
double mean(std::span<const double> values);

// The largest tensor edgeco will allocate, in bytes: physical memory unless overridden with
// the EDGECO_MAX_TENSOR_BYTES environment variable (tests use it to provoke the limit).
size_t max_tensor_bytes();

}  // namespace edgeco
