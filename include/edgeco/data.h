// Data set and array file readers.
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "edgeco/core.h"

namespace edgeco {

// NumPy .npy files (format versions 1-3, little-endian, C order).
Tensor load_npy(const std::filesystem::path& path);
Tensor parse_npy(std::span<const std::byte> bytes, std::string_view source = "<memory>");
void save_npy(const Tensor& tensor, const std::filesystem::path& path);
std::string serialize_npy(const Tensor& tensor);

}  // namespace edgeco
