#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "edgeco/compress.h"
#include "edgeco/onnx.h"
#include "edgeco/runtime.h"

namespace edgeco::cli {
namespace {

struct PruneCommand {
  std::string model, out, criterion = "l1", scope = "uniform", calibration = "fashion-mnist";
  PruneOptions options;
  size_t samples = 32;
  uint32_t seed = 0;
  bool json = false, verbose = false;
};

void prune(PruneCommand& o) {
  const Graph model = load_onnx(o.model);
  o.options.criterion = o.criterion == "hrank" ? PruneCriterion::hrank : PruneCriterion::l1;
  o.options.scope = o.scope == "global" ? PruneScope::global : PruneScope::uniform;
  PruneReport report;
  const Graph pruned = prune_model(model, o.options, o.calibration, o.samples, o.seed, 2, &report);
  save_onnx(pruned, o.out);
  const ModelSummary before = analyze(model), after = analyze(pruned);
  const double filters_cut =
      1.0 - double(report.filters_after) / double(std::max<int64_t>(1, report.filters_before));
  const double macs_cut = 1.0 - double(after.macs) / double(std::max<int64_t>(1, before.macs));
  if (o.json) {
    nlohmann::json groups = nlohmann::json::array();
    for (const PruneGroup& g : report.groups)
      groups.push_back({{"producers", g.producers},
                        {"channels", g.channels},
                        {"kept", g.kept},
                        {"kept_because", g.kept_because}});
    std::cout << nlohmann::json{{"model", o.model},
                                {"out", o.out},
                                {"criterion", o.criterion},
                                {"scope", o.scope},
                                {"ratio", o.options.ratio},
                                {"filters_before", report.filters_before},
                                {"filters_after", report.filters_after},
                                {"macs_before", before.macs},
                                {"macs_after", after.macs},
                                {"params_before", before.params},
                                {"params_after", after.params},
                                {"groups", groups}}
                     .dump(2)
              << "\n";
    return;
  }
  std::printf("wrote %s: %s %s pruning, ratio %.2f\n", o.out.c_str(), o.scope.c_str(),
              o.criterion.c_str(), o.options.ratio);
  std::printf("  filters %lld -> %lld (-%.1f%%)\n", static_cast<long long>(report.filters_before),
              static_cast<long long>(report.filters_after), 100 * filters_cut);
  std::printf("  MACs    %s -> %s (-%.1f%%)\n", human(double(before.macs)).c_str(),
              human(double(after.macs)).c_str(), 100 * macs_cut);
  std::printf("  params  %s -> %s\n", human(double(before.params)).c_str(),
              human(double(after.params)).c_str());
  size_t whole = 0;
  for (const PruneGroup& g : report.groups) {
    if (!g.kept_because.empty()) ++whole;
    if (!o.verbose) continue;
    std::string producers;
    for (const auto& p : g.producers) producers += (producers.empty() ? "" : ",") + p;
    std::printf("  %-40s %5lld -> %5lld %s\n", producers.empty() ? "-" : producers.c_str(),
                static_cast<long long>(g.channels), static_cast<long long>(g.kept),
                g.kept_because.empty() ? "" : ("(kept: " + g.kept_because + ")").c_str());
  }
  std::printf("  %zu channel groups, %zu kept whole (--verbose lists them)\n", report.groups.size(),
              whole);
}

}  // namespace

void add_prune_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "prune",
      "Structured pruning: remove whole filters (and the channels they feed) by L1 norm or HRank,\n"
      "keeping residual adds, depthwise convolutions, SE blocks and concats consistent. The "
      "result\n"
      "is a smaller dense model; fine-tune it with `edgeco train --init PRUNED.onnx`.");
  auto o = std::make_shared<PruneCommand>();
  cmd->add_option("MODEL", o->model, "float ONNX model (BatchNormalization kept or folded)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--out,-o", o->out, "where to write the pruned model")->required();
  cmd->add_option("--ratio", o->options.ratio, "share of filters removed (default 0.4)")
      ->check(CLI::Range(0.0, 0.95));
  cmd->add_option("--criterion", o->criterion, "l1 (filter norm) or hrank (feature-map rank)")
      ->check(CLI::IsMember({"l1", "hrank"}));
  cmd->add_option("--scope", o->scope,
                  "uniform (each group loses --ratio) or global (ranked across groups)")
      ->check(CLI::IsMember({"uniform", "global"}));
  cmd->add_option("--min-channels", o->options.min_channels,
                  "no group keeps fewer channels (default 4)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--calibration", o->calibration,
                  "HRank's inputs: 'fashion-mnist' (default), 'random' or a folder of .npy files");
  cmd->add_option("--samples", o->samples, "HRank's sample count (default 32)")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--seed", o->seed, "seed of the sample choice");
  cmd->add_flag("--verbose,-v", o->verbose, "list every channel group");
  cmd->add_flag("--json", o->json, "print one JSON object");
  cmd->callback([o] { prune(*o); });
}

}  // namespace edgeco::cli
