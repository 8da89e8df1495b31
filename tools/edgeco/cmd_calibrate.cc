// edgeco calibrate / validate: fit the `host` platform to this machine from micro-benchmarks, then
// check the cost model against measured latency of whole networks: the one place the model meets
// reality on these machines.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <span>

#include "commands.h"
#include "edgeco/compiler.h"
#include "edgeco/hw.h"
#include "edgeco/onnx.h"
#include "edgeco/runtime.h"
#include "inputs.h"

namespace edgeco::cli {
namespace {

struct CalibrateRequest {
  std::string platform = "host", out;
  int threads = 1, repeats = HostCalibrationOptions{}.repeats,
      chain = HostCalibrationOptions{}.chain;
  bool json = false;
};

void calibrate_command(const CalibrateRequest& r) {
  if (r.platform != "host")
    throw Error(ErrorKind::invalid_argument,
                "only the host can be calibrated: the other platforms are not this machine",
                r.platform);
  HostCalibrationOptions options;
  options.threads = r.threads;
  options.repeats = r.repeats;
  options.chain = r.chain;
  if (!r.json && isatty(STDERR_FILENO))
    options.progress = [](size_t done, size_t total) {
      progress_bar("benchmarking layers", double(done) / double(total),
                   std::to_string(done) + "/" + std::to_string(total), done == total);
    };
  const HostCalibration c = calibrate_host(options);
  const std::filesystem::path out =
      r.out.empty() ? hw::host_platform_path() : std::filesystem::path(r.out);
  const std::string yaml = hw::to_yaml(host_platform(c));
  hw::parse_platform(yaml, out);  // what later commands will read must parse
  if (out.has_parent_path()) std::filesystem::create_directories(out.parent_path());
  {
    std::ofstream f(out, std::ios::binary);
    if (!(f << yaml) || !f.flush()) throw Error(ErrorKind::io, "cannot write", out.string());
  }
  nlohmann::json points = nlohmann::json::array();
  for (const auto& p : c.points)
    points.push_back({{"layer", p.what},
                      {"type", hw::to_string(p.type)},
                      {"class", hw::to_string(p.op_class)},
                      {"macs", p.macs},
                      {"measured_ms", p.measured_ms},
                      {"macs_per_cycle", p.macs_per_cycle}});
  if (r.json) {
    std::cout << nlohmann::json{{"platform_file", out.string()},
                                {"threads", c.threads},
                                {"chain", c.chain},
                                {"mhz", c.mhz},
                                {"dram_gbps", c.dram_gbps},
                                {"onchip_gbps", c.onchip_gbps},
                                {"llc_kib", c.llc_kib},
                                {"llc_gbps", c.llc_gbps},
                                {"overhead_us", c.overhead_us},
                                {"transcendental_per_cycle", c.transcendental_per_cycle},
                                {"points", points}}
                     .dump(2)
              << "\n";
    return;
  }
  std::printf(
      "host: %.0f MHz, %d thread(s); L2 %.1f, L3 %.1f, DRAM %.1f GB/s, per-node overhead %.1f us "
      "(measured)\n",
      c.mhz, c.threads, c.onchip_gbps, c.llc_gbps, c.dram_gbps, c.overhead_us);
  for (const auto& p : c.points)
    std::printf("  %-5s %-15s %-34s %9.3f ms  %7.2f MACs/cycle\n",
                std::string(hw::to_string(p.type)).c_str(),
                std::string(hw::to_string(p.op_class)).c_str(), p.what.c_str(), p.measured_ms,
                p.macs_per_cycle);
  std::printf("wrote %s (find it as --platform host)\n", out.c_str());
}

struct ValidateRequest {
  std::string platform = "host";
  std::vector<std::string> models;
  int threads = 1, iters = 20;
  bool json = false, breakdown = false, calibrate = false;
};

void validate_command(const ValidateRequest& r) {
  std::vector<Graph> graphs;
  std::vector<PreparedInputs> inputs;
  for (const auto& path : r.models) {
    graphs.push_back(load_onnx(path));
    inputs.push_back(prepare_inputs(graphs.back(), {}, 0));
  }
  // Measured: the models timed in rounds (RoundTimer), with --calibrate in the same rounds as
  // the host's micro-benchmarks.
  std::vector<double> measured_ms;
  std::vector<std::map<std::string, std::vector<double>>> node_runs(graphs.size());
  std::vector<std::vector<double>> gaps(graphs.size());  // per run: run time minus node times
  // The model is compared with the median run. The breakdown takes the runs between the first
  // and third quartile of run time and averages each node over them: means add up, so the groups
  // and the time between nodes sum to those runs' mean time (close to the median). Per-node
  // medians would not: each node's noise is skewed upward, and their sum fell 6% short of the
  // median run (MobileNetV2, 65 nodes).
  auto measured = [&](size_t m, const std::vector<double>& run_ms,
                      const std::vector<std::vector<NodeTiming>>& node_timings) {
    measured_ms.push_back(percentile(run_ms, 0.5));
    if (!r.breakdown) return;
    std::vector<size_t> order(run_ms.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return run_ms[a] < run_ms[b]; });
    const size_t first = order.size() / 4, last = std::max(first + 1, (3 * order.size() + 3) / 4);
    for (size_t i : std::span(order).subspan(first, last - first)) {
      double in_nodes = 0;
      for (const auto& n : node_timings[i]) {
        node_runs[m][n.node].push_back(n.ms);
        in_nodes += n.ms;
      }
      gaps[m].push_back(run_ms[i] - in_nodes);
    }
  };
  std::optional<hw::Platform> calibrated;
  if (r.calibrate) {
    HostCalibrationOptions options;
    options.threads = r.threads;
    options.repeats = r.iters;
    for (size_t m = 0; m < graphs.size(); ++m)
      options.networks.push_back({graphs[m], inputs[m].tensors});
    if (!r.json && isatty(STDERR_FILENO))
      options.progress = [](size_t done, size_t total) {
        progress_bar("calibrating and timing", double(done) / double(total),
                     std::to_string(done) + "/" + std::to_string(total), done == total);
      };
    const HostCalibration c = calibrate_host(options);
    calibrated = host_platform(c);
    calibrated->file = "(calibrated in this run)";
    for (size_t m = 0; m < graphs.size(); ++m)
      measured(m, c.networks[m].run_ms, c.networks[m].node_timings);
  } else {
    RoundTimer timer(r.threads);
    for (size_t m = 0; m < graphs.size(); ++m) timer.add(graphs[m], inputs[m].tensors);
    timer.run(r.iters, 3);
    for (size_t m = 0; m < graphs.size(); ++m) measured(m, timer.run_ms(m), timer.node_timings(m));
  }
  const hw::Platform platform = calibrated ? *calibrated : hw::find_platform(r.platform);
  nlohmann::json rows = nlohmann::json::array();
  double worst = 0;
  for (size_t m = 0; m < graphs.size(); ++m) {
    const auto& path = r.models[m];
    // Modelled: every node on the cpu at its highest operating point, as the host runs them.
    CompileOptions o;
    o.objective = Objective::latency;
    o.strategy = Strategy::all_cpu;
    o.dvfs = false;
    o.tile = false;          // the host's kernels do not cascade layers
    o.channels_last = true;  // ... and run NHWC, with Transposes at the regions' edges
    const Plan plan = compile(graphs[m], platform, o, reference_evaluator());
    const double measured = measured_ms[m];
    const double error = plan.latency_ms / measured - 1;
    worst = std::max(worst, std::abs(error));
    nlohmann::json row{{"model", path},
                       {"modelled_ms", plan.latency_ms},
                       {"measured_ms", measured},
                       {"error", error}};
    if (r.breakdown) {
      nlohmann::json groups = nlohmann::json::array();
      for (const auto& [group, t] : group_times(plan, node_runs[m]))
        groups.push_back({{"group", group},
                          {"nodes", t.nodes},
                          {"modelled_ms", t.modelled_ms},
                          {"measured_ms", t.measured_ms}});
      // What the node times leave out: dispatch, inputs and outputs handed between nodes.
      groups.push_back({{"group", "(between nodes)"},
                        {"nodes", 0},
                        {"modelled_ms", 0.0},
                        {"measured_ms", mean(gaps[m])}});
      row["groups"] = groups;
    }
    rows.push_back(row);
  }
  if (r.json) {
    std::cout << nlohmann::json{{"platform", platform.name},
                                {"platform_file", platform.file.string()},
                                {"threads", r.threads},
                                {"models", rows},
                                {"max_abs_error", worst}}
                     .dump(2)
              << "\n";
    return;
  }
  std::printf("%s (%s), %d thread(s): modelled vs measured latency\n", platform.name.c_str(),
              platform.file.c_str(), r.threads);
  std::printf("  %-40s %12s %12s %8s\n", "model", "modelled ms", "measured ms", "error");
  for (const auto& row : rows) {
    std::printf("  %-40s %12.3f %12.3f %+7.1f%%\n", row["model"].get<std::string>().c_str(),
                row["modelled_ms"].get<double>(), row["measured_ms"].get<double>(),
                row["error"].get<double>() * 100);
    if (!row.contains("groups")) continue;
    // Node times summed per group, then the time between nodes.
    for (const auto& g : row["groups"]) {
      const double modelled = g["modelled_ms"].get<double>(),
                   measured = g["measured_ms"].get<double>();
      const int nodes = g["nodes"].get<int>();
      const std::string label =
          g["group"].get<std::string>() + (nodes > 0 ? " (" + std::to_string(nodes) + ")" : "");
      std::printf("    %-38s %12.3f %12.3f ", label.c_str(), modelled, measured);
      if (measured > 0 && modelled > 0)
        std::printf("%+7.1f%%\n", (modelled / measured - 1) * 100);
      else
        std::printf("%8s\n", "-");
    }
  }
  std::printf("  largest |error| %.1f%%\n", worst * 100);
}

}  // namespace

void add_calibrate_commands(CLI::App& app) {
  auto c = std::make_shared<CalibrateRequest>();
  auto* cal = app.add_subcommand(
      "calibrate",
      "Fit the `host` platform to this machine: time single layers of each operator class (fp32\n"
      "and int8) on edgeco's runtime, and store the fitted rates, bandwidth and overhead where\n"
      "`--platform host` finds them (" +
          hw::host_platform_path().string() + ", or $EDGECO_HOST_PLATFORM).");
  cal->add_option("--platform", c->platform, "only host can be calibrated (default host)");
  cal->add_option("--threads", c->threads, "threads, as later runs will use (default 1)")
      ->check(CLI::Range(1, 256));
  cal->add_option("--repeats", c->repeats, "timed rounds over all the layers (default 60)")
      ->check(CLI::Range(1, 10000));
  cal->add_option("--chain", c->chain,
                  "unstrided convolutions run as chains of this many layers, each with its own\n"
                  "weights, as in a network (default 4; 1: one layer rerun, weights hot in cache)")
      ->check(CLI::Range(1, 64));
  cal->add_option("--out", c->out, "write the platform file here instead");
  cal->add_flag("--json", c->json, "print one JSON object");
  cal->callback([c] { calibrate_command(*c); });

  auto v = std::make_shared<ValidateRequest>();
  auto* val = app.add_subcommand(
      "validate",
      "Compare the cost model's latency (all nodes on the cpu) with the latency measured by\n"
      "running each model here: the relative error per model.");
  val->add_option("MODELS", v->models, "ONNX models")->required()->check(CLI::ExistingFile);
  auto* plat = val->add_option("--platform", v->platform, "a calibrated host (default host)");
  val->add_option("--threads", v->threads, "threads (as calibrated; default 1)")
      ->check(CLI::Range(1, 256));
  val->add_option("--iters", v->iters,
                  "timed rounds (each runs every model twice, timing the second; default 20)")
      ->check(CLI::Range(1, 100000));
  val->add_flag("--breakdown", v->breakdown,
                "also compare per operator class and type (node times matched by name)");
  val->add_flag("--calibrate", v->calibrate,
                "calibrate the host here, its micro-benchmarks timed in the same rounds as the\n"
                "models (on a shared machine whose speed drifts, model and measurement then see\n"
                "the same machine); --iters is then the number of rounds")
      ->excludes(plat);
  val->add_flag("--json", v->json, "print one JSON object");
  val->callback([v] { validate_command(*v); });
}

}  // namespace edgeco::cli
