// Conversions between ONNX protobuf messages and edgeco types (internal to src/onnx).
#pragma once

#include <onnx/onnx_pb.h>

#include <filesystem>
#include <string>

#include "edgeco/core.h"

namespace edgeco::onnx_proto {

// `base_dir` resolves external data; `where` names the tensor in errors.
Tensor to_tensor(const ::onnx::TensorProto& proto, const std::filesystem::path& base_dir,
                 const std::string& where);
void from_tensor(const Tensor& tensor, const std::string& name, ::onnx::TensorProto& proto);

std::string read_file(const std::filesystem::path& path);

}  // namespace edgeco::onnx_proto
