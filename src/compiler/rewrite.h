// Helpers the graph-rewriting passes share (internal to src/compiler).
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "edgeco/compiler.h"

namespace edgeco {

// Readers of each value, and whether it is a graph output.
struct Uses {
  std::map<std::string, std::vector<size_t>> readers;
  std::set<std::string> graph_outputs;

  explicit Uses(const Graph& g) : graph_outputs(g.outputs.begin(), g.outputs.end()) {
    for (size_t i = 0; i < g.nodes.size(); ++i)
      for (const auto& in : g.nodes[i].inputs)
        if (!in.empty()) readers[in].push_back(i);
  }
  // The single node reading `value`, if it has exactly one reader and is not a graph output.
  std::optional<size_t> sole_reader(const std::string& value) const {
    if (graph_outputs.count(value)) return std::nullopt;
    auto it = readers.find(value);
    if (it == readers.end() || it->second.size() != 1) return std::nullopt;
    return it->second[0];
  }
  // True when `node` is the only node reading `value` (perhaps as more than one input) and it is
  // not a graph output.
  bool read_only_by(const std::string& value, size_t node) const {
    if (graph_outputs.count(value)) return false;
    auto it = readers.find(value);
    if (it == readers.end()) return false;
    for (size_t r : it->second)
      if (r != node) return false;
    return true;
  }
};

inline const Tensor* constant(const Graph& g, const Node& n, size_t i) {
  if (!n.has_input(i)) return nullptr;
  const Value* v = g.find_value(n.inputs[i]);
  return v && v->initializer ? &*v->initializer : nullptr;
}

inline bool is_plain_conv(const Node& n) {
  return n.domain.empty() && n.op_type == "Conv";
}

inline void note(PassLog* log, std::string line) {
  if (log) log->lines.push_back(std::move(line));
}

// Drops nodes marked for removal, keeping order.
inline void erase_marked(Graph& g, const std::vector<bool>& removed) {
  std::vector<Node> kept;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!removed[i]) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
}

// The activation of node `n` as fused-convolution attributes (activation, activation_alpha/beta),
// or nullopt if it cannot be fused.
std::optional<std::map<std::string, Attribute>> activation_of(const Graph& g, const Node& n);

}  // namespace edgeco
