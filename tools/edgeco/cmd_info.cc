#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "edgeco/onnx.h"
#include "edgeco/runtime.h"

namespace edgeco::cli {
namespace {

nlohmann::json type_json(const TensorType& t) {
  nlohmann::json j{{"dtype", std::string(to_string(t.dtype))}};
  if (t.rank_known)
    j["shape"] = t.dims;
  else
    j["shape"] = nullptr;
  return j;
}

void print_info(const std::string& path, bool json, bool optimized) {
  const ModelSummary s = analyze(load_onnx(path), optimized);
  if (json) {
    nlohmann::json j;
    j["model"] = path;
    j["opset"] = s.opset;
    for (const auto& [name, t] : s.inputs)
      j["inputs"].push_back({{"name", name}, {"type", type_json(t)}});
    for (const auto& [name, t] : s.outputs)
      j["outputs"].push_back({{"name", name}, {"type", type_json(t)}});
    j["op_histogram"] = s.op_histogram;
    j["macs"] = s.macs;
    j["params"] = s.params;
    j["param_bytes"] = s.param_bytes;
    j["bytes_read"] = s.bytes_read;
    j["bytes_written"] = s.bytes_written;
    j["symbolic_dims_assumed_one"] = s.symbolic_dims_assumed_one;
    j["optimized"] = optimized;
    if (optimized) j["passes"] = s.passes;
    j["nodes"] = nlohmann::json::array();
    for (const auto& n : s.nodes) {
      nlohmann::json node{{"name", n.name},
                          {"op", n.op_type},
                          {"macs", n.macs},
                          {"params", n.params},
                          {"bytes_read", n.bytes_read},
                          {"bytes_written", n.bytes_written}};
      if (optimized) node["kernel"] = n.kernel;
      for (const auto& t : n.output_types) node["output_types"].push_back(type_json(t));
      j["nodes"].push_back(node);
    }
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::printf("model   %s (opset %lld)\n", path.c_str(), static_cast<long long>(s.opset));
  for (const auto& [name, t] : s.inputs)
    std::printf("input   %s: %s\n", name.c_str(), t.to_string().c_str());
  for (const auto& [name, t] : s.outputs)
    std::printf("output  %s: %s\n", name.c_str(), t.to_string().c_str());
  if (s.symbolic_dims_assumed_one)
    std::printf("note    symbolic dims (dynamic batch) are counted as 1\n");
  if (optimized) {
    std::printf("note    the graph as edgeco runs it: %zu pass rewrites, kernel per node below\n",
                s.passes.size());
    std::map<std::string, int> by_kernel;
    for (const auto& n : s.nodes) ++by_kernel[n.kernel];
    std::printf("kernels ");
    for (const auto& [k, count] : by_kernel) std::printf("%s x%d  ", k.c_str(), count);
    std::printf("\n");
  }
  std::printf("\n%-36s %-20s %-10s %-24s %12s %10s %12s %12s\n", "node", "op", "kernel", "output",
              "MACs", "params", "read", "written");
  for (const auto& n : s.nodes) {
    const std::string out = n.output_types.empty() ? "" : n.output_types[0].to_string();
    std::printf("%-36.36s %-20.20s %-10.10s %-24.24s %12s %10s %12s %12s\n", n.name.c_str(),
                n.op_type.c_str(), optimized ? n.kernel.c_str() : "-", out.c_str(),
                human(double(n.macs)).c_str(), human(double(n.params)).c_str(),
                human(double(n.bytes_read)).c_str(), human(double(n.bytes_written)).c_str());
  }
  std::printf("\nops     ");
  for (const auto& [op, count] : s.op_histogram)
    std::printf("%s x%lld  ", op.c_str(), static_cast<long long>(count));
  std::printf(
      "\ntotal   %zu nodes, %s MACs, %s parameters (%s bytes), %s bytes read, %s bytes written\n",
      s.nodes.size(), human(double(s.macs)).c_str(), human(double(s.params)).c_str(),
      human(double(s.param_bytes)).c_str(), human(double(s.bytes_read)).c_str(),
      human(double(s.bytes_written)).c_str());
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "info",
      "Show a model's inputs, outputs, op histogram, parameters, and MACs and bytes per node");
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("MODEL", *path, "ONNX model file")->required()->check(CLI::ExistingFile);
  auto optimized = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "print one JSON object (totals: macs, params) instead of a table");
  cmd->add_flag(
      "--optimized", *optimized,
      "show the graph as `run`/`bench` execute it: passes applied, and the kernel of every node "
      "(a fast one, or the reference fallback)");
  cmd->callback([path, json, optimized] { print_info(*path, *json, *optimized); });
}

}  // namespace edgeco::cli
