// Model inputs for run and bench: from files (NAME=FILE, .npy or .pb) or deterministic random.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "edgeco/runtime.h"

namespace edgeco::cli {

struct PreparedInputs {
  TensorMap tensors;
  std::vector<std::string> random_names;  // inputs filled with random values
};

// Inputs not named in `specs` get uniform values in [-1, 1) (floats) or [0, 10) (integers),
// from `seed`, with symbolic dims set to 1.
PreparedInputs prepare_inputs(const Graph& graph, const std::vector<std::string>& specs,
                              uint32_t seed);

}  // namespace edgeco::cli
