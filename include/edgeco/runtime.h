// The runtime: load -> prepare (validate, infer types, fold constants, plan tensor lifetimes) ->
// run, with per-node wall time.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "edgeco/data.h"
#include "edgeco/hw.h"
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
  // weights take 1.8-4x the memory (ResNet-18: 17 vs 22 ms, peak RSS 174 vs 113 MB).
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

using TensorMap = std::map<std::string, Tensor>;

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

  // A node left after constant folding, with what run() needs resolved once at prepare.
  struct Step {
    const Node* node = nullptr;
    std::vector<int> inputs;   // slot of each input, -1 where omitted
    std::vector<int> outputs;  // slot of each output, -1 where omitted
    std::vector<int> release;  // slots no later step reads: freed after this one
    std::unique_ptr<kernels::PreparedKernel> fast;  // null: the reference kernel runs it
    // A fast kernel's output shapes depend only on input dims and attributes: kept per input dims.
    std::vector<Dims> cached_dims;
    std::vector<TensorType> cached_types;
    // Types of constant inputs the fast kernel owns (the session freed them), by input index.
    std::vector<std::optional<TensorType>> released_types;
    // Per output, for the static memory plan: whether it may live in the arena (a fast kernel's
    // activation, not a graph output), the last step that reads it or an alias of it, and its
    // planned offset (-1: none yet) and type.
    std::vector<bool> arena_eligible;
    std::vector<size_t> last_use;
    std::vector<int64_t> arena_offset;
    std::vector<TensorType> arena_type;
    // Whether the fast kernel runs by row bands for the cached input dims and arena plan (asked
    // once per both), and its arguments then: pointers to its input slots, its outputs' views.
    enum class Bands : uint8_t { unknown, yes, no } bands = Bands::unknown;
    std::vector<const Tensor*> band_inputs;
    std::vector<Tensor> band_outputs;
  };
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

// Static analysis for `edgeco info`: per-node shapes, MACs and bytes, with symbolic dims set to 1.
struct NodeSummary {
  std::string name, op_type;
  std::string kernel;  // with `optimized`: which kernel runs it ("onednn", "reference", "folded")
  std::vector<TensorType> input_types, output_types;
  int64_t macs = 0;
  int64_t params = 0;         // elements of initializer inputs
  int64_t bytes_read = 0;     // all inputs, weights included
  int64_t bytes_written = 0;  // all outputs
  int64_t groups = 1;         // convolutions: the `group` attribute (> 1: grouped or depthwise)
};
struct ModelSummary {
  std::vector<std::pair<std::string, TensorType>> inputs, outputs;
  std::vector<NodeSummary> nodes;
  std::map<std::string, int64_t> op_histogram;
  int64_t macs = 0, params = 0, param_bytes = 0, bytes_read = 0, bytes_written = 0;
  int64_t opset = 0;
  bool symbolic_dims_assumed_one = false;
  std::vector<std::string> passes;  // with `optimized`: what the passes changed
};
// With `optimized`, the graph as the runtime runs it by default (passes applied, fast kernels
// chosen), each node naming its kernel, so a reference fallback is visible before running.
ModelSummary analyze(Graph graph, bool optimized = false);

struct EvalOptions {
  int64_t batch_size = 64;  // when the model's batch dim is symbolic
  int64_t limit = 0;        // evaluate the first `limit` samples only (0: all)
  std::function<void(int64_t done, int64_t total)> progress;
};

struct EvalResult {
  int64_t samples = 0;
  double top1 = 0, top5 = 0;                    // fractions
  std::vector<double> per_class;                // top-1 accuracy of each true class
  std::vector<std::vector<int64_t>> confusion;  // [true class][predicted class]
};

// Top-1/top-5 accuracy, per-class accuracy and confusion matrix of a classifier (one input, first
// output the logits [N, classes]) on `data`; images are resized and their channel repeated to the
// model's input (fit_images).
EvalResult evaluate(Session& session, const Dataset& data, const EvalOptions& options = {});

// Sessions timed in rounds: each round runs every session twice and times the second run (the
// others' runs in between would leave its weights cold). A burst of load from elsewhere on a
// shared machine then spoils one round of each, which a median over rounds drops, and all of them
// see the machine over the same window.
class RoundTimer {
 public:
  explicit RoundTimer(int threads) : threads_(threads) {}
  // A session (optimized, fast kernels, Winograd where the compiler chooses it unless
  // `winograd` is false) of `graph` fed `inputs`; returns its id.
  size_t add(const Graph& graph, TensorMap inputs, bool winograd = true);
  void run(int rounds, int warmup_rounds,
           const std::function<void(size_t done, size_t total)>& progress = nullptr);
  // Per timed round: the timed run's wall time, and its per-node times.
  const std::vector<double>& run_ms(size_t id) const { return jobs_.at(id).run_ms; }
  const std::vector<std::vector<NodeTiming>>& node_timings(size_t id) const {
    return jobs_.at(id).node_timings;
  }
  const Session& session(size_t id) const { return *jobs_.at(id).session; }

 private:
  struct Job {
    std::unique_ptr<Session> session;
    TensorMap inputs;
    std::vector<double> run_ms;
    std::vector<std::vector<NodeTiming>> node_timings;
  };
  int threads_;
  std::vector<Job> jobs_;
};

// Calibrating the `host` platform from micro-benchmarks of single layers run on this machine.
// Networks given with the options are timed (whole runs) in the same rounds as the benchmarks, so
// a model fitted from the benchmarks meets a measurement of the same machine state.
struct TimedNetwork {
  Graph graph;
  TensorMap inputs;
};
struct HostCalibrationOptions {
  int threads = 1;
  int repeats = 60;  // rounds, each timing every benchmark once (median over rounds)
  // Unstrided convolutions are timed as chains of this many layers, each with its own weights,
  // as they run in a network (1: one layer rerun, its weights hot in cache).
  int chain = 4;
  std::vector<TimedNetwork> networks;
  std::function<void(size_t done, size_t total)> progress;
};
struct HostCalibrationPoint {
  std::string what;
  hw::NumType type;
  hw::OpClass op_class;
  int64_t macs = 0, bytes = 0;
  double measured_ms = 0, macs_per_cycle = 0;
};
struct HostCalibration {
  int threads = 1, chain = 1;
  double mhz = 0, l2_kib = 0, dram_gbps = 0, onchip_gbps = 0, overhead_us = 0;
  double onchip_kib = 0;                // L2 per core x threads
  double llc_kib = 0, llc_gbps = 0;     // the last-level cache; 0 KiB: none modelled
  double transcendental_per_cycle = 0;  // SiLU elements per cycle beyond ReLU's
  std::map<std::pair<hw::NumType, hw::OpClass>, double> macs_per_cycle;  // median per class
  std::vector<HostCalibrationPoint> points;
  // Each of the options' networks: every timed run's wall time and its per-node times.
  struct NetworkRuns {
    std::vector<double> run_ms;
    std::vector<std::vector<NodeTiming>> node_timings;
  };
  std::vector<NetworkRuns> networks;
};
HostCalibration calibrate_host(const HostCalibrationOptions& options = {});
// The calibration as a platform file (every constant's source beside it).
std::string host_platform_yaml(const HostCalibration& calibration);

}  // namespace edgeco
