// Compiling a graph for a platform: the node work the cost model prices, the placement problem
// with its baselines, the activation arena, and the plan as JSON.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "edgeco/compiler.h"
#include "edgeco/hw.h"

namespace edgeco {

std::string_view to_string(Strategy s) {
  switch (s) {
    case Strategy::exact:
      return "exact";
    case Strategy::greedy:
      return "greedy";
    case Strategy::all_cpu:
      return "all-cpu";
    case Strategy::all_gpu:
      return "all-gpu";
  }
  return "?";
}

Strategy parse_strategy(std::string_view text) {
  for (Strategy s : {Strategy::exact, Strategy::greedy, Strategy::all_cpu, Strategy::all_gpu})
    if (text == to_string(s)) return s;
  throw Error(ErrorKind::invalid_argument,
              "unknown strategy '" + std::string(text) + "' (exact, greedy, all-cpu or all-gpu)");
}

int64_t place_in_arena(std::span<ArenaBuffer> buffers) {
  std::vector<ArenaBuffer*> order;
  for (ArenaBuffer& b : buffers) order.push_back(&b);
  std::stable_sort(order.begin(), order.end(),
                   [](const ArenaBuffer* a, const ArenaBuffer* b) { return a->bytes > b->bytes; });
  int64_t arena_bytes = 0;
  std::vector<const ArenaBuffer*> placed;
  std::vector<std::pair<int64_t, int64_t>> busy;
  for (ArenaBuffer* b : order) {
    // The lowest offset whose range clashes with no placed buffer alive at the same time.
    busy.clear();
    for (const ArenaBuffer* o : placed)
      if (o->first <= b->last && b->first <= o->last)
        busy.emplace_back(o->offset, o->offset + o->bytes);
    std::sort(busy.begin(), busy.end());
    int64_t offset = 0;
    for (const auto& [lo, hi] : busy) {
      if (offset + b->bytes <= lo) break;
      offset = std::max(offset, hi);
    }
    b->offset = offset;
    placed.push_back(b);
    arena_bytes = std::max(arena_bytes, offset + b->bytes);
  }
  return arena_bytes;
}

MemoryPlan plan_memory(const Graph& graph) {
  std::set<std::string> outside(graph.inputs.begin(), graph.inputs.end());
  for (const auto& [name, v] : graph.values)
    if (v.initializer) outside.insert(name);
  // Lifetime of each activation: from the node that writes it to the last that reads it (graph
  // outputs live to the end).
  std::map<std::string, ArenaBuffer> buffers;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    for (const auto& out : graph.nodes[i].outputs) {
      if (out.empty() || outside.count(out)) continue;
      const Value& v = graph.value(out);
      int64_t bytes = 0;
      if (v.type && v.type->fully_known())
        bytes = checked_numel(v.type->dims) * int64_t(dtype_size(v.type->dtype));
      buffers[out] = ArenaBuffer{i, i, (bytes + 63) / 64 * 64};
    }
    for (const auto& in : graph.nodes[i].inputs)
      if (auto it = buffers.find(in); it != buffers.end()) it->second.last = i;
  }
  for (const auto& out : graph.outputs)
    if (auto it = buffers.find(out); it != buffers.end()) it->second.last = graph.nodes.size();
  std::vector<std::string> names;
  std::vector<ArenaBuffer> list;
  for (const auto& [name, b] : buffers) names.push_back(name), list.push_back(b);
  MemoryPlan plan;
  plan.arena_bytes = place_in_arena(list);
  for (size_t i = 0; i < list.size(); ++i) plan.offsets[names[i]] = list[i].offset;
  return plan;
}

namespace {

using hw::Device;
using hw::DeviceKind;
using hw::NumType;

int64_t value_bytes(const Graph& g, const std::string& name) {
  const Value& v = g.value(name);
  if (!v.type || !v.type->fully_known()) return 0;
  return checked_numel(v.type->dims) * int64_t(dtype_size(v.type->dtype));
}

bool is_8bit(DType t) {
  return t == DType::u8 || t == DType::i8;
}

const OpSchema* schema_of(const Node& node) {
  return OpRegistry::builtin().find(node.domain, node.op_type);
}

}  // namespace

hw::OpClass cost_class(const Node& node) {
  const OpSchema* schema = schema_of(node);
  switch (schema ? schema->cost_class : CostClass::other) {
    case CostClass::conv:
      return node.has_attr("group") && node.attr_int("group") > 1 ? hw::OpClass::depthwise_conv
                                                                  : hw::OpClass::dense_conv;
    case CostClass::matmul:
      return hw::OpClass::matmul;
    case CostClass::pooling:
      return hw::OpClass::pooling;
    case CostClass::elementwise:
      return hw::OpClass::elementwise;
    case CostClass::other:
      break;
  }
  return hw::OpClass::other;
}

hw::NumType native_type(const Graph& graph, const Node& node) {
  if (const OpSchema* schema = schema_of(node); schema && schema->integer) return NumType::int8;
  for (const auto& out : node.outputs) {
    const Value* v = out.empty() ? nullptr : graph.find_value(out);
    if (v && v->type && is_8bit(v->type->dtype)) return NumType::int8;
  }
  return NumType::fp32;
}

std::vector<NodeDemand> describe_nodes(const Graph& g, const InferenceResult& inferred) {
  std::set<std::string> dynamic(g.inputs.begin(), g.inputs.end());
  std::map<std::string, int> producer;
  std::set<std::string> graph_inputs(g.inputs.begin(), g.inputs.end());
  std::set<std::string> graph_outputs(g.outputs.begin(), g.outputs.end());
  std::vector<NodeDemand> works;
  for (const Node& node : g.nodes) {
    bool reads_dynamic = false;
    for (const auto& in : node.inputs) reads_dynamic |= !in.empty() && dynamic.count(in) > 0;
    if (!reads_dynamic) continue;
    NodeDemand w;
    w.node = node.name;
    w.op_type = node.op_type;
    int64_t out_elements = 0;
    const bool int8 = native_type(g, node) == NumType::int8;
    for (const auto& out : node.outputs) {
      if (out.empty()) continue;
      dynamic.insert(out);
      producer[out] = int(works.size());
      w.work.bytes_written += value_bytes(g, out);
      const Value& v = g.value(out);
      if (v.type && v.type->fully_known()) out_elements += checked_numel(v.type->dims);
      if (graph_outputs.count(out)) w.output_bytes += value_bytes(g, out);
    }
    for (const auto& in : node.inputs) {
      if (in.empty()) continue;
      const int64_t bytes = value_bytes(g, in);
      w.work.bytes_read += bytes;
      const Value& v = g.value(in);
      if (v.initializer) w.work.weight_bytes += int64_t(v.initializer->nbytes());
      if (auto it = producer.find(in); it != producer.end()) {
        w.inputs.push_back(it->second);
        w.input_bytes.push_back(bytes);
      } else if (graph_inputs.count(in)) {
        w.inputs.push_back(-1);
        w.input_bytes.push_back(bytes);
      }
    }
    w.work.op_type = node.op_type;
    w.work.op_class = cost_class(node);
    w.work.type = int8 ? NumType::int8 : NumType::fp32;
    if (w.work.op_class == hw::OpClass::dense_conv && !int8 && is_winograd(node))
      w.work.op_class = hw::OpClass::winograd_conv;
    // Exp-based activations cost the host far more per element than the MACs around them: the
    // operator's own (its registry entry) or one a fused conv applies (Swish is x * sigmoid(x)).
    const std::string activation = node.attr_string("activation", "");
    const OpSchema* schema = schema_of(node);
    const OpSchema* fused =
        activation.empty() ? nullptr : OpRegistry::builtin().find("", activation);
    if ((schema && schema->exp_based) || (fused && fused->exp_based) || activation == "Swish")
      w.work.transcendental_elements = out_elements;
    auto macs = inferred.node_macs.find(node.name);
    w.work.macs =
        macs != inferred.node_macs.end() && macs->second > 0 ? macs->second : out_elements;
    works.push_back(std::move(w));
  }
  return works;
}

namespace {

// Power every other device draws idle (leakage at its lowest operating point) plus the board's
// static power: what a node costs the battery beyond its own device while it runs.
double background_watts(const hw::Platform& p, const Device& busy, double celsius) {
  double watts = p.static_watts;
  for (const Device& d : p.devices)
    if (&d != &busy) watts += d.leakage_watts(d.opps.front(), celsius);
  return watts;
}

}  // namespace

std::optional<NodePrice> price_node(const hw::Platform& platform, size_t device, size_t opp,
                                    const hw::NodeWork& work, double celsius) {
  const Device& d = platform.devices.at(device);
  const std::optional<NumType> type = d.run_type(work);
  if (!type) return std::nullopt;
  hw::NodeWork at = work;
  at.type = *type;
  NodePrice price;
  price.type = *type;
  price.device = hw::node_cost(d, d.opps.at(opp), at, celsius);
  price.energy_mj =
      price.device.energy_mj + background_watts(platform, d, celsius) * price.device.latency_ms;
  return price;
}

std::vector<std::string> prepare_for_pricing(Graph& graph, const CompileOptions& options,
                                             const ConstantEvaluator& evaluate,
                                             InferenceResult* inferred) {
  graph.sort_topologically();
  graph.validate(OpRegistry::builtin());
  // A plan is for one inference: a symbolic (batch) dim is compiled at 1.
  for (const auto& name : graph.inputs) {
    Value& v = graph.value(name);
    if (!v.type) continue;
    for (auto& d : v.type->dims)
      if (d < 0) d = 1;
  }
  std::vector<std::string> passes =
      optimize(graph, evaluate, options.channels_last, options.fuse, options.winograd).lines;
  *inferred = infer_types(graph, OpRegistry::builtin(), evaluate);
  return passes;
}

ModelProfile profile(Graph graph, const hw::Platform& platform, const CompileOptions& options,
                     const ConstantEvaluator& evaluate) {
  ModelProfile out;
  InferenceResult inferred;
  out.passes = prepare_for_pricing(graph, options, evaluate, &inferred);
  for (NodeDemand& demand : describe_nodes(graph, inferred)) {
    NodeProfile n;
    double best_energy = 0;
    for (size_t d = 0; d < platform.devices.size(); ++d) {
      const Device& device = platform.devices[d];
      const auto price =
          price_node(platform, d, device.opps.size() - 1, demand.work, options.celsius);
      if (!price) continue;
      if (n.best.empty() || price->energy_mj < best_energy)
        n.best = device.name, best_energy = price->energy_mj;
      n.devices.emplace(device.name, *price);
    }
    n.demand = std::move(demand);
    out.nodes.push_back(std::move(n));
  }
  return out;
}

namespace {

struct Option {
  PlacementChoice choice;
  NodePrice price;
};

// Rows of an input tensor a streaming node needs at once: the kernel height plus one stride
// (the next stripe arrives while this one is used) for convolutions and pooling windows, two for
// element-wise nodes; 0 for nodes that need their whole input (global pooling, MatMul, Reshape).
int64_t stripe_rows(const Graph& g, const Node& n) {
  const hw::OpClass cls = cost_class(n);
  // A transposed convolution writes more rows than it reads: not streamed here.
  const bool window = (cls == hw::OpClass::dense_conv || cls == hw::OpClass::depthwise_conv ||
                       cls == hw::OpClass::pooling) &&
                      n.op_type != "ConvTranspose";
  if (window) {
    std::vector<int64_t> kernel = n.attr_ints("kernel_shape", std::vector<int64_t>{});
    for (const auto& in : n.inputs)
      if (kernel.empty() && !in.empty()) {
        const Value& v = g.value(in);
        if (v.initializer && v.initializer->dims().size() == 4) kernel = {v.initializer->dims()[2]};
      }
    const auto strides = n.attr_ints("strides", std::vector<int64_t>{1});
    if (kernel.empty() || strides.empty()) return 0;
    return kernel[0] + strides[0];
  }
  return cls == hw::OpClass::elementwise ? 2 : 0;
}

// Cascading, as Vela does for Ethos-U: consecutive nodes on one device with on-chip memory run
// stripe by stripe, so a tensor passed from one to the next (its only reader) stays on chip
// instead of going through DRAM. A cascade grows while the stripe buffers of its tensors (rows
// the reader needs, times the row size) fit the device's on-chip memory together. Returns, per
// node, the activation bytes kept on chip, and the cascade it belongs to (-1: none).
struct Cascades {
  std::vector<int64_t> onchip_bytes;
  std::vector<int> id;
  int count = 0;
};

Cascades cascade(const Graph& g, const std::vector<const Node*>& nodes,
                 const std::vector<int>& device, const hw::Platform& platform) {
  Cascades c;
  c.onchip_bytes.assign(nodes.size(), 0);
  c.id.assign(nodes.size(), -1);
  std::map<std::string, int> readers, producer;
  for (const Node& n : g.nodes)
    for (const auto& in : n.inputs) ++readers[in];
  for (const auto& out : g.outputs) ++readers[out];  // a graph output must reach DRAM
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const auto& out : nodes[i]->outputs) producer[out] = int(i);
  std::vector<double> used;  // stripe bytes per cascade
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& reader = *nodes[i];
    const int64_t rows = stripe_rows(g, reader);
    if (rows == 0) continue;
    for (const auto& in : reader.inputs) {
      const auto p = producer.find(in);
      if (p == producer.end() || readers[in] != 1) continue;
      const size_t u = size_t(p->second);
      const hw::Device& d = platform.devices[size_t(device[i])];
      // On chip must be faster and cheaper than DRAM, so a cascade never makes a node worse.
      if (device[u] != device[i] || d.onchip_bytes <= 0 || d.onchip_gbps < d.dram_gbps ||
          d.onchip_pj_per_byte > d.dram_pj_per_byte || stripe_rows(g, *nodes[u]) == 0)
        continue;
      const Value& v = g.value(in);
      if (!v.type || !v.type->fully_known() || v.type->dims.size() != 4 || v.type->dims[2] <= 0)
        continue;
      const int64_t bytes = value_bytes(g, in);
      const double stripe = double(bytes) / double(v.type->dims[2]) * double(rows);
      const int id = c.id[u] >= 0 ? c.id[u] : int(used.size());
      if (c.id[i] >= 0 && c.id[i] != id) continue;  // already in another cascade
      const double before = id < int(used.size()) ? used[size_t(id)] : 0.0;
      if (before + stripe > d.onchip_bytes) continue;
      if (id == int(used.size())) used.push_back(0);
      used[size_t(id)] += stripe;
      c.id[u] = c.id[i] = id;
      c.onchip_bytes[u] += bytes;
      c.onchip_bytes[i] += bytes;
    }
  }
  c.count = int(used.size());
  return c;
}

}  // namespace

Plan compile(Graph graph, const hw::Platform& platform, const CompileOptions& options,
             const ConstantEvaluator& evaluate) {
  if (platform.devices.empty())
    throw Error(ErrorKind::invalid_argument, "the platform has no devices", platform.name);
  Plan plan;
  plan.platform = platform.name;
  plan.objective = std::string(to_string(options.objective));
  plan.strategy = std::string(to_string(options.strategy));
  plan.deadline_ms = options.deadline_ms;
  plan.fused = options.fuse;
  plan.channels_last = options.channels_last;
  plan.winograd = options.winograd;
  InferenceResult inferred;
  plan.passes = prepare_for_pricing(graph, options, evaluate, &inferred);
  const std::vector<NodeDemand> works = describe_nodes(graph, inferred);
  std::vector<const Node*> node_of;
  {
    std::map<std::string, const Node*> by_name;
    for (const Node& n : graph.nodes) by_name[n.name] = &n;
    for (const NodeDemand& w : works) node_of.push_back(by_name.at(w.node));
  }

  int host = -1;
  for (size_t d = 0; d < platform.devices.size(); ++d)
    if (platform.devices[d].kind == DeviceKind::cpu && host < 0) host = int(d);
  if (host < 0) throw Error(ErrorKind::unsupported, "the platform has no cpu", platform.name);

  // Each node's options: every device that runs it (in its own type, or int8 as fp16/fp32 on a
  // device without int8), at each operating point (or only the highest without DVFS).
  std::vector<std::vector<Option>> options_of(works.size());
  PlacementProblem problem;
  problem.host = host;
  for (size_t i = 0; i < works.size(); ++i) {
    const NodeDemand& w = works[i];
    for (size_t d = 0; d < platform.devices.size(); ++d) {
      const Device& device = platform.devices[d];
      const size_t first = options.dvfs ? 0 : device.opps.size() - 1;
      for (size_t o = first; o < device.opps.size(); ++o) {
        const auto price = price_node(platform, d, o, w.work, options.celsius);
        if (!price) break;
        options_of[i].push_back(
            {{int(d), int(o), price->device.latency_ms, price->energy_mj}, *price});
      }
    }
    if (options_of[i].empty())
      throw Error(ErrorKind::unsupported,
                  "no device of " + platform.name + " runs " + w.work.op_type + " (" +
                      std::string(to_string(w.work.type)) + ")",
                  "node " + w.node);
    PlacementNode node;
    for (const Option& o : options_of[i]) node.choices.push_back(o.choice);
    node.inputs = w.inputs;
    node.input_bytes = w.input_bytes;
    node.output_bytes = w.output_bytes;
    problem.nodes.push_back(std::move(node));
  }
  problem.transfer = [&platform](int from, int to, int64_t bytes) {
    const hw::Cost c = hw::transfer_cost(platform, platform.devices[size_t(from)],
                                         platform.devices[size_t(to)], bytes);
    return std::pair{c.latency_ms, c.energy_mj};
  };

  // The baselines run every device at its highest operating point, as a performance governor
  // does; nullopt when some node has no device their rule allows.
  auto baseline = [&](Strategy strategy,
                      size_t* failed = nullptr) -> std::optional<std::vector<int>> {
    auto rank = [&](const Device& d) {
      switch (strategy) {
        case Strategy::greedy:
          return d.kind == DeviceKind::npu    ? 0
                 : d.kind == DeviceKind::gpu  ? 1
                 : d.kind == DeviceKind::fpga ? 2
                                              : 3;
        case Strategy::all_gpu:
          return d.kind == DeviceKind::gpu ? 0 : d.kind == DeviceKind::cpu ? 1 : 9;
        default:
          return d.kind == DeviceKind::cpu ? 0 : 9;
      }
    };
    std::vector<int> choice;
    for (size_t i = 0; i < works.size(); ++i) {
      int pick = -1;
      for (size_t c = 0; c < options_of[i].size(); ++c) {
        const PlacementChoice& ch = options_of[i][c].choice;
        const Device& d = platform.devices[size_t(ch.device)];
        if (rank(d) >= 9 || ch.opp != int(d.opps.size()) - 1) continue;
        if (pick < 0 ||
            rank(d) < rank(platform.devices[size_t(options_of[i][size_t(pick)].choice.device)]))
          pick = int(c);
      }
      if (pick < 0) {
        if (failed) *failed = i;
        return std::nullopt;
      }
      choice.push_back(pick);
    }
    return choice;
  };

  const auto start = std::chrono::steady_clock::now();
  Placement placement;
  if (options.strategy == Strategy::exact) {
    PlacementSettings s;
    s.objective = options.objective;
    s.deadline_ms = options.deadline_ms;
    s.time_limit_s = options.time_limit_s;
    placement = place(problem, s);
    // Not proven optimal (an EDP search cut short, an ILP out of time): never worse than a
    // baseline a user could have picked.
    if (!placement.optimal)
      for (Strategy b : {Strategy::greedy, Strategy::all_cpu, Strategy::all_gpu}) {
        const auto choice = baseline(b);
        if (!choice) continue;
        const auto [l, e] = placement_totals(problem, *choice);
        if ((options.deadline_ms <= 0 || l <= options.deadline_ms) &&
            objective_value(options.objective, l, e) <
                objective_value(options.objective, placement.latency_ms, placement.energy_mj))
          placement =
              Placement{*choice, l, e, placement.method + "+" + std::string(to_string(b)), false};
      }
  } else {
    size_t failed = 0;
    const auto choice = baseline(options.strategy, &failed);
    if (!choice)
      throw Error(
          ErrorKind::unsupported,
          "strategy " + plan.strategy + " finds no device for " + works[failed].work.op_type,
          "node " + works[failed].node);
    placement.choice = *choice;
    std::tie(placement.latency_ms, placement.energy_mj) =
        placement_totals(problem, placement.choice);
    placement.method = plan.strategy;
    if (options.deadline_ms > 0 && placement.latency_ms > options.deadline_ms)
      throw Error(ErrorKind::unsupported,
                  "strategy " + plan.strategy + " takes " + std::to_string(placement.latency_ms) +
                      " ms, over the deadline of " + std::to_string(options.deadline_ms) + " ms");
  }
  plan.solve_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  plan.method = placement.method;
  plan.optimal = placement.optimal;

  // Tiling after placement (the placement prices nodes untiled): nodes in a cascade are priced
  // again with the activations they keep on chip.
  std::vector<Option> chosen;
  for (size_t i = 0; i < works.size(); ++i)
    chosen.push_back(options_of[i][size_t(placement.choice[i])]);
  std::vector<int> device_of;
  device_of.reserve(chosen.size());
  for (const Option& o : chosen) device_of.push_back(o.choice.device);
  Cascades cascades;
  cascades.onchip_bytes.assign(works.size(), 0);
  cascades.id.assign(works.size(), -1);
  if (options.tile) cascades = cascade(graph, node_of, device_of, platform);
  plan.latency_ms = plan.energy_mj = 0;
  for (size_t i = 0; i < works.size(); ++i) {
    Option& o = chosen[i];
    plan.dram_bytes_untiled += int64_t(o.price.device.dram_bytes);
    hw::NodeWork at = works[i].work;
    at.onchip_activation_bytes = cascades.onchip_bytes[i];
    o.price =
        *price_node(platform, size_t(o.choice.device), size_t(o.choice.opp), at, options.celsius);
    o.choice.latency_ms = o.price.device.latency_ms;
    o.choice.energy_mj = o.price.energy_mj;
    plan.dram_bytes += int64_t(o.price.device.dram_bytes);
  }
  plan.cascades = cascades.count;

  const MemoryPlan memory = plan_memory(graph);
  plan.arena_bytes = memory.arena_bytes;
  for (size_t i = 0; i < works.size(); ++i) {
    const NodeDemand& w = works[i];
    const Node& node = *node_of[i];
    const Option& o = chosen[i];
    const Device& d = platform.devices[size_t(o.choice.device)];
    PlanNode n;
    n.name = node.name;
    n.op = node.op_type;
    n.op_class = std::string(hw::to_string(w.work.op_class));
    n.type = std::string(hw::to_string(o.price.type));
    n.device = d.name;
    n.opp_mhz = d.opps[size_t(o.choice.opp)].mhz;
    n.opp_volts = d.opps[size_t(o.choice.opp)].volts;
    n.macs = w.work.macs;
    n.bytes_read = w.work.bytes_read;
    n.bytes_written = w.work.bytes_written;
    n.weight_bytes = w.work.weight_bytes;
    n.cycles = o.price.device.latency_ms * 1e-3 * n.opp_mhz * 1e6;
    n.latency_ms = o.choice.latency_ms;
    n.energy_mj = o.choice.energy_mj;
    n.memory_bound = o.price.device.memory_bound;
    n.onchip = o.price.device.onchip;
    n.cascade = cascades.id[i];
    n.onchip_activation_bytes = cascades.onchip_bytes[i];
    // Transfers onto this device (graph inputs from the host included) and graph outputs back.
    for (size_t k = 0; k < w.inputs.size(); ++k) {
      const int from =
          w.inputs[k] < 0
              ? host
              : options_of[size_t(w.inputs[k])][size_t(placement.choice[size_t(w.inputs[k])])]
                    .choice.device;
      const auto [l, e] = problem.transfer(from, o.choice.device, w.input_bytes[k]);
      n.transfer_ms += l, n.transfer_mj += e;
    }
    if (w.output_bytes > 0) {
      const auto [l, e] = problem.transfer(o.choice.device, host, w.output_bytes);
      n.transfer_ms += l, n.transfer_mj += e;
    }
    for (const auto& in : node.inputs)
      if (!in.empty()) n.inputs.push_back(in);
    for (const auto& out : node.outputs) {
      if (out.empty()) continue;
      n.outputs.push_back(out);
      const auto it = memory.offsets.find(out);
      n.output_offsets.push_back(it == memory.offsets.end() ? -1 : it->second);
    }
    plan.latency_ms += n.latency_ms + n.transfer_ms;
    plan.energy_mj += n.energy_mj + n.transfer_mj;
    plan.nodes.push_back(std::move(n));
  }
  plan.edp = plan.latency_ms * plan.energy_mj;
  return plan;
}

std::string plan_to_json(const Plan& plan) {
  nlohmann::json nodes = nlohmann::json::array();
  for (const PlanNode& n : plan.nodes)
    nodes.push_back({{"name", n.name},
                     {"op", n.op},
                     {"class", n.op_class},
                     {"type", n.type},
                     {"device", n.device},
                     {"opp_mhz", n.opp_mhz},
                     {"opp_volts", n.opp_volts},
                     {"macs", n.macs},
                     {"bytes_read", n.bytes_read},
                     {"bytes_written", n.bytes_written},
                     {"weight_bytes", n.weight_bytes},
                     {"cycles", n.cycles},
                     {"latency_ms", n.latency_ms},
                     {"energy_mj", n.energy_mj},
                     {"transfer_ms", n.transfer_ms},
                     {"transfer_mj", n.transfer_mj},
                     {"bound", n.memory_bound ? "memory" : "compute"},
                     {"onchip", n.onchip},
                     {"cascade", n.cascade},
                     {"onchip_activation_bytes", n.onchip_activation_bytes},
                     {"inputs", n.inputs},
                     {"outputs", n.outputs},
                     {"output_offsets", n.output_offsets}});
  nlohmann::json j{
      {"what", "modelled: latency and energy come from the platform description"},
      {"model", plan.model},
      {"platform", plan.platform},
      {"objective", plan.objective},
      {"strategy", plan.strategy},
      {"method", plan.method},
      {"optimal", plan.optimal},
      {"fused", plan.fused},
      {"channels_last", plan.channels_last},
      {"winograd", plan.winograd},
      {"solve_ms", plan.solve_ms},
      {"passes", plan.passes},
      {"arena_bytes", plan.arena_bytes},
      {"nodes", nodes},
      {"totals",
       {{"latency_ms", plan.latency_ms}, {"energy_mj", plan.energy_mj}, {"edp", plan.edp}}}};
  if (plan.deadline_ms > 0) j["deadline_ms"] = plan.deadline_ms;
  return j.dump(2) + "\n";
}

Plan parse_plan(std::string_view text, std::string_view where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::invalid_argument, std::string("not JSON: ") + e.what(),
                std::string(where));
  }
  std::string field;
  try {
    Plan plan;
    auto get = [&]<typename T>(const nlohmann::json& object, const char* key, T& out,
                               const std::string& prefix) {
      field = prefix + key;
      if (!object.is_object() || !object.contains(key))
        throw Error(ErrorKind::invalid_argument, "missing", std::string(where) + ": " + field);
      out = object.at(key).get<T>();
    };
    get(j, "platform", plan.platform, "");
    get(j, "objective", plan.objective, "");
    get(j, "strategy", plan.strategy, "");
    if (j.contains("model")) get(j, "model", plan.model, "");
    if (j.contains("method")) get(j, "method", plan.method, "");
    if (j.contains("fused")) get(j, "fused", plan.fused, "");
    if (j.contains("channels_last")) get(j, "channels_last", plan.channels_last, "");
    if (j.contains("winograd")) get(j, "winograd", plan.winograd, "");
    if (j.contains("deadline_ms")) get(j, "deadline_ms", plan.deadline_ms, "");
    if (j.contains("arena_bytes")) get(j, "arena_bytes", plan.arena_bytes, "");
    field = "nodes";
    if (!j.contains("nodes") || !j["nodes"].is_array())
      throw Error(ErrorKind::invalid_argument, "missing or not an array",
                  std::string(where) + ": nodes");
    for (size_t i = 0; i < j["nodes"].size(); ++i) {
      const auto& jn = j["nodes"][i];
      const std::string prefix = "nodes[" + std::to_string(i) + "].";
      PlanNode n;
      get(jn, "name", n.name, prefix);
      get(jn, "op", n.op, prefix);
      get(jn, "device", n.device, prefix);
      get(jn, "opp_mhz", n.opp_mhz, prefix);
      get(jn, "macs", n.macs, prefix);
      get(jn, "bytes_read", n.bytes_read, prefix);
      get(jn, "bytes_written", n.bytes_written, prefix);
      get(jn, "latency_ms", n.latency_ms, prefix);
      get(jn, "energy_mj", n.energy_mj, prefix);
      if (jn.contains("type")) {
        get(jn, "type", n.type, prefix);
        if (!parse_num_type(n.type))
          throw Error(ErrorKind::invalid_argument,
                      "'" + n.type + "' is not one of int8, fp16, fp32",
                      std::string(where) + ": " + prefix + "type");
      }
      if (jn.contains("transfer_ms")) get(jn, "transfer_ms", n.transfer_ms, prefix);
      if (jn.contains("transfer_mj")) get(jn, "transfer_mj", n.transfer_mj, prefix);
      if (n.latency_ms < 0 || n.energy_mj < 0 || n.transfer_ms < 0 || n.transfer_mj < 0)
        throw Error(ErrorKind::invalid_argument, "negative cost",
                    std::string(where) + ": " + prefix);
      plan.nodes.push_back(std::move(n));
    }
    const auto& totals = j.contains("totals") ? j["totals"] : nlohmann::json();
    get(totals, "latency_ms", plan.latency_ms, "totals.");
    get(totals, "energy_mj", plan.energy_mj, "totals.");
    plan.edp = plan.latency_ms * plan.energy_mj;
    return plan;
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::invalid_argument, std::string("wrong type: ") + e.what(),
                std::string(where) + ": " + field);
  }
}

Plan read_plan(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(ErrorKind::io, "cannot read the plan", path.string());
  std::stringstream text;
  text << f.rdbuf();
  return parse_plan(text.str(), path.string());
}

}  // namespace edgeco
