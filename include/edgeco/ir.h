// The model IR: a Graph of Nodes connected by named Values, and the operator registry that
// knows each operator's attributes, arity, and type/shape inference.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "edgeco/core.h"

namespace edgeco {

enum class AttrType { f, i, s, t, floats, ints, strings };
std::string_view to_string(AttrType type);

using AttrValue = std::variant<float, int64_t, std::string, Tensor, std::vector<float>,
                               std::vector<int64_t>, std::vector<std::string>>;

struct Attribute {
  AttrValue value;
  AttrType type() const { return static_cast<AttrType>(value.index()); }
};

// Element type and shape of a value. dims[i] < 0 is an unknown (e.g. symbolic batch) dimension;
// rank_known == false means even the rank is unknown.
struct TensorType {
  DType dtype = DType::f32;
  Dims dims;
  bool rank_known = true;
  bool fully_known() const;
  std::string to_string() const;
  bool operator==(const TensorType&) const = default;
};

struct Value {
  std::string name;
  std::optional<TensorType> type;
  std::optional<Tensor> initializer;
  std::optional<QuantParams> quant;
  // Symbolic names of unknown dims of a graph input (index-aligned with type->dims; "" if none).
  std::vector<std::string> dim_params;
};

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;               // "" is the default ONNX domain
  std::vector<std::string> inputs;  // "" marks an omitted optional input
  std::vector<std::string> outputs;
  std::map<std::string, Attribute> attributes;

  // "node 'conv1' (Conv)": how errors refer to this node.
  std::string label() const;
  bool has_input(size_t i) const { return i < inputs.size() && !inputs[i].empty(); }

  bool has_attr(std::string_view name) const;
  int64_t attr_int(std::string_view name, std::optional<int64_t> fallback = std::nullopt) const;
  float attr_float(std::string_view name, std::optional<float> fallback = std::nullopt) const;
  std::string attr_string(std::string_view name,
                          const std::optional<std::string>& fallback = std::nullopt) const;
  std::vector<int64_t> attr_ints(
      std::string_view name,
      const std::optional<std::vector<int64_t>>& fallback = std::nullopt) const;
  std::vector<float> attr_floats(
      std::string_view name,
      const std::optional<std::vector<float>>& fallback = std::nullopt) const;
  const Tensor& attr_tensor(std::string_view name) const;

 private:
  const Attribute* find_attr(std::string_view name, AttrType expected) const;
};

class OpRegistry;

class Graph {
 public:
  std::string name = "main";
  int64_t opset = 17;
  std::vector<Node> nodes;
  std::vector<std::string> inputs;  // graph inputs, excluding initializers
  std::vector<std::string> outputs;
  std::map<std::string, Value> values;

  Value& value(const std::string& name);              // creates the value if missing
  const Value& value(const std::string& name) const;  // throws if missing
  const Value* find_value(const std::string& name) const;

  // Orders nodes so every node follows its producers; throws Error naming a node on a cycle.
  void sort_topologically();
  // Structural checks: known ops, arity, attribute types, single producers, no dangling inputs,
  // topological order, outputs produced. Errors name the node.
  void validate(const OpRegistry& registry) const;
  int64_t parameter_count() const;
};

// Inference for one node: input types (and constant values where known) in, output types out.
class InferContext {
 public:
  InferContext(const Node& node, int64_t opset, std::vector<const TensorType*> input_types,
               std::vector<const Tensor*> input_values);

  const Node& node() const { return node_; }
  int64_t opset() const { return opset_; }
  size_t num_inputs() const { return input_types_.size(); }
  bool has_input(size_t i) const { return i < input_types_.size() && input_types_[i] != nullptr; }
  const TensorType& input_type(size_t i) const;
  // The input's value when it is known before running (initializer or folded constant).
  const Tensor* input_value(size_t i) const;
  // Like input_value, but a missing value is an error unless the input itself is absent.
  std::optional<std::vector<int64_t>> input_ints(size_t i) const;

  void set_output(size_t i, TensorType type);
  // Lets an op whose result is known from types alone (Shape, Size) publish it as a constant.
  void set_output_value(size_t i, Tensor value);
  size_t num_outputs() const { return node_.outputs.size(); }

  const std::vector<std::optional<TensorType>>& output_types() const { return outputs_; }
  std::vector<std::optional<Tensor>>& output_values() { return output_values_; }

  [[noreturn]] void fail(const std::string& message,
                         ErrorKind kind = ErrorKind::invalid_model) const;
  void require(bool condition, const std::string& message) const {
    if (!condition) fail(message);
  }

 private:
  const Node& node_;
  int64_t opset_;
  std::vector<const TensorType*> input_types_;
  std::vector<const Tensor*> input_values_;
  std::vector<std::optional<TensorType>> outputs_;
  std::vector<std::optional<Tensor>> output_values_;
};

struct AttrSpec {
  std::string name;
  AttrType type;
  bool required = false;
};

// What the cost model prices an operator as: the compiler maps it onto a device's throughput
// table (a conv whose group equals its input channels is a depthwise one there).
enum class CostClass { other, conv, matmul, pooling, elementwise };

struct OpSchema {
  std::string name;
  std::string domain;  // "" for ai.onnx
  int min_inputs = 1, max_inputs = 1;
  int min_outputs = 1, max_outputs = 1;
  std::vector<AttrSpec> attributes;
  std::function<void(InferContext&)> infer;
  // Multiply-accumulates of one run, from the inferred context; null for ops without MACs.
  std::function<int64_t(const InferContext&)> macs;
  CostClass cost_class = CostClass::other;
  // Computes on 8-bit codes in integer arithmetic (QLinearConv, edgeco.QFusedConv, ...): its
  // numeric type is int8 whatever its outputs' types.
  bool integer = false;
  // An activation built on exp (Sigmoid, Tanh): a CPU pays per element beyond the MACs.
  bool exp_based = false;
};

class OpRegistry {
 public:
  // The registry of every operator edgeco implements, built once.
  static const OpRegistry& builtin();

  void add(OpSchema schema);
  const OpSchema* find(std::string_view domain, std::string_view op_type) const;
  // For the registration code: a registered schema, to set its traits (throws internal if the op
  // is not registered, so a misspelt name fails the first use of the registry).
  OpSchema& at(std::string_view domain, std::string_view op_type);
  std::vector<std::string> op_names() const;

 private:
  std::map<std::string, OpSchema, std::less<>> schemas_;  // key: domain + "::" + op
};

// Runs a node on constant inputs, so inference can see through shape arithmetic
// (Shape -> Gather -> Concat -> Reshape). Provided by a module that owns kernels.
using ConstantEvaluator =
    std::function<std::vector<Tensor>(const Node&, int64_t opset, std::span<const Tensor* const>)>;

struct InferenceResult {
  std::map<std::string, Tensor> constants;   // values known without running the graph
  std::map<std::string, int64_t> node_macs;  // by node name
};

// Infers every value's type in topological order, with graph input types as given. Values already
// typed are checked against what inference finds. Throws Error naming the node on a mismatch.
InferenceResult infer_types(Graph& graph, const OpRegistry& registry,
                            const ConstantEvaluator& evaluate = nullptr);

// Numpy-style broadcast of two shapes; throws invalid_model on incompatible dims.
Dims broadcast_dims(std::span<const int64_t> a, std::span<const int64_t> b);
// Normalizes an axis in [-rank, rank) to [0, rank); throws with `what` on out-of-range.
int64_t normalize_axis(int64_t axis, int64_t rank, std::string_view what);

// edgeco.FusedConv's `algorithm` attribute: the compiler's choice of Winograd for a convolution,
// which the kernels run and the cost model prices.
inline constexpr std::string_view kWinogradAlgorithm = "winograd";
void mark_winograd(Node& conv);
bool is_winograd(const Node& conv);

// Geometry of a convolution or pooling window over the spatial dims, shared by inference and
// kernels so both agree.
struct WindowGeometry {
  Dims kernel, strides, dilations, pads_begin, pads_end, output;
};
enum class WindowKind { conv, pool, conv_transpose };
// `spatial_in`: input spatial dims; `kernel`: kernel spatial dims (from W for conv).
WindowGeometry window_geometry(const Node& node, WindowKind kind,
                               std::span<const int64_t> spatial_in,
                               std::span<const int64_t> kernel);

// Slice of one axis: elements start, start+step, ... (count of them).
struct SliceRange {
  int64_t start = 0, step = 1, count = 0;
};
// Per-axis ranges for ONNX Slice over `dims` (clamped as the spec says); axes not named get the
// full range. Throws invalid_model on a bad axis or step 0.
std::vector<SliceRange> slice_ranges(std::span<const int64_t> dims, std::span<const int64_t> starts,
                                     std::span<const int64_t> ends, std::span<const int64_t> axes,
                                     std::span<const int64_t> steps);

}  // namespace edgeco
