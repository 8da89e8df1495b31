#include "inputs.h"

#include <cmath>
#include <fstream>
#include <random>

#include "edgeco/data.h"
#include "edgeco/onnx.h"

namespace edgeco::cli {
namespace {

Tensor load_input_file(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(ErrorKind::io, "cannot open input file", file);
  char magic[6] = {};
  in.read(magic, 6);
  if (std::string_view(magic, 6) == "\x93NUMPY") return load_npy(file);
  return load_tensor_proto(file).tensor;
}

Tensor random_input(const TensorType& type, std::mt19937& rng) {
  Dims dims = type.dims;
  for (auto& d : dims) d = d < 0 ? 1 : d;
  Tensor t(type.dtype, dims);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  std::vector<double> values(size_t(t.numel()));
  for (auto& v : values)
    v = is_float(type.dtype) ? uniform(rng) : std::floor((uniform(rng) + 1.0) * 5.0);
  return Tensor::from_values<double>(dims, std::span<const double>(values)).cast(type.dtype);
}

}  // namespace

PreparedInputs prepare_inputs(const Graph& graph, const std::vector<std::string>& specs,
                              uint32_t seed) {
  PreparedInputs out;
  for (const auto& spec : specs) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error(ErrorKind::invalid_argument, "expected NAME=FILE", "--input " + spec);
    out.tensors[spec.substr(0, eq)] = load_input_file(spec.substr(eq + 1));
  }
  std::mt19937 rng(seed);
  for (const auto& name : graph.inputs)
    if (!out.tensors.count(name)) {
      out.tensors[name] = random_input(*graph.value(name).type, rng);
      out.random_names.push_back(name);
    }
  return out;
}

}  // namespace edgeco::cli
