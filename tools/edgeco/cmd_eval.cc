#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "edgeco/deploy.h"
#include "edgeco/onnx.h"
#include "edgeco/pipeline.h"
#include "edgeco/runtime.h"

namespace edgeco::cli {
namespace {

struct EvalCommand {
  std::string model, dataset = "fashion-mnist", path, split = "test", plan;
  int threads = 1;
  int64_t batch = 64, limit = 0, resolution = 0;
  bool json = false, reference = false;
};

}  // namespace

void add_eval_command(CLI::App& app) {
  auto o = std::make_shared<EvalCommand>();
  auto* cmd = app.add_subcommand(
      "eval",
      "Accuracy of a classifier on a data set (measured): top-1, top-5, per-class accuracy and "
      "the\n"
      "confusion matrix. Images are resized and their channel repeated to the model's input.");
  cmd->add_option("MODEL", o->model, "ONNX classifier (first output: logits)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--dataset", o->dataset, "fashion-mnist (default), cifar100 or uci-har")
      ->check(CLI::IsMember({"fashion-mnist", "cifar100", "uci-har"}));
  cmd->add_option("--path", o->path, "the data set's files (fashion-mnist: Debian's by default)");
  cmd->add_option("--split", o->split, "train or test (default test)")
      ->check(CLI::IsMember({"train", "test"}));
  cmd->add_option("--batch", o->batch, "batch size when the model's batch is symbolic (64)")
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--limit", o->limit, "evaluate the first N samples only");
  cmd->add_option("--threads", o->threads, "worker threads")->check(CLI::Range(1, 256));
  cmd->add_flag("--reference", o->reference, "run the graph as written on the reference kernels");
  cmd->add_option("--plan", o->plan,
                  "a plan from `edgeco compile` for MODEL: the accuracy as deployed, each node "
                  "computing in its device's numeric type (fp16 on an fp16 GPU, int8 on an NPU)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--resolution", o->resolution,
                  "run the network on PX x PX images (the data set's images resized to it): the "
                  "accuracy a resolution actuator trades for fewer MACs")
      ->check(CLI::Range(1, 8192));
  cmd->add_flag("--json", o->json, "print one JSON object (top1 and top5 as fractions)");
  cmd->callback([o] {
    const Dataset data = load_dataset(o->dataset, o->path, o->split);
    SessionOptions session_options{
        .threads = o->threads, .optimize = !o->reference, .fast_kernels = !o->reference};
    Graph model = load_onnx(o->model);
    bool resized_in_front = false;
    if (o->resolution > 0)
      model = at_resolution(std::move(model), o->resolution, &resized_in_front);
    std::optional<DeployedModel> deployed;
    if (!o->plan.empty()) {
      deployed = deploy(std::move(model), read_plan(o->plan));
      model = deployed->graph;
      session_options.optimize = false;  // the plan's passes have run
    }
    Session session(std::move(model), session_options);
    EvalOptions options;
    options.batch_size = o->batch;
    options.limit = o->limit;
    if (!o->json && isatty(STDERR_FILENO))
      options.progress = [](int64_t done, int64_t total) {
        progress_bar("evaluating", double(done) / double(std::max<int64_t>(1, total)),
                     std::to_string(done) + "/" + std::to_string(total), done == total);
      };
    const EvalResult r = evaluate(session, data, options);
    if (o->json) {
      nlohmann::json per_class = nlohmann::json::object();
      for (size_t c = 0; c < r.per_class.size(); ++c) per_class[data.classes[c]] = r.per_class[c];
      nlohmann::json out{{"model", o->model},        {"dataset", data.name},
                         {"samples", r.samples},     {"top1", r.top1},
                         {"top5", r.top5},           {"per_class", per_class},
                         {"confusion", r.confusion}, {"measured", true}};
      if (o->resolution > 0)
        out["resolution"] = {{"px", o->resolution}, {"resized_in_front", resized_in_front}};
      if (deployed)
        out["deployed"] = {{"plan", o->plan},
                           {"nodes_by_type", deployed->nodes_by_type},
                           {"rewritten_nodes", deployed->rewritten}};
      std::cout << out.dump(2) << "\n";
      return;
    }
    std::printf("%s on %s (%lld samples, measured): top-1 %.2f%%, top-5 %.2f%%\n", o->model.c_str(),
                data.name.c_str(), static_cast<long long>(r.samples), 100 * r.top1, 100 * r.top5);
    if (deployed) {
      std::printf("  as deployed by %s: placed nodes computing in", o->plan.c_str());
      for (const auto& [type, count] : deployed->nodes_by_type)
        std::printf(" %s x%d", type.c_str(), count);
      std::printf(" (%d in another type than their own)\n", deployed->rewritten);
    }
    for (size_t c = 0; c < r.per_class.size(); ++c)
      std::printf("  %-20s %6.2f%%\n", data.classes[c].c_str(), 100 * r.per_class[c]);
  });
}

}  // namespace edgeco::cli
