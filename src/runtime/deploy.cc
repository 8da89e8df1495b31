// A plan's model rewritten so this host computes what each node's device computes (deploy.h).
#include "edgeco/deploy.h"

#include <set>

#include "edgeco/session.h"

namespace edgeco {
namespace {

using hw::NumType;

constexpr int64_t kOnnxFloat = 1, kOnnxFloat16 = 10;

// A plan built in C++ has not been through parse_plan's check of its types.
NumType plan_type(const PlanNode& p, NumType own) {
  if (p.type.empty()) return own;
  if (const auto t = parse_num_type(p.type)) return *t;
  throw Error(ErrorKind::invalid_argument, "type '" + p.type + "' is not one of int8, fp16, fp32",
              "plan node '" + p.name + "'");
}

class Lowering {
 public:
  explicit Lowering(Graph& graph) : graph_(graph) {
    for (const auto& [name, v] : graph.values)
      if (v.type && v.type->dtype == DType::f32) float_values_.insert(name);
  }

  // Rewrites `node` (a copy; the graph's nodes are rebuilt from what this emits), whose own type
  // is `own`, to compute in `type` on `device`, appending the nodes that replace it to `out`.
  void lower(Node node, NumType own, NumType type, const std::string& device,
             std::vector<Node>& out) {
    device_ = device;
    out_ = &out;
    if (type == own) return emit(std::move(node));
    const bool half = type == NumType::fp16;
    if (own == NumType::fp32) {
      if (half) return emit_half(std::move(node));
      throw Error(ErrorKind::unsupported, "a float node cannot compute in int8 (quantize it first)",
                  node.label());
    }
    // An int8 node on a float device.
    const std::string& op = node.op_type;
    if (op == "QFusedConv") return qfused_conv(node, half);
    if (op == "QMatMul") return qmatmul(node, half);
    if (op == "QAdd") return qadd(node, half);
    if (op == "QGlobalAveragePool" && node.attr_int("channels_last", 0) == 0)
      return qglobal_average_pool(node, half);
    const OpSchema* schema = OpRegistry::builtin().find(node.domain, op);
    if (schema && schema->integer && op != "QLookup")
      throw Error(ErrorKind::unsupported,
                  "edgeco has no float form of " + op + " to run on a " +
                      std::string(hw::to_string(type)) + " device",
                  node.label());
    // Quantize/Dequantize, a lookup table and 8-bit data movement (Reshape, MaxPool, Concat,
    // ...): their float sides in the device's type; what moves 8-bit codes is exact as it is.
    if (half) return emit_half(std::move(node));
    emit(std::move(node));
  }

 private:
  std::string fresh(const std::string& base) {
    std::string name = base;
    for (int k = 1; graph_.find_value(name) || taken_.count(name); ++k)
      name = base + "_" + std::to_string(k);
    taken_.insert(name);
    return name;
  }

  void emit(Node node) {
    device_of[node.name] = device_;
    out_->push_back(std::move(node));
  }

  // A new node (name made unique) with float outputs named after `base`.
  Node make(const std::string& name, const std::string& op, std::vector<std::string> inputs,
            size_t outputs = 1, const std::string& domain = "") {
    Node n;
    n.name = fresh(name);
    n.op_type = op;
    n.domain = domain;
    n.inputs = std::move(inputs);
    for (size_t k = 0; k < outputs; ++k)
      n.outputs.push_back(fresh(n.name + ":" + std::to_string(k)));
    return n;
  }

  // `value` rounded to half precision: constants once here, activations by a Cast pair shared by
  // every fp16 reader.
  std::string rounded(const std::string& value) {
    if (half_exact_.count(value)) return value;
    if (auto it = rounded_.find(value); it != rounded_.end()) return it->second;
    std::string out;
    const Value& v = graph_.value(value);
    if (v.initializer) {
      out = fresh(value + "/fp16");
      Value& r = graph_.value(out);
      r.initializer = v.initializer->cast(DType::f16).cast(DType::f32);
      r.type = v.type;
    } else {
      Node to_half = make(value + "/to_fp16", "Cast", {value});
      to_half.attributes["to"] = Attribute{kOnnxFloat16};
      Node back = make(value + "/from_fp16", "Cast", {to_half.outputs[0]});
      back.attributes["to"] = Attribute{kOnnxFloat};
      out = back.outputs[0];
      emit(std::move(to_half));
      emit(std::move(back));
    }
    float_values_.insert(out);
    half_exact_.insert(out);
    rounded_[value] = out;
    return out;
  }

  // fp16 storage: float inputs and weights rounded to half, the node's arithmetic in fp32 (as
  // GPUs accumulate), its float outputs rounded to half.
  void emit_half(Node node) {
    for (auto& in : node.inputs)
      if (!in.empty() && float_values_.count(in)) in = rounded(in);
    std::vector<std::pair<std::string, std::string>> outputs;  // (raw, the node's output name)
    for (auto& out : node.outputs) {
      if (out.empty() || !float_values_.count(out)) continue;
      const std::string raw = fresh(out + "/fp32");
      outputs.emplace_back(raw, out);
      out = raw;
    }
    const std::string name = node.name;
    emit(std::move(node));
    for (const auto& [raw, out] : outputs) {
      Node to_half = make(name + "/out_to_fp16", "Cast", {raw});
      to_half.attributes["to"] = Attribute{kOnnxFloat16};
      Node back = make(name + "/out_from_fp16", "Cast", {to_half.outputs[0]});
      back.attributes["to"] = Attribute{kOnnxFloat};
      back.outputs[0] = out;
      half_exact_.insert(out);
      emit(std::move(to_half));
      emit(std::move(back));
    }
  }

  void emit_float(Node node, bool half) {
    for (const auto& out : node.outputs) float_values_.insert(out);
    if (half) return emit_half(std::move(node));
    emit(std::move(node));
  }

  // DequantizeLinear of input `i` (scale i + 1, zero point i + 2), per `axis` where the scale is.
  std::string dequantize(const Node& q, size_t i, int64_t axis, bool half) {
    std::vector<std::string> in{q.inputs.at(i), q.inputs.at(i + 1)};
    if (q.has_input(i + 2)) in.push_back(q.inputs[i + 2]);
    Node dq = make(q.name + "/dequantize" + std::to_string(i), "DequantizeLinear", in);
    dq.attributes["axis"] = Attribute{axis};
    std::string out = dq.outputs[0];
    emit_float(std::move(dq), half);
    return out;
  }

  // QuantizeLinear of `value` into the node's output with scale input `s`, zero point `s + 1`.
  void quantize(const Node& q, const std::string& value, size_t s) {
    std::vector<std::string> in{value, q.inputs.at(s)};
    if (q.has_input(s + 1)) in.push_back(q.inputs[s + 1]);
    Node qn = make(q.name + "/quantize", "QuantizeLinear", in);
    qn.outputs[0] = q.outputs.at(0);
    emit(std::move(qn));  // float in (already in the device's type), 8-bit out
  }

  void qfused_conv(const Node& q, bool half) {
    const std::string x = dequantize(q, 0, 1, half);
    const std::string w = dequantize(q, 3, 0, half);
    std::vector<std::string> in{x, w};
    if (q.has_input(8)) in.push_back(q.inputs[8]);
    Node conv = make(q.name + "/float", "FusedConv", in, 1, "edgeco");
    conv.attributes = q.attributes;
    const std::string y = conv.outputs[0];
    emit_float(std::move(conv), half);
    quantize(q, y, 6);
  }

  void qmatmul(const Node& q, bool half) {
    const std::string a = dequantize(q, 0, 1, half);
    const std::string b = dequantize(q, 3, 1, half);
    Node mm = make(q.name + "/float", "MatMul", {a, b});
    std::string y = mm.outputs[0];
    const bool quantized = q.has_input(7);
    if (!quantized && !q.has_input(6)) mm.outputs[0] = q.outputs.at(0);
    emit_float(std::move(mm), half);
    if (q.has_input(6)) {
      Node add = make(q.name + "/bias", "Add", {y, q.inputs[6]});
      if (!quantized) add.outputs[0] = q.outputs.at(0);
      y = add.outputs[0];
      emit_float(std::move(add), half);
    }
    if (quantized) quantize(q, y, 7);
  }

  void qadd(const Node& q, bool half) {
    const std::string a = dequantize(q, 0, 1, half);
    const std::string b = dequantize(q, 3, 1, half);
    Node add = make(q.name + "/float", "Add", {a, b});
    std::string y = add.outputs[0];
    emit_float(std::move(add), half);
    if (q.attr_string("activation", "") == "Relu") {
      Node relu = make(q.name + "/relu", "Relu", {y});
      y = relu.outputs[0];
      emit_float(std::move(relu), half);
    }
    quantize(q, y, 6);
  }

  void qglobal_average_pool(const Node& q, bool half) {
    const std::string x = dequantize(q, 0, 1, half);
    Node pool = make(q.name + "/float", "GlobalAveragePool", {x});
    const std::string y = pool.outputs[0];
    emit_float(std::move(pool), half);
    quantize(q, y, 3);
  }

 public:
  std::map<std::string, std::string> device_of;

 private:
  Graph& graph_;
  std::set<std::string> float_values_, half_exact_, taken_;
  std::map<std::string, std::string> rounded_;
  std::string device_;
  std::vector<Node>* out_ = nullptr;
};

int64_t bytes_at_batch_one(const Value& v) {
  if (!v.type || !v.type->rank_known) return 0;
  int64_t n = 1;
  for (int64_t d : v.type->dims) n *= d < 0 ? 1 : d;
  return n * int64_t(dtype_size(v.type->dtype));
}

}  // namespace

DeployedModel deploy(Graph model, const Plan& plan) {
  model.sort_topologically();
  model.validate(OpRegistry::builtin());
  const ConstantEvaluator evaluate = reference_evaluator();
  optimize(model, evaluate, plan.channels_last, plan.fused, plan.winograd);
  infer_types(model, OpRegistry::builtin(), evaluate);

  std::map<std::string, const PlanNode*> placed;
  for (const PlanNode& n : plan.nodes) placed[n.name] = &n;
  std::set<std::string> names;
  for (const Node& n : model.nodes) names.insert(n.name);
  for (const PlanNode& n : plan.nodes)
    if (!names.count(n.name))
      throw Error(ErrorKind::invalid_argument,
                  "node '" + n.name +
                      "' is not in the model after the plan's passes: the plan was made for "
                      "another model (" +
                      plan.model + ")");

  DeployedModel out;
  std::map<std::string, std::string> producer_device;
  for (const auto& in : model.inputs) producer_device[in] = "input";
  for (const Node& node : model.nodes) {
    const auto it = placed.find(node.name);
    if (it == placed.end()) continue;
    const std::string& device = it->second->device;
    for (const auto& in : node.inputs) {
      const auto from = producer_device.find(in);
      if (from != producer_device.end() && from->second != device)
        out.transfers.push_back({in, from->second, device, bytes_at_batch_one(model.value(in))});
    }
    for (const auto& o : node.outputs) producer_device[o] = device;
  }

  Lowering lowering(model);
  std::vector<Node> nodes;
  for (Node& node : model.nodes) {
    const auto it = placed.find(node.name);
    if (it == placed.end()) {
      lowering.device_of[node.name] = "host";
      nodes.push_back(std::move(node));
      continue;
    }
    const PlanNode& p = *it->second;
    const NumType own = native_type(model, node);
    const NumType type = plan_type(p, own);
    ++out.nodes_by_type[std::string(hw::to_string(type))];
    out.rewritten += type != own;
    lowering.lower(std::move(node), own, type, p.device, nodes);
  }
  model.nodes = std::move(nodes);
  model.sort_topologically();
  model.validate(OpRegistry::builtin());
  out.device_of = std::move(lowering.device_of);
  out.graph = std::move(model);
  return out;
}

}  // namespace edgeco
