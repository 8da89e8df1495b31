#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "edgeco/compiler.h"
#include "edgeco/onnx.h"
#include "edgeco/runtime.h"
#include "edgeco/zoo.h"

namespace edgeco::cli {

void add_zoo_command(CLI::App& app) {
  auto o = std::make_shared<ZooOptions>();
  auto arch = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand(
      "zoo",
      "Build an edge architecture as an ONNX model with seeded random weights (BatchNormalization\n"
      "kept, for training): mobilenet_v2, mobilenet_v3_small, efficientnet_lite0, resnet8,\n"
      "resnet20 (CIFAR ResNets),\n"
      "har_cnn (1-D, input [N, C, length]). Prints its MACs and parameters (BN folded).");
  cmd->add_option("ARCH", *arch, "architecture")
      ->required()
      ->check(CLI::IsMember(zoo_architectures()));
  cmd->add_option("--out,-o", *out, "where to write the ONNX model")->required();
  cmd->add_option("--in-channels", o->in_channels, "input channels (default 3)")
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--resolution", o->resolution, "input height = width, or sequence length")
      ->check(CLI::Range(8, 4096));
  cmd->add_option("--classes", o->classes, "outputs (default 1000)")->check(CLI::Range(1, 100000));
  cmd->add_option("--width", o->width, "width multiplier (MobileNets, har_cnn)")
      ->check(CLI::Range(0.05, 8.0));
  cmd->add_flag("--small-input", o->small_input,
                "stride 1 in the stem and first downsampling stage (28x28, 32x32 inputs)");
  cmd->add_option("--seed", o->seed, "seed of the random weights");
  cmd->add_flag("--json", *json, "print one JSON object");
  cmd->callback([o, arch, out, json] {
    const Graph g = build_model(*arch, *o);
    save_onnx(g, *out);
    Graph folded = g;
    fold_batch_norm(folded);
    remove_dead_nodes(folded);
    const ModelSummary s = analyze(folded);
    if (*json) {
      std::cout << nlohmann::json{{"architecture", *arch},
                                  {"out", *out},
                                  {"macs", s.macs},
                                  {"params", s.params},
                                  {"input", s.inputs[0].second.dims},
                                  {"classes", o->classes}}
                       .dump(2)
                << "\n";
      return;
    }
    std::printf("wrote %s: %s, input %s, %s MACs, %s parameters (BatchNormalization folded)\n",
                out->c_str(), arch->c_str(), dims_to_string(s.inputs[0].second.dims).c_str(),
                human(double(s.macs)).c_str(), human(double(s.params)).c_str());
  });
}

}  // namespace edgeco::cli
