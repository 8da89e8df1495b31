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
#include "edgeco/codesign.h"
#include "edgeco/compress.h"
#include "edgeco/onnx.h"
#include "edgeco/runtime.h"
#include "inputs.h"

namespace edgeco::cli {
namespace {

struct CompressCommand {
  CompressRequest request;  // the options bind to its fields
  bool json = false;
};

// The edgeco-train command line of a training job.
std::vector<std::string> training_arguments(const TrainJob& job) {
  std::vector<std::string> a{job.teacher.empty() ? "train" : "distill",
                             "--init",
                             job.init.string(),
                             "--dataset",
                             job.dataset,
                             "--epochs",
                             std::to_string(job.epochs),
                             "--lr",
                             std::to_string(job.lr),
                             "--batch",
                             std::to_string(job.batch),
                             "--threads",
                             std::to_string(job.threads),
                             "--eval-limit",
                             "1",
                             "--out",
                             job.out.string()};
  if (job.limit > 0) a.insert(a.end(), {"--limit", std::to_string(job.limit)});
  if (!job.data_path.empty()) a.insert(a.end(), {"--path", job.data_path.string()});
  if (!job.teacher.empty()) a.insert(a.end(), {"--teacher", job.teacher.string()});
  return a;
}

void write_tables(const CompressCommand& o, const std::vector<CompressVariant>& variants,
                  const std::string& test_name) {
  const std::filesystem::path& dir = o.request.out;
  nlohmann::json rows = nlohmann::json::array();
  for (const CompressVariant& v : variants)
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
      {"model", o.request.model.string()},
      {"dataset", test_name},
      {"variants", rows},
      {"what", "top1, latency_ms (median of " + std::to_string(o.request.latency_runs) +
                   " batch-1 runs, 1 thread, this host) measured; params, macs, bytes counted"}};
  std::ofstream(dir / "report.json") << report.dump(2) << "\n";
  std::ofstream md(dir / "report.md");
  md << "| variant | how | top-1 (%) | params | MACs | bytes | host latency (ms) |\n"
     << "|---|---|---:|---:|---:|---:|---:|\n";
  char line[512];
  for (const CompressVariant& v : variants) {
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
  const bool progress = !o.json && isatty(STDERR_FILENO);
  const CompressReport report = compress_model(
      o.request, [](const TrainJob& job) { run_train_tool(training_arguments(job)); },
      [progress](const std::string& what) {
        if (progress) std::fprintf(stderr, "compress: %s\n", what.c_str());
      });
  write_tables(o, report.variants, report.test_name);
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
  cmd->add_option("MODEL", o->request.model, "float ONNX classifier with BatchNormalization kept")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--dataset", o->request.dataset, "fashion-mnist (default), cifar100 or uci-har")
      ->check(CLI::IsMember({"fashion-mnist", "cifar100", "uci-har"}));
  cmd->add_option("--path", o->request.data_path,
                  "the data set's files: Fashion-MNIST's folder (Debian's by default), the folder "
                  "holding CIFAR-100's train.bin and test.bin, or UCI HAR's folder");
  cmd->add_option("--out,-o", o->request.out, "output folder")->required();
  cmd->add_option("--prune", o->request.prune, "share of filters to remove, then fine-tune")
      ->check(CLI::Range(0.0, 0.95));
  cmd->add_option("--criterion", o->request.criterion, "pruning criterion: l1 or hrank")
      ->check(CLI::IsMember({"l1", "hrank"}));
  cmd->add_option("--quantize", o->request.quantize, "int8 or mixed")
      ->check(CLI::IsMember({"int8", "mixed"}));
  cmd->add_option("--distill-from", o->request.teacher,
                  "teacher ONNX model (distils the model first)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--finetune-epochs", o->request.finetune_epochs,
                  "epochs of each training step (2)")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--finetune-lr", o->request.finetune_lr,
                  "peak learning rate of those steps (0.01)");
  cmd->add_option("--train-limit", o->request.train_limit,
                  "train on the first N samples of each epoch");
  cmd->add_option("--eval-limit", o->request.eval_limit, "evaluate on the first N test samples");
  cmd->add_option("--threads", o->request.threads, "threads for training and evaluation (2)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--latency-runs", o->request.latency_runs, "timed runs per variant (50)")
      ->check(CLI::Range(1, 100000));
  cmd->add_flag("--json", o->json, "print the report as one JSON object");
  cmd->callback([o] { compress(*o); });
}

}  // namespace edgeco::cli
