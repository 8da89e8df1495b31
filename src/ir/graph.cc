#include <algorithm>
#include <deque>
#include <set>
#include <unordered_map>

#include "edgeco/ir.h"

namespace edgeco {

std::string_view to_string(AttrType type) {
  static constexpr std::string_view names[] = {"float",  "int",  "string", "tensor",
                                               "floats", "ints", "strings"};
  return names[static_cast<size_t>(type)];
}

bool TensorType::fully_known() const {
  return rank_known && std::all_of(dims.begin(), dims.end(), [](int64_t d) { return d >= 0; });
}

std::string TensorType::to_string() const {
  return std::string(edgeco::to_string(dtype)) +
         (rank_known ? dims_to_string(dims) : std::string("[rank ?]"));
}

std::string Node::label() const {
  return "node '" + (name.empty() ? (outputs.empty() ? std::string("?") : outputs[0]) : name) +
         "' (" + op_type + ")";
}

bool Node::has_attr(std::string_view attr) const {
  return attributes.find(std::string(attr)) != attributes.end();
}

const Attribute* Node::find_attr(std::string_view attr, AttrType expected) const {
  auto it = attributes.find(std::string(attr));
  if (it == attributes.end()) return nullptr;
  if (it->second.type() != expected)
    throw Error(ErrorKind::invalid_model,
                "attribute '" + std::string(attr) + "' is " +
                    std::string(to_string(it->second.type())) + ", expected " +
                    std::string(to_string(expected)),
                label());
  return &it->second;
}

namespace {
template <class T>
T attr_or(const Node& node, const Attribute* a, std::string_view name,
          const std::optional<T>& fallback) {
  if (a) return std::get<T>(a->value);
  if (fallback) return *fallback;
  throw Error(ErrorKind::invalid_model, "required attribute '" + std::string(name) + "' is missing",
              node.label());
}
}  // namespace

int64_t Node::attr_int(std::string_view n, std::optional<int64_t> fb) const {
  return attr_or(*this, find_attr(n, AttrType::i), n, fb);
}
float Node::attr_float(std::string_view n, std::optional<float> fb) const {
  return attr_or(*this, find_attr(n, AttrType::f), n, fb);
}
std::string Node::attr_string(std::string_view n, const std::optional<std::string>& fb) const {
  return attr_or(*this, find_attr(n, AttrType::s), n, fb);
}
std::vector<int64_t> Node::attr_ints(std::string_view n,
                                     const std::optional<std::vector<int64_t>>& fb) const {
  return attr_or(*this, find_attr(n, AttrType::ints), n, fb);
}
std::vector<float> Node::attr_floats(std::string_view n,
                                     const std::optional<std::vector<float>>& fb) const {
  return attr_or(*this, find_attr(n, AttrType::floats), n, fb);
}
const Tensor& Node::attr_tensor(std::string_view n) const {
  const Attribute* a = find_attr(n, AttrType::t);
  if (!a)
    throw Error(ErrorKind::invalid_model, "required attribute '" + std::string(n) + "' is missing",
                label());
  return std::get<Tensor>(a->value);
}

Value& Graph::value(const std::string& n) {
  auto [it, inserted] = values.try_emplace(n);
  if (inserted) it->second.name = n;
  return it->second;
}

const Value& Graph::value(const std::string& n) const {
  auto it = values.find(n);
  if (it == values.end())
    throw Error(ErrorKind::invalid_model, "no value named '" + n + "'", "graph " + name);
  return it->second;
}

const Value* Graph::find_value(const std::string& n) const {
  auto it = values.find(n);
  return it == values.end() ? nullptr : &it->second;
}

int64_t Graph::parameter_count() const {
  int64_t total = 0;
  for (const auto& [n, v] : values)
    if (v.initializer) total += v.initializer->numel();
  return total;
}

void Graph::sort_topologically() {
  // Kahn's algorithm over producer -> consumer edges, keeping the original order among ready nodes.
  std::unordered_map<std::string, size_t> producer;
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const auto& out : nodes[i].outputs)
      if (!out.empty()) producer[out] = i;
  std::vector<std::vector<size_t>> consumers(nodes.size());
  std::vector<size_t> pending(nodes.size(), 0);
  for (size_t i = 0; i < nodes.size(); ++i) {
    std::set<size_t> deps;
    for (const auto& in : nodes[i].inputs) {
      auto it = in.empty() ? producer.end() : producer.find(in);
      if (it != producer.end()) deps.insert(it->second);
    }
    for (size_t d : deps) consumers[d].push_back(i);
    pending[i] = deps.size();
  }
  std::set<size_t> ready;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (pending[i] == 0) ready.insert(i);
  std::vector<size_t> order;
  while (!ready.empty()) {
    const size_t i = *ready.begin();
    ready.erase(ready.begin());
    order.push_back(i);
    for (size_t c : consumers[i])
      if (--pending[c] == 0) ready.insert(c);
  }
  if (order.size() != nodes.size()) {
    for (size_t i = 0; i < nodes.size(); ++i)
      if (pending[i] != 0)
        throw Error(ErrorKind::invalid_model, "the graph has a cycle through this node",
                    nodes[i].label());
  }
  std::vector<Node> sorted;
  sorted.reserve(nodes.size());
  for (size_t i : order) sorted.push_back(std::move(nodes[i]));
  nodes = std::move(sorted);
}

void Graph::validate(const OpRegistry& registry) const {
  std::set<std::string> available;
  for (const auto& in : inputs) available.insert(in);
  for (const auto& [n, v] : values)
    if (v.initializer) available.insert(n);
  std::set<std::string> produced;
  std::set<std::string> names;
  for (const Node& node : nodes) {
    if (!node.name.empty() && !names.insert(node.name).second)
      throw Error(ErrorKind::invalid_model, "two nodes share this name", node.label());
    const OpSchema* schema = registry.find(node.domain, node.op_type);
    if (!schema)
      throw Error(ErrorKind::unsupported,
                  "operator '" + (node.domain.empty() ? "" : node.domain + ".") + node.op_type +
                      "' is not supported by edgeco",
                  node.label());
    const int n_in = static_cast<int>(node.inputs.size());
    const int n_out = static_cast<int>(node.outputs.size());
    if (n_in < schema->min_inputs || n_in > schema->max_inputs)
      throw Error(
          ErrorKind::invalid_model,
          "has " + std::to_string(n_in) + " inputs, expected " +
              std::to_string(schema->min_inputs) +
              (schema->max_inputs != schema->min_inputs ? ".." + std::to_string(schema->max_inputs)
                                                        : ""),
          node.label());
    if (n_out < schema->min_outputs || n_out > schema->max_outputs)
      throw Error(ErrorKind::invalid_model,
                  "has " + std::to_string(n_out) + " outputs, expected at most " +
                      std::to_string(schema->max_outputs),
                  node.label());
    for (const AttrSpec& spec : schema->attributes) {
      auto it = node.attributes.find(spec.name);
      if (it == node.attributes.end()) {
        if (spec.required)
          throw Error(ErrorKind::invalid_model, "required attribute '" + spec.name + "' is missing",
                      node.label());
      } else if (it->second.type() != spec.type) {
        throw Error(ErrorKind::invalid_model,
                    "attribute '" + spec.name + "' is " +
                        std::string(to_string(it->second.type())) + ", expected " +
                        std::string(to_string(spec.type)),
                    node.label());
      }
    }
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const std::string& in = node.inputs[i];
      if (in.empty()) continue;
      if (!available.count(in))
        throw Error(ErrorKind::invalid_model,
                    "input " + std::to_string(i) + " '" + in + "' is " +
                        (values.count(in)
                             ? "used before it is produced (nodes are not in topological order)"
                             : "not produced by any node, graph input or initializer"),
                    node.label());
    }
    for (const auto& out : node.outputs) {
      if (out.empty()) continue;
      if (available.count(out) || !produced.insert(out).second)
        throw Error(ErrorKind::invalid_model, "output '" + out + "' is produced more than once",
                    node.label());
      available.insert(out);
    }
  }
  for (const auto& out : outputs)
    if (!available.count(out))
      throw Error(ErrorKind::invalid_model, "graph output '" + out + "' is never produced",
                  "graph " + name);
}

InferContext::InferContext(const Node& node, int64_t opset,
                           std::vector<const TensorType*> input_types,
                           std::vector<const Tensor*> input_values)
    : node_(node),
      opset_(opset),
      input_types_(std::move(input_types)),
      input_values_(std::move(input_values)),
      outputs_(node.outputs.size()),
      output_values_(node.outputs.size()) {}

const TensorType& InferContext::input_type(size_t i) const {
  if (!has_input(i)) fail("input " + std::to_string(i) + " is required");
  return *input_types_[i];
}

const Tensor* InferContext::input_value(size_t i) const {
  return i < input_values_.size() ? input_values_[i] : nullptr;
}

std::optional<std::vector<int64_t>> InferContext::input_ints(size_t i) const {
  const Tensor* t = input_value(i);
  if (!t) return std::nullopt;
  if (!is_integer(t->dtype())) fail("input " + std::to_string(i) + " must be an integer tensor");
  return t->to_int64s();
}

void InferContext::set_output(size_t i, TensorType type) {
  if (i >= outputs_.size()) return;  // optional output not requested
  outputs_[i] = std::move(type);
}

void InferContext::set_output_value(size_t i, Tensor value) {
  if (i < output_values_.size()) output_values_[i] = std::move(value);
}

void InferContext::fail(const std::string& message, ErrorKind kind) const {
  throw Error(kind, message, node_.label());
}

namespace {
bool compatible(const TensorType& declared, const TensorType& inferred) {
  if (declared.dtype != inferred.dtype) return false;
  if (!declared.rank_known || !inferred.rank_known) return true;
  if (declared.dims.size() != inferred.dims.size()) return false;
  for (size_t i = 0; i < declared.dims.size(); ++i)
    if (declared.dims[i] >= 0 && inferred.dims[i] >= 0 && declared.dims[i] != inferred.dims[i])
      return false;
  return true;
}
}  // namespace

InferenceResult infer_types(Graph& graph, const OpRegistry& registry,
                            const ConstantEvaluator& evaluate) {
  InferenceResult result;
  for (auto& [n, v] : graph.values)
    if (v.initializer) {
      v.type = TensorType{v.initializer->dtype(), v.initializer->dims()};
      result.constants.emplace(n, *v.initializer);
    }
  for (const auto& in : graph.inputs)
    if (!graph.value(in).type)
      throw Error(ErrorKind::invalid_model, "graph input '" + in + "' has no type",
                  "graph " + graph.name);

  for (Node& node : graph.nodes) {
    const OpSchema* schema = registry.find(node.domain, node.op_type);
    if (!schema)
      throw Error(ErrorKind::unsupported, "operator '" + node.op_type + "' is not supported",
                  node.label());
    std::vector<const TensorType*> types;
    std::vector<const Tensor*> constants;
    bool all_constant = true;
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      if (node.inputs[i].empty()) {
        types.push_back(nullptr);
        constants.push_back(nullptr);
        continue;
      }
      const Value& v = graph.value(node.inputs[i]);
      if (!v.type)
        throw Error(ErrorKind::invalid_model, "input '" + node.inputs[i] + "' has no known type",
                    node.label());
      types.push_back(&*v.type);
      auto c = result.constants.find(node.inputs[i]);
      constants.push_back(c == result.constants.end() ? nullptr : &c->second);
      all_constant = all_constant && constants.back();
    }
    InferContext ctx(node, graph.opset, types, constants);
    std::vector<Tensor> folded;
    try {
      schema->infer(ctx);
      if (schema->macs) result.node_macs[node.name] = schema->macs(ctx);
      if (all_constant && evaluate && !node.inputs.empty())
        folded = evaluate(node, graph.opset, constants);
    } catch (const Error& e) {
      // Helpers (axis checks, broadcasting) do not know the node; name it here.
      if (e.where().find(node.label()) == std::string::npos) throw e.within(node.label());
      throw;
    }
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (node.outputs[i].empty()) continue;
      const auto& inferred = ctx.output_types()[i];
      if (!inferred) continue;
      Value& out = graph.value(node.outputs[i]);
      if (out.type && !compatible(*out.type, *inferred))
        throw Error(ErrorKind::invalid_model,
                    "output '" + out.name + "' is declared " + out.type->to_string() +
                        " but computes " + inferred->to_string(),
                    node.label());
      out.type = *inferred;
      if (i < folded.size())
        result.constants.insert_or_assign(out.name, folded[i]);
      else if (ctx.output_values()[i])
        result.constants.insert_or_assign(out.name, *ctx.output_values()[i]);
    }
  }
  return result;
}

Dims broadcast_dims(std::span<const int64_t> a, std::span<const int64_t> b) {
  const size_t rank = std::max(a.size(), b.size());
  Dims out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da == db || db == 1)
      out[i] = da;
    else if (da == 1)
      out[i] = db;
    else if (da < 0 || db < 0)
      out[i] = -1;
    else
      throw Error(ErrorKind::invalid_model, "shapes " + dims_to_string(a) + " and " +
                                                dims_to_string(b) + " do not broadcast");
  }
  return out;
}

void mark_winograd(Node& conv) {
  conv.attributes["algorithm"] = Attribute{std::string(kWinogradAlgorithm)};
}

bool is_winograd(const Node& conv) {
  return conv.attr_string("algorithm", "") == kWinogradAlgorithm;
}

int64_t normalize_axis(int64_t axis, int64_t rank, std::string_view what) {
  if (axis < -rank || axis >= rank)
    throw Error(ErrorKind::invalid_model, std::string(what) + " " + std::to_string(axis) +
                                              " is out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

WindowGeometry window_geometry(const Node& node, WindowKind kind, std::span<const int64_t> in,
                               std::span<const int64_t> kernel) {
  const size_t n = in.size();
  WindowGeometry g;
  g.kernel.assign(kernel.begin(), kernel.end());
  if (g.kernel.size() != n)
    throw Error(ErrorKind::invalid_model,
                "kernel has " + std::to_string(g.kernel.size()) + " spatial dims, input has " +
                    std::to_string(n),
                node.label());
  g.strides = node.attr_ints("strides", Dims(n, 1));
  g.dilations = node.attr_ints("dilations", Dims(n, 1));
  Dims pads = node.attr_ints("pads", Dims(2 * n, 0));
  if (g.strides.size() != n || g.dilations.size() != n || pads.size() != 2 * n)
    throw Error(ErrorKind::invalid_model,
                "strides, dilations or pads do not match the spatial rank " + std::to_string(n),
                node.label());
  for (size_t i = 0; i < n; ++i)
    if (g.strides[i] < 1 || g.dilations[i] < 1 || g.kernel[i] < 1 || pads[i] < 0 || pads[i + n] < 0)
      throw Error(ErrorKind::invalid_model,
                  "strides, dilations and kernel must be positive, pads non-negative",
                  node.label());
  g.pads_begin.assign(pads.begin(), pads.begin() + n);
  g.pads_end.assign(pads.begin() + n, pads.end());
  const std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  const bool ceil_mode = kind == WindowKind::pool && node.attr_int("ceil_mode", 0) != 0;
  g.output.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t extent = g.dilations[i] * (g.kernel[i] - 1) + 1;
    if (kind == WindowKind::conv_transpose) {
      const Dims output_padding = node.attr_ints("output_padding", Dims(n, 0));
      const Dims output_shape = node.attr_ints("output_shape", Dims{});
      const int64_t full = g.strides[i] * (in[i] - 1) + output_padding.at(i) + extent;
      int64_t target = -1;
      if (!output_shape.empty())
        target = output_shape.at(output_shape.size() - n + i);
      else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER")
        target = in[i] * g.strides[i];
      if (target >= 0) {
        const int64_t total = std::max<int64_t>(0, full - target);
        const bool upper = auto_pad != "SAME_LOWER";
        g.pads_begin[i] = upper ? total / 2 : total - total / 2;
        g.pads_end[i] = total - g.pads_begin[i];
        g.output[i] = target;
      } else {
        g.output[i] = full - g.pads_begin[i] - g.pads_end[i];
      }
      continue;
    }
    if (in[i] < 0) {
      g.output[i] = -1;
      continue;
    }
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      g.output[i] = (in[i] + g.strides[i] - 1) / g.strides[i];
      const int64_t total = std::max<int64_t>(0, (g.output[i] - 1) * g.strides[i] + extent - in[i]);
      g.pads_begin[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      g.pads_end[i] = total - g.pads_begin[i];
      continue;
    }
    if (auto_pad == "VALID")
      g.pads_begin[i] = g.pads_end[i] = 0;
    else if (auto_pad != "NOTSET")
      throw Error(ErrorKind::invalid_model,
                  "auto_pad '" + auto_pad + "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID",
                  node.label());
    const int64_t span = in[i] + g.pads_begin[i] + g.pads_end[i] - extent;
    if (span < 0)
      throw Error(ErrorKind::invalid_model,
                  "window of extent " + std::to_string(extent) +
                      " is larger than the padded input " +
                      std::to_string(in[i] + g.pads_begin[i] + g.pads_end[i]),
                  node.label());
    if (ceil_mode) {
      int64_t out = (span + g.strides[i] - 1) / g.strides[i] + 1;
      // A window that would start in the end padding is dropped (as PyTorch and ONNX do).
      if ((out - 1) * g.strides[i] >= in[i] + g.pads_begin[i]) --out;
      g.output[i] = out;
    } else {
      g.output[i] = span / g.strides[i] + 1;
    }
  }
  return g;
}

}  // namespace edgeco
