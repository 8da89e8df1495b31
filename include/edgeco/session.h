// The runtime's session: load -> prepare (validate, infer types, fold constants, plan tensor
// lifetimes) -> run, with per-node wall time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "edgeco/ir.h"

namespace edgeco {

namespace kernels {
class PreparedKernel;
}

struct SessionOptions {
  int threads = 1;            // worker threads for the heavy kernels (convolution)
  bool optimize = false;      // run the compiler's passes (BN folding, Conv fusion) at prepare
  bool fast_kernels = false;  // use optimized kernels (oneDNN) where they cover a node
  // Keep every constant in graph() even when a fast kernel holds the only copy it needs (packed
  // weights): for tools that inspect the prepared graph. Otherwise such constants are freed.
  bool keep_constants = false;
  // Static memory plan: the activations fast kernels write live in one arena, planned from the
  // first run with each set of input shapes (buffers reused once no later step reads them or an
  // alias of them); other tensors are allocated one by one.
  bool memory_plan = true;
  // Winograd for the 3x3 convolutions it speeds up (fast kernels): faster, and their transformed
  // weights take more memory (bench/RESULTS.md has the figures).
  bool winograd = true;
  // With more than one thread: chains of nodes that can run by bands of rows (batch-1 NHWC
  // convolutions; the element-wise int8 Quantize, Dequantize, QAdd and QLookup; the 8-bit image's
  // channels-last transpose) run in one parallel region, each thread computing the same band of
  // rows in every node, with a barrier between nodes, instead of a parallel region per node that
  // splits each node its own way.
  bool row_bands = true;
};

// Activation memory of the last run (with Session::set_measure_memory): the most activation
// bytes live at once, and the largest sum of two activations live at the same time.
struct ActivationMemory {
  size_t peak_live_bytes = 0;
  size_t largest_two_live_bytes = 0;
};

struct NodeTiming {
  std::string node;
  std::string op_type;
  std::string kernel;  // which implementation ran it: "reference", "onednn", ...
  double ms = 0;
  bool row_bands = false;  // ran in a chain by row bands (SessionOptions::row_bands)
};

class Session {
 public:
  // Prepares the graph: throws Error naming the node for an unsupported op, a malformed graph or a
  // type/shape conflict, before anything runs.
  explicit Session(Graph graph, SessionOptions options = {});
  ~Session();
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;

  const Graph& graph() const { return graph_; }
  // Runs the graph. Every graph input must be given, with its declared type and shape (unknown
  // dims accept any size). Returns the graph outputs by name.
  TensorMap run(const TensorMap& inputs);
  // As run(), and calls `observe(name, value)` for every graph input and node output as it is
  // computed (calibration, debugging). Values are those of the graph as prepared.
  using ValueObserver = std::function<void(const std::string& name, const Tensor& value)>;
  TensorMap run(const TensorMap& inputs, const ValueObserver& observe);
  // Per-node wall time of the last run, in execution order.
  const std::vector<NodeTiming>& last_timings() const { return timings_; }
  // Record, per run, the activation memory live at once (last_memory()); costs a scan per node,
  // so it is off unless asked for.
  void set_measure_memory(bool on) { measure_memory_ = on; }
  const ActivationMemory& last_memory() const { return memory_; }
  // What the optimizing passes changed at prepare (empty without SessionOptions::optimize).
  const std::vector<std::string>& pass_log() const { return pass_log_; }
  // Bytes of the static memory plan's arena (0 before a run has planned it).
  size_t arena_bytes() const { return arena_.nbytes(); }

 private:
  void check_input(const std::string& name, const Tensor& t) const;
  void track_memory(const std::vector<Tensor>& env, bool first_step);
  void plan_arena();

  // A node left after constant folding, with what run() needs resolved once at prepare (defined
  // in session.cc: no part of the public API).
  struct Step;
  // From step `first`, the end of the steps that can run by row bands, their outputs placed in
  // the slots; `first` when it cannot.
  size_t banded_chain_end(size_t first);
  // Runs steps [first, end) by row bands, one thread per band, then frees what they last read.
  void run_banded(size_t first, size_t end);
  int slot(const std::string& name);

  Graph graph_;
  SessionOptions options_;
  TensorMap constants_;
  std::vector<Step> steps_;
  std::map<std::string, int> slot_of_;
  std::vector<Tensor> slots_;  // constants loaded, the rest empty between runs
  std::vector<NodeTiming> timings_;
  std::vector<std::string> pass_log_;
  std::vector<bool> is_constant_;  // per slot
  bool measure_memory_ = false;
  ActivationMemory memory_;
  Tensor arena_;  // u8 storage the planned activations are views of
};

// Runs one node on the given inputs with the reference kernels (types inferred from the inputs).
std::vector<Tensor> run_node(const Node& node, int64_t opset, std::span<const Tensor* const> inputs,
                             int threads = 1);
// run_node as the ConstantEvaluator the passes and compile() take to see through shape arithmetic.
ConstantEvaluator reference_evaluator();

}  // namespace edgeco
