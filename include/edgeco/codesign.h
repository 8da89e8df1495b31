// The co-design runs, as library calls the CLI is thin over. For now the model level: the
// pipeline `edgeco compress` runs (distil, prune and fine-tune, quantize), each variant written
// and measured the same way.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace edgeco {

// One training run of the pipeline: fine-tune `init` (distilled from `teacher` when set) on the
// data set and write `out`. Training lives in edgeco's libtorch part (edgeco-train), which the
// rest of the library does not link: the caller runs it (the CLI starts edgeco-train).
struct TrainJob {
  std::filesystem::path init, out, teacher;
  std::string dataset;
  std::filesystem::path data_path;
  int epochs = 2, batch = 128, threads = 2;
  double lr = 0.01;
  int64_t limit = 0;  // train on the first N samples of each epoch (0: all)
};
using Trainer = std::function<void(const TrainJob& job)>;

struct CompressRequest {
  std::filesystem::path model;  // float ONNX classifier, BatchNormalization kept
  std::string dataset = "fashion-mnist";
  std::filesystem::path data_path;  // the data set's files (load_dataset); empty: its default
  std::filesystem::path out;        // folder for the variants
  std::filesystem::path teacher;    // distil from it first (empty: no distillation)
  double prune = 0;                 // share of filters to remove, then fine-tune (0: none)
  std::string criterion = "l1";     // l1 or hrank
  std::string quantize;             // "", "int8" or "mixed"
  int finetune_epochs = 2, threads = 2, latency_runs = 50, batch = 128;
  double finetune_lr = 0.01;
  int64_t train_limit = 0, eval_limit = 0;
};

// A variant's figures: top-1 and host latency measured, the rest counted.
struct CompressVariant {
  std::string name, file, how;
  double top1 = 0;
  int64_t samples = 0, params = 0, macs = 0, bytes = 0;
  double latency_ms = 0;  // median of the request's batch-1 runs, 1 thread, this host
};
struct CompressReport {
  std::vector<CompressVariant> variants;  // base first, then each step's
  std::string test_name;                  // what top-1 was measured on
};

// Runs the steps the request asks for, in order, writing each variant to request.out; `train`
// runs the training steps, `step` hears each step's name as it starts (both may be empty when the
// request needs no training, resp. no progress).
CompressReport compress_model(const CompressRequest& request, const Trainer& train,
                              const std::function<void(const std::string&)>& step = nullptr);

}  // namespace edgeco
