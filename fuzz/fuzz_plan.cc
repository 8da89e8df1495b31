// libFuzzer target: arbitrary bytes as a plan file (the user's input to `run --plan` and
// `eval --plan`); parse_plan must return a plan or throw edgeco::Error, and deploying what it
// returns onto a small model must give a graph or throw edgeco::Error (never crash, hang or throw
// anything else).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "edgeco/deploy.h"
#include "edgeco/runtime.h"

namespace {

// x [1, 4] -> MatMul(w [4, 3]) "mm" -> Relu "relu" -> y: the node names the seed plans use.
const edgeco::Graph& model() {
  static const edgeco::Graph g = [] {
    edgeco::Graph m;
    m.inputs = {"x"};
    m.value("x").type = edgeco::TensorType{edgeco::DType::f32, {1, 4}};
    m.value("w").initializer = edgeco::Tensor::from_values<float>(
        {4, 3}, std::vector<float>{1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -12});
    m.nodes = {edgeco::Node{"mm", "MatMul", "", {"x", "w"}, {"h"}},
               edgeco::Node{"relu", "Relu", "", {"h"}, {"y"}}};
    m.outputs = {"y"};
    return m;
  }();
  return g;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const edgeco::Plan plan = edgeco::parse_plan(
        std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.json");
    const edgeco::DeployedModel deployed = edgeco::deploy(model(), plan);
    edgeco::Session session(deployed.graph);
    session.run(
        {{"x", edgeco::Tensor::from_values<float>({1, 4}, std::vector<float>{1, 2, 3, 4})}});
  } catch (const edgeco::Error&) {
  }
  return 0;
}
