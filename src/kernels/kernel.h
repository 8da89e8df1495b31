// The kernel interface: a kernel computes one node's outputs from its inputs. Output shapes come
// from the operator's inference (ir), so kernels never re-derive them.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>

#include "edgeco/ir.h"

namespace edgeco::kernels {

struct KernelArgs {
  const Node& node;
  int64_t opset;
  std::span<const Tensor* const> inputs;     // nullptr for an omitted optional input
  std::span<const TensorType> output_types;  // inferred, fully known
  std::span<Tensor> outputs;                 // empty handles until out() or a kernel assigns a view
  int threads = 1;                           // workers a kernel may use

  bool has(size_t i) const { return i < inputs.size() && inputs[i] != nullptr; }
  const Tensor& in(size_t i) const;
  // The output, allocated (zero-filled) with its inferred type on first use.
  Tensor& out(size_t i) const;
  [[noreturn]] void fail(const std::string& message,
                         ErrorKind kind = ErrorKind::invalid_argument) const;
};

using KernelFn = std::function<void(const KernelArgs&)>;

struct KernelEntry {
  KernelFn run;
  // float16 tensors are converted to float32 around the kernel (f16 is a storage type here).
  bool f16_via_f32 = true;
};

class KernelRegistry {
 public:
  // The portable reference kernels: exact and simple, the oracle for every other kernel.
  static const KernelRegistry& reference();

  void add(std::string op_type, KernelFn run, bool f16_via_f32 = true);
  const KernelEntry* find(std::string_view domain, std::string_view op_type) const;
  // Runs the node; throws Error naming the node on failure.
  void run(const KernelArgs& args) const;

 private:
  std::map<std::string, KernelEntry, std::less<>> kernels_;
};

// A kernel with per-node state (packed weights, prepared primitives), made once when the session
// is prepared: Prepare once, run many times.
class PreparedKernel {
 public:
  virtual ~PreparedKernel() = default;
  virtual void run(const KernelArgs& args) = 0;
  // Which implementation runs ("onednn", ...), for profiles.
  virtual std::string_view name() const = 0;
  // Constant inputs the kernel keeps in its own form (packed weights) and never reads from the
  // session again: the session may free its copy.
  virtual std::vector<size_t> owned_inputs() const { return {}; }

  // Row-band execution, for a session running a chain of nodes with one thread per band: each
  // thread computes the same band of output rows (dim 1 of a batch-1 tensor, NHWC's rows) in every
  // node of the chain, so the rows a core reads were mostly written by that core. Whether this
  // node can run so for these inputs and outputs, preparing what it needs (per-band primitives);
  // called outside any parallel region, once per shape.
  virtual bool prepare_bands(const KernelArgs& /*args*/, int /*bands*/) { return false; }
  // Computes output rows row_band(rows, band, bands) alone, reading only the input rows they need;
  // other threads run the other bands of the node at the same time.
  virtual void run_band(const KernelArgs& /*args*/, int /*band*/) {}
};

// The rows [begin, end) of band `band` of `bands` over `rows` rows: the one split every kernel
// uses, so that a thread's bands of consecutive nodes cover the same part of the image.
struct RowBand {
  int64_t begin = 0, end = 0;
};
inline RowBand row_band(int64_t rows, int band, int bands) {
  return {rows * band / bands, rows * (band + 1) / bands};
}

// What a fast kernel factory sees of a node: input types (shapes may hold unknown dims) and the
// values of constant inputs (weights), nullptr where not constant or absent.
struct PrepareArgs {
  const Node& node;
  int64_t opset;
  std::span<const TensorType* const> input_types;
  std::span<const Tensor* const> constants;
};

// Returns nullptr when it does not handle this node; the reference kernel then runs it.
using KernelFactory = std::function<std::unique_ptr<PreparedKernel>(const PrepareArgs&)>;

// Optimized kernels, tried before the reference ones.
class FastKernelRegistry {
 public:
  static const FastKernelRegistry& instance();

  void add(std::string key, KernelFactory factory);  // key: "Conv" or "edgeco.FusedConv"
  std::unique_ptr<PreparedKernel> prepare(const PrepareArgs& args) const;

 private:
  std::map<std::string, std::vector<KernelFactory>, std::less<>> factories_;
};

}  // namespace edgeco::kernels
