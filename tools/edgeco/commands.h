// Each subcommand registers itself on the app; the work happens in the library.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

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

// A progress bar on stderr ("label [#####     ] detail"), `done` in [0, 1]; ends the line when
// `finished`. Callers draw it only when stderr is a terminal.
void progress_bar(const std::string& label, double done, const std::string& detail, bool finished);

// "1.23 M" style numbers for tables.
std::string human(double value);

}  // namespace edgeco::cli
