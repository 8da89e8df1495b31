// ONNX import and export. The only module that sees protobuf; everything here speaks edgeco types.
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "edgeco/ir.h"

namespace edgeco {

struct OnnxLoadOptions {
  // Remove Identity nodes by renaming their consumers' inputs (kept when they feed a graph output
  // directly from a graph input).
  bool remove_identity = true;
};

// Reads a model file. External data files are looked up next to the model. Constant nodes become
// initializers, symbolic dims (dynamic batch) become unknown dims. Throws Error naming the file.
Graph load_onnx(const std::filesystem::path& path, const OnnxLoadOptions& options = {});
// Parses model bytes; `base_dir` resolves external data (empty: external data is an error).
Graph parse_onnx(std::span<const std::byte> bytes, const std::filesystem::path& base_dir = {},
                 std::string_view source = "<memory>", const OnnxLoadOptions& options = {});

// Writes a model that other ONNX runtimes load; all initializers are stored inline.
void save_onnx(const Graph& graph, const std::filesystem::path& path);
std::string serialize_onnx(const Graph& graph);

// ONNX TensorProto files (.pb), as the ONNX backend test suite stores inputs and outputs.
struct NamedTensor {
  std::string name;
  Tensor tensor;
};
NamedTensor load_tensor_proto(const std::filesystem::path& path);
NamedTensor parse_tensor_proto(std::span<const std::byte> bytes,
                               std::string_view source = "<memory>");
std::string serialize_tensor_proto(const Tensor& tensor, std::string_view name);

// The opset range of the default ONNX domain edgeco reads.
inline constexpr int64_t kMinOpset = 7;
inline constexpr int64_t kMaxOpset = 17;

}  // namespace edgeco
