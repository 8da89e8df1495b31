#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>

#include "commands.h"
#include "edgeco/compiler.h"
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
  bool no_winograd = false;
  std::string plan;  // a plan from `edgeco compile`
};

// The plan's modelled figures per device, and the host's measured time on the nodes each device
// was given. Throws when the plan names nodes the model does not have (another model, or another
// edgeco's passes).
nlohmann::json plan_report(const Plan& plan, const Graph& model, const std::string& model_path,
                           const Session& session) {
  Graph compiled = model;
  // The compiler's passes as `edgeco compile` ran them (the host evaluator sees through shapes).
  optimize(
      compiled,
      [](const Node& node, int64_t opset, std::span<const Tensor* const> inputs) {
        return run_node(node, opset, inputs);
      },
      false, plan.fused);
  std::set<std::string> names;
  for (const Node& n : compiled.nodes) names.insert(n.name);
  std::map<std::string, std::string> device_of;
  for (const PlanNode& n : plan.nodes) {
    if (!names.count(n.name))
      throw Error(ErrorKind::invalid_argument,
                  "node '" + n.name +
                      "' is not in the compiled model: the plan was made for "
                      "another model (" +
                      plan.model + ")",
                  model_path);
    device_of[n.name] = n.device;
  }
  nlohmann::json devices = nlohmann::json::object();
  for (const PlanNode& n : plan.nodes) {
    auto& d = devices[n.device];
    if (d.is_null()) d = {{"nodes", 0}, {"modelled_latency_ms", 0.0}, {"modelled_energy_mj", 0.0}};
    d["nodes"] = d.value("nodes", 0) + 1;
    d["modelled_latency_ms"] = d.value("modelled_latency_ms", 0.0) + n.latency_ms + n.transfer_ms;
    d["modelled_energy_mj"] = d.value("modelled_energy_mj", 0.0) + n.energy_mj + n.transfer_mj;
  }
  for (auto& [name, d] : devices.items()) d["measured_host_ms"] = 0.0;
  double unplanned_ms = 0;
  for (const auto& t : session.last_timings()) {
    const auto it = device_of.find(t.node);
    if (it == device_of.end()) {
      unplanned_ms += t.ms;  // layout transposes the host inserts for its own kernels
      continue;
    }
    auto& d = devices[it->second];
    d["measured_host_ms"] = d["measured_host_ms"].get<double>() + t.ms;
  }
  return {{"platform", plan.platform},
          {"objective", plan.objective},
          {"strategy", plan.strategy},
          {"modelled_latency_ms", plan.latency_ms},
          {"modelled_energy_mj", plan.energy_mj},
          {"devices", devices},
          {"host_only_ms", unplanned_ms}};
}

// Output names may hold '/', ':' and the like; file names keep [A-Za-z0-9._-].
std::string file_name_for(const std::string& name) {
  std::string out = name;
  for (char& c : out)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') c = '_';
  return out.empty() ? "output" : out;
}

void run(RunOptions o) {
  std::optional<Plan> plan;
  if (!o.plan.empty()) {
    std::ifstream f(o.plan, std::ios::binary);
    if (!f) throw Error(ErrorKind::io, "cannot read the plan", o.plan);
    std::stringstream text;
    text << f.rdbuf();
    plan = parse_plan(text.str(), o.plan);
    if (o.model.empty()) o.model = plan->model;
  }
  if (o.model.empty())
    throw Error(ErrorKind::invalid_argument, "no MODEL given and no plan naming one");
  Graph graph = load_onnx(o.model);
  const Graph as_loaded = plan ? graph : Graph{};
  PreparedInputs prepared = prepare_inputs(graph, o.inputs, o.seed);
  const TensorMap& inputs = prepared.tensors;
  const std::vector<std::string>& random_names = prepared.random_names;
  SessionOptions session_options{o.threads, !o.reference, !o.reference};
  session_options.winograd = !o.no_winograd;
  Session session(std::move(graph), session_options);
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
  if (plan) j["plan"] = plan_report(*plan, as_loaded, o.model, session);
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
  if (!plan) return;
  const auto& r = j["plan"];
  std::printf("plan %s: %s on %s (%s, %s); modelled %.4f ms, %.4f mJ\n", o.plan.c_str(),
              plan->model.c_str(), plan->platform.c_str(), plan->objective.c_str(),
              plan->strategy.c_str(), plan->latency_ms, plan->energy_mj);
  std::printf("  %-6s %6s %14s %14s %16s\n", "device", "nodes", "modelled ms", "modelled mJ",
              "host ms (meas.)");
  for (const auto& [device, d] : r["devices"].items())
    std::printf("  %-6s %6d %14.4f %14.4f %16.3f\n", device.c_str(), d["nodes"].get<int>(),
                d["modelled_latency_ms"].get<double>(), d["modelled_energy_mj"].get<double>(),
                d["measured_host_ms"].get<double>());
  std::printf("  every node ran on this host for real; device latency and energy are modelled\n");
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "Run a model once and write its outputs as .npy files");
  auto o = std::make_shared<RunOptions>();
  cmd->add_option("MODEL", o->model, "ONNX model file (with --plan: the plan's model if omitted)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--plan", o->plan,
                  "a plan from `edgeco compile`: also print its modelled latency and energy per "
                  "device beside the host's measured time on that device's nodes")
      ->check(CLI::ExistingFile);
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
  cmd->add_flag("--no-winograd", o->no_winograd,
                "direct 3x3 convolutions only: Winograd's transformed weights take 1.8-4x the "
                "memory (ResNet-18: peak RSS 158 vs 104 MB, 14.7 vs 18.9 ms at 1 thread)");
  cmd->callback([o] { run(*o); });
}

}  // namespace edgeco::cli
