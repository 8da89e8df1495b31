#include <algorithm>
#include <limits>

#include "edgeco/compress.h"

namespace edgeco {
namespace {

Node cast_node(const std::string& name, const std::string& in, const std::string& out, DType to) {
  return Node{name, "Cast", "", {in}, {out}, {{"to", Attribute{dtype_code(to)}}}};
}

// Runs `node` at float16: its weight is stored as float16 and widened by a Cast, its input is
// rounded to float16 and back.
void run_at_fp16(Graph& g, const std::string& node) {
  const auto it =
      std::find_if(g.nodes.begin(), g.nodes.end(), [&](const Node& n) { return n.name == node; });
  if (it == g.nodes.end()) throw Error(ErrorKind::invalid_argument, "no such node", node);
  Node n = *it;
  const std::string w16 = n.inputs[1] + "_fp16", w32 = w16 + "_as_f32";
  const std::string x16 = n.inputs[0] + "_" + node + "_fp16", x32 = x16 + "_as_f32";
  g.value(w16).initializer = g.value(n.inputs[1]).initializer->cast(DType::f16);
  std::vector<Node> casts{cast_node(node + "_weight_to_f32", w16, w32, DType::f32),
                          cast_node(node + "_input_to_f16", n.inputs[0], x16, DType::f16),
                          cast_node(node + "_input_to_f32", x16, x32, DType::f32)};
  it->inputs[0] = x32;
  it->inputs[1] = w32;
  g.nodes.insert(it, casts.begin(), casts.end());
}

double total_cost(const std::vector<LayerPrecision>& layers, const PrecisionCost& cost,
                  std::optional<NumType> all = std::nullopt) {
  double sum = 0;
  for (const LayerPrecision& l : layers) sum += cost(l.node, l.macs, all.value_or(l.precision));
  return sum;
}

}  // namespace

double macs_times_bits(const std::string&, int64_t macs, NumType p) {
  return double(macs) * bits(p);
}

Graph apply_precisions(const Graph& model, const std::map<std::string, NumType>& precisions,
                       std::span<const TensorMap> calibration, const CalibrationRunner& run,
                       const QuantizeOptions& options) {
  QuantizeOptions o = options;
  o.only.emplace();
  for (const auto& [node, p] : precisions)
    if (p == NumType::int8) o.only->insert(node);
  o.progress = nullptr;
  Graph g = o.only->empty() ? model : quantize_qdq(model, calibration, run, o);
  for (const auto& [node, p] : precisions)
    if (p == NumType::fp16) run_at_fp16(g, node);
  return g;
}

Graph mixed_precision(const Graph& model, std::span<const TensorMap> calibration,
                      const CalibrationRunner& run, const AccuracyFunction& accuracy,
                      const MixedPrecisionOptions& options, MixedPrecisionReport* report) {
  if (!(options.budget >= 0))
    throw Error(ErrorKind::invalid_argument, "the accuracy budget must be >= 0", model.name);
  MixedPrecisionReport local;
  MixedPrecisionReport& rep = report ? *report : local;
  rep = {};
  Graph typed = model;
  typed.sort_topologically();
  const InferenceResult inferred =
      infer_types(typed, OpRegistry::builtin(), options.quantize.evaluate);

  // The layers: what the quantizer would make int8.
  QuantizeReport all;
  quantize_qdq(model, calibration.first(1), run, options.quantize, &all);
  for (const std::string& node : all.quantized) {
    const auto it = inferred.node_macs.find(node);
    rep.layers.push_back({node, it == inferred.node_macs.end() ? 0 : it->second});
  }
  const size_t total = 2 * rep.layers.size() + 2;
  size_t done = 0;
  auto measure = [&](const std::map<std::string, NumType>& p, const std::string& what) {
    const double a = accuracy(apply_precisions(model, p, calibration, run, options.quantize));
    ++rep.evaluations;
    if (options.progress) options.progress(what, std::min(++done, total), total);
    return a;
  };

  rep.fp32_accuracy = accuracy(model);
  ++rep.evaluations;
  for (LayerPrecision& l : rep.layers) {
    l.int8_drop = rep.fp32_accuracy - measure({{l.node, NumType::int8}}, l.node + " int8");
    // fp16 rounds 8x finer than int8: where int8 costs nothing, fp16 is not measured.
    l.fp16_drop = l.int8_drop <= 0
                      ? 0.0
                      : rep.fp32_accuracy - measure({{l.node, NumType::fp16}}, l.node + " fp16");
  }
  std::map<std::string, NumType> choice;
  for (LayerPrecision& l : rep.layers) choice[l.node] = l.precision = NumType::int8;
  rep.int8_accuracy = rep.accuracy = measure(choice, "all int8");
  const double target = rep.fp32_accuracy - options.budget;
  while (rep.accuracy < target) {
    // The promotion that buys back the most measured sensitivity per unit of cost.
    LayerPrecision* best = nullptr;
    double best_value = -std::numeric_limits<double>::infinity();
    for (LayerPrecision& l : rep.layers) {
      if (l.precision == NumType::fp32) continue;
      const NumType next = l.precision == NumType::int8 ? NumType::fp16 : NumType::fp32;
      const double gain = l.precision == NumType::int8 ? l.int8_drop - l.fp16_drop : l.fp16_drop;
      const double extra =
          options.cost(l.node, l.macs, next) - options.cost(l.node, l.macs, l.precision);
      const double value = gain / std::max(extra, 1e-9);
      if (value > best_value) best_value = value, best = &l;
    }
    if (!best) break;  // everything fp32 already
    best->precision = best->precision == NumType::int8 ? NumType::fp16 : NumType::fp32;
    choice[best->node] = best->precision;
    rep.accuracy = measure(choice, best->node + " -> " + std::string(to_string(best->precision)));
  }
  // Greedy promotion can overshoot (an early pick made redundant by a later one): try taking each
  // promotion back a step, largest saving first, keeping those the budget allows.
  std::vector<LayerPrecision*> promoted;
  for (LayerPrecision& l : rep.layers)
    if (l.precision != NumType::int8) promoted.push_back(&l);
  auto saving = [&](const LayerPrecision* l) {
    const NumType down = l->precision == NumType::fp32 ? NumType::fp16 : NumType::int8;
    return options.cost(l->node, l->macs, l->precision) - options.cost(l->node, l->macs, down);
  };
  std::stable_sort(promoted.begin(), promoted.end(),
                   [&](auto* a, auto* b) { return saving(a) > saving(b); });
  for (LayerPrecision* l : promoted) {
    if (rep.accuracy < target) break;
    const NumType was = l->precision;
    const NumType down = was == NumType::fp32 ? NumType::fp16 : NumType::int8;
    choice[l->node] = down;
    const double a = measure(choice, l->node + " back to " + std::string(to_string(down)));
    if (a >= target) {
      l->precision = down;
      rep.accuracy = a;
    } else {
      choice[l->node] = was;
    }
  }
  rep.fp32_cost = total_cost(rep.layers, options.cost, NumType::fp32);
  rep.int8_cost = total_cost(rep.layers, options.cost, NumType::int8);
  rep.cost = total_cost(rep.layers, options.cost);
  if (options.progress) options.progress("done", total, total);
  return apply_precisions(model, choice, calibration, run, options.quantize);
}

}  // namespace edgeco
