// What a model computes and costs, read from the graph (`edgeco info`).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "edgeco/ir.h"

namespace edgeco {

// Static analysis for `edgeco info`: per-node shapes, MACs and bytes, with symbolic dims set to 1.
struct NodeSummary {
  std::string name, op_type;
  std::string kernel;  // with `optimized`: which kernel runs it ("onednn", "reference", "folded")
  std::vector<TensorType> input_types, output_types;
  int64_t macs = 0;
  int64_t params = 0;         // elements of initializer inputs
  int64_t bytes_read = 0;     // all inputs, weights included
  int64_t bytes_written = 0;  // all outputs
  int64_t groups = 1;         // convolutions: the `group` attribute (> 1: grouped or depthwise)
};
struct ModelSummary {
  std::vector<std::pair<std::string, TensorType>> inputs, outputs;
  std::vector<NodeSummary> nodes;
  std::map<std::string, int64_t> op_histogram;
  int64_t macs = 0, params = 0, param_bytes = 0, bytes_read = 0, bytes_written = 0;
  int64_t opset = 0;
  bool symbolic_dims_assumed_one = false;
  std::vector<std::string> passes;  // with `optimized`: what the passes changed
};
// With `optimized`, the graph as the runtime runs it by default (passes applied, fast kernels
// chosen), each node naming its kernel, so a reference fallback is visible before running.
ModelSummary analyze(Graph graph, bool optimized = false);

}  // namespace edgeco
