// Accuracy of a classifier on a data set, measured by running it.
#pragma once

#include <functional>
#include <vector>

#include "edgeco/data.h"
#include "edgeco/session.h"

namespace edgeco {

struct EvalOptions {
  int64_t batch_size = 64;  // when the model's batch dim is symbolic
  int64_t limit = 0;        // evaluate the first `limit` samples only (0: all)
  std::function<void(int64_t done, int64_t total)> progress;
};

struct EvalResult {
  int64_t samples = 0;
  double top1 = 0, top5 = 0;                    // fractions
  std::vector<double> per_class;                // top-1 accuracy of each true class
  std::vector<std::vector<int64_t>> confusion;  // [true class][predicted class]
};

// Top-1/top-5 accuracy, per-class accuracy and confusion matrix of a classifier (one input, first
// output the logits [N, classes]) on `data`; images are resized and their channel repeated to the
// model's input (fit_images).
EvalResult evaluate(Session& session, const Dataset& data, const EvalOptions& options = {});

}  // namespace edgeco
