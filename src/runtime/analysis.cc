#include "edgeco/runtime.h"

namespace edgeco {

ModelSummary analyze(Graph graph, bool optimized) {
  ModelSummary summary;
  summary.opset = graph.opset;
  graph.sort_topologically();
  graph.validate(OpRegistry::builtin());
  // Symbolic dims (a dynamic batch) are analysed at size 1.
  for (const auto& name : graph.inputs) {
    Value& v = graph.value(name);
    for (auto& d : v.type->dims)
      if (d < 0) d = 1, summary.symbolic_dims_assumed_one = true;
    summary.inputs.emplace_back(name, *v.type);
  }
  std::map<std::string, std::string> kernels;
  if (optimized) {
    // The Session decides passes and kernels; analyse the graph it prepared.
    SessionOptions options{.threads = 1, .optimize = true, .fast_kernels = true};
    options.keep_constants = true;  // its parameters are counted below
    const Session session(graph, options);
    graph = session.graph();
    summary.passes = session.pass_log();
    for (const auto& t : session.last_timings()) kernels[t.node] = t.kernel;
  }
  const InferenceResult inferred = infer_types(graph, OpRegistry::builtin(), reference_evaluator());
  auto bytes_of = [](const TensorType& t) -> int64_t {
    if (!t.fully_known()) return 0;
    return checked_numel(t.dims) * int64_t(dtype_size(t.dtype));
  };
  for (const Node& node : graph.nodes) {
    NodeSummary s{node.name, node.op_type};
    if (optimized) s.kernel = kernels.count(node.name) ? kernels.at(node.name) : "folded";
    if (node.has_attr("group")) s.groups = node.attr_int("group");
    for (const auto& in : node.inputs) {
      if (in.empty()) continue;
      const Value& v = graph.value(in);
      s.input_types.push_back(*v.type);
      s.bytes_read += bytes_of(*v.type);
      if (v.initializer) s.params += v.initializer->numel();
    }
    for (const auto& out : node.outputs) {
      if (out.empty()) continue;
      const Value& v = graph.value(out);
      s.output_types.push_back(v.type ? *v.type : TensorType{DType::f32, {}, false});
      if (v.type) s.bytes_written += bytes_of(*v.type);
    }
    if (auto it = inferred.node_macs.find(node.name); it != inferred.node_macs.end())
      s.macs = it->second;
    summary.macs += s.macs;
    summary.bytes_read += s.bytes_read;
    summary.bytes_written += s.bytes_written;
    ++summary.op_histogram[node.op_type];
    summary.nodes.push_back(std::move(s));
  }
  for (const auto& [name, v] : graph.values)
    if (v.initializer) {
      summary.params += v.initializer->numel();
      summary.param_bytes += int64_t(v.initializer->nbytes());
    }
  for (const auto& name : graph.outputs) {
    const Value& v = graph.value(name);
    summary.outputs.emplace_back(name, v.type ? *v.type : TensorType{DType::f32, {}, false});
  }
  return summary;
}

}  // namespace edgeco
