#include <cstdio>
#include <vector>

#include "edgeco/compiler.h"
#include "edgeco/deploy.h"
#include "edgeco/onnx.h"
#include "edgeco/session.h"

int main(int argc, char** argv) try {
  if (argc != 2) return std::fprintf(stderr, "usage: quickstart MODEL.onnx\n"), 2;
  const edgeco::Graph model = edgeco::load_onnx(argv[1]);
  // Place every node on the paper's board for the least energy (modelled figures).
  const edgeco::hw::Platform board = edgeco::hw::find_platform("jetson-nano-ethos-u55");
  const edgeco::Plan plan = edgeco::compile(model, board, {.objective = edgeco::Objective::energy},
                                            edgeco::reference_evaluator());
  std::printf("modelled %.6f ms %.6f mJ\n", plan.latency_ms, plan.energy_mj);
  // Run it as deployed: each node computes in its device's numeric type (measured outputs).
  edgeco::Session session(edgeco::deploy(model, plan).graph, {.fast_kernels = true});
  const std::vector<float> pixels(28 * 28, 0.5f);
  const edgeco::TensorMap out =
      session.run({{"input", edgeco::Tensor::from_values<float>({1, 1, 28, 28}, pixels)}});
  std::printf("logits");
  for (float v : out.at("logits").data<float>()) std::printf(" %.6g", v);
  std::printf("\n");
} catch (const edgeco::Error& e) {
  std::fprintf(stderr, "quickstart: %s\n", e.what());
  return 1;
}
