#include <gtest/gtest.h>

#include "../test_util.h"
#include "edgeco/ir.h"

namespace edgeco {
namespace {

using testing::capture_error;
using testing::i64;
using testing::ints;
using testing::str;

// Infers the single node of `spec` with the given input types (values unknown).
TensorType infer_one(const std::string& op, std::vector<TensorType> inputs,
                     std::map<std::string, Attribute> attrs = {}, int64_t opset = 17) {
  Graph g;
  g.opset = opset;
  Node n{"n0", op};
  n.attributes = std::move(attrs);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string name = "x" + std::to_string(i);
    n.inputs.push_back(name);
    g.inputs.push_back(name);
    g.value(name).type = inputs[i];
  }
  n.outputs = {"y"};
  g.outputs = {"y"};
  g.nodes.push_back(n);
  infer_types(g, OpRegistry::builtin());
  return *g.value("y").type;
}

TEST(Inference, ConvOutputShapeFollowsStridesPadsAndDilations) {
  const TensorType y =
      infer_one("Conv", {{DType::f32, {1, 3, 224, 224}}, {DType::f32, {32, 3, 3, 3}}},
                {{"strides", ints({2, 2})}, {"pads", ints({1, 1, 1, 1})}});
  EXPECT_EQ(y.dims, (Dims{1, 32, 112, 112}));
  const TensorType dilated = infer_one("Conv", {{DType::f32, {1, 1, 10}}, {DType::f32, {4, 1, 3}}},
                                       {{"dilations", ints({2})}});
  EXPECT_EQ(dilated.dims, (Dims{1, 4, 6}));
}

TEST(Inference, SameUpperPaddingKeepsCeilOfInputOverStride) {
  const TensorType y = infer_one("Conv", {{DType::f32, {1, 1, 7, 7}}, {DType::f32, {1, 1, 3, 3}}},
                                 {{"strides", ints({2, 2})}, {"auto_pad", str("SAME_UPPER")}});
  EXPECT_EQ(y.dims, (Dims{1, 1, 4, 4}));
}

TEST(Inference, DynamicBatchStaysUnknownThroughConvAndGemm) {
  const TensorType y = infer_one("Conv", {{DType::f32, {-1, 3, 8, 8}}, {DType::f32, {4, 3, 1, 1}}});
  EXPECT_EQ(y.dims, (Dims{-1, 4, 8, 8}));
  const TensorType g =
      infer_one("Gemm", {{DType::f32, {-1, 16}}, {DType::f32, {10, 16}}}, {{"transB", i64(1)}});
  EXPECT_EQ(g.dims, (Dims{-1, 10}));
}

TEST(Inference, ChannelMismatchNamesTheNode) {
  const Error e = capture_error([] {
    infer_one("Conv", {{DType::f32, {1, 3, 8, 8}}, {DType::f32, {4, 2, 3, 3}}});
  });
  EXPECT_EQ(e.kind(), ErrorKind::invalid_model);
  EXPECT_NE(std::string(e.what()).find("node 'n0' (Conv)"), std::string::npos);
  EXPECT_NE(std::string(e.what()).find("3 channels"), std::string::npos);
}

TEST(Inference, ErrorsFromSharedHelpersStillNameTheNode) {
  const Error e = capture_error([] {
    infer_one("Softmax", {{DType::f32, {2, 3}}}, {{"axis", i64(5)}});
  });
  EXPECT_EQ(std::string(e.what()), "node 'n0' (Softmax): axis 5 is out of range for rank 2");
}

TEST(Inference, BroadcastAndTypeMismatchAreErrors) {
  EXPECT_EQ(infer_one("Add", {{DType::f32, {2, 1, 4}}, {DType::f32, {3, 1}}}).dims,
            (Dims{2, 3, 4}));
  EXPECT_THROW(infer_one("Add", {{DType::f32, {2, 3}}, {DType::f32, {4}}}), Error);
  const Error e = capture_error([] { infer_one("Add", {{DType::f32, {2}}, {DType::i64, {2}}}); });
  EXPECT_NE(std::string(e.what()).find("different types"), std::string::npos);
}

TEST(Inference, MatMulBroadcastsBatchAndPromotesVectors) {
  EXPECT_EQ(infer_one("MatMul", {{DType::f32, {2, 1, 3, 4}}, {DType::f32, {5, 4, 6}}}).dims,
            (Dims{2, 5, 3, 6}));
  EXPECT_EQ(infer_one("MatMul", {{DType::f32, {4}}, {DType::f32, {4, 6}}}).dims, (Dims{6}));
  EXPECT_THROW(infer_one("MatMul", {{DType::f32, {3, 4}}, {DType::f32, {5, 6}}}), Error);
}

TEST(Inference, PoolCeilModeDropsWindowsStartingInPadding) {
  const TensorType y =
      infer_one("MaxPool", {{DType::f32, {1, 1, 5, 5}}},
                {{"kernel_shape", ints({2, 2})}, {"strides", ints({2, 2})}, {"ceil_mode", i64(1)}});
  EXPECT_EQ(y.dims, (Dims{1, 1, 3, 3}));
}

TEST(Inference, ConstantEvaluatorSeesThroughShapeArithmetic) {
  // x -> Shape -> Gather(0) -> Unsqueeze -> Concat([-1]) -> Reshape(x): the usual flatten export.
  Graph g;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {2, 3, 4}};
  g.value("idx").initializer = Tensor::scalar<int64_t>(0);
  g.value("axes").initializer = Tensor::from_values<int64_t>({1}, {0});
  g.value("minus1").initializer = Tensor::from_values<int64_t>({1}, {-1});
  g.nodes = {Node{"shape", "Shape", "", {"x"}, {"s"}},
             Node{"gather", "Gather", "", {"s", "idx"}, {"n"}},
             Node{"unsq", "Unsqueeze", "", {"n", "axes"}, {"n1"}},
             Node{"concat", "Concat", "", {"n1", "minus1"}, {"target"}, {{"axis", i64(0)}}},
             Node{"reshape", "Reshape", "", {"x", "target"}, {"y"}}};
  g.outputs = {"y"};
  const ConstantEvaluator evaluate = [](const Node& node, int64_t opset,
                                        std::span<const Tensor* const> in) {
    return run_node(node, opset, in);
  };
  const InferenceResult r = infer_types(g, OpRegistry::builtin(), evaluate);
  EXPECT_EQ(g.value("y").type->dims, (Dims{2, 12}));
  ASSERT_TRUE(r.constants.count("target"));
  EXPECT_EQ(r.constants.at("target").to_int64s(), (std::vector<int64_t>{2, -1}));
}

TEST(Inference, ConvMacsCountEveryMultiplyAccumulate) {
  Graph g;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {1, 8, 10, 10}};
  g.value("w").initializer = Tensor(DType::f32, {16, 4, 3, 3});
  g.nodes = {Node{
      "conv", "Conv", "", {"x", "w"}, {"y"}, {{"group", i64(2)}, {"pads", ints({1, 1, 1, 1})}}}};
  g.outputs = {"y"};
  const InferenceResult r = infer_types(g, OpRegistry::builtin());
  // 16 output channels x 100 positions x (8 / 2 input channels x 9 taps)
  EXPECT_EQ(r.node_macs.at("conv"), 16 * 100 * 4 * 9);
}

TEST(Inference, SliceRangesClampAndStepBackwards) {
  const Dims dims{10};
  const auto forward =
      slice_ranges(dims, std::vector<int64_t>{-3}, std::vector<int64_t>{1000}, {}, {});
  EXPECT_EQ(forward[0].start, 7);
  EXPECT_EQ(forward[0].count, 3);
  const auto backward = slice_ranges(dims, std::vector<int64_t>{100}, std::vector<int64_t>{-100},
                                     {}, std::vector<int64_t>{-3});
  EXPECT_EQ(backward[0].start, 9);
  EXPECT_EQ(backward[0].count, 4);  // 9, 6, 3, 0
  EXPECT_THROW(slice_ranges(dims, std::vector<int64_t>{0}, std::vector<int64_t>{1}, {},
                            std::vector<int64_t>{0}),
               Error);
}

}  // namespace
}  // namespace edgeco
