#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "edgeco/compiler.h"
#include "edgeco/data.h"
#include "edgeco/deploy.h"
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

// The plan's modelled figures per device beside the host's measured time on the nodes computing
// for that device (in its numeric type), and what the deployment changed.
nlohmann::json plan_report(const Plan& plan, const DeployedModel& deployed,
                           const Session& session) {
  nlohmann::json devices = nlohmann::json::object();
  for (const PlanNode& n : plan.nodes) {
    auto& d = devices[n.device];
    if (d.is_null())
      d = {{"nodes", 0},
           {"modelled_latency_ms", 0.0},
           {"modelled_energy_mj", 0.0},
           {"measured_host_ms", 0.0},
           {"types", nlohmann::json::object()}};
    d["nodes"] = d["nodes"].get<int>() + 1;
    d["modelled_latency_ms"] =
        d["modelled_latency_ms"].get<double>() + n.latency_ms + n.transfer_ms;
    d["modelled_energy_mj"] = d["modelled_energy_mj"].get<double>() + n.energy_mj + n.transfer_mj;
    d["types"][n.type] = d["types"].value(n.type, 0) + 1;
  }
  double host_ms = 0;
  for (const auto& t : session.last_timings()) {
    const auto it = deployed.device_of.find(t.node);
    if (it == deployed.device_of.end() || !devices.contains(it->second)) {
      host_ms += t.ms;
      continue;
    }
    auto& d = devices[it->second];
    d["measured_host_ms"] = d["measured_host_ms"].get<double>() + t.ms;
  }
  nlohmann::json transfers = nlohmann::json::array();
  for (const PlannedTransfer& t : deployed.transfers)
    transfers.push_back({{"value", t.value}, {"from", t.from}, {"to", t.to}, {"bytes", t.bytes}});
  return {{"platform", plan.platform},
          {"objective", plan.objective},
          {"strategy", plan.strategy},
          {"modelled_latency_ms", plan.latency_ms},
          {"modelled_energy_mj", plan.energy_mj},
          {"devices", devices},
          {"nodes_by_type", deployed.nodes_by_type},
          {"rewritten_nodes", deployed.rewritten},
          {"transfers", transfers},
          {"host_only_ms", host_ms}};
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
    plan = read_plan(o.plan);
    if (o.model.empty()) o.model = plan->model;
  }
  if (o.model.empty())
    throw Error(ErrorKind::invalid_argument, "no MODEL given and no plan naming one");
  Graph graph = load_onnx(o.model);
  std::optional<DeployedModel> deployed;
  SessionOptions session_options{.threads = o.threads,
                                 .optimize = !o.reference,
                                 .fast_kernels = !o.reference,
                                 .winograd = !o.no_winograd};
  if (plan) {
    // The plan's passes have run: the session runs the deployed graph as it is.
    deployed = deploy(std::move(graph), *plan);
    graph = deployed->graph;
    session_options.optimize = false;
  }
  PreparedInputs prepared = prepare_inputs(graph, o.inputs, o.seed);
  const TensorMap& inputs = prepared.tensors;
  const std::vector<std::string>& random_names = prepared.random_names;
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
  if (plan) j["plan"] = plan_report(*plan, *deployed, session);
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
  std::printf("  %-6s %6s %-16s %14s %14s %16s\n", "device", "nodes", "computed in", "modelled ms",
              "modelled mJ", "host ms (meas.)");
  for (const auto& [device, d] : r["devices"].items()) {
    std::string types;
    for (const auto& [type, count] : d["types"].items())
      types += (types.empty() ? "" : ",") + type + "x" + std::to_string(count.get<int>());
    std::printf("  %-6s %6d %-16s %14.4f %14.4f %16.3f\n", device.c_str(), d["nodes"].get<int>(),
                types.c_str(), d["modelled_latency_ms"].get<double>(),
                d["modelled_energy_mj"].get<double>(), d["measured_host_ms"].get<double>());
  }
  std::printf(
      "  every node computed on this host in its device's numeric type (%d rewritten: fp16 "
      "rounding, or an int8 node's float form); %zu tensors cross devices; device latency and "
      "energy are modelled\n",
      deployed->rewritten, deployed->transfers.size());
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "Run a model once and write its outputs as .npy files");
  auto o = std::make_shared<RunOptions>();
  cmd->add_option("MODEL", o->model, "ONNX model file (with --plan: the plan's model if omitted)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--plan", o->plan,
                  "a plan from `edgeco compile`: run the model as deployed, each node computing "
                  "in its device's numeric type (fp16 rounding on an fp16 GPU, int8 on an NPU, an "
                  "int8 node's float form on a float device), and print the plan's modelled "
                  "latency and energy per device beside the host's measured time")
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
                "direct 3x3 convolutions only: slower, and Winograd's transformed weights take "
                "more memory (bench/RESULTS.md has the figures)");
  cmd->callback([o] { run(*o); });
}

}  // namespace edgeco::cli
