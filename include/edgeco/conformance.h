// Runs ONNX backend test folders (model.onnx + test_data_set_*/{input,output}_*.pb) and compares
// edgeco's outputs with the expected ones.
#pragma once

#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "edgeco/core.h"

namespace edgeco {

enum class CaseStatus { passed, failed, skipped };
std::string_view to_string(CaseStatus status);

struct CaseResult {
  std::string name;
  CaseStatus status = CaseStatus::failed;
  std::string detail;  // why it failed or was skipped (names the op), empty when passed
  double max_abs_error = 0;
  double seconds = 0;
};

struct Tolerance {
  double rtol = 1e-3;  // as ONNX's own backend test runner
  double atol = 1e-7;
};

// Passes when |actual - expected| <= atol + rtol * |expected| everywhere (NaN matches NaN), with
// equal shapes and types. `detail` says where it differs.
bool tensors_close(const Tensor& actual, const Tensor& expected, const Tolerance& tol,
                   std::string& detail, double& max_abs_error);

CaseResult run_conformance_case(const std::filesystem::path& dir, const Tolerance& tol = {});

// Expands each path to its test folders: a folder holding model.onnx is one test, otherwise its
// subfolders that hold one are. Sorted by name.
std::vector<std::filesystem::path> find_conformance_cases(
    std::span<const std::filesystem::path> roots);

}  // namespace edgeco
