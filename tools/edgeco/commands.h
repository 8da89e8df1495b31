// Each subcommand registers itself on the app; the work happens in the library.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "edgeco/compress.h"

namespace edgeco::cli {

void add_info_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_conformance_command(CLI::App& app);
void add_convert_command(CLI::App& app);
void add_ops_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_quantize_command(CLI::App& app);
void add_dataset_command(CLI::App& app);
void add_zoo_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_train_commands(CLI::App& app);
void add_prune_command(CLI::App& app);
void add_compress_command(CLI::App& app);
void add_platform_commands(CLI::App& app);
void add_compile_command(CLI::App& app);
void add_calibrate_commands(CLI::App& app);

// Keeps memory the program frees for its reuse instead of giving it back to the kernel. With
// glibc's defaults, large buffers (activations, gradients) are mmap'd and unmapped on free, so
// every inference run or training step page-faults them in again: EfficientNet-B0 INT8 ran in
// 2.9 ms instead of 4.1; a MobileNetV2 x0.35 training step at batch 128 (1 thread) took 0.72 s, not
// 1.22. A process-wide setting, so the programs make it, not the library.
void retain_freed_memory();

// A progress bar on stderr ("label [#####     ] detail"), `done` in [0, 1]; ends the line when
// `finished`. Callers draw it only when stderr is a terminal.
void progress_bar(const std::string& label, double done, const std::string& detail, bool finished);

// edgeco-train beside this program (throws when it was not built), and running it with
// `arguments` (throws naming the command when it fails).
std::filesystem::path train_tool();
void run_train_tool(const std::vector<std::string>& arguments);

// BatchNormalization folded into the convolutions before them (and the dead nodes removed), as
// quantization needs: int8 kernels then carry the whole conv + BN.
Graph folded_for_quantization(Graph model);

// Mixed-precision quantization with accuracy measured on the data set's training split's last
// `val_samples` images (shared by quantize and compress).
struct MixedRequest {
  std::string dataset;
  std::filesystem::path path;  // the data set's files (load_dataset); empty: its default
  double budget = 0.005;
  int64_t val_samples = 2000;
  int threads = 1;
  bool progress = false;
};
struct MixedResult {
  Graph model;
  MixedPrecisionReport report;
  std::string validation;  // what accuracy was measured on
};
MixedResult quantize_mixed(const Graph& model, std::span<const TensorMap> samples,
                           const CalibrationRunner& runner, const QuantizeOptions& quantize,
                           const MixedRequest& request);

// The p-th quantile (p in [0, 1]) of the values, interpolated between neighbours.
double percentile(std::vector<double> values, double p);

// Structured pruning as the CLI runs it: HRank's feature maps come from `calibration` inputs run
// on the fast kernels.
Graph prune_model(const Graph& model, const PruneOptions& options, const std::string& calibration,
                  size_t samples, uint32_t seed, int threads, PruneReport* report = nullptr,
                  const std::filesystem::path& data_path = {});

// "1.23 M" style numbers for tables.
std::string human(double value);

}  // namespace edgeco::cli
