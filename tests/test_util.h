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

}  // namespace edgeco::testing
