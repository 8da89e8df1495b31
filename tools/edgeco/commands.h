// Each subcommand registers itself on the app; the work happens in the library.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "edgeco/compress.h"
#include "edgeco/pipeline.h"

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
void add_runtime_commands(CLI::App& app);
void add_stream_command(CLI::App& app);
void add_serve_command(CLI::App& app);
void add_split_command(CLI::App& app);

// Keeps memory the program frees for its reuse instead of giving it back to the kernel. With
// glibc's defaults, large buffers (activations, gradients) are mmap'd and unmapped on free, so
// every inference run or training step page-faults them in again: EfficientNet-B0 INT8 ran in
// 2.9 ms instead of 4.1; a MobileNetV2 x0.35 training step at batch 128 (1 thread) took 0.72 s, not
// 1.22. A process-wide setting, so the programs make it, not the library.
void retain_freed_memory();

// A progress bar on stderr ("label [#####     ] detail"), `done` in [0, 1]; ends the line when
// `finished`. Callers draw it only when stderr is a terminal.
void progress_bar(const std::string& label, double done, const std::string& detail, bool finished);
// A mixed-precision search's progress as a bar, or none when `shown` is false.
std::function<void(const std::string&, size_t, size_t)> mixed_progress(bool shown);

// edgeco-train beside this program (throws when it was not built), and running it with
// `arguments` (throws naming the command when it fails).
std::filesystem::path train_tool();
void run_train_tool(const std::vector<std::string>& arguments);

// "1.23 M" style numbers for tables.
std::string human(double value);

// The items of a comma-separated list, empty ones included ("a,,b" -> a, "", b).
std::vector<std::string> comma_items(std::string_view text);

}  // namespace edgeco::cli
