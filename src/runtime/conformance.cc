#include "edgeco/conformance.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "edgeco/onnx.h"
#include "edgeco/runtime.h"

namespace edgeco {

std::string_view to_string(CaseStatus status) {
  switch (status) {
    case CaseStatus::passed:
      return "passed";
    case CaseStatus::failed:
      return "failed";
    case CaseStatus::skipped:
      return "skipped";
  }
  return "?";
}

bool tensors_close(const Tensor& actual, const Tensor& expected, const Tolerance& tol,
                   std::string& detail, double& max_abs_error) {
  max_abs_error = 0;
  if (actual.dtype() != expected.dtype()) {
    detail = "type " + std::string(to_string(actual.dtype())) + ", expected " +
             std::string(to_string(expected.dtype()));
    return false;
  }
  if (actual.dims() != expected.dims()) {
    detail =
        "shape " + dims_to_string(actual.dims()) + ", expected " + dims_to_string(expected.dims());
    return false;
  }
  const auto a = actual.to_doubles();
  const auto e = expected.to_doubles();
  const bool exact = !is_float(expected.dtype());
  bool ok = true;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) && std::isnan(e[i])) continue;
    if (std::isinf(e[i]) && a[i] == e[i]) continue;
    const double err = std::abs(a[i] - e[i]);
    max_abs_error = std::max(max_abs_error, std::isnan(err) ? INFINITY : err);
    const bool close = exact ? a[i] == e[i] : err <= tol.atol + tol.rtol * std::abs(e[i]);
    if (!close && ok) {
      detail = "element " + std::to_string(i) + " is " + std::to_string(a[i]) + ", expected " +
               std::to_string(e[i]);
      ok = false;
    }
  }
  return ok;
}

namespace {

std::vector<std::filesystem::path> sorted_files(const std::filesystem::path& dir,
                                                std::string_view prefix) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && entry.path().extension() == ".pb")
      files.push_back(entry.path());
  }
  // input_10.pb sorts after input_9.pb.
  std::sort(files.begin(), files.end(), [&](const auto& a, const auto& b) {
    auto index = [&](const std::filesystem::path& p) {
      return std::stol(p.stem().string().substr(prefix.size()));
    };
    return index(a) < index(b);
  });
  return files;
}

}  // namespace

CaseResult run_conformance_case(const std::filesystem::path& dir, const Tolerance& tol) {
  CaseResult result;
  result.name = dir.filename().string();
  const auto start = std::chrono::steady_clock::now();
  auto finish = [&](CaseStatus status, std::string detail) {
    result.status = status;
    result.detail = std::move(detail);
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
  };
  Graph graph;
  try {
    graph = load_onnx(dir / "model.onnx");
  } catch (const Error& e) {
    return finish(e.kind() == ErrorKind::unsupported ? CaseStatus::skipped : CaseStatus::failed,
                  e.what());
  }
  // Skipped means: uses an operator the registry does not have.
  for (const Node& node : graph.nodes)
    if (!OpRegistry::builtin().find(node.domain, node.op_type))
      return finish(CaseStatus::skipped, "operator " +
                                             (node.domain.empty() ? "" : node.domain + ".") +
                                             node.op_type + " is not registered");
  try {
    const std::vector<std::string> input_names = graph.inputs;
    const std::vector<std::string> output_names = graph.outputs;
    Session session(std::move(graph));
    size_t sets = 0;
    std::vector<std::filesystem::path> set_dirs;
    for (const auto& entry : std::filesystem::directory_iterator(dir))
      if (entry.is_directory() && entry.path().filename().string().rfind("test_data_set_", 0) == 0)
        set_dirs.push_back(entry.path());
    std::sort(set_dirs.begin(), set_dirs.end());
    for (const auto& set_dir : set_dirs) {
      TensorMap inputs;
      const auto input_files = sorted_files(set_dir, "input_");
      for (size_t i = 0; i < input_files.size(); ++i) {
        NamedTensor t = load_tensor_proto(input_files[i]);
        // Inputs are positional; the .pb name, when set, must agree.
        if (i >= input_names.size())
          return finish(CaseStatus::failed, "more input files than model inputs");
        inputs[input_names[i]] = std::move(t.tensor);
      }
      TensorMap outputs = session.run(inputs);
      const auto output_files = sorted_files(set_dir, "output_");
      if (output_files.size() != output_names.size())
        return finish(CaseStatus::failed, "expected " + std::to_string(output_files.size()) +
                                              " outputs, model has " +
                                              std::to_string(output_names.size()));
      for (size_t i = 0; i < output_files.size(); ++i) {
        const Tensor expected = load_tensor_proto(output_files[i]).tensor;
        std::string detail;
        double err = 0;
        const bool ok = tensors_close(outputs.at(output_names[i]), expected, tol, detail, err);
        result.max_abs_error = std::max(result.max_abs_error, err);
        if (!ok)
          return finish(CaseStatus::failed, set_dir.filename().string() + " output '" +
                                                output_names[i] + "': " + detail);
      }
      ++sets;
    }
    if (sets == 0) return finish(CaseStatus::failed, "no test_data_set_* folder");
  } catch (const Error& e) {
    return finish(CaseStatus::failed, std::string(to_string(e.kind())) + ": " + e.what());
  }
  return finish(CaseStatus::passed, "");
}

std::vector<std::filesystem::path> find_conformance_cases(
    std::span<const std::filesystem::path> roots) {
  std::vector<std::filesystem::path> cases;
  for (const auto& root : roots) {
    if (!std::filesystem::is_directory(root))
      throw Error(ErrorKind::io, "not a directory", root.string());
    if (std::filesystem::exists(root / "model.onnx")) {
      cases.push_back(root);
      continue;
    }
    std::vector<std::filesystem::path> found;
    for (const auto& entry : std::filesystem::directory_iterator(root))
      if (entry.is_directory() && std::filesystem::exists(entry.path() / "model.onnx"))
        found.push_back(entry.path());
    if (found.empty())
      throw Error(ErrorKind::io, "holds no ONNX backend test (no model.onnx)", root.string());
    std::sort(found.begin(), found.end());
    cases.insert(cases.end(), found.begin(), found.end());
  }
  return cases;
}

}  // namespace edgeco
