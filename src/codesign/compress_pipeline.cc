// The model-level pipeline (codesign.h): each step writes a variant, every variant is measured
// the same way.
#include <chrono>
#include <filesystem>

#include "edgeco/codesign.h"
#include "edgeco/compiler.h"
#include "edgeco/onnx.h"
#include "edgeco/pipeline.h"
#include "edgeco/runtime.h"

namespace edgeco {
namespace {

double median_latency_ms(const Graph& model, int runs) {
  const TensorMap inputs = random_calibration(model, 1, 0).at(0);
  Session session(model, {.threads = 1, .optimize = true, .fast_kernels = true});
  for (int i = 0; i < 3; ++i) session.run(inputs);
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    session.run(inputs);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  return percentile(std::move(ms), 0.5);
}

CompressVariant measure(const CompressRequest& r, const Dataset& test, std::string name,
                        const std::filesystem::path& file, std::string how) {
  const Graph g = load_onnx(file);
  CompressVariant v{std::move(name), file.string(), std::move(how)};
  Session session(g, {.threads = r.threads, .optimize = true, .fast_kernels = true});
  EvalOptions eval;
  eval.limit = r.eval_limit;
  const EvalResult result = evaluate(session, test, eval);
  v.top1 = result.top1;
  v.samples = result.samples;
  const ModelSummary s = analyze(g);
  v.params = s.params;
  v.macs = s.macs;
  v.bytes = int64_t(std::filesystem::file_size(file));
  v.latency_ms = median_latency_ms(g, r.latency_runs);
  return v;
}

TrainJob training(const CompressRequest& r, const std::filesystem::path& init,
                  const std::filesystem::path& out) {
  return {init,    out,       r.teacher,     r.dataset,    r.data_path, r.finetune_epochs,
          r.batch, r.threads, r.finetune_lr, r.train_limit};
}

}  // namespace

CompressReport compress_model(const CompressRequest& r, const Trainer& train,
                              const std::function<void(const std::string&)>& step) {
  const bool trains = !r.teacher.empty() || r.prune > 0;
  if (trains && !train)
    throw Error(ErrorKind::invalid_argument, "distillation and pruning need a trainer",
                r.model.string());
  auto announce = [&](const std::string& what) {
    if (step) step(what);
  };
  const std::filesystem::path& dir = r.out;
  std::filesystem::create_directories(dir);
  const Dataset test = load_dataset(r.dataset, r.data_path, "test");
  CompressReport report;
  report.test_name = test.name;
  const auto base = dir / "base.onnx";
  std::filesystem::copy_file(r.model, base, std::filesystem::copy_options::overwrite_existing);
  report.variants.push_back(measure(r, test, "base", base, "as given"));
  std::filesystem::path current = base;
  const std::string epochs = std::to_string(r.finetune_epochs) + " epochs";

  if (!r.teacher.empty()) {
    announce("distilling from " + r.teacher.string());
    const auto kd = dir / "kd.onnx";
    train(training(r, current, kd));
    report.variants.push_back(
        measure(r, test, "kd", kd, "distilled from " + r.teacher.string() + ", " + epochs));
    current = kd;
  }
  if (r.prune > 0) {
    const std::string share = std::to_string(int(100 * r.prune)) + "%";
    announce("pruning " + share + " of filters");
    PruneOptions options;
    options.ratio = r.prune;
    options.criterion = r.criterion == "hrank" ? PruneCriterion::hrank : PruneCriterion::l1;
    const auto pruned = dir / "pruned.onnx";
    save_onnx(
        prune_model(load_onnx(current), options, r.dataset, 32, 0, r.threads, nullptr, r.data_path),
        pruned);
    report.variants.push_back(
        measure(r, test, "pruned", pruned, r.criterion + " " + share + ", no fine-tuning"));
    announce("fine-tuning the pruned model");
    const auto tuned = dir / "pruned.ft.onnx";
    train(training(r, pruned, tuned));
    report.variants.push_back(
        measure(r, test, "pruned.ft", tuned,
                "pruned, fine-tuned " + epochs + (r.teacher.empty() ? "" : " with the teacher")));
    current = tuned;
  }
  if (!r.quantize.empty()) {
    if (r.quantize != "int8" && r.quantize != "mixed")
      throw Error(ErrorKind::invalid_argument, "quantize is int8 or mixed, not " + r.quantize);
    announce("quantizing (" + r.quantize + ")");
    const Graph model = folded_for_quantization(load_onnx(current));
    // Calibrated on the data set's training split, the one the model is evaluated on.
    const std::vector<TensorMap> samples = calibration_inputs(model, r.dataset, 32, 0, r.data_path);
    Session session(model, {.threads = r.threads, .fast_kernels = true});
    const CalibrationRunner runner = [&](const TensorMap& s, const ValueCallback& observe) {
      session.run(s, observe);
    };
    QuantizeOptions q;
    q.evaluate = reference_evaluator();
    const auto out = dir / (r.quantize + ".onnx");
    if (r.quantize == "int8") {
      save_onnx(quantize_qdq(model, samples, runner, q), out);
    } else {
      // The budget is measured on the training split's last 2,000 samples, not the test split.
      MixedRequest mixed;
      mixed.dataset = r.dataset;
      mixed.path = r.data_path;
      mixed.threads = r.threads;
      save_onnx(quantize_mixed(model, samples, runner, q, mixed).model, out);
    }
    report.variants.push_back(measure(r, test, r.quantize, out,
                                      r.quantize == "int8"
                                          ? "PTQ int8 (QDQ), min/max over 32 samples"
                                          : "mixed int8/fp16/fp32, budget 0.5 points"));
  }
  return report;
}

}  // namespace edgeco
