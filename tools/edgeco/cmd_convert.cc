#include <cstdio>

#include "commands.h"
#include "edgeco/onnx.h"
#include "edgeco/runtime.h"

namespace edgeco::cli {

void add_convert_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "convert",
      "Read an ONNX model into edgeco's IR and write it back out (Constant nodes become "
      "initializers, Identity nodes are removed, external data is stored inline)");
  auto in = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  cmd->add_option("MODEL", *in, "ONNX model file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--out,-o", *out, "where to write the model")->required();
  cmd->callback([in, out] {
    Graph graph = load_onnx(*in);
    // Prepare once, so a model edgeco cannot run is reported instead of written.
    Session check(graph);
    save_onnx(graph, *out);
    std::printf("wrote %s (%zu nodes, opset %lld)\n", out->c_str(), graph.nodes.size(),
                static_cast<long long>(graph.opset));
  });
}

}  // namespace edgeco::cli
