// Training on libtorch: an edgeco graph becomes a trainable torch module (its initializers the
// parameters and BatchNormalization statistics), is trained on a data set, and its weights are
// written back into the graph. Only src/train includes torch; this header does not.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "edgeco/data.h"
#include "edgeco/ir.h"

namespace edgeco {

struct TrainProgress {
  int epoch = 0, epochs = 0;
  int64_t step = 0, steps = 0;    // within the epoch
  double loss = 0, accuracy = 0;  // running means over the epoch so far
  double seconds = 0;             // since training started
};

struct TrainOptions {
  int epochs = 1;
  int64_t batch_size = 64;
  std::string optimizer = "sgd";  // sgd (Nesterov momentum 0.9) or adam
  double learning_rate = 0.05;
  double weight_decay = 4e-5;
  bool cosine = true;  // cosine learning-rate decay to 0 over all steps
  double label_smoothing = 0.1;
  uint64_t seed = 0;
  int threads = 2;
  int64_t limit = 0;  // train on the first `limit` samples of each shuffled epoch (0: all)
  // Knowledge distillation (Hinton et al.): loss = alpha * T^2 * KL(teacher_T || student_T) +
  // (1 - alpha) * cross-entropy, with both logits softened by the temperature T.
  const Graph* teacher = nullptr;
  double temperature = 4.0;
  double alpha = 0.9;
  std::function<void(const TrainProgress&)> progress;
};

struct TrainReport {
  std::vector<double> epoch_loss, epoch_accuracy;  // training set, running means
  double seconds = 0;
};

// Trains `model` (one input, first output the logits) on `data`; images are fitted to the input
// (fit_images). The trained weights and BatchNormalization statistics replace its initializers.
TrainReport train(Graph& model, const Dataset& data, const TrainOptions& options);

// The model's first output computed by the torch bridge in inference mode (BatchNormalization on
// its running statistics): checks that the bridge computes what edgeco's runtime computes.
Tensor torch_forward(const Graph& model, const Tensor& input);

}  // namespace edgeco
