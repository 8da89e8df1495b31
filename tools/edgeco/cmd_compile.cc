// edgeco compile: place a model's nodes on a platform's devices and write the plan the runtime
// executes. Latency and energy in a plan are modelled (platforms/*.yaml), and say so.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "edgeco/compiler.h"
#include "edgeco/hw.h"
#include "edgeco/onnx.h"
#include "edgeco/runtime.h"

namespace edgeco::cli {
namespace {

struct CompileRequest {
  std::string model, platform, objective = "energy", strategy = "exact", out;
  double deadline_ms = 0, time_limit_s = 10;
  bool no_dvfs = false, no_fuse = false, no_tile = false, compare = false, json = false;
};

Plan compile_with(const CompileRequest& r, const Graph& model, const hw::Platform& platform,
                  Strategy strategy, bool fuse, bool tile) {
  CompileOptions o;
  o.objective = parse_objective(r.objective);
  o.deadline_ms = r.deadline_ms;
  o.strategy = strategy;
  o.fuse = fuse;
  o.tile = tile;
  o.dvfs = !r.no_dvfs;
  o.time_limit_s = r.time_limit_s;
  Plan plan = compile(model, platform, o, reference_evaluator());
  plan.model = r.model;
  return plan;
}

// Per device: nodes, modelled latency and energy (transfers onto a device count for it).
std::map<std::string, std::tuple<int, double, double>> by_device(const Plan& plan) {
  std::map<std::string, std::tuple<int, double, double>> out;
  for (const auto& n : plan.nodes) {
    auto& [count, ms, mj] = out[n.device];
    ++count;
    ms += n.latency_ms + n.transfer_ms;
    mj += n.energy_mj + n.transfer_mj;
  }
  return out;
}

nlohmann::json summary_json(const Plan& p) {
  nlohmann::json devices = nlohmann::json::object();
  for (const auto& [d, t] : by_device(p))
    devices[d] = {
        {"nodes", std::get<0>(t)}, {"latency_ms", std::get<1>(t)}, {"energy_mj", std::get<2>(t)}};
  return {{"strategy", p.strategy},     {"method", p.method},       {"optimal", p.optimal},
          {"latency_ms", p.latency_ms}, {"energy_mj", p.energy_mj}, {"edp", p.edp},
          {"solve_ms", p.solve_ms},     {"devices", devices}};
}

void compile_command(const CompileRequest& r) {
  const hw::Platform platform = hw::find_platform(r.platform);
  // Loaded once: --compare compiles the same model seven times.
  const Graph model = load_onnx(r.model);
  const Plan plan =
      compile_with(r, model, platform, parse_strategy(r.strategy), !r.no_fuse, !r.no_tile);
  if (!r.out.empty()) {
    const std::string text = plan_to_json(plan);
    std::ofstream f(r.out, std::ios::binary);
    if (!(f << text) || !f.flush()) throw Error(ErrorKind::io, "cannot write the plan", r.out);
  }
  // The baselines (and the graph without fusion) on the same objective, for comparison.
  std::vector<std::pair<std::string, Plan>> compared;
  if (r.compare) {
    for (Strategy s : {Strategy::exact, Strategy::greedy, Strategy::all_cpu, Strategy::all_gpu}) {
      try {
        compared.emplace_back(std::string(to_string(s)),
                              compile_with(r, model, platform, s, true, true));
      } catch (const Error& e) {
        std::fprintf(stderr, "edgeco compile: %s: %s\n", std::string(to_string(s)).c_str(),
                     e.what());
      }
    }
    compared.emplace_back("exact, no tiling",
                          compile_with(r, model, platform, Strategy::exact, true, false));
    compared.emplace_back("exact, no fusion",
                          compile_with(r, model, platform, Strategy::exact, false, true));
    compared.emplace_back("exact, neither",
                          compile_with(r, model, platform, Strategy::exact, false, false));
  }
  if (r.json) {
    nlohmann::json j = summary_json(plan);
    j["what"] = "modelled from " + platform.file.string() + ", not measured";
    j["model"] = r.model;
    j["platform"] = platform.name;
    j["objective"] = r.objective;
    j["nodes"] = plan.nodes.size();
    j["arena_bytes"] = plan.arena_bytes;
    if (!r.out.empty()) j["plan"] = r.out;
    for (const auto& [name, p] : compared) j["compare"][name] = summary_json(p);
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::printf("%s on %s: %zu nodes, objective %s%s, strategy %s (%s%s, %.1f ms to solve)\n",
              r.model.c_str(), platform.name.c_str(), plan.nodes.size(), r.objective.c_str(),
              r.deadline_ms > 0 ? (" under " + std::to_string(r.deadline_ms) + " ms").c_str() : "",
              plan.strategy.c_str(), plan.method.c_str(), plan.optimal ? ", optimal" : "",
              plan.solve_ms);
  std::printf("modelled: latency %.4f ms, energy %.4f mJ, EDP %.5g mJ*ms; activation arena %s\n",
              plan.latency_ms, plan.energy_mj, plan.edp,
              (human(double(plan.arena_bytes)) + "B").c_str());
  std::printf("tiling: %d cascades, DRAM traffic %sB (%sB untiled)\n", plan.cascades,
              human(double(plan.dram_bytes)).c_str(),
              human(double(plan.dram_bytes_untiled)).c_str());
  for (const auto& [device, t] : by_device(plan))
    std::printf("  %-5s %4d nodes %10.4f ms %10.4f mJ\n", device.c_str(), std::get<0>(t),
                std::get<1>(t), std::get<2>(t));
  if (!r.out.empty()) std::printf("wrote %s\n", r.out.c_str());
  if (compared.empty()) return;
  std::printf("\n%-18s %12s %12s %14s  placement (modelled, objective %s)\n", "strategy",
              "latency ms", "energy mJ", "EDP mJ*ms", r.objective.c_str());
  const Plan& exact = compared.front().second;
  for (const auto& [name, p] : compared) {
    std::string where;
    for (const auto& [device, t] : by_device(p))
      where += (where.empty() ? "" : ", ") + device + " " + std::to_string(std::get<0>(t));
    std::printf("%-18s %12.4f %12.4f %14.5g  %s\n", name.c_str(), p.latency_ms, p.energy_mj, p.edp,
                where.c_str());
  }
  for (size_t i = 1; i < compared.size(); ++i) {
    const Plan& p = compared[i].second;
    std::printf("exact vs %-16s latency %+.1f%%, energy %+.1f%%, EDP %+.1f%%\n",
                compared[i].first.c_str(), (exact.latency_ms / p.latency_ms - 1) * 100,
                (exact.energy_mj / p.energy_mj - 1) * 100, (exact.edp / p.edp - 1) * 100);
  }
}

}  // namespace

void add_compile_command(CLI::App& app) {
  auto r = std::make_shared<CompileRequest>();
  auto* cmd = app.add_subcommand(
      "compile",
      "Place every node of a model on a device and operating point of a platform, minimising a\n"
      "modelled objective (transfers between devices and each device's supported ops counted),\n"
      "and write the plan (JSON) that `edgeco run --plan` executes.");
  cmd->add_option("MODEL", r->model, "ONNX model")->required()->check(CLI::ExistingFile);
  cmd->add_option("--platform", r->platform, "a preset name or a YAML file")->required();
  cmd->add_option("--objective", r->objective, "energy, latency or edp (default energy)")
      ->check(CLI::IsMember({"energy", "latency", "edp"}));
  cmd->add_option("--deadline-ms", r->deadline_ms, "total modelled latency must not exceed it")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--strategy", r->strategy,
                  "exact (dp, or an ILP for wide graphs), greedy (accelerator where supported, "
                  "cpu fallback), all-cpu, all-gpu (default exact)")
      ->check(CLI::IsMember({"exact", "greedy", "all-cpu", "all-gpu"}));
  cmd->add_option("--time-limit", r->time_limit_s, "seconds the ILP may search (default 10)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--no-dvfs", r->no_dvfs, "every device at its highest operating point");
  cmd->add_flag("--no-fuse", r->no_fuse,
                "no BN folding and no conv + activation fusion (int8 QDQ patterns still become "
                "int8 nodes)");
  cmd->add_flag("--no-tile", r->no_tile,
                "no cascades (tiling that keeps activations in a device's on-chip memory)");
  cmd->add_flag("--compare", r->compare,
                "also compile greedy, all-cpu, all-gpu, and exact without tiling, without fusion "
                "and without either, and compare");
  cmd->add_option("--out", r->out, "write the plan here");
  cmd->add_flag("--json", r->json, "print one JSON object");
  cmd->callback([r] { compile_command(*r); });
}

}  // namespace edgeco::cli
