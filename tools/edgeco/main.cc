#include <cstdio>
#include <iostream>

#include "commands.h"
#include "edgeco/core.h"

// Every error of a command is caught below; only a failure to set the commands up (bad_alloc) can
// escape, and that should end the program.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  // A session-level arena (buffers planned by liveness) is the fuller answer, in the library.
  edgeco::cli::retain_freed_memory();
  CLI::App app{
      "edgeco: hardware-software co-design for power-efficient edge-AI inference.\n"
      "Loads ONNX models, runs them with edgeco's reference runtime, and checks them against the "
      "ONNX\n"
      "conformance suite. Every command takes --help."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "edgeco 0.1.0");
  edgeco::cli::add_info_command(app);
  edgeco::cli::add_run_command(app);
  edgeco::cli::add_conformance_command(app);
  edgeco::cli::add_convert_command(app);
  edgeco::cli::add_ops_command(app);
  edgeco::cli::add_bench_command(app);
  edgeco::cli::add_quantize_command(app);
  edgeco::cli::add_dataset_command(app);
  edgeco::cli::add_zoo_command(app);
  edgeco::cli::add_eval_command(app);
  edgeco::cli::add_prune_command(app);
  edgeco::cli::add_compress_command(app);
  edgeco::cli::add_platform_commands(app);
  edgeco::cli::add_compile_command(app);
  edgeco::cli::add_calibrate_commands(app);
  edgeco::cli::add_runtime_commands(app);
  edgeco::cli::add_stream_command(app);
  edgeco::cli::add_serve_command(app);
  edgeco::cli::add_split_command(app);
  edgeco::cli::add_train_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const edgeco::Error& e) {
    std::cerr << "edgeco: error (" << edgeco::to_string(e.kind()) << "): " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "edgeco: internal error: " << e.what() << "\n";
    return 3;
  }
  return 0;
}
