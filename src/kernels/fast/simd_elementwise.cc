// Own kernels for the memory-bound nodes around the convolutions in NHWC regions: same-shape and
// per-channel (last-axis) broadcast Add/Mul, the mean over H and W (global average pooling as
// the layout pass writes it), and Concat, Slice and Transpose as copies of contiguous runs. Plain
// loops the compiler vectorizes; work is split across threads (not the copies: they are small).
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/fast/fast_kernels.h"

namespace edgeco::kernels::fast {
namespace {

// Memory-bound loops: below this many elements per thread, splitting costs more than it saves
// (SE blocks' [N, 1, 1, C] tensors stay on one thread).
constexpr int64_t kMinElementsPerThread = 1 << 15;

enum class BinaryOp { add, mul };

// The hot loops are compiled for AVX-512, AVX2 and the baseline, picked at load time (the build
// targets baseline x86-64, where these loops would run 4 floats wide).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define EDGECO_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define EDGECO_CLONES
#endif

// Rows [begin, end) of y = a op b, b's row (r / group).
template <BinaryOp op>
EDGECO_CLONES void binary_rows(const float* a, const float* b, float* y, int64_t begin, int64_t end,
                               int64_t cols, int64_t group) {
  for (int64_t r = begin; r < end; ++r) {
    const float* ar = a + r * cols;
    const float* br = b + (r / group) * cols;
    float* yr = y + r * cols;
    for (int64_t c = 0; c < cols; ++c) yr[c] = op == BinaryOp::add ? ar[c] + br[c] : ar[c] * br[c];
  }
}

// sum[k] += rows[i][k] over `count` rows of `n`: float partial sums of up to 64 rows go into
// the double totals, which keeps the vector loop in float.
EDGECO_CLONES void accumulate_rows(double* sum, float* partial, const float* rows, int64_t count,
                                   int64_t n) {
  for (int64_t first = 0; first < count; first += 64) {
    std::fill(partial, partial + n, 0.0f);
    const int64_t last = std::min(count, first + 64);
    for (int64_t i = first; i < last; ++i)
      for (int64_t k = 0; k < n; ++k) partial[k] += rows[i * n + k];
    for (int64_t k = 0; k < n; ++k) sum[k] += partial[k];
  }
}

// y[r, c] = a[r, c] op b[(r / rows_per_b) * cols + c]: b is either a's shape (rows_per_b = 1) or
// one row per group of rows (a per-channel vector broadcast over the spatial positions).
class BroadcastBinary final : public PreparedKernel {
 public:
  BroadcastBinary(BinaryOp op, bool swap) : op_(op), swap_(swap) {}
  std::string_view name() const override { return "own-simd"; }

  void run(const KernelArgs& args) override {
    const Tensor& a = args.in(swap_ ? 1 : 0);  // the full-size operand
    const Tensor& b = args.in(swap_ ? 0 : 1);
    Tensor& y = args.out(0);
    if (a.dims() != y.dims()) args.fail("broadcast shape changed", ErrorKind::internal);
    const int64_t cols = b.numel() == a.numel() ? a.numel() : b.dim(b.rank() - 1);
    const int64_t rows = a.numel() / cols;
    // b repeats every `rows / b_rows` rows of a (b has shape [N, 1, 1, C] or [1, 1, 1, C]).
    const int64_t b_rows = b.numel() / cols;
    const int64_t group = rows / b_rows;
    const float* pa = a.data<float>().data();
    const float* pb = b.data<float>().data();
    float* py = y.data<float>().data();
    const bool add = op_ == BinaryOp::add;
    parallel_for(
        rows, args.threads,
        [&](int64_t begin, int64_t end) {
          if (add)
            binary_rows<BinaryOp::add>(pa, pb, py, begin, end, cols, group);
          else
            binary_rows<BinaryOp::mul>(pa, pb, py, begin, end, cols, group);
        },
        std::max<int64_t>(1, kMinElementsPerThread / std::max<int64_t>(1, cols)));
  }

 private:
  BinaryOp op_;
  bool swap_;
};

// True when `b` is `a`'s shape, or [N or 1, 1, ..., 1, C] against a = [N, ..., C].
bool last_axis_broadcast(const Dims& a, const Dims& b) {
  if (a == b) return true;
  if (b.size() != a.size() || a.empty() || b.back() != a.back()) return false;
  if (b[0] != 1 && b[0] != a[0]) return false;
  for (size_t i = 1; i + 1 < b.size(); ++i)
    if (b[i] != 1) return false;
  return true;
}

std::unique_ptr<PreparedKernel> make_binary(const PrepareArgs& p, BinaryOp op) {
  if (p.input_types.size() != 2 || !p.input_types[0] || !p.input_types[1]) return nullptr;
  const TensorType& a = *p.input_types[0];
  const TensorType& b = *p.input_types[1];
  if (a.dtype != DType::f32 || b.dtype != DType::f32 || !a.fully_known() || !b.fully_known())
    return nullptr;
  if (last_axis_broadcast(a.dims, b.dims)) return std::make_unique<BroadcastBinary>(op, false);
  if (last_axis_broadcast(b.dims, a.dims)) return std::make_unique<BroadcastBinary>(op, true);
  return nullptr;
}

// ReduceMean over axes {1, 2} of [N, H, W, C], keepdims: the NHWC global average pool.
class SpatialMean final : public PreparedKernel {
 public:
  std::string_view name() const override { return "own-simd"; }
  void run(const KernelArgs& args) override {
    const Tensor& x = args.in(0);
    Tensor& y = args.out(0);
    const int64_t n = x.dim(0), hw = x.dim(1) * x.dim(2), c = x.dim(3);
    const float* px = x.data<float>().data();
    float* py = y.data<float>().data();
    parallel_for(
        n, args.threads,
        [&](int64_t begin, int64_t end) {
          std::vector<double> sum(static_cast<size_t>(c));
          std::vector<float> partial(static_cast<size_t>(c));
          for (int64_t b = begin; b < end; ++b) {
            std::fill(sum.begin(), sum.end(), 0.0);
            accumulate_rows(sum.data(), partial.data(), px + b * hw * c, hw, c);
            for (int64_t k = 0; k < c; ++k) py[b * c + k] = float(sum[size_t(k)] / double(hw));
          }
        },
        std::max<int64_t>(1, kMinElementsPerThread / std::max<int64_t>(1, hw * c)));
  }
};

std::unique_ptr<PreparedKernel> make_reduce_mean(const PrepareArgs& p) {
  const TensorType* x = p.input_types.empty() ? nullptr : p.input_types[0];
  if (!x || x->dtype != DType::f32 || !x->rank_known || x->dims.size() != 4 ||
      p.input_types.size() != 1)
    return nullptr;
  // NHWC H and W; [N, 1, 1, C] or, without kept dims, [N, C]: the same values in the same order.
  if (!p.node.has_attr("axes") || p.node.attr_ints("axes") != Dims{1, 2}) return nullptr;
  return std::make_unique<SpatialMean>();
}

// Concat along any axis as row copies: each of the `outer` rows of the output is the inputs' rows
// side by side (the NHWC channel concat of SqueezeNet's fire modules interleaves per pixel).
class RowConcat final : public PreparedKernel {
 public:
  explicit RowConcat(int64_t axis) : axis_(axis) {}
  std::string_view name() const override { return "own-simd"; }
  void run(const KernelArgs& args) override {
    Tensor& y = args.out(0);
    const Dims& dims = y.dims();
    int64_t outer = 1;
    for (int64_t d = 0; d < axis_; ++d) outer *= dims[size_t(d)];
    const size_t row_bytes = outer > 0 ? y.nbytes() / size_t(outer) : 0;
    std::vector<std::pair<const std::byte*, size_t>> parts;  // data, bytes per row
    for (size_t i = 0; i < args.inputs.size(); ++i)
      if (args.has(i)) {
        const Tensor& x = args.in(i);
        parts.emplace_back(x.bytes().data(), outer > 0 ? x.nbytes() / size_t(outer) : 0);
      }
    std::byte* out = y.bytes().data();
    parallel_for(
        outer, args.threads,
        [&](int64_t begin, int64_t end) {
          for (int64_t r = begin; r < end; ++r) {
            std::byte* row = out + size_t(r) * row_bytes;
            for (const auto& [data, bytes] : parts) {
              std::memcpy(row, data + size_t(r) * bytes, bytes);
              row += bytes;
            }
          }
        },
        std::max<int64_t>(1, int64_t(kMinElementsPerThread * 4 / std::max<size_t>(1, row_bytes))));
  }

 private:
  int64_t axis_;
};

std::unique_ptr<PreparedKernel> make_concat(const PrepareArgs& p) {
  if (p.input_types.empty() || !p.input_types[0] || !p.input_types[0]->rank_known) return nullptr;
  for (const TensorType* t : p.input_types)
    if (!t || !t->rank_known || t->dtype != p.input_types[0]->dtype ||
        t->dims.size() != p.input_types[0]->dims.size())
      return nullptr;
  const int64_t rank = int64_t(p.input_types[0]->dims.size());
  if (rank == 0) return nullptr;
  return std::make_unique<RowConcat>(normalize_axis(p.node.attr_int("axis"), rank, "axis"));
}

// Copies `runs` runs of `run_bytes` from `src` to consecutive places of `dst`: run r starts at
// the source offset sum over axes of index[d] * strides[d] (bytes), its index counting over
// `counts` (row-major).
void copy_runs(const std::byte* src, std::byte* dst, std::span<const int64_t> counts,
               std::span<const int64_t> strides, size_t run_bytes) {
  int64_t runs = 1;
  for (int64_t c : counts) runs *= c;
  Dims index(counts.size(), 0);
  int64_t offset = 0;
  for (int64_t r = 0; r < runs; ++r) {
    std::memcpy(dst + size_t(r) * run_bytes, src + offset, run_bytes);
    for (size_t d = counts.size(); d-- > 0;) {  // next index, odometer-style
      offset += strides[d];
      if (++index[d] < counts[d]) break;
      offset -= strides[d] * counts[d];
      index[d] = 0;
    }
  }
}

// Slice with unit steps (ShuffleNet's channel split) as copies of contiguous runs: the axes after
// the last one sliced are copied whole with it. Starts and ends come from constant inputs.
class RunSlice final : public PreparedKernel {
 public:
  RunSlice(Dims starts, Dims ends, Dims axes)
      : starts_(std::move(starts)), ends_(std::move(ends)), axes_(std::move(axes)) {}
  std::string_view name() const override { return "own-simd"; }
  void run(const KernelArgs& args) override {
    const Tensor& x = args.in(0);
    Tensor& y = args.out(0);
    const Dims& dims = x.dims();
    const auto ranges = slice_ranges(dims, starts_, ends_, axes_, {});
    const size_t elem = dtype_size(x.dtype());
    const Dims strides = row_major_strides(dims, int64_t(elem));
    size_t last = 0;  // the innermost sliced axis (or 0)
    for (size_t d = 0; d < dims.size(); ++d)
      if (ranges[d].start != 0 || ranges[d].count != dims[d]) last = d;
    if (y.numel() == 0) return;
    int64_t base = 0;
    Dims counts;
    for (size_t d = 0; d <= last && !dims.empty(); ++d) {
      base += ranges[d].start * strides[d];
      if (d < last) counts.push_back(ranges[d].count);
    }
    const size_t run_bytes = dims.empty() ? elem : size_t(ranges[last].count * strides[last]);
    copy_runs(x.bytes().data() + base, y.bytes().data(), counts,
              std::span(strides).first(counts.size()), run_bytes);
  }

 private:
  Dims starts_, ends_, axes_;
};

std::unique_ptr<PreparedKernel> make_slice(const PrepareArgs& p) {
  if (p.opset < 10 || p.input_types.empty() || !p.input_types[0] || !p.input_types[0]->rank_known ||
      p.constants.size() < 3 || !p.constants[1] || !p.constants[2])
    return nullptr;
  Dims axes;
  if (p.node.has_input(3)) {
    if (!p.constants[3]) return nullptr;
    axes = p.constants[3]->to_int64s();
  }
  if (p.node.has_input(4)) {
    if (!p.constants[4]) return nullptr;
    for (int64_t step : p.constants[4]->to_int64s())
      if (step != 1) return nullptr;
  }
  return std::make_unique<RunSlice>(p.constants[1]->to_int64s(), p.constants[2]->to_int64s(),
                                    std::move(axes));
}

// Any Transpose the oneDNN layout kernel does not take (ShuffleNet's 5-D channel shuffle): the
// trailing axes the permutation keeps in place are copied as contiguous runs.
class RunTranspose final : public PreparedKernel {
 public:
  explicit RunTranspose(Dims perm) : perm_(std::move(perm)) {}
  std::string_view name() const override { return "own-simd"; }
  void run(const KernelArgs& args) override {
    const Tensor& x = args.in(0);
    Tensor& y = args.out(0);
    if (y.numel() == 0) return;
    const Dims& dims = x.dims();
    const Dims strides = row_major_strides(dims, int64_t(dtype_size(x.dtype())));
    size_t kept = perm_.size();  // axes [kept, rank) stay in place
    while (kept > 0 && perm_[kept - 1] == int64_t(kept - 1)) --kept;
    size_t run_bytes = dtype_size(x.dtype());
    for (size_t d = kept; d < dims.size(); ++d) run_bytes *= size_t(dims[d]);
    Dims counts, src_strides;
    for (size_t d = 0; d < kept; ++d) {
      counts.push_back(dims[size_t(perm_[d])]);
      src_strides.push_back(strides[size_t(perm_[d])]);
    }
    copy_runs(x.bytes().data(), y.bytes().data(), counts, src_strides, run_bytes);
  }

 private:
  Dims perm_;
};

std::unique_ptr<PreparedKernel> make_transpose(const PrepareArgs& p) {
  if (p.input_types.empty() || !p.input_types[0] || !p.input_types[0]->rank_known) return nullptr;
  const size_t rank = p.input_types[0]->dims.size();
  Dims perm;
  if (p.node.has_attr("perm")) {
    perm = p.node.attr_ints("perm");
  } else {
    for (size_t d = rank; d-- > 0;) perm.push_back(int64_t(d));
  }
  Dims sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  for (size_t d = 0; d < sorted.size(); ++d)
    if (sorted[d] != int64_t(d)) return nullptr;  // not a permutation: the reference reports it
  if (perm.size() != rank) return nullptr;
  return std::make_unique<RunTranspose>(std::move(perm));
}

}  // namespace

void register_simd_elementwise(FastKernelRegistry& registry) {
  registry.add("Slice", make_slice);
  registry.add("Transpose", make_transpose);
  registry.add("Concat", make_concat);
  registry.add("Add", [](const PrepareArgs& p) { return make_binary(p, BinaryOp::add); });
  registry.add("Mul", [](const PrepareArgs& p) { return make_binary(p, BinaryOp::mul); });
  registry.add("ReduceMean", make_reduce_mean);
}

}  // namespace edgeco::kernels::fast
