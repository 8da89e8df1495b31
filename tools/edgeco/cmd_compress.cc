// edgeco compress: the model-level pipeline in one command. Each step writes a variant to the
// output folder (distilled, pruned and fine-tuned, quantized), and every variant is measured the
// same way: test accuracy, parameters, MACs, file size and host latency, as Markdown and JSON.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "edgeco/compiler.h"
#include "edgeco/compress.h"
#include "edgeco/onnx.h"
#include "edgeco/runtime.h"
#include "inputs.h"

namespace edgeco::cli {
namespace {

struct CompressCommand {
  std::string model, dataset = "fashion-mnist", path, out, quantize, teacher, criterion = "l1";
  double prune = 0;
  int finetune_epochs = 2, threads = 2, latency_runs = 50;
  double finetune_lr = 0.01;
  int64_t train_limit = 0, eval_limit = 0, batch = 128;
  bool json = false;
};

struct Variant {
  std::string name, file, how;
  double top1 = 0;
  int64_t samples = 0, params = 0, macs = 0, bytes = 0;
  double latency_ms = 0;
};

double median_latency_ms(const Graph& model, int threads, int runs) {
  const PreparedInputs inputs = prepare_inputs(model, {}, 0);
  Session session(model,
                  SessionOptions{.threads = threads, .optimize = true, .fast_kernels = true});
  for (int i = 0; i < 3; ++i) session.run(inputs.tensors);
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    session.run(inputs.tensors);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  return percentile(std::move(ms), 0.5);
}

Variant measure(const CompressCommand& o, const Dataset& test, std::string name,
                const std::string& file, std::string how) {
  const Graph g = load_onnx(file);
  Variant v{std::move(name), file, std::move(how)};
  Session session(g, SessionOptions{.threads = o.threads, .optimize = true, .fast_kernels = true});
  EvalOptions eval;
  eval.limit = o.eval_limit;
  const EvalResult r = evaluate(session, test, eval);
  v.top1 = r.top1;
  v.samples = r.samples;
  const ModelSummary s = analyze(g);
  v.params = s.params;
  v.macs = s.macs;
  v.bytes = int64_t(std::filesystem::file_size(file));
  v.latency_ms = median_latency_ms(g, 1, o.latency_runs);
  return v;
}

std::vector<std::string> training_arguments(const CompressCommand& o, const std::string& init,
                                            const std::string& out) {
  std::vector<std::string> a{o.teacher.empty() ? "train" : "distill",
                             "--init",
                             init,
                             "--dataset",
                             o.dataset,
                             "--epochs",
                             std::to_string(o.finetune_epochs),
                             "--lr",
                             std::to_string(o.finetune_lr),
                             "--batch",
                             std::to_string(o.batch),
                             "--threads",
                             std::to_string(o.threads),
                             "--eval-limit",
                             "1",
                             "--out",
                             out};
  if (o.train_limit > 0) a.insert(a.end(), {"--limit", std::to_string(o.train_limit)});
  if (!o.path.empty()) a.insert(a.end(), {"--path", o.path});
  if (!o.teacher.empty()) a.insert(a.end(), {"--teacher", o.teacher});
  return a;
}

void write_tables(const CompressCommand& o, const std::vector<Variant>& variants,
                  const std::string& test_name) {
  const std::filesystem::path dir(o.out);
  nlohmann::json rows = nlohmann::json::array();
  for (const Variant& v : variants)
    rows.push_back({{"variant", v.name},
                    {"file", v.file},
                    {"how", v.how},
                    {"top1", v.top1},
                    {"test_samples", v.samples},
                    {"params", v.params},
                    {"macs", v.macs},
                    {"bytes", v.bytes},
                    {"latency_ms", v.latency_ms}});
  const nlohmann::json report{
      {"model", o.model},
      {"dataset", test_name},
      {"variants", rows},
      {"what", "top1, latency_ms (median of " + std::to_string(o.latency_runs) +
                   " batch-1 runs, 1 thread, this host) measured; params, macs, bytes counted"}};
  std::ofstream(dir / "report.json") << report.dump(2) << "\n";
  std::ofstream md(dir / "report.md");
  md << "| variant | how | top-1 (%) | params | MACs | bytes | host latency (ms) |\n"
     << "|---|---|---:|---:|---:|---:|---:|\n";
  char line[512];
  for (const Variant& v : variants) {
    std::snprintf(line, sizeof line, "| %s | %s | %.2f | %s | %s | %s | %.3f |\n", v.name.c_str(),
                  v.how.c_str(), 100 * v.top1, human(double(v.params)).c_str(),
                  human(double(v.macs)).c_str(), human(double(v.bytes)).c_str(), v.latency_ms);
    md << line;
  }
  md << "\nTop-1 on " << test_name << " (" << (variants.empty() ? 0 : variants[0].samples)
     << " images) and latency measured; params, MACs and bytes counted.\n";
  md.close();
  if (o.json) {
    std::cout << report.dump(2) << "\n";
    return;
  }
  std::ifstream in(dir / "report.md");
  std::cout << in.rdbuf();
  std::printf("wrote %s and %s\n", (dir / "report.md").c_str(), (dir / "report.json").c_str());
}

void compress(const CompressCommand& o) {
  const std::filesystem::path dir(o.out);
  std::filesystem::create_directories(dir);
  const Dataset test = load_dataset(o.dataset, o.path, "test");
  const bool progress = !o.json && isatty(STDERR_FILENO);
  auto step = [&](const std::string& what) {
    if (progress) std::fprintf(stderr, "compress: %s\n", what.c_str());
  };
  std::vector<Variant> variants;
  const std::string base = (dir / "base.onnx").string();
  std::filesystem::copy_file(o.model, base, std::filesystem::copy_options::overwrite_existing);
  variants.push_back(measure(o, test, "base", base, "as given"));
  std::string current = base;

  if (!o.teacher.empty()) {
    step("distilling from " + o.teacher);
    const std::string kd = (dir / "kd.onnx").string();
    run_train_tool(training_arguments(o, current, kd));
    variants.push_back(measure(
        o, test, "kd", kd,
        "distilled from " + o.teacher + ", " + std::to_string(o.finetune_epochs) + " epochs"));
    current = kd;
  }
  if (o.prune > 0) {
    step("pruning " + std::to_string(int(100 * o.prune)) + "% of filters");
    PruneOptions options;
    options.ratio = o.prune;
    options.criterion = o.criterion == "hrank" ? PruneCriterion::hrank : PruneCriterion::l1;
    const std::string pruned = (dir / "pruned.onnx").string();
    save_onnx(
        prune_model(load_onnx(current), options, o.dataset, 32, 0, o.threads, nullptr, o.path),
        pruned);
    variants.push_back(
        measure(o, test, "pruned", pruned,
                o.criterion + " " + std::to_string(int(100 * o.prune)) + "%, no fine-tuning"));
    step("fine-tuning the pruned model");
    const std::string tuned = (dir / "pruned.ft.onnx").string();
    run_train_tool(training_arguments(o, pruned, tuned));
    variants.push_back(measure(o, test, "pruned.ft", tuned,
                               "pruned, fine-tuned " + std::to_string(o.finetune_epochs) +
                                   " epochs" + (o.teacher.empty() ? "" : " with the teacher")));
    current = tuned;
  }
  if (!o.quantize.empty()) {
    step("quantizing (" + o.quantize + ")");
    const Graph model = folded_for_quantization(load_onnx(current));
    // Calibrated on the data set's training split, the one the model is evaluated on.
    const std::vector<TensorMap> samples = calibration_inputs(model, o.dataset, 32, 0, o.path);
    Session session(model,
                    SessionOptions{.threads = o.threads, .optimize = false, .fast_kernels = true});
    const CalibrationRunner runner = [&](const TensorMap& s, const ValueCallback& observe) {
      session.run(s, observe);
    };
    QuantizeOptions q;
    q.evaluate = [](const Node& n, int64_t opset, std::span<const Tensor* const> in) {
      return run_node(n, opset, in);
    };
    const std::string out = (dir / (o.quantize + ".onnx")).string();
    if (o.quantize == "int8") {
      save_onnx(quantize_qdq(model, samples, runner, q), out);
    } else {
      // The budget is measured on the training split's last 2,000 images, not the test split.
      save_onnx(quantize_mixed(model, samples, runner, q,
                               {.dataset = o.dataset,
                                .path = o.path,
                                .threads = o.threads,
                                .progress = mixed_progress(progress)})
                    .model,
                out);
    }
    variants.push_back(measure(o, test, o.quantize, out,
                               o.quantize == "int8" ? "PTQ int8 (QDQ), min/max over 32 images"
                                                    : "mixed int8/fp16/fp32, budget 0.5 points"));
  }
  write_tables(o, variants, test.name);
}

}  // namespace

void add_compress_command(CLI::App& app) {
  auto o = std::make_shared<CompressCommand>();
  auto* cmd = app.add_subcommand(
      "compress",
      "The model-level pipeline: optional distillation (--distill-from), structured pruning with\n"
      "fine-tuning (--prune), quantization (--quantize int8|mixed), in that order. Writes each\n"
      "variant to --out with report.md and report.json: test top-1, params, MACs, bytes and host\n"
      "latency of every variant. Training steps run edgeco-train (libtorch).");
  cmd->add_option("MODEL", o->model, "float ONNX classifier with BatchNormalization kept")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--dataset", o->dataset, "fashion-mnist (default), cifar100 or uci-har")
      ->check(CLI::IsMember({"fashion-mnist", "cifar100", "uci-har"}));
  cmd->add_option("--path", o->path,
                  "the data set's files: Fashion-MNIST's folder (Debian's by default), the folder "
                  "holding CIFAR-100's train.bin and test.bin, or UCI HAR's folder");
  cmd->add_option("--out,-o", o->out, "output folder")->required();
  cmd->add_option("--prune", o->prune, "share of filters to remove, then fine-tune")
      ->check(CLI::Range(0.0, 0.95));
  cmd->add_option("--criterion", o->criterion, "pruning criterion: l1 or hrank")
      ->check(CLI::IsMember({"l1", "hrank"}));
  cmd->add_option("--quantize", o->quantize, "int8 or mixed")
      ->check(CLI::IsMember({"int8", "mixed"}));
  cmd->add_option("--distill-from", o->teacher, "teacher ONNX model (distils the model first)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--finetune-epochs", o->finetune_epochs, "epochs of each training step (2)")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--finetune-lr", o->finetune_lr, "peak learning rate of those steps (0.01)");
  cmd->add_option("--train-limit", o->train_limit, "train on the first N samples of each epoch");
  cmd->add_option("--eval-limit", o->eval_limit, "evaluate on the first N test samples");
  cmd->add_option("--threads", o->threads, "threads for training and evaluation (2)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--latency-runs", o->latency_runs, "timed runs per variant (50)")
      ->check(CLI::Range(1, 100000));
  cmd->add_flag("--json", o->json, "print the report as one JSON object");
  cmd->callback([o] { compress(*o); });
}

}  // namespace edgeco::cli
