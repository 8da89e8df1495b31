#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "commands.h"
#include "edgeco/compiler.h"
#include "edgeco/compress.h"
#include "edgeco/data.h"
#include "edgeco/onnx.h"
#include "edgeco/runtime.h"

namespace edgeco::cli {
namespace {

struct QuantizeCommand {
  std::string model, out, calibration = "random", method = "minmax", precision = "int8";
  std::string dataset = "fashion-mnist", activations = "u8";
  double budget = 0.005;
  int64_t val_samples = 2000;
  size_t samples = 8;
  double percentile = 99.99;
  uint32_t seed = 0;
  int threads = 1;
  bool json = false;
};

CalibrationMethod method_of(const std::string& name) {
  if (name == "percentile") return CalibrationMethod::percentile;
  if (name == "entropy") return CalibrationMethod::entropy;
  if (name == "mse") return CalibrationMethod::mse;
  return CalibrationMethod::minmax;
}

}  // namespace

namespace {

void mixed(const QuantizeCommand& o, const Graph& model, const std::vector<TensorMap>& samples,
           const CalibrationRunner& runner, const QuantizeOptions& quantize) {
  const MixedResult result =
      quantize_mixed(model, samples, runner, quantize,
                     {.dataset = o.dataset,
                      .budget = o.budget,
                      .val_samples = o.val_samples,
                      .threads = o.threads,
                      .progress = mixed_progress(!o.json && isatty(STDERR_FILENO))});
  const MixedPrecisionReport& r = result.report;
  const Graph& q = result.model;
  save_onnx(q, o.out);
  if (o.json) {
    nlohmann::json layers = nlohmann::json::array();
    for (const LayerPrecision& l : r.layers)
      layers.push_back({{"node", l.node},
                        {"macs", l.macs},
                        {"int8_drop", l.int8_drop},
                        {"fp16_drop", l.fp16_drop},
                        {"precision", to_string(l.precision)}});
    std::cout << nlohmann::json{{"model", o.model},
                                {"out", o.out},
                                {"validation", result.validation},
                                {"budget", o.budget},
                                {"fp32_top1", r.fp32_accuracy},
                                {"int8_top1", r.int8_accuracy},
                                {"top1", r.accuracy},
                                {"cost", r.cost},
                                {"fp32_cost", r.fp32_cost},
                                {"int8_cost", r.int8_cost},
                                {"cost_function", "MACs x bits"},
                                {"evaluations", r.evaluations},
                                {"layers", layers}}
                     .dump(2)
              << "\n";
    return;
  }
  std::map<NumType, int> counts;
  for (const LayerPrecision& l : r.layers) ++counts[l.precision];
  std::printf(
      "wrote %s: %d int8, %d fp16, %d fp32 layers; top-1 on %s: fp32 %.2f%%, all int8 "
      "%.2f%%, chosen %.2f%% (budget %.2f points)\n",
      o.out.c_str(), counts[NumType::int8], counts[NumType::fp16], counts[NumType::fp32],
      result.validation.c_str(), 100 * r.fp32_accuracy, 100 * r.int8_accuracy, 100 * r.accuracy,
      100 * o.budget);
  std::printf("  cost (MACs x bits) %.3g = %.1f%% of fp32, all int8 %.1f%%; %d evaluations\n",
              r.cost, 100 * r.cost / r.fp32_cost, 100 * r.int8_cost / r.fp32_cost, r.evaluations);
  for (const LayerPrecision& l : r.layers)
    if (l.precision != NumType::int8)
      std::printf("  %s: %s (alone at int8 it lost %.2f points, at fp16 %.2f)\n", l.node.c_str(),
                  std::string(to_string(l.precision)).c_str(), 100 * l.int8_drop,
                  100 * l.fp16_drop);
}

void quantize(const QuantizeCommand& o) {
  const Graph model = folded_for_quantization(load_onnx(o.model));
  const std::vector<TensorMap> samples =
      calibration_inputs(model, o.calibration, o.samples, o.seed);
  QuantizeOptions options;
  options.method = method_of(o.method);
  options.percentile = o.percentile;
  options.symmetric_activations = o.activations == "s8";
  options.evaluate = [](const Node& n, int64_t opset, std::span<const Tensor* const> in) {
    return run_node(n, opset, in);
  };
  // Calibration runs the graph as written (value names intact) on the fast kernels.
  Session session(model,
                  SessionOptions{.threads = o.threads, .optimize = false, .fast_kernels = true});
  const CalibrationRunner runner = [&](const TensorMap& sample, const ValueCallback& observe) {
    session.run(sample, observe);
  };
  if (!o.json && isatty(STDERR_FILENO))
    options.progress = [](size_t done, size_t total) {
      progress_bar("calibrating", double(done) / double(total),
                   std::to_string(done) + "/" + std::to_string(total), done == total);
    };
  if (o.precision == "mixed") return mixed(o, model, samples, runner, options);
  QuantizeReport report;
  const Graph q = quantize_qdq(model, samples, runner, options, &report);
  save_onnx(q, o.out);
  if (o.json) {
    std::cout << nlohmann::json{{"model", o.model},
                                {"out", o.out},
                                {"method", o.method},
                                {"calibration", o.calibration},
                                {"samples", report.calibration_samples},
                                {"quantized", report.quantized},
                                {"skipped", report.skipped}}
                     .dump(2)
              << "\n";
    return;
  }
  std::printf(
      "wrote %s: %zu nodes quantized (int8 per-channel weights, %s activations, %s over %zu "
      "samples)\n",
      o.out.c_str(), report.quantized.size(),
      o.activations == "s8" ? "int8 symmetric" : "uint8 asymmetric", o.method.c_str(),
      report.calibration_samples);
  for (const auto& s : report.skipped) std::printf("  kept float: %s\n", s.c_str());
}

}  // namespace

void add_quantize_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("quantize",
                                 "Post-training static quantization to an ONNX QDQ model: "
                                 "Conv/Gemm/MatMul weights int8 per channel,\n"
                                 "activations uint8 per tensor (range by --method), biases "
                                 "int32. Other runtimes load the result.");
  auto o = std::make_shared<QuantizeCommand>();
  cmd->add_option("MODEL", o->model, "float ONNX model")->required()->check(CLI::ExistingFile);
  cmd->add_option("--out,-o", o->out, "where to write the quantized model")->required();
  cmd->add_option("--calibration", o->calibration,
                  "'random' (deterministic inputs, for models without data), 'fashion-mnist' "
                  "(training images, resized to the input) or a folder of .npy inputs");
  cmd->add_option("--method", o->method,
                  "activation range: minmax, percentile (clip to --percentile), entropy (least KL "
                  "divergence) or mse (least squared error)")
      ->check(CLI::IsMember({"minmax", "percentile", "entropy", "mse"}));
  cmd->add_option("--percentile", o->percentile, "share of values the percentile range keeps, %")
      ->check(CLI::Range(50.0, 100.0));
  cmd->add_option("--samples", o->samples,
                  "random or Fashion-MNIST calibration samples (default 8)")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--seed", o->seed, "seed of the random inputs or of the Fashion-MNIST choice");
  cmd->add_option("--threads", o->threads, "threads for calibration runs")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--activations", o->activations,
                  "u8 (asymmetric, zero point from the range; default) or s8 (symmetric)")
      ->check(CLI::IsMember({"u8", "s8"}));
  cmd->add_option("--precision", o->precision,
                  "int8 (every layer it can) or mixed (per-layer int8/fp16/fp32 within --budget)")
      ->check(CLI::IsMember({"int8", "mixed"}));
  cmd->add_option("--budget", o->budget,
                  "mixed: top-1 accuracy (a fraction) the model may lose (default 0.005)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--dataset", o->dataset,
                  "mixed: whose training split's last --val-samples images measure accuracy")
      ->check(CLI::IsMember({"fashion-mnist", "cifar100", "uci-har"}));
  cmd->add_option("--val-samples", o->val_samples, "mixed: validation images (default 2000)")
      ->check(CLI::Range(1, 1000000));
  cmd->add_flag("--json", o->json, "print one JSON object");
  cmd->callback([o] { quantize(*o); });
}

}  // namespace edgeco::cli
