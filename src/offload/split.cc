// Cutting a model in two and pricing the cuts. The candidates are the prefixes of a topological
// order (Neurosurgeon searches layers in order); on a DAG a prefix is cut by every tensor that
// crosses it, so a residual block cut in its middle sends both branches' tensors.
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "edgeco/split.h"
#include "edgeco/session.h"

namespace edgeco::offload {

namespace {

Graph sorted_typed(const Graph& graph) {
  Graph g = graph;
  g.sort_topologically();
  infer_types(g, OpRegistry::builtin(), reference_evaluator());
  return g;
}

std::map<std::string, size_t> producers(const Graph& g) {
  std::map<std::string, size_t> by_value;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const std::string& out : g.nodes[i].outputs)
      if (!out.empty()) by_value[out] = i;
  return by_value;
}

bool is_constant(const Graph& g, const std::string& name) {
  const Value* v = g.find_value(name);
  return v != nullptr && v->initializer.has_value();
}

// The tensors crossing from the nodes marked in `head` to the rest: graph inputs and head outputs
// that a tail node reads, and head outputs that are graph outputs. In first-use order.
std::vector<std::string> crossing(const Graph& g, const std::vector<bool>& head,
                                  const std::map<std::string, size_t>& made_by) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  const auto add = [&](const std::string& name) {
    if (seen.insert(name).second) out.push_back(name);
  };
  const bool any_tail = std::find(head.begin(), head.end(), false) != head.end();
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (head[i]) continue;
    for (const std::string& in : g.nodes[i].inputs) {
      if (in.empty() || is_constant(g, in)) continue;
      const auto p = made_by.find(in);
      if (p == made_by.end() || head[p->second]) add(in);
    }
  }
  for (const std::string& out_name : g.outputs) {
    const auto p = made_by.find(out_name);
    if (p != made_by.end() ? head[p->second] : any_tail) add(out_name);
  }
  return out;
}

Cut make_cut(const Graph& g, const std::vector<bool>& head,
             const std::map<std::string, size_t>& made_by) {
  Cut c;
  c.total_nodes = g.nodes.size();
  for (size_t i = 0; i < head.size(); ++i)
    if (head[i]) {
      ++c.head_nodes;
      c.after = g.nodes[i].name;
    }
  c.tensors = c.all_local() ? g.outputs : crossing(g, head, made_by);
  return c;
}

// The nodes `tensors` depend on (stopping at graph inputs and constants).
std::vector<bool> ancestors(const Graph& g, std::span<const std::string> tensors,
                            const std::map<std::string, size_t>& made_by) {
  std::vector<bool> head(g.nodes.size(), false);
  std::vector<std::string> pending(tensors.begin(), tensors.end());
  while (!pending.empty()) {
    const std::string name = pending.back();
    pending.pop_back();
    const auto p = made_by.find(name);
    if (p == made_by.end() || head[p->second]) continue;
    head[p->second] = true;
    for (const std::string& in : g.nodes[p->second].inputs)
      if (!in.empty()) pending.push_back(in);
  }
  return head;
}

// The part of `g` made of the marked nodes, reading `inputs` and giving `outputs`.
Graph part(const Graph& g, const std::vector<bool>& keep, const std::vector<std::string>& inputs,
           const std::vector<std::string>& outputs, const std::string& suffix) {
  Graph p;
  p.name = g.name + suffix;
  p.opset = g.opset;
  p.inputs = inputs;
  p.outputs = outputs;
  const auto copy_value = [&](const std::string& name) {
    if (name.empty() || p.values.count(name) != 0) return;
    if (const Value* v = g.find_value(name)) p.values[name] = *v;
  };
  for (const std::string& name : inputs) {
    copy_value(name);
    // A graph input of the part is fed, never a constant.
    p.values[name].initializer.reset();
  }
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!keep[i]) continue;
    p.nodes.push_back(g.nodes[i]);
    for (const std::string& in : g.nodes[i].inputs) copy_value(in);
    for (const std::string& out : g.nodes[i].outputs) copy_value(out);
  }
  for (const std::string& out : outputs) copy_value(out);
  return p;
}

// candidate_cuts on a graph sorted_typed already.
std::vector<Cut> cuts_of_typed(const Graph& g) {
  const auto made_by = producers(g);
  std::vector<Cut> cuts;
  std::vector<bool> head(g.nodes.size(), false);
  cuts.push_back(make_cut(g, head, made_by));
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    head[i] = true;
    cuts.push_back(make_cut(g, head, made_by));
  }
  return cuts;
}

// split on a graph sorted_typed already, for a cut made on it.
SplitModels split_typed(const Graph& g, const Cut& cut,
                        const std::map<std::string, size_t>& made_by);

}  // namespace

std::vector<Cut> candidate_cuts(const Graph& graph) {
  return cuts_of_typed(sorted_typed(graph));
}

Cut cut_after(const Graph& graph, std::string_view node) {
  const Graph g = sorted_typed(graph);
  const auto made_by = producers(g);
  std::vector<bool> head(g.nodes.size(), false);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    head[i] = true;
    if (g.nodes[i].name == node) return make_cut(g, head, made_by);
  }
  throw Error(ErrorKind::invalid_argument, "no node of that name in the model",
              "node '" + std::string(node) + "'");
}

Cut cut_at(const Graph& graph, std::span<const std::string> tensors) {
  const Graph g = sorted_typed(graph);
  for (const std::string& t : tensors)
    if (g.find_value(t) == nullptr || is_constant(g, t))
      throw Error(ErrorKind::invalid_argument, "no computed tensor of that name in the model",
                  "tensor '" + t + "'");
  const auto made_by = producers(g);
  Cut c = make_cut(g, ancestors(g, tensors, made_by), made_by);
  const std::set<std::string> asked(tensors.begin(), tensors.end());
  for (const std::string& t : c.tensors)
    if (asked.count(t) == 0)
      throw Error(ErrorKind::invalid_argument,
                  "these tensors do not cut the model: '" + t +
                      "' would also have to cross (add it to the cut)");
  return c;
}

SplitModels split(const Graph& graph, const Cut& cut) {
  const Graph g = sorted_typed(graph);
  const auto made_by = producers(g);
  if (cut.total_nodes != g.nodes.size())
    throw Error(ErrorKind::invalid_argument, "the cut was made on another model");
  std::vector<bool> head(g.nodes.size(), false);
  for (size_t i = 0; i < cut.head_nodes; ++i) head[i] = true;
  if (make_cut(g, head, made_by).tensors != cut.tensors)
    throw Error(ErrorKind::invalid_argument, "the cut was made on another model");
  return split_typed(g, cut, made_by);
}

namespace {

SplitModels split_typed(const Graph& g, const Cut& cut,
                        const std::map<std::string, size_t>& made_by) {
  if (cut.all_local() || cut.all_remote())
    throw Error(ErrorKind::invalid_argument,
                "a cut with every node on one side has nothing to split");
  std::vector<bool> head(g.nodes.size(), false);
  for (size_t i = 0; i < cut.head_nodes; ++i) head[i] = true;
  std::vector<bool> tail(head.size());
  for (size_t i = 0; i < head.size(); ++i) tail[i] = !head[i];
  // The tail reads the cut tensors a tail node reads; the head's graph outputs stay local.
  std::vector<std::string> tail_inputs, tail_outputs;
  std::set<std::string> read_by_tail;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (tail[i])
      for (const std::string& in : g.nodes[i].inputs) read_by_tail.insert(in);
  for (const std::string& t : cut.tensors)
    if (read_by_tail.count(t) != 0) tail_inputs.push_back(t);
  for (const std::string& out : g.outputs) {
    const auto p = made_by.find(out);
    if (p != made_by.end() && tail[p->second]) tail_outputs.push_back(out);
  }
  std::vector<std::string> head_inputs;
  std::set<std::string> read_by_head;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (head[i])
      for (const std::string& in : g.nodes[i].inputs) read_by_head.insert(in);
  for (const std::string& in : g.inputs)
    if (read_by_head.count(in) != 0) head_inputs.push_back(in);
  // Head outputs: the cut tensors it computes (graph inputs that cross are sent as they are).
  std::vector<std::string> head_outputs;
  for (const std::string& t : cut.tensors)
    if (made_by.count(t) != 0 && head[made_by.at(t)]) head_outputs.push_back(t);
  SplitModels m{part(g, head, head_inputs, head_outputs, "_head"),
                part(g, tail, tail_inputs, tail_outputs, "_tail")};
  m.head.validate(OpRegistry::builtin());
  m.tail.validate(OpRegistry::builtin());
  return m;
}

}  // namespace

std::string_view to_string(Wire wire) {
  switch (wire) {
    case Wire::f32:
      return "f32";
    case Wire::f16:
      return "f16";
    case Wire::int8:
      return "int8";
  }
  return "?";
}

Wire parse_wire(std::string_view text) {
  if (text == "f32" || text == "fp32") return Wire::f32;
  if (text == "f16" || text == "fp16") return Wire::f16;
  if (text == "int8") return Wire::int8;
  throw Error(ErrorKind::invalid_argument,
              "unknown wire type '" + std::string(text) + "' (f32, f16 or int8)");
}

std::map<std::string, float> int8_scales(const Graph& head, std::span<const TensorMap> samples) {
  Session session(head);
  std::map<std::string, float> max_abs;
  for (const TensorMap& feed : samples) {
    const TensorMap out = session.run(feed);
    for (const auto& [name, t] : out) {
      if (t.dtype() != DType::f32) continue;
      float m = 0;
      for (float v : t.data<float>()) m = std::max(m, std::abs(v));
      max_abs[name] = std::max(max_abs[name], m);
    }
  }
  std::map<std::string, float> scales;
  for (const auto& [name, m] : max_abs) scales[name] = m > 0 ? m / 127.0f : 1.0f;
  return scales;
}

SplitModels narrow_cut(SplitModels models, Wire wire, const std::map<std::string, float>& scales) {
  if (wire == Wire::f32) return models;
  // Every f32 tensor the head sends is renamed on the wire: "<name>" stays the f32 value inside
  // each part, "<name>.wire" is what travels.
  const std::set<std::string> tail_reads(models.tail.inputs.begin(), models.tail.inputs.end());
  std::vector<std::string> head_outputs;
  for (const std::string& name : models.head.outputs) {
    const Value& v = models.head.value(name);
    if (!v.type || v.type->dtype != DType::f32 || tail_reads.count(name) == 0) {
      head_outputs.push_back(name);
      continue;
    }
    const std::string sent = name + ".wire";
    TensorType narrow = *v.type;
    narrow.dtype = wire == Wire::f16 ? DType::f16 : DType::i8;
    Node to_wire, from_wire;
    to_wire.name = name + ".to_wire";
    from_wire.name = name + ".from_wire";
    if (wire == Wire::f16) {
      to_wire.op_type = from_wire.op_type = "Cast";
      to_wire.attributes["to"] = Attribute{int64_t(10)};   // FLOAT16
      from_wire.attributes["to"] = Attribute{int64_t(1)};  // FLOAT
      to_wire.inputs = {name};
      from_wire.inputs = {sent};
    } else {
      const auto s = scales.find(name);
      if (s == scales.end())
        throw Error(ErrorKind::invalid_argument, "no int8 scale for the cut tensor",
                    "tensor '" + name + "'");
      const std::string scale = name + ".wire_scale", zero = name + ".wire_zero";
      for (Graph* g : {&models.head, &models.tail}) {
        g->value(scale).initializer = Tensor::scalar<float>(s->second);
        g->value(scale).type = TensorType{DType::f32, {}};
        g->value(zero).initializer = Tensor::scalar<int8_t>(0);
        g->value(zero).type = TensorType{DType::i8, {}};
      }
      to_wire.op_type = "QuantizeLinear";
      from_wire.op_type = "DequantizeLinear";
      to_wire.inputs = {name, scale, zero};
      from_wire.inputs = {sent, scale, zero};
    }
    // The tail's widened copy has a name of its own, so head and tail can be joined again.
    const std::string received = name + ".received";
    to_wire.outputs = {sent};
    from_wire.outputs = {received};
    for (Node& n : models.tail.nodes)
      for (std::string& in : n.inputs)
        if (in == name) in = received;
    models.tail.values[received] = v;
    models.tail.values[received].name = received;
    models.head.nodes.push_back(to_wire);
    models.head.value(sent).type = narrow;
    head_outputs.push_back(sent);
    models.tail.nodes.insert(models.tail.nodes.begin(), from_wire);
    models.tail.value(sent).type = narrow;
    for (std::string& in : models.tail.inputs)
      if (in == name) in = sent;
  }
  models.head.outputs = head_outputs;
  models.head.validate(OpRegistry::builtin());
  models.tail.validate(OpRegistry::builtin());
  return models;
}

Graph join(const SplitModels& models, const Graph& whole) {
  Graph g = whole;
  g.nodes = models.head.nodes;
  g.nodes.insert(g.nodes.end(), models.tail.nodes.begin(), models.tail.nodes.end());
  for (const Graph* part : {&models.head, &models.tail})
    for (const auto& [name, v] : part->values)
      if (g.values.count(name) == 0 || v.initializer) g.values[name] = v;
  g.sort_topologically();
  g.validate(OpRegistry::builtin());
  return g;
}

namespace {

int64_t wire_bytes(const Graph& g, const Cut& cut, Wire wire) {
  int64_t total = 0;
  for (const std::string& name : cut.tensors) {
    const Value& v = g.value(name);
    if (!v.type) continue;
    int64_t n = 1;
    for (int64_t d : v.type->dims) n *= d > 0 ? d : 1;
    size_t element = dtype_size(v.type->dtype);
    if (v.type->dtype == DType::f32 && wire != Wire::f32) element = wire == Wire::f16 ? 2 : 1;
    total += n * int64_t(element);
  }
  return total;
}

}  // namespace

SplitPricing price_cuts(const Graph& graph, const hw::Platform& edge, const hw::Platform& server,
                        Wire wire, const CompileOptions& options) {
  const Graph g = sorted_typed(graph);
  SplitPricing pricing;
  pricing.wire = wire;
  pricing.edge_idle_watts = hw::idle_watts(edge, options.celsius);
  const ConstantEvaluator evaluate = reference_evaluator();
  const Plan whole_edge = compile(g, edge, options, evaluate);
  const Plan whole_server = compile(g, server, options, evaluate);
  const auto made_by = producers(g);
  for (Cut& cut : cuts_of_typed(g)) {
    CutPrice price;
    if (cut.all_local()) {
      price.edge_ms = whole_edge.latency_ms;
      price.edge_mj = whole_edge.energy_mj;
    } else if (cut.all_remote()) {
      price.server_ms = whole_server.latency_ms;
      price.transfer_bytes = wire_bytes(g, cut, Wire::f32);  // the inputs, as they are
    } else {
      const SplitModels parts = split_typed(g, cut, made_by);
      const Plan head = compile(parts.head, edge, options, evaluate);
      const Plan tail = compile(parts.tail, server, options, evaluate);
      price.edge_ms = head.latency_ms;
      price.edge_mj = head.energy_mj;
      price.server_ms = tail.latency_ms;
      price.transfer_bytes = wire_bytes(g, cut, wire);
    }
    price.cut = std::move(cut);
    pricing.candidates.push_back(std::move(price));
  }
  return pricing;
}

void price_for_link(SplitPricing& pricing, const Link& link) {
  if (!(link.bandwidth_mbps > 0) || !(link.rtt_ms >= 0))
    throw Error(ErrorKind::invalid_argument, "a link needs a positive bandwidth and an RTT >= 0");
  for (CutPrice& c : pricing.candidates) {
    if (c.cut.all_local()) {
      c.latency_ms = c.edge_ms;
      c.device_energy_mj = c.edge_mj;
      continue;
    }
    const double transfer_ms = double(c.transfer_bytes) * 8.0 / (link.bandwidth_mbps * 1e3);
    const double waiting_ms = transfer_ms + link.rtt_ms + c.server_ms;
    c.latency_ms = c.edge_ms + waiting_ms;
    // W x ms = mJ: the board idles while the request is out.
    c.device_energy_mj = c.edge_mj + pricing.edge_idle_watts * waiting_ms;
  }
}

size_t best_cut(const SplitPricing& pricing, Objective objective) {
  if (pricing.candidates.empty()) throw Error(ErrorKind::invalid_argument, "no cut to choose from");
  size_t best = 0;
  double best_value = std::numeric_limits<double>::infinity();
  // From all local down to all remote, so a tie keeps more on the device.
  for (size_t k = pricing.candidates.size(); k-- > 0;) {
    const CutPrice& c = pricing.candidates[k];
    const double value = objective_value(objective, c.latency_ms, c.device_energy_mj);
    if (value < best_value) {
      best_value = value;
      best = k;
    }
  }
  return best;
}

std::string tail_name(std::string_view model, size_t cut_index) {
  return std::string(model) + ".cut" + std::to_string(cut_index);
}

}  // namespace edgeco::offload
