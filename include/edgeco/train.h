// Training on libtorch: an edgeco graph becomes a trainable torch module (its initializers the
// parameters and BatchNormalization statistics), is trained on a data set, and its weights are
// written back into the graph. Only src/train includes torch; this header does not.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "edgeco/data.h"
#include "edgeco/ir.h"
#include "edgeco/sim.h"

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

// A learned runtime controller: Double DQN (a target network, experience replay, an epsilon
// schedule) trained offline on the simulator, over the deployment's ControlSpace (variants x
// frequency levels), rewarded by the scenario's RewardWeights. Each episode runs the scenario for
// `episode_hours` on its own seed (seed x 1000 + episode: evaluation seeds below 1000 are unseen)
// under randomised conditions: ambient offset, frame-rate scale, battery start, and a load burst
// in half of them, so the policy does not learn one trace by heart.
struct DqnProgress {
  int episode = 0, episodes = 0;
  double reward = 0, energy_j = 0, epsilon = 0, seconds = 0;
  int64_t misses = 0, steps = 0;
};
struct DqnOptions {
  int episodes = 40;
  double episode_hours = 0.5;
  uint64_t seed = 1;
  int hidden = 64;  // two hidden layers of this width
  double gamma = 0.8, learning_rate = 5e-4;
  int64_t batch_size = 64, replay = 200'000, warmup = 5'000, target_sync = 2'000;
  int train_every = 4;  // environment steps per gradient step
  double epsilon_start = 1, epsilon_end = 0.02, epsilon_fraction = 0.4;  // of all steps
  double ambient_spread_c = 8, rate_scale_min = 0.5, rate_scale_max = 3;
  double battery_start_min_pct = 15;
  int levels = 4;
  bool offload = true;  // offloading in the action space where the scenario has a fog node
  int threads = 1;
  std::function<void(const DqnProgress&)> progress;
  // Called every `checkpoint_every` episodes with the Q-network so far.
  std::function<void(const Graph&, int episode)> checkpoint;
  int checkpoint_every = 10;
};
struct DqnReport {
  std::vector<double> episode_reward, episode_energy_j;
  std::vector<int64_t> episode_misses;
  int64_t steps = 0;
  double seconds = 0;
};
// The trained Q-network as a graph (input "state" [1, features], output "q" [1, actions]), for
// power::DqnGovernor.
Graph train_dqn(const sim::Simulator& simulator, const DqnOptions& options,
                DqnReport* report = nullptr);
// An untrained Q-network for a space (Gemm + Relu, He-initialised from `seed`).
Graph q_network(const power::ControlSpace& space, int hidden, uint64_t seed);

}  // namespace edgeco
