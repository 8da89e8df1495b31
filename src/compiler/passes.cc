#include <cmath>
#include <cstring>
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

namespace {

// The channel counts of a Concat's inputs along axis 1 of a 4-D float tensor, or nullopt.
std::optional<std::vector<int64_t>> channel_concat_parts(const Graph& g, const Node& concat) {
  if (!concat.domain.empty() || concat.op_type != "Concat" || concat.outputs.size() != 1 ||
      concat.inputs.size() < 2)
    return std::nullopt;
  const Value* out = g.find_value(concat.outputs[0]);
  if (!out || !out->type || !out->type->rank_known || out->type->dims.size() != 4 ||
      !is_float(out->type->dtype) || normalize_axis(concat.attr_int("axis"), 4, "axis") != 1)
    return std::nullopt;
  std::vector<int64_t> channels;
  for (const auto& in : concat.inputs) {
    const Value* v = in.empty() ? nullptr : g.find_value(in);
    if (!v || !v->type || !v->type->rank_known || v->type->dims.size() != 4 ||
        v->type->dims[1] <= 0)
      return std::nullopt;
    channels.push_back(v->type->dims[1]);
  }
  return channels;
}

// A reader a channel Concat can be pushed through: an ungrouped Conv taking it as its input, with
// constant weights (split by input channel), or a pooling that works channel by channel. Each
// slice after the first reads the Conv's output again (to accumulate), so a Conv qualifies only
// when those reads are fewer elements than the joined tensor (a squeeze layer, not SqueezeNet's
// 512 -> 1000 classifier).
bool distributes(const Graph& g, const Node& reader, const Node& concat) {
  const std::string& value = concat.outputs[0];
  if (!reader.domain.empty() || reader.inputs.empty() || reader.inputs[0] != value) return false;
  for (size_t i = 1; i < reader.inputs.size(); ++i)
    if (reader.inputs[i] == value) return false;
  if (reader.op_type == "MaxPool" || reader.op_type == "AveragePool")
    return reader.outputs.size() == 1;
  if (!is_plain_conv(reader) || reader.attr_int("group", 1) != 1 || reader.outputs.size() != 1)
    return false;
  const Tensor* w = constant(g, reader, 1);
  if (!w || w->rank() != 4 || !is_float(w->dtype()) ||
      (reader.has_input(2) && !constant(g, reader, 2)))
    return false;
  // Per sample: the batch may be symbolic.
  auto per_sample = [&](const std::string& name) -> int64_t {
    const Value* v = g.find_value(name);
    if (!v || !v->type || !v->type->rank_known || v->type->dims.size() != 4) return -1;
    int64_t n = 1;
    for (size_t d = 1; d < 4; ++d) {
      if (v->type->dims[d] <= 0) return -1;
      n *= v->type->dims[d];
    }
    return n;
  };
  const int64_t joined = per_sample(value), out = per_sample(reader.outputs[0]);
  return joined > 0 && out > 0 && out * int64_t(concat.inputs.size() - 1) < joined;
}

// `base`, or base_1, base_2, ... : a value name the graph does not use yet.
std::string fresh_value(const Graph& g, const std::string& base) {
  std::string name = base;
  for (int k = 1; g.find_value(name); ++k) name = base + "_" + std::to_string(k);
  return name;
}

// Input channels [begin, begin + count) of the weights [M, C, kH, kW].
Tensor weight_channels(const Tensor& w, int64_t begin, int64_t count) {
  const int64_t m = w.dim(0), c = w.dim(1), per_channel = w.dim(2) * w.dim(3);
  Tensor part = Tensor::uninitialized(w.dtype(), {m, count, w.dim(2), w.dim(3)});
  const size_t elem = dtype_size(w.dtype());
  const std::byte* from = w.bytes().data();
  std::byte* to = part.bytes().data();
  for (int64_t o = 0; o < m; ++o)
    std::memcpy(to + size_t(o * count * per_channel) * elem,
                from + size_t((o * c + begin) * per_channel) * elem,
                size_t(count * per_channel) * elem);
  return part;
}

}  // namespace

int distribute_concat(Graph& g, PassLog* log) {
  int rewritten = 0;
  for (bool changed = true; changed;) {
    changed = false;
    const Uses uses(g);
    for (size_t i = 0; i < g.nodes.size() && !changed; ++i) {
      const Node concat = g.nodes[i];
      const auto channels = channel_concat_parts(g, concat);
      if (!channels) continue;
      const std::string& joined = concat.outputs[0];
      const auto it = uses.readers.find(joined);
      if (uses.graph_outputs.count(joined) || it == uses.readers.end()) continue;
      bool all = true;
      for (size_t r : it->second) all = all && distributes(g, g.nodes[r], concat);
      if (!all) continue;
      std::vector<Node> added;
      for (size_t r : it->second) {
        const Node reader = g.nodes[r];
        if (reader.op_type != "Conv") {
          // pool(concat(a, b)) = concat(pool(a), pool(b)): the new Concat is distributed next.
          Node joint = concat;
          joint.name = reader.name + ".concat";
          joint.outputs = {reader.outputs[0]};
          for (size_t k = 0; k < concat.inputs.size(); ++k) {
            Node part = reader;
            part.name = reader.name + ".part" + std::to_string(k);
            part.inputs[0] = concat.inputs[k];
            part.outputs = {fresh_value(g, part.name + "_output")};
            joint.inputs[k] = part.outputs[0];
            std::optional<TensorType> type = g.value(reader.outputs[0]).type;
            if (type && type->rank_known && type->dims.size() == 4) type->dims[1] = (*channels)[k];
            g.value(part.outputs[0]).type = type;
            added.push_back(std::move(part));
          }
          added.push_back(std::move(joint));
          note(log, "move " + reader.op_type + " '" + reader.name + "' before Concat '" +
                        concat.name + "'");
          continue;
        }
        // conv(concat(a, b), W) = conv(a, W[:, A]) + conv(b, W[:, B]): a sum of convolutions, each
        // accumulating onto the last (residual fusion), so the joined tensor is never written.
        const Tensor& w = *constant(g, reader, 1);
        std::string sum;
        int64_t begin = 0;
        for (size_t k = 0; k < concat.inputs.size(); ++k) {
          Node part = reader;
          part.name = reader.name + ".part" + std::to_string(k);
          const std::string w_name = fresh_value(g, part.name + ".weight");
          g.value(w_name).initializer = weight_channels(w, begin, (*channels)[k]);
          begin += (*channels)[k];
          part.inputs = {concat.inputs[k], w_name};
          if (k + 1 == concat.inputs.size() && reader.has_input(2))
            part.inputs.push_back(reader.inputs[2]);  // the bias, once
          part.outputs = {fresh_value(g, part.name + "_output")};
          g.value(part.outputs[0]).type = g.value(reader.outputs[0]).type;
          const std::string term = part.outputs[0];
          added.push_back(std::move(part));
          if (k == 0) {
            sum = term;
            continue;
          }
          const bool last = k + 1 == concat.inputs.size();
          Node add{reader.name + ".sum" + std::to_string(k),
                   "Add",
                   "",
                   {term, sum},
                   {last ? reader.outputs[0]
                         : fresh_value(g, reader.name + ".sum" + std::to_string(k) + "_output")}};
          if (!last) g.value(add.outputs[0]).type = g.value(reader.outputs[0]).type;
          sum = add.outputs[0];
          added.push_back(std::move(add));
        }
        note(log, "split Conv '" + reader.name + "' over the inputs of Concat '" + concat.name +
                      "' (the joined tensor is not written)");
      }
      std::vector<bool> removed(g.nodes.size(), false);
      removed[i] = true;
      for (size_t r : it->second) removed[r] = true;
      erase_marked(g, removed);
      for (Node& n : added) g.nodes.push_back(std::move(n));
      g.values.erase(joined);
      g.sort_topologically();
      ++rewritten;
      changed = true;
    }
  }
  return rewritten;
}

int choose_winograd(Graph& g, PassLog* log) {
  int chosen = 0;
  for (Node& n : g.nodes) {
    if (n.domain != "edgeco" || n.op_type != "FusedConv" || n.attr_int("channels_last", 0) != 1 ||
        n.attr_int("group", 1) != 1 || n.has_attr("algorithm"))
      continue;
    // W's type is X's (the schema requires it), and W is what the kernel transforms.
    const Tensor* w = constant(g, n, 1);
    if (!w || w->rank() != 4 || w->dtype() != DType::f32 || w->dim(2) != 3 || w->dim(3) != 3)
      continue;
    auto all_ones = [&](const char* attr) {
      if (!n.has_attr(attr)) return true;
      for (int64_t v : n.attr_ints(attr))
        if (v != 1) return false;
      return true;
    };
    const int64_t out = w->dim(0), in = w->dim(1);
    if (!all_ones("strides") || !all_ones("dilations") || in < 64 || out < 64 || out > 2 * in)
      continue;
    mark_winograd(n);
    note(log, "Winograd for Conv '" + n.name + "'");
    ++chosen;
  }
  return chosen;
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

PassLog optimize(Graph& graph, const ConstantEvaluator& evaluate, bool channels_last, bool fuse,
                 bool winograd) {
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
    distribute_concat(graph, &log);
    fuse_conv(graph, &log);
  }
  remove_dead_nodes(graph, &log);
  if (channels_last) {
    to_channels_last(graph, &log);
    remove_dead_nodes(graph, &log);
    if (winograd) choose_winograd(graph, &log);
  }
  return log;
}

Graph folded_for_quantization(Graph model) {
  fold_batch_norm(model);
  remove_dead_nodes(model);
  return model;
}

}  // namespace edgeco
