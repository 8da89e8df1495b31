#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "edgeco/onnx.h"
#include "edgeco/runtime.h"
#include "inputs.h"

namespace edgeco::cli {
namespace {

struct BenchOptions {
  std::string model;
  std::vector<std::string> inputs;
  int threads = 1;
  int iters = 20;
  int warmup = 3;
  bool json = false;
  bool profile = false;
  bool reference = false;
  bool no_winograd = false;
  bool no_row_bands = false;
};

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

constexpr double kMB = 1024.0 * 1024.0;

// The session's data memory against the bar "weights plus the two largest live activations".
nlohmann::json memory_report(size_t weight_bytes, const ActivationMemory& activations,
                             size_t peak_bytes, size_t steady_bytes, size_t arena_bytes) {
  const double bound = double(weight_bytes + activations.largest_two_live_bytes);
  return {{"weights_mb", double(weight_bytes) / kMB},
          {"largest_two_live_activations_mb", double(activations.largest_two_live_bytes) / kMB},
          {"peak_live_activations_mb", double(activations.peak_live_bytes) / kMB},
          {"tensor_peak_mb", double(peak_bytes) / kMB},
          {"tensor_steady_mb", double(steady_bytes) / kMB},
          {"arena_mb", double(arena_bytes) / kMB},
          {"peak_over_weights_and_two_activations", bound > 0 ? double(peak_bytes) / bound : 0.0},
          {"what",
           "tensor storage (weights, packed copies, activations) from load to the last run; "
           "measured"}};
}

void bench(const BenchOptions& o) {
  // Tensor memory from here on is the session's: its weights, packed copies and activations.
  reset_tensor_memory_peak();
  const size_t live_before = tensor_memory().live_bytes;
  Graph graph = load_onnx(o.model);
  size_t weight_bytes = 0;
  for (const auto& [name, value] : graph.values)
    if (value.initializer) weight_bytes += value.initializer->nbytes();
  const PreparedInputs inputs = prepare_inputs(graph, o.inputs, 0);
  SessionOptions session_options{
      .threads = o.threads, .optimize = !o.reference, .fast_kernels = !o.reference};
  session_options.winograd = !o.no_winograd;
  session_options.row_bands = !o.no_row_bands;
  Session session(std::move(graph), session_options);
  // One measured run (untimed) records the activations live at once; the timed runs do not pay
  // for the bookkeeping.
  session.set_measure_memory(true);
  session.run(inputs.tensors);
  const ActivationMemory activations = session.last_memory();
  session.set_measure_memory(false);
  for (int i = 0; i < o.warmup; ++i) session.run(inputs.tensors);
  std::vector<double> latencies;
  std::map<std::string, std::vector<double>> node_ms;
  std::vector<NodeTiming> node_order;
  const bool progress = !o.json && isatty(STDERR_FILENO);
  for (int i = 0; i < o.iters; ++i) {
    const auto start = std::chrono::steady_clock::now();
    session.run(inputs.tensors);
    latencies.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
    for (const auto& t : session.last_timings()) {
      if (i == 0) node_order.push_back(t);
      node_ms[t.node].push_back(t.ms);
    }
    if (progress) std::fprintf(stderr, "\r[%d/%d] %.2f ms", i + 1, o.iters, latencies.back());
  }
  if (progress) std::fprintf(stderr, "\r%40s\r", "");
  const double median = percentile(latencies, 0.5);
  const int64_t batch = inputs.tensors.empty() || inputs.tensors.begin()->second.rank() == 0
                            ? 1
                            : inputs.tensors.begin()->second.dim(0);
  nlohmann::json j{
      {"model", o.model},
      {"threads", o.threads},
      {"iters", o.iters},
      {"warmup", o.warmup},
      {"optimized", !o.reference},
      {"median_ms", median},
      {"p90_ms", percentile(latencies, 0.9)},
      {"min_ms", *std::min_element(latencies.begin(), latencies.end())},
      {"throughput_per_s", median > 0 ? 1000.0 * double(batch) / median : 0.0},
      {"peak_rss_mb", peak_rss_mb()},
      {"memory", memory_report(weight_bytes, activations, tensor_memory().peak_bytes - live_before,
                               tensor_memory().live_bytes - live_before, session.arena_bytes())},
      {"measured", true},
      {"passes", session.pass_log()}};
  std::vector<nlohmann::json> nodes;
  std::map<std::string, int> kernel_counts;
  int banded = 0;
  for (const auto& t : node_order) {
    const double ms = percentile(node_ms[t.node], 0.5);
    ++kernel_counts[t.kernel];
    banded += t.row_bands;
    nodes.push_back({{"node", t.node},
                     {"op", t.op_type},
                     {"kernel", t.kernel},
                     {"row_bands", t.row_bands},
                     {"median_ms", ms},
                     {"share", median > 0 ? ms / median : 0.0}});
  }
  j["nodes_by_kernel"] = kernel_counts;
  j["nodes_by_row_bands"] = banded;
  if (o.profile) j["profile"] = nodes;
  if (o.json) {
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::printf("%s: median %.3f ms, p90 %.3f ms, min %.3f ms, %.1f inferences/s, peak RSS %.1f MB\n",
              o.model.c_str(), median, j["p90_ms"].get<double>(), j["min_ms"].get<double>(),
              j["throughput_per_s"].get<double>(), j["peak_rss_mb"].get<double>());
  const auto& m = j["memory"];
  std::printf(
      "memory: tensors peak %.1f MB (steady %.1f MB, activation arena %.1f MB) = %.2fx (weights "
      "%.1f MB + two largest live activations %.1f MB)\n",
      m["tensor_peak_mb"].get<double>(), m["tensor_steady_mb"].get<double>(),
      m["arena_mb"].get<double>(), m["peak_over_weights_and_two_activations"].get<double>(),
      m["weights_mb"].get<double>(), m["largest_two_live_activations_mb"].get<double>());
  std::printf(
      "measured over %d runs after %d warm-up, %d thread%s, %s, %zu passes applied; nodes by "
      "kernel:",
      o.iters, o.warmup, o.threads, o.threads == 1 ? "" : "s",
      o.reference ? "graph as written" : "optimized graph", session.pass_log().size());
  for (const auto& [kernel, count] : kernel_counts) std::printf(" %s %d", kernel.c_str(), count);
  if (banded) std::printf("; %d by row bands", banded);
  std::printf("\n");
  if (!o.profile) return;
  std::sort(nodes.begin(), nodes.end(), [](const auto& a, const auto& b) {
    return a["median_ms"].template get<double>() > b["median_ms"].template get<double>();
  });
  std::printf("\n%-48s %-18s %-10s %10s %7s\n", "node", "op", "kernel", "median ms", "share");
  for (const auto& n : nodes)
    std::printf("%-48.48s %-18.18s %-10.10s %10.3f %6.1f%%\n", n["node"].get<std::string>().c_str(),
                n["op"].get<std::string>().c_str(), n["kernel"].get<std::string>().c_str(),
                n["median_ms"].get<double>(), 100.0 * n["share"].get<double>());
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "bench", "Measure a model's latency (median, p90, min), throughput and peak memory");
  auto o = std::make_shared<BenchOptions>();
  cmd->add_option("MODEL", o->model, "ONNX model file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--input", o->inputs,
                  "NAME=FILE (.npy or .pb); other inputs get deterministic random values");
  cmd->add_option("--threads", o->threads, "worker threads")->check(CLI::Range(1, 256));
  cmd->add_option("--iters", o->iters, "timed runs (default 20)")->check(CLI::Range(1, 1000000));
  cmd->add_option("--warmup", o->warmup, "untimed runs first (default 3)")
      ->check(CLI::Range(0, 1000000));
  cmd->add_flag("--json", o->json,
                "print one JSON object (median_ms, p90_ms, min_ms, peak_rss_mb, ...)");
  cmd->add_flag("--profile", o->profile, "per-node median time");
  cmd->add_flag("--reference", o->reference,
                "run the graph as written, without the optimizing passes");
  cmd->add_flag("--no-winograd", o->no_winograd,
                "direct 3x3 convolutions only: Winograd's transformed weights take 1.8-4x the "
                "memory (ResNet-18: peak RSS 158 vs 104 MB, 14.7 vs 18.9 ms at 1 thread)");
  cmd->add_flag("--no-row-bands", o->no_row_bands,
                "with several threads, split each node on its own instead of running chains of "
                "convolutions by bands of rows (one band per thread)");
  cmd->callback([o] { bench(*o); });
}

}  // namespace edgeco::cli
