#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "edgeco/compress.h"
#include "edgeco/onnx.h"
#include "edgeco/runtime.h"

namespace edgeco::cli {
namespace {

struct QuantizeCommand {
  std::string model, out, calibration = "random", method = "minmax";
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

void quantize(const QuantizeCommand& o) {
  const Graph model = load_onnx(o.model);
  const std::vector<TensorMap> samples =
      calibration_inputs(model, o.calibration, o.samples, o.seed);
  QuantizeOptions options;
  options.method = method_of(o.method);
  options.percentile = o.percentile;
  options.evaluate = [](const Node& n, int64_t opset, std::span<const Tensor* const> in) {
    return run_node(n, opset, in);
  };
  // Calibration runs the graph as written (value names intact) on the fast kernels.
  Session session(model, SessionOptions{o.threads, false, true});
  const CalibrationRunner runner = [&](const TensorMap& sample, const ValueCallback& observe) {
    session.run(sample, observe);
  };
  if (!o.json && isatty(STDERR_FILENO))
    options.progress = [](size_t done, size_t total) {
      progress_bar("calibrating", double(done) / double(total),
                   std::to_string(done) + "/" + std::to_string(total), done == total);
    };
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
      "wrote %s: %zu nodes quantized (int8 per-channel weights, uint8 activations, %s over %zu "
      "samples)\n",
      o.out.c_str(), report.quantized.size(), o.method.c_str(), report.calibration_samples);
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
  cmd->add_flag("--json", o->json, "print one JSON object");
  cmd->callback([o] { quantize(*o); });
}

}  // namespace edgeco::cli
