#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "commands.h"
#include "edgeco/data.h"
#include "edgeco/onnx.h"
#include "edgeco/runtime.h"
#include "inputs.h"

namespace edgeco::cli {
namespace {

struct RunOptions {
  std::string model;
  std::vector<std::string> inputs;  // NAME=FILE
  std::string output_dir;
  int threads = 1;
  uint32_t seed = 0;
  bool json = false;
  bool reference = false;
};

// Output names may hold '/', ':' and the like; file names keep [A-Za-z0-9._-].
std::string file_name_for(const std::string& name) {
  std::string out = name;
  for (char& c : out)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') c = '_';
  return out.empty() ? "output" : out;
}

void run(const RunOptions& o) {
  Graph graph = load_onnx(o.model);
  PreparedInputs prepared = prepare_inputs(graph, o.inputs, o.seed);
  const TensorMap& inputs = prepared.tensors;
  const std::vector<std::string>& random_names = prepared.random_names;
  Session session(std::move(graph), SessionOptions{o.threads, !o.reference, !o.reference});
  const auto start = std::chrono::steady_clock::now();
  const TensorMap outputs = session.run(inputs);
  const double total_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

  nlohmann::json j;
  j["model"] = o.model;
  j["latency_ms"] = total_ms;
  j["threads"] = o.threads;
  j["random_inputs"] = random_names;
  if (!o.output_dir.empty()) std::filesystem::create_directories(o.output_dir);
  for (const auto& [name, t] : outputs) {
    nlohmann::json out{
        {"name", name}, {"dtype", std::string(to_string(t.dtype()))}, {"shape", t.dims()}};
    if (t.numel() > 0) {
      const auto v = t.to_doubles();
      const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
      double sum = 0;
      for (double x : v) sum += x;
      out["min"] = *lo;
      out["max"] = *hi;
      out["mean"] = sum / double(v.size());
      out["argmax"] = std::distance(v.begin(), std::max_element(v.begin(), v.end()));
    }
    if (!o.output_dir.empty()) {
      const auto file = std::filesystem::path(o.output_dir) / (file_name_for(name) + ".npy");
      save_npy(t, file);
      out["file"] = file.string();
    }
    j["outputs"].push_back(out);
  }
  std::vector<NodeTiming> slowest = session.last_timings();
  std::sort(slowest.begin(), slowest.end(),
            [](const auto& a, const auto& b) { return a.ms > b.ms; });
  for (size_t i = 0; i < std::min<size_t>(5, slowest.size()); ++i)
    j["slowest_nodes"].push_back(
        {{"node", slowest[i].node}, {"op", slowest[i].op_type}, {"ms", slowest[i].ms}});
  if (o.json) {
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::map<std::string, int> kernels;
  for (const auto& t : session.last_timings()) ++kernels[t.kernel];
  std::printf("ran %s in %.2f ms (measured, %d thread%s, %s; nodes by kernel:", o.model.c_str(),
              total_ms, o.threads, o.threads == 1 ? "" : "s",
              o.reference ? "graph as written" : "optimized graph");
  for (const auto& [kernel, count] : kernels) std::printf(" %s %d", kernel.c_str(), count);
  std::printf(")\n");
  if (!random_names.empty()) {
    std::printf("random inputs (seed %u, symbolic dims = 1):", o.seed);
    for (const auto& n : random_names) std::printf(" %s", n.c_str());
    std::printf("\n");
  }
  for (const auto& out : j["outputs"]) {
    std::printf("output %s: %s%s", out["name"].get<std::string>().c_str(),
                out["dtype"].get<std::string>().c_str(),
                dims_to_string(out["shape"].get<Dims>()).c_str());
    if (out.contains("min"))
      std::printf("  min %.6g  max %.6g  mean %.6g  argmax %lld", out["min"].get<double>(),
                  out["max"].get<double>(), out["mean"].get<double>(),
                  out["argmax"].get<long long>());
    if (out.contains("file")) std::printf("  -> %s", out["file"].get<std::string>().c_str());
    std::printf("\n");
  }
  if (j.contains("slowest_nodes")) {
    std::printf("slowest nodes:");
    for (const auto& n : j["slowest_nodes"])
      std::printf("  %s (%s) %.2f ms", n["node"].get<std::string>().c_str(),
                  n["op"].get<std::string>().c_str(), n["ms"].get<double>());
    std::printf("\n");
  }
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "Run a model once and write its outputs as .npy files");
  auto o = std::make_shared<RunOptions>();
  cmd->add_option("MODEL", o->model, "ONNX model file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--input", o->inputs,
                  "NAME=FILE: an input as .npy or ONNX TensorProto .pb (repeatable); inputs not "
                  "given get deterministic "
                  "random values");
  cmd->add_option("--output-dir", o->output_dir, "write each output to DIR/<output name>.npy");
  cmd->add_option("--threads", o->threads, "worker threads for convolutions")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--seed", o->seed, "seed of the random inputs");
  cmd->add_flag("--json", o->json, "print one JSON object");
  cmd->add_flag("--reference", o->reference,
                "run the graph as written, without the optimizing passes");
  cmd->callback([o] { run(*o); });
}

}  // namespace edgeco::cli
