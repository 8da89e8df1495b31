// The compiler: graph passes that rewrite a model for faster execution without changing its
// outputs (beyond float rounding), shared with the runtime; and the co-design part, which places
// every node on a device of a heterogeneous platform and writes the result as a Plan.
#pragma once

#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "edgeco/hw.h"
#include "edgeco/ir.h"

namespace edgeco {

// What a pass changed, one line per rewrite, for `edgeco info`/profiles ("fold BN 'bn1' into
// 'conv1'").
struct PassLog {
  std::vector<std::string> lines;
};

// Conv followed by an inference BatchNormalization, with constant weights and BN parameters and
// no other reader of the Conv's output, becomes one Conv with scaled weights and a new bias.
int fold_batch_norm(Graph& graph, PassLog* log = nullptr);

// A channel Concat of 4-D float tensors whose readers are all ungrouped Convs (constant weights)
// or MaxPool/AveragePool is never written: pool(concat(a, b)) becomes concat(pool(a), pool(b)),
// and conv(concat(a, b), W) the sum conv(a, W_a) + conv(b, W_b) of its input-channel slices
// (the Adds become residual fusions). SqueezeNet's fire modules lose every Concat.
int distribute_concat(Graph& graph, PassLog* log = nullptr);

// Conv [+ Add of a same-shaped residual] [+ activation] becomes one edgeco.FusedConv, when each
// intermediate has a single reader and is not a graph output. Activations: Relu, Clip (constant
// bounds), LeakyRelu, HardSigmoid, HardSwish, Sigmoid, Tanh, and the gated forms PyTorch
// exports: x * HardSigmoid(x) (hardswish before opset 14) and x * Sigmoid(x) (SiLU/Swish).
int fuse_conv(Graph& graph, PassLog* log = nullptr);

// QDQ patterns become integer nodes, so activations stay 8-bit between layers:
// DequantizeLinear(x) -> Conv(DequantizeLinear(w), DequantizeLinear(b) or float b) [-> activation]
// -> QuantizeLinear becomes edgeco.QFusedConv (int32 accumulation, per-channel weight scales,
// requantization), and Add(DequantizeLinear(a), DequantizeLinear(b)) [-> Relu] -> QuantizeLinear
// becomes edgeco.QAdd, and DequantizeLinear(a) -> Gemm/MatMul(DequantizeLinear(constant B))
// [-> QuantizeLinear] becomes edgeco.QMatMul (float output without the QuantizeLinear).
// QLinearConv and QLinearMatMul with constant parameters become the same two nodes. With
// `evaluate` (the reference kernels), DequantizeLinear -> element-wise ops (Sigmoid, HardSwish,
// x * Sigmoid(x), Clip, ...) -> QuantizeLinear becomes edgeco.QLookup, a 256-entry table.
// Parameters must be constants; activations per tensor, weights per tensor or
// per output channel. DequantizeLinear nodes left without readers go with remove_dead_nodes.
int fuse_quantized(Graph& graph, PassLog* log = nullptr,
                   const ConstantEvaluator& evaluate = nullptr);

// Removes nodes none of whose outputs reach a graph output, and initializers nothing reads.
int remove_dead_nodes(Graph& graph, PassLog* log = nullptr);

// BatchNormalization folded into the convolutions before them and the dead nodes removed, as
// quantization needs: int8 kernels then carry the whole conv + BN.
Graph folded_for_quantization(Graph model);

// Regions that start at a 2-D convolution switch to NHWC (channels last) through the element-wise,
// Concat and global-pool nodes that follow, with one Transpose at each edge of a region. For
// kernels that run NHWC natively; the reference kernels still compute it (via transposes).
int to_channels_last(Graph& graph, PassLog* log = nullptr);

// Marks float NHWC FusedConvs that run faster as Winograd convolutions on edgeco's CPU kernels
// (algorithm="winograd"): 3x3, stride 1, no dilation, ungrouped, >= 64 input and output channels
// and at most twice as many out as in (measured on oneDNN 2.6 with AVX-512; with fewer channels
// or a wider expansion the transforms cost more than they save). Their transformed weights are
// 1.8-4x the 3x3 ones: speed for memory.
int choose_winograd(Graph& graph, PassLog* log = nullptr);

// The passes above, in order, after type inference (with `evaluate` to see through shape
// arithmetic); the layout pass only when `channels_last`; BN folding and conv fusion only when
// `fuse` (int8 QDQ patterns always become int8 nodes: that is how a QDQ model is meant to run).
PassLog optimize(Graph& graph, const ConstantEvaluator& evaluate = nullptr,
                 bool channels_last = false, bool fuse = true, bool winograd = false);

}  // namespace edgeco

// Placement: which device (and operating point) runs each node of a heterogeneous platform.

namespace edgeco {

enum class Objective { energy, latency, edp };
std::string_view to_string(Objective o);
Objective parse_objective(std::string_view text);
// The value an objective minimises for a placement's totals.
double objective_value(Objective o, double latency_ms, double energy_mj);

// The placement problem with the hardware abstracted away: each node's choices with their cost,
// the edges that move tensors, and what moving bytes between two devices costs. Node costs and
// transfer costs add up along the (sequential) execution, so totals are sums.
struct PlacementChoice {
  int device = 0, opp = 0;  // indices into the platform's devices and the device's opps
  double latency_ms = 0, energy_mj = 0;
};
struct PlacementNode {
  std::vector<PlacementChoice> choices;  // at least one
  std::vector<int> inputs;               // producer node index (earlier), or -1: a graph input
  std::vector<int64_t> input_bytes;      // bytes moved over each input edge
  int64_t output_bytes = 0;              // graph outputs it writes, read back by the host
};
struct PlacementProblem {
  int host = 0;                      // the device graph inputs come from and outputs go to
  std::vector<PlacementNode> nodes;  // topological order
  // Latency and energy of moving `bytes` from device `from` to `to` (zero when equal).
  std::function<std::pair<double, double>(int from, int to, int64_t bytes)> transfer;
};

enum class PlacementMethod {
  automatic,    // dp when the graph's frontier is narrow enough, else ilp
  dp,           // exact dynamic programme over the topological order (Pareto labels per state)
  ilp,          // integer programme (GLPK), exact for energy/latency, a lambda sweep for edp
  brute_force,  // every combination: the oracle in tests (at most ~1e7 combinations)
};
struct PlacementSettings {
  Objective objective = Objective::energy;
  double deadline_ms = 0;  // > 0: total latency must not exceed it
  PlacementMethod method = PlacementMethod::automatic;
  double time_limit_s = 10;  // for the ILP: after it, the best placement found so far
  // Labels the DP may create in all (a Pareto pass on a large graph can hold many); beyond it,
  // EDP keeps the Lagrangian incumbent (not proven optimal), energy under a deadline goes to the
  // ILP.
  int64_t max_dp_labels = 1000000;
};
struct Placement {
  std::vector<int> choice;  // per node, an index into its choices
  double latency_ms = 0, energy_mj = 0;
  std::string method;    // "dp", "ilp", "brute-force", or a baseline's name
  bool optimal = false;  // proven optimal for the objective (and deadline)
};

// Totals of a placement: node costs plus every edge's transfer.
std::pair<double, double> placement_totals(const PlacementProblem& p, std::span<const int> choice);
// The placement minimising the objective under the deadline. Throws Error(unsupported) when no
// placement meets the deadline (naming the fastest one's latency).
Placement place(const PlacementProblem& p, const PlacementSettings& s);

}  // namespace edgeco

// Compiling a model for a platform: passes, then a placement, written as a Plan the runtime runs.
namespace edgeco {

enum class Strategy {
  exact,    // the placement minimising the objective (dp, or the ILP for wide graphs)
  greedy,   // delegate-style, as TFLite delegates and ONNX Runtime providers do: the first
            // accelerator (npu, then gpu, then fpga) that supports a node runs it, else the cpu
  all_cpu,  // every node on the cpu
  all_gpu,  // every node the gpu supports on it, the rest on the cpu
};
std::string_view to_string(Strategy s);
Strategy parse_strategy(std::string_view text);

struct CompileOptions {
  Objective objective = Objective::energy;
  double deadline_ms = 0;  // > 0: energy (or the objective) under this latency
  Strategy strategy = Strategy::exact;
  bool fuse = true;  // BN folding and conv + bias + activation (+ residual) fusion
  // The layout pass: NHWC regions with a Transpose at each edge, as edgeco's fast kernels run on
  // the host (so the plan holds, and costs, the Transposes the runtime executes).
  bool channels_last = false;
  // With channels_last: Winograd for the 3x3 convolutions it speeds up, as the runtime does.
  bool winograd = true;
  bool tile = true;     // cascades that keep activations in on-chip memory (after placement)
  bool dvfs = true;     // choose each node's operating point; else every device at its highest
  double celsius = 25;  // die temperature the leakage is evaluated at
  double time_limit_s = 10;
};

// One node of a plan: where it runs and what the model says it costs there. Energy is the
// board's: the device's dynamic and leakage power, plus board static power and the other
// devices' idle leakage, over the node's latency, plus its DRAM traffic.
struct PlanNode {
  std::string name, op, op_class, type;  // type: the numeric type the device runs it in
  std::string device;
  double opp_mhz = 0, opp_volts = 0;
  int64_t macs = 0, bytes_read = 0, bytes_written = 0, weight_bytes = 0;
  double cycles = 0;
  double latency_ms = 0, energy_mj = 0;
  double transfer_ms = 0, transfer_mj = 0;  // moving its inputs onto its device
  bool memory_bound = false, onchip = false;
  int cascade = -1;                     // the tiling cascade it runs in (-1: none)
  int64_t onchip_activation_bytes = 0;  // activations the cascade keeps on chip
  std::vector<std::string> inputs, outputs;
  std::vector<int64_t> output_offsets;  // in the activation arena, per output (-1: not in it)
};

struct Plan {
  std::string model, platform, objective, strategy, method;
  bool optimal = false;
  bool fused = true;           // compiled with CompileOptions::fuse
  bool channels_last = false;  // compiled with CompileOptions::channels_last
  bool winograd = true;        // compiled with CompileOptions::winograd
  double deadline_ms = 0;
  std::vector<PlanNode> nodes;  // execution order
  double latency_ms = 0, energy_mj = 0, edp = 0;
  int64_t arena_bytes = 0;  // activation memory with buffers reused by liveness
  int cascades = 0;         // tiling: cascades formed
  int64_t dram_bytes = 0, dram_bytes_untiled = 0;  // modelled DRAM traffic, with and without
  double solve_ms = 0;
  std::vector<std::string> passes;
};

// The one place a graph's nodes become priced work. `compile`, `profile`, `validate` and the
// simulator all describe nodes with describe_nodes and price them with price_node, so two
// commands never disagree on what the same node costs on the same device and operating point.

// The class the cost model prices a node as, from its operator's registry entry (a conv with
// group > 1 is a depthwise one).
hw::OpClass cost_class(const Node& node);

// The type a node of a typed graph computes in as written: int8 for the integer operators
// (QLinearConv, edgeco.QFusedConv, ...) and nodes with an 8-bit output, else fp32.
hw::NumType native_type(const Graph& graph, const Node& node);

// What one node asks of a device, with the edges that feed it.
struct NodeDemand {
  std::string node, op_type;
  hw::NodeWork work;                 // work.type: the type the node computes in as written
  std::vector<int> inputs;           // producer index in the list, or -1: a graph input
  std::vector<int64_t> input_bytes;  // bytes over each input edge
  int64_t output_bytes = 0;          // graph outputs it writes (read back by the host)
};
// The nodes of a typed graph (infer_types has run) that run per inference, in execution order.
// Nodes that read no graph input (directly or through others) are folded to constants before
// anything runs and are left out.
std::vector<NodeDemand> describe_nodes(const Graph& graph, const InferenceResult& inferred);

// A node's cost on one device at one operating point, as a plan charges it.
struct NodePrice {
  hw::NumType type = hw::NumType::fp32;  // what the device runs it in (Device::run_type)
  hw::Cost device;                       // the device's own latency and energy (hw::node_cost)
  // The board's energy over the node: the device's, plus the board's static power and the
  // other devices' idle leakage (at their lowest operating point) for the node's latency.
  double energy_mj = 0;
};
// nullopt when the device cannot run the node.
std::optional<NodePrice> price_node(const hw::Platform& platform, size_t device, size_t opp,
                                    const hw::NodeWork& work, double celsius = 25);

// A graph as compile() prices it: the passes `options` asks for (fuse, channels_last, winograd),
// symbolic dims at 1 (a plan is for one inference), types inferred. Returns what the passes did.
std::vector<std::string> prepare_for_pricing(Graph& graph, const CompileOptions& options,
                                             const ConstantEvaluator& evaluate,
                                             InferenceResult* inferred);

// Every node on every device that runs it, each at its highest operating point (untiled): what
// `edgeco profile` prints. Each figure equals what compile() charges for the same node, device
// and operating point with the same options.
struct NodeProfile {
  NodeDemand demand;
  std::map<std::string, NodePrice> devices;  // by device name
  std::string best;                          // the device with the least board energy
};
struct ModelProfile {
  std::vector<NodeProfile> nodes;
  std::vector<std::string> passes;
};
ModelProfile profile(Graph graph, const hw::Platform& platform, const CompileOptions& options = {},
                     const ConstantEvaluator& evaluate = nullptr);

// Runs the passes (unless options.optimize is off), infers shapes (with `evaluate` to see
// through shape arithmetic) and places every node. Throws Error naming the node that no device
// can run, or saying the deadline cannot be met.
Plan compile(Graph graph, const hw::Platform& platform, const CompileOptions& options,
             const ConstantEvaluator& evaluate = nullptr);

// The plan as JSON: {"platform", "objective", "strategy", "nodes": [...], "totals": {...}}.
std::string plan_to_json(const Plan& plan);
// Reads a plan back; errors name `where` and the field.
Plan parse_plan(std::string_view json, std::string_view where);
// Reads a plan file (parse_plan); errors name the path.
Plan read_plan(const std::filesystem::path& path);

// A buffer of an arena: alive from step `first` to step `last` (inclusive), `bytes` long.
struct ArenaBuffer {
  size_t first = 0, last = 0;
  int64_t bytes = 0;
  int64_t offset = -1;  // set by place_in_arena
};
// Gives every buffer an offset (a multiple of 64 when sizes are) that clashes with no buffer alive
// at the same time, greedy by size, first fit; returns the arena's size in bytes.
int64_t place_in_arena(std::span<ArenaBuffer> buffers);

// Offsets of a graph's activations in one arena, buffers reused once no later node reads them
// (place_in_arena). Graph inputs and initializers are not in the arena.
struct MemoryPlan {
  std::map<std::string, int64_t> offsets;  // by value name
  int64_t arena_bytes = 0;
};
MemoryPlan plan_memory(const Graph& graph);

}  // namespace edgeco
