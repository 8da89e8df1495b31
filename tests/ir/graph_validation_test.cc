#include <gtest/gtest.h>

#include "../test_util.h"
#include "edgeco/ir.h"

namespace edgeco {
namespace {

using testing::capture_error;

Graph relu_chain() {
  Graph g;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {4}};
  g.nodes = {Node{"a", "Relu", "", {"x"}, {"h"}}, Node{"b", "Relu", "", {"h"}, {"y"}}};
  g.outputs = {"y"};
  g.value("h");
  g.value("y");
  return g;
}

TEST(GraphValidation, AcceptsAWellFormedGraph) {
  EXPECT_NO_THROW(relu_chain().validate(OpRegistry::builtin()));
}

TEST(GraphValidation, UnknownOperatorNamesOpAndNode) {
  Graph g = relu_chain();
  g.nodes[1].op_type = "FancyOp";
  const Error e = capture_error([&] { g.validate(OpRegistry::builtin()); });
  EXPECT_EQ(e.kind(), ErrorKind::unsupported);
  EXPECT_NE(std::string(e.what()).find("'FancyOp'"), std::string::npos);
  EXPECT_NE(std::string(e.what()).find("node 'b'"), std::string::npos);
}

TEST(GraphValidation, DanglingInputIsReported) {
  Graph g = relu_chain();
  g.nodes[1].inputs = {"nowhere"};
  const Error e = capture_error([&] { g.validate(OpRegistry::builtin()); });
  EXPECT_NE(std::string(e.what()).find("'nowhere' is not produced"), std::string::npos);
}

TEST(GraphValidation, OutOfOrderNodesAreSortedAndCyclesNamed) {
  Graph g = relu_chain();
  std::swap(g.nodes[0], g.nodes[1]);
  EXPECT_THROW(g.validate(OpRegistry::builtin()), Error);
  g.sort_topologically();
  EXPECT_EQ(g.nodes[0].name, "a");
  EXPECT_NO_THROW(g.validate(OpRegistry::builtin()));

  g.nodes[0].inputs = {"y"};  // a reads b's output, b reads a's: a cycle
  const Error e = capture_error([&] { g.sort_topologically(); });
  EXPECT_EQ(e.kind(), ErrorKind::invalid_model);
  EXPECT_NE(std::string(e.what()).find("cycle"), std::string::npos);
}

TEST(GraphValidation, DoubleProducerAndBadArityAreErrors) {
  Graph g = relu_chain();
  g.nodes[1].outputs = {"h"};
  EXPECT_THROW(g.validate(OpRegistry::builtin()), Error);
  Graph h = relu_chain();
  h.nodes[0].inputs = {"x", "x"};
  const Error e = capture_error([&] { h.validate(OpRegistry::builtin()); });
  EXPECT_NE(std::string(e.what()).find("has 2 inputs"), std::string::npos);
}

TEST(GraphValidation, AttributeOfWrongTypeIsReported) {
  Graph g = relu_chain();
  g.nodes[0].op_type = "LeakyRelu";
  g.nodes[0].attributes["alpha"] = Attribute{int64_t{1}};
  const Error e = capture_error([&] { g.validate(OpRegistry::builtin()); });
  EXPECT_NE(std::string(e.what()).find("attribute 'alpha' is int, expected float"),
            std::string::npos);
}

}  // namespace
}  // namespace edgeco
