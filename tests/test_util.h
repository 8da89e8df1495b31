// Shared helpers for edgeco's unit tests.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "edgeco/ir.h"
#include "edgeco/runtime.h"

namespace edgeco::testing {

// What the edgeco::Error that `f` throws says (what()), or "no error" when it returns.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

struct NodeSpec {
  std::string op;
  std::vector<Tensor> inputs;  // empty handle = omitted optional input
  std::map<std::string, Attribute> attrs;
  int64_t opset = 17;
  size_t outputs = 1;
};

// A graph of one node whose inputs are graph inputs, ready to run.
inline Graph single_node_graph(const NodeSpec& spec) {
  Graph g;
  g.opset = spec.opset;
  Node n;
  n.name = "n0";
  n.op_type = spec.op;
  n.attributes = spec.attrs;
  for (size_t i = 0; i < spec.inputs.size(); ++i) {
    if (spec.inputs[i].empty_handle()) {
      n.inputs.push_back("");
      continue;
    }
    const std::string name = "x" + std::to_string(i);
    n.inputs.push_back(name);
    g.inputs.push_back(name);
    g.value(name).type = TensorType{spec.inputs[i].dtype(), spec.inputs[i].dims()};
  }
  for (size_t i = 0; i < spec.outputs; ++i) {
    const std::string name = "y" + std::to_string(i);
    n.outputs.push_back(name);
    g.outputs.push_back(name);
    g.value(name);
  }
  g.nodes.push_back(std::move(n));
  return g;
}

inline std::vector<Tensor> run_node_graph(const NodeSpec& spec) {
  Session session(single_node_graph(spec));
  TensorMap inputs;
  for (size_t i = 0; i < spec.inputs.size(); ++i)
    if (!spec.inputs[i].empty_handle()) inputs["x" + std::to_string(i)] = spec.inputs[i];
  TensorMap out = session.run(inputs);
  std::vector<Tensor> result;
  for (size_t i = 0; i < spec.outputs; ++i) result.push_back(out.at("y" + std::to_string(i)));
  return result;
}

// Deterministic uniform random tensors: integers in [lo, hi] as T, floats in [lo, hi).
template <class T>
Tensor random_integers(Dims dims, int lo, int hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(lo, hi);
  std::vector<T> v(size_t(checked_numel(dims)));
  for (auto& x : v) x = T(u(rng));
  return Tensor::from_values<T>(dims, std::span<const T>(v));
}

inline Tensor random_floats(Dims dims, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(size_t(checked_numel(dims)));
  for (auto& x : v) x = u(rng);
  return Tensor::from_values<float>(dims, std::span<const float>(v));
}

inline Tensor arange(Dims dims, float start = 0) {
  std::vector<float> v(size_t(checked_numel(dims)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = start + float(i);
  return Tensor::from_values<float>(dims, std::span<const float>(v));
}

inline Tensor filled(Dims dims, float value) {
  std::vector<float> v(size_t(checked_numel(dims)), value);
  return Tensor::from_values<float>(dims, std::span<const float>(v));
}

inline void expect_near(const Tensor& actual, const Dims& dims, const std::vector<double>& expected,
                        double tol = 1e-5) {
  ASSERT_EQ(actual.dims(), dims);
  const auto values = actual.to_doubles();
  ASSERT_EQ(values.size(), expected.size());
  for (size_t i = 0; i < values.size(); ++i)
    EXPECT_NEAR(values[i], expected[i], tol) << "element " << i;
}

// Runs f and returns the edgeco::Error it throws (fails the test if it throws nothing).
template <class F>
Error capture_error(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "expected an edgeco::Error";
  return Error(ErrorKind::internal, "no error");
}

inline Attribute ints(std::vector<int64_t> v) {
  return Attribute{std::move(v)};
}
inline Attribute i64(int64_t v) {
  return Attribute{v};
}
inline Attribute f32(float v) {
  return Attribute{v};
}
inline Attribute str(std::string v) {
  return Attribute{std::move(v)};
}

// A QDQ graph as quantizers write it: x -> Q -> DQ -> Conv(DQ w1, DQ b1) -> Relu -> Q -> DQ ->
// Conv(DQ w2) -> Q -> DQ -> Add(., DQ x) -> Q -> DQ -> y.
inline Graph qdq_block() {
  Graph g;
  g.opset = 13;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {1, 4, 6, 6}};
  auto param = [&](const std::string& name, float scale, uint8_t zero) {
    g.value(name + "_s").initializer = Tensor::scalar<float>(scale);
    g.value(name + "_z").initializer = Tensor::scalar<uint8_t>(zero);
  };
  param("x", 0.02f, 128);
  param("r1", 0.01f, 0);
  param("c2", 0.015f, 120);
  param("sum", 0.03f, 125);
  g.value("w1_q").initializer = random_integers<int8_t>({4, 4, 3, 3}, -127, 127, 1);
  g.value("w1_s").initializer = random_floats({4}, 0.002f, 0.004f, 2);
  g.value("w1_z").initializer = Tensor(DType::i8, {4});
  g.value("b1_q").initializer = random_integers<int32_t>({4}, -500, 500, 3);
  g.value("b1_s").initializer =
      Tensor::from_values<float>({4}, std::vector<float>{1e-4f, 2e-4f, 3e-4f, 4e-4f});
  g.value("w2_q").initializer = random_integers<int8_t>({4, 4, 1, 1}, -127, 127, 4);
  g.value("w2_s").initializer = Tensor::scalar<float>(0.003f);
  auto q = [&](const std::string& in, const std::string& p, const std::string& out) {
    g.nodes.push_back(Node{in + "_Q", "QuantizeLinear", "", {in, p + "_s", p + "_z"}, {out}});
  };
  auto dq = [&](const std::string& in, const std::vector<std::string>& params,
                const std::string& out, std::map<std::string, Attribute> attrs = {}) {
    std::vector<std::string> inputs{in};
    inputs.insert(inputs.end(), params.begin(), params.end());
    g.nodes.push_back(Node{out + "_DQ", "DequantizeLinear", "", inputs, {out}, attrs});
  };
  q("x", "x", "xq");
  dq("xq", {"x_s", "x_z"}, "xd");
  dq("w1_q", {"w1_s", "w1_z"}, "w1", {{"axis", testing::i64(0)}});
  dq("b1_q", {"b1_s"}, "b1", {{"axis", testing::i64(0)}});
  g.nodes.push_back(
      Node{"conv1", "Conv", "", {"xd", "w1", "b1"}, {"c1"}, {{"pads", ints({1, 1, 1, 1})}}});
  g.nodes.push_back(Node{"relu", "Relu", "", {"c1"}, {"r1"}});
  q("r1", "r1", "r1q");
  dq("r1q", {"r1_s", "r1_z"}, "r1d");
  dq("w2_q", {"w2_s"}, "w2");
  g.nodes.push_back(Node{"conv2", "Conv", "", {"r1d", "w2"}, {"c2"}});
  q("c2", "c2", "c2q");
  dq("c2q", {"c2_s", "c2_z"}, "c2d");
  g.nodes.push_back(Node{"add", "Add", "", {"c2d", "xd"}, {"sum"}});
  q("sum", "sum", "sumq");
  dq("sumq", {"sum_s", "sum_z"}, "y");
  g.outputs = {"y"};
  return g;
}

}  // namespace edgeco::testing
