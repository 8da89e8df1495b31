#include <cmath>
#include <map>
#include <set>

#include "compiler/rewrite.h"
#include "edgeco/compiler.h"

namespace edgeco {

std::optional<std::map<std::string, Attribute>> activation_of(const Graph& g, const Node& n) {
  if (!n.domain.empty()) return std::nullopt;
  std::map<std::string, Attribute> a{{"activation", Attribute{n.op_type}}};
  if (n.op_type == "Relu" || n.op_type == "HardSwish" || n.op_type == "Sigmoid" ||
      n.op_type == "Tanh")
    return a;
  if (n.op_type == "LeakyRelu") {
    a["activation_alpha"] = Attribute{n.attr_float("alpha", 0.01f)};
    return a;
  }
  if (n.op_type == "HardSigmoid") {
    a["activation_alpha"] = Attribute{n.attr_float("alpha", 0.2f)};
    a["activation_beta"] = Attribute{n.attr_float("beta", 0.5f)};
    return a;
  }
  if (n.op_type == "Clip") {
    float lo = -INFINITY, hi = INFINITY;
    if (n.has_attr("min")) lo = n.attr_float("min");
    if (n.has_attr("max")) hi = n.attr_float("max");
    for (size_t i = 1; i < 3; ++i) {
      if (!n.has_input(i)) continue;
      const Tensor* bound = constant(g, n, i);
      if (!bound || bound->numel() != 1) return std::nullopt;  // bounds known only at run time
      (i == 1 ? lo : hi) = float(bound->to_doubles()[0]);
    }
    a["activation_alpha"] = Attribute{lo};
    a["activation_beta"] = Attribute{hi};
    return a;
  }
  return std::nullopt;
}

namespace {

// x * gate(x) where x has exactly the gate and the Mul as readers and the gate only the Mul.
struct Gated {
  std::string activation;  // "HardSwish" or "Swish"
  size_t gate, mul;
};

std::optional<Gated> gated_activation(const Graph& g, const Uses& uses, const std::string& x,
                                      const std::vector<bool>& claimed) {
  if (uses.graph_outputs.count(x)) return std::nullopt;
  auto it = uses.readers.find(x);
  if (it == uses.readers.end() || it->second.size() != 2) return std::nullopt;
  for (int first = 0; first < 2; ++first) {
    const size_t gate = it->second[size_t(first)], mul = it->second[size_t(1 - first)];
    if (claimed[gate] || claimed[mul]) continue;
    const Node& gn = g.nodes[gate];
    const Node& mn = g.nodes[mul];
    if (!gn.domain.empty() || !mn.domain.empty() || mn.op_type != "Mul" || gn.inputs.size() != 1 ||
        gn.inputs[0] != x)
      continue;
    const auto gate_reader = uses.sole_reader(gn.outputs[0]);
    if (!gate_reader || *gate_reader != mul) continue;
    const bool pairs = (mn.inputs[0] == x && mn.inputs[1] == gn.outputs[0]) ||
                       (mn.inputs[1] == x && mn.inputs[0] == gn.outputs[0]);
    if (!pairs) continue;
    if (gn.op_type == "Sigmoid") return Gated{"Swish", gate, mul};
    // hardswish(x) = x * clip(x / 6 + 1/2, 0, 1)
    if (gn.op_type == "HardSigmoid" &&
        std::abs(gn.attr_float("alpha", 0.2f) - 1.0f / 6.0f) < 1e-6f &&
        gn.attr_float("beta", 0.5f) == 0.5f)
      return Gated{"HardSwish", gate, mul};
  }
  return std::nullopt;
}

}  // namespace

int fold_batch_norm(Graph& g, PassLog* log) {
  Uses uses(g);
  std::vector<bool> removed(g.nodes.size(), false);
  int folded = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& conv = g.nodes[i];
    if (!is_plain_conv(conv) || conv.outputs.size() != 1) continue;
    const auto reader = uses.sole_reader(conv.outputs[0]);
    if (!reader) continue;
    Node& bn = g.nodes[*reader];
    if (bn.op_type != "BatchNormalization" || !bn.domain.empty() || bn.outputs.size() != 1 ||
        bn.attr_int("training_mode", 0) != 0 || bn.inputs[0] != conv.outputs[0])
      continue;
    const Tensor* w = constant(g, conv, 1);
    const Tensor* b = constant(g, conv, 2);
    const Tensor *scale = constant(g, bn, 1), *shift = constant(g, bn, 2),
                 *mean = constant(g, bn, 3), *var = constant(g, bn, 4);
    if (!w || (conv.has_input(2) && !b) || !scale || !shift || !mean || !var ||
        !is_float(w->dtype()))
      continue;
    const int64_t m = w->dim(0);
    if (scale->numel() != m || shift->numel() != m || mean->numel() != m || var->numel() != m)
      continue;
    const double eps = bn.attr_float("epsilon", 1e-5f);
    const auto sv = scale->to_doubles(), bv = shift->to_doubles(), mv = mean->to_doubles(),
               vv = var->to_doubles();
    std::vector<double> weights = w->to_doubles();
    std::vector<double> bias = b ? b->to_doubles() : std::vector<double>(size_t(m), 0.0);
    const size_t per_channel = weights.size() / size_t(m);
    for (int64_t c = 0; c < m; ++c) {
      const double s = sv[size_t(c)] / std::sqrt(vv[size_t(c)] + eps);
      for (size_t k = 0; k < per_channel; ++k) weights[size_t(c) * per_channel + k] *= s;
      bias[size_t(c)] = (bias[size_t(c)] - mv[size_t(c)]) * s + bv[size_t(c)];
    }
    // New initializers, so weights shared with other nodes stay untouched.
    const std::string w_name = conv.name + ".folded_weight", b_name = conv.name + ".folded_bias";
    g.value(w_name).initializer =
        Tensor::from_values<double>(w->dims(), std::span<const double>(weights)).cast(w->dtype());
    g.value(b_name).initializer =
        Tensor::from_values<double>({m}, std::span<const double>(bias)).cast(w->dtype());
    conv.inputs = {conv.inputs[0], w_name, b_name};
    g.values.erase(conv.outputs[0]);
    conv.outputs[0] = bn.outputs[0];
    removed[*reader] = true;
    note(log, "fold BatchNormalization '" + bn.name + "' into Conv '" + conv.name + "'");
    ++folded;
  }
  erase_marked(g, removed);
  return folded;
}

int fuse_conv(Graph& g, PassLog* log) {
  Uses uses(g);
  std::vector<bool> removed(g.nodes.size(), false);
  // Nodes already part of a fusion: a residual Add read by two Convs must be claimed only once.
  std::vector<bool> claimed(g.nodes.size(), false);
  int fused = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (claimed[i] || !is_plain_conv(g.nodes[i]) || g.nodes[i].outputs.size() != 1) continue;
    const Value* out = g.find_value(g.nodes[i].outputs[0]);
    // Symbolic (batch) dims are fine: a residual must match them exactly, so no broadcast hides.
    if (!out || !out->type || !out->type->rank_known) continue;
    Node result = g.nodes[i];
    result.op_type = "FusedConv";
    result.domain = "edgeco";
    std::string tail = result.outputs[0];
    size_t last = i;
    std::vector<size_t> absorbed;
    std::string what = "Conv '" + result.name + "'";
    // Residual: Add(conv, z) or Add(z, conv) with z of the same shape.
    if (auto r = uses.sole_reader(tail); r && !claimed[*r]) {
      const Node& add = g.nodes[*r];
      if (add.domain.empty() && add.op_type == "Add" && add.inputs.size() == 2 &&
          add.inputs[0] != add.inputs[1]) {
        const std::string& z = add.inputs[0] == tail ? add.inputs[1] : add.inputs[0];
        const Value* zv = g.find_value(z);
        const Value* sum = g.find_value(add.outputs[0]);
        if (zv && zv->type && zv->type->rank_known && zv->type->dims == out->type->dims &&
            zv->type->dtype == out->type->dtype && sum && sum->type &&
            sum->type->dims == out->type->dims) {
          while (result.inputs.size() < 3) result.inputs.push_back("");
          result.inputs.push_back(z);
          absorbed.push_back(*r);
          tail = add.outputs[0];
          last = std::max(last, *r);
          what += " + Add '" + add.name + "'";
        }
      }
    }
    if (auto gated = gated_activation(g, uses, tail, claimed)) {
      // x * HardSigmoid(x) (PyTorch's hardswish before opset 14) or x * Sigmoid(x) (SiLU).
      result.attributes["activation"] = Attribute{gated->activation};
      for (size_t a : {gated->gate, gated->mul}) {
        absorbed.push_back(a);
        last = std::max(last, a);
      }
      tail = g.nodes[gated->mul].outputs[0];
      what += " + " + gated->activation + " ('" + g.nodes[gated->gate].name + "', '" +
              g.nodes[gated->mul].name + "')";
    } else if (auto r = uses.sole_reader(tail); r && !claimed[*r]) {
      const Node& act = g.nodes[*r];
      if (auto attrs = activation_of(g, act); attrs && act.inputs[0] == tail) {
        for (auto& [k, v] : *attrs) result.attributes[k] = v;
        absorbed.push_back(*r);
        tail = act.outputs[0];
        last = std::max(last, *r);
        what += " + " + act.op_type + " '" + act.name + "'";
      }
    }
    if (absorbed.empty()) continue;
    result.outputs = {tail};
    // The fused node takes the place of the last node it absorbs, where every input exists.
    g.nodes[last] = std::move(result);
    removed[i] = last != i;
    claimed[i] = true;
    for (size_t a : absorbed) {
      claimed[a] = true;
      if (a != last) removed[a] = true;
    }
    note(log, "fuse " + what);
    ++fused;
  }
  erase_marked(g, removed);
  // A fused node sits where its last part was; its residual input may come from a later node.
  g.sort_topologically();
  return fused;
}

int remove_dead_nodes(Graph& g, PassLog* log) {
  std::set<std::string> live(g.outputs.begin(), g.outputs.end());
  std::vector<bool> removed(g.nodes.size(), false);
  int count = 0;
  for (size_t i = g.nodes.size(); i-- > 0;) {
    const Node& n = g.nodes[i];
    bool needed = false;
    for (const auto& out : n.outputs) needed = needed || live.count(out);
    if (!needed) {
      removed[i] = true;
      note(log, "remove dead node '" + n.name + "'");
      ++count;
      continue;
    }
    for (const auto& in : n.inputs)
      if (!in.empty()) live.insert(in);
  }
  erase_marked(g, removed);
  std::set<std::string> inputs(g.inputs.begin(), g.inputs.end());
  for (auto it = g.values.begin(); it != g.values.end();) {
    if (it->second.initializer && !live.count(it->first) && !inputs.count(it->first))
      it = g.values.erase(it);
    else
      ++it;
  }
  return count;
}

PassLog optimize(Graph& graph, const ConstantEvaluator& evaluate, bool channels_last, bool fuse) {
  PassLog log;
  graph.sort_topologically();
  // The passes need shapes, not weights: folding a DequantizeLinear of int8 weights here would
  // only make a transient float copy of them.
  ConstantEvaluator for_shapes;
  if (evaluate)
    for_shapes = [&evaluate](const Node& node, int64_t opset, std::span<const Tensor* const> in) {
      if (node.domain.empty() &&
          (node.op_type == "DequantizeLinear" || node.op_type == "QuantizeLinear"))
        return std::vector<Tensor>{};
      return evaluate(node, opset, in);
    };
  infer_types(graph, OpRegistry::builtin(), for_shapes);
  // First, while the QDQ patterns are intact (Conv fusion would absorb their activations).
  if (fuse_quantized(graph, &log, evaluate) > 0)
    infer_types(graph, OpRegistry::builtin(), for_shapes);
  if (fuse) {
    fold_batch_norm(graph, &log);
    fuse_conv(graph, &log);
  }
  remove_dead_nodes(graph, &log);
  if (channels_last) {
    to_channels_last(graph, &log);
    remove_dead_nodes(graph, &log);
  }
  return log;
}

}  // namespace edgeco
