// Model-level steps that run the model while they change it: HRank pruning (feature maps from
// calibration inputs) and mixed precision (each candidate's accuracy measured on held-out data).
// What the CLI's prune, quantize --precision mixed and compress do, as library calls.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>

#include "edgeco/compress.h"
#include "edgeco/data.h"

namespace edgeco {

// The last `count` samples of a data set's training split (load_dataset's name and path): held
// out from what the test split reports, so choices made on them do not tune to the test set.
Dataset validation_split(const std::string& name, const std::filesystem::path& path, int64_t count);

// Mixed precision with accuracy measured on validation_split(dataset, path, val_samples), each
// candidate run on the fast kernels with `threads`.
struct MixedRequest {
  std::string dataset = "fashion-mnist";
  std::filesystem::path path;  // the data set's files (load_dataset); empty: its default
  double budget = 0.005;       // top-1 the search may give up, as a fraction
  int64_t val_samples = 2000;
  int threads = 1;
  std::function<void(const std::string& what, size_t done, size_t total)> progress;
};
struct MixedResult {
  Graph model;
  MixedPrecisionReport report;
  std::string validation;  // what accuracy was measured on
};
MixedResult quantize_mixed(const Graph& model, std::span<const TensorMap> samples,
                           const CalibrationRunner& runner, const QuantizeOptions& quantize,
                           const MixedRequest& request);

// Structured pruning; for HRank, the feature maps come from calibration_inputs(model,
// `calibration`, samples, seed, data_path) run on the fast kernels with `threads`.
Graph prune_model(const Graph& model, const PruneOptions& options, const std::string& calibration,
                  size_t samples, uint32_t seed, int threads, PruneReport* report = nullptr,
                  const std::filesystem::path& data_path = {});

// The model taking px x px images: its image input (the first of rank 4) declared at that size,
// where the network runs at any size (a fully convolutional net with global pooling before its
// classifier: fewer MACs at a lower resolution); where a node's shape cannot follow (a fixed
// Reshape, a Flatten into a Gemm), a Resize (bilinear, half-pixel) in front of the network scales
// px x px up or down to the size it was built for. `resized_in_front`, when given, says which.
Graph at_resolution(Graph model, int64_t px, bool* resized_in_front = nullptr);

}  // namespace edgeco
