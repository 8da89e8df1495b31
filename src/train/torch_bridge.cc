// The only translation unit that includes libtorch: the graph-to-module bridge and the trainer.
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <numbers>
#include <numeric>
#include <optional>
#include <random>
#include <set>

#include "edgeco/train.h"

namespace edgeco {
namespace {

namespace F = torch::nn::functional;

torch::Tensor to_torch(const Tensor& t) {
  const Tensor f = t.dtype() == DType::f32 ? t : t.cast(DType::f32);
  std::vector<int64_t> dims(f.dims().begin(), f.dims().end());
  return torch::from_blob(const_cast<float*>(f.data<float>().data()), dims, torch::kFloat32)
      .clone();
}

Tensor from_torch(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kFloat32).contiguous();
  Tensor out(DType::f32, Dims(c.sizes().begin(), c.sizes().end()));
  std::memcpy(out.bytes().data(), c.data_ptr<float>(), out.nbytes());
  return out;
}

// A graph run by torch ops: initializers that weights and BatchNormalization read become
// parameters (scale/shift, weights, biases) or buffers (running statistics).
class GraphModule : public torch::nn::Module {
 public:
  explicit GraphModule(const Graph& g) : g_(g) {
    if (g.inputs.size() != 1 || g.outputs.empty())
      throw Error(ErrorKind::unsupported, "training needs a model with one input", g.name);
    std::set<std::string> statistics, trainable;
    for (const Node& n : g.nodes) {
      if (n.op_type == "BatchNormalization") {
        trainable.insert({n.inputs[1], n.inputs[2]});
        statistics.insert({n.inputs[3], n.inputs[4]});
      } else if (n.op_type == "Conv" || n.op_type == "Gemm") {
        for (size_t i = 1; i < n.inputs.size(); ++i)
          if (n.has_input(i)) trainable.insert(n.inputs[i]);
      }
    }
    int index = 0;
    for (const auto& [name, v] : g.values) {
      if (!v.initializer) continue;
      torch::Tensor t = to_torch(*v.initializer);
      // Channels-last runs depthwise convolutions on oneDNN, about 3x faster than torch's
      // contiguous path in training (forward and backward).
      if (t.dim() == 4) t = t.contiguous(torch::MemoryFormat::ChannelsLast);
      // torch names may not hold dots: parameters are numbered instead.
      std::string key = std::to_string(index++);
      key.insert(0, 1, 't');
      if (trainable.count(name))
        t = register_parameter(key, t);
      else if (statistics.count(name))
        t = register_buffer(key, t);
      values_[name] = t;
    }
  }

  torch::Tensor forward(const torch::Tensor& input) {
    std::map<std::string, torch::Tensor> v = values_;
    v[g_.inputs[0]] = input;
    for (const Node& n : g_.nodes) {
      const Input in = [&](size_t i) -> torch::Tensor& {
        auto it = v.find(n.inputs[i]);
        if (it == v.end())
          throw Error(ErrorKind::internal, "input '" + n.inputs[i] + "' missing", n.label());
        return it->second;
      };
      try {
        v[n.outputs[0]] = run(n, in);
      } catch (const c10::Error& e) {
        throw Error(ErrorKind::invalid_argument, e.what_without_backtrace(), n.label());
      }
    }
    return v.at(g_.outputs[0]);
  }

  // The trained values, back into the graph's initializers.
  void write_back(Graph& g) const {
    for (const auto& [name, t] : values_) g.value(name).initializer = from_torch(t);
  }

 private:
  using Input = std::function<torch::Tensor&(size_t)>;
  torch::Tensor run(const Node& n, const Input& in) {
    const std::string& op = n.op_type;
    if (!n.domain.empty())
      throw Error(ErrorKind::unsupported, "training does not support this operator", n.label());
    if (op == "Conv") {
      const torch::Tensor& w = in(1);
      const int64_t spatial = w.dim() - 2;
      const Dims pads = n.has_attr("pads") ? n.attr_ints("pads") : Dims(size_t(2 * spatial), 0);
      const Dims strides =
          n.has_attr("strides") ? n.attr_ints("strides") : Dims(size_t(spatial), 1);
      const Dims dilations =
          n.has_attr("dilations") ? n.attr_ints("dilations") : Dims(size_t(spatial), 1);
      for (int64_t d = 0; d < spatial; ++d)
        if (pads[size_t(d)] != pads[size_t(d + spatial)] ||
            n.attr_string("auto_pad", "NOTSET") != "NOTSET")
          throw Error(ErrorKind::unsupported, "asymmetric or automatic padding", n.label());
      const Dims sym(pads.begin(), pads.begin() + spatial);
      const torch::Tensor b = n.has_input(2) ? in(2) : torch::Tensor();
      const int64_t group = n.attr_int("group", 1);
      if (spatial == 1) return torch::conv1d(in(0), w, b, strides, sym, dilations, group);
      if (spatial == 2) return torch::conv2d(in(0), w, b, strides, sym, dilations, group);
      throw Error(ErrorKind::unsupported, "only 1-D and 2-D convolutions train", n.label());
    }
    if (op == "BatchNormalization")
      return torch::batch_norm(in(0), in(1), in(2), in(3), in(4), is_training(), 0.1,
                               n.attr_float("epsilon", 1e-5f), false);
    if (op == "Relu") return torch::relu(in(0));
    if (op == "Clip") {
      const double lo = n.has_input(1) ? in(1).item<double>() : -INFINITY;
      const double hi = n.has_input(2) ? in(2).item<double>() : INFINITY;
      return torch::clamp(in(0), lo, hi);
    }
    if (op == "HardSigmoid")
      return torch::clamp(in(0) * n.attr_float("alpha", 0.2f) + n.attr_float("beta", 0.5f), 0, 1);
    if (op == "Sigmoid") return torch::sigmoid(in(0));
    if (op == "Mul") return in(0) * in(1);
    if (op == "Add") return in(0) + in(1);
    if (op == "GlobalAveragePool") {
      std::vector<int64_t> dims;
      for (int64_t d = 2; d < in(0).dim(); ++d) dims.push_back(d);
      return in(0).mean(dims, true);
    }
    if (op == "Flatten") return in(0).flatten(n.attr_int("axis", 1));
    if (op == "Identity") return in(0);
    if (op == "Gemm") {
      if (n.attr_int("transA", 0) != 0 || n.attr_float("alpha", 1.0f) != 1.0f ||
          n.attr_float("beta", 1.0f) != 1.0f)
        throw Error(ErrorKind::unsupported, "Gemm with transA, alpha or beta", n.label());
      const torch::Tensor w = n.attr_int("transB", 0) != 0 ? in(1) : in(1).t();
      return torch::linear(in(0), w, n.has_input(2) ? in(2) : torch::Tensor());
    }
    throw Error(ErrorKind::unsupported, "training does not support this operator", n.label());
  }

  Graph g_;
  std::map<std::string, torch::Tensor> values_;
};

const TensorType& input_type(const Graph& g) {
  return *g.value(g.inputs[0]).type;
}

// A batch as the model's input takes it, and its labels.
std::pair<torch::Tensor, torch::Tensor> batch_of(const Dataset& data, const Graph& model,
                                                 std::span<const int64_t> indices) {
  Batch b = gather_batch(data, indices);
  const TensorType& in = input_type(model);
  if (b.samples.rank() == 4 && in.rank_known && in.dims.size() == 4)
    b.samples = fit_images(b.samples, in.dims[1], in.dims[2], in.dims[3]);
  torch::Tensor labels =
      torch::from_blob(b.labels.data<int64_t>().data(), {int64_t(indices.size())}, torch::kInt64)
          .clone();
  torch::Tensor x = to_torch(b.samples);
  if (x.dim() == 4) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
  return {x, labels};
}

}  // namespace

Tensor torch_forward(const Graph& model, const Tensor& input) {
  GraphModule m(model);
  m.eval();
  torch::NoGradGuard no_grad;
  return from_torch(m.forward(to_torch(input)));
}

TrainReport train(Graph& model, const Dataset& data, const TrainOptions& o) {
  if (o.epochs < 1 || o.batch_size < 1 || !(o.learning_rate > 0))
    throw Error(ErrorKind::invalid_argument,
                "epochs, batch size and learning rate must be positive");
  if (o.optimizer != "sgd" && o.optimizer != "adam")
    throw Error(ErrorKind::invalid_argument, "optimizer must be sgd or adam, got " + o.optimizer);
  const TensorType& in = input_type(model);
  if (in.rank_known && data.samples.rank() != in.dims.size())
    throw Error(ErrorKind::invalid_argument,
                "the model takes " + in.to_string() + ", the data set's samples are " +
                    dims_to_string(data.samples.dims()),
                data.name);
  torch::manual_seed(o.seed);
  at::set_num_threads(o.threads);
  // Denormal floats (tiny weights and gradients under weight decay) take the CPU's slow path:
  // without this, steps grew ~2x slower within the first 64 of a training run.
  at::globalContext().setFlushDenormal(true);
  GraphModule student(model);
  std::optional<GraphModule> teacher;
  if (o.teacher) {
    teacher.emplace(*o.teacher);
    teacher->eval();
  }
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  if (o.optimizer == "adam")
    optimizer = std::make_unique<torch::optim::Adam>(
        student.parameters(),
        torch::optim::AdamOptions(o.learning_rate).weight_decay(o.weight_decay));
  else
    optimizer = std::make_unique<torch::optim::SGD>(student.parameters(),
                                                    torch::optim::SGDOptions(o.learning_rate)
                                                        .momentum(0.9)
                                                        .nesterov(true)
                                                        .weight_decay(o.weight_decay));
  const int64_t n = o.limit > 0 ? std::min(o.limit, data.size()) : data.size();
  // The teacher sees the same unaugmented images every epoch: its logits are computed once for
  // the whole data set rather than once per epoch (a teacher forward costs about as much as the
  // student's step).
  torch::Tensor teacher_logits;
  if (teacher) {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> parts;
    std::vector<int64_t> all(static_cast<size_t>(data.size()));
    std::iota(all.begin(), all.end(), 0);
    const int64_t chunk = 500;
    for (int64_t first = 0; first < data.size(); first += chunk) {
      const int64_t count = std::min(chunk, data.size() - first);
      parts.push_back(teacher->forward(
          batch_of(data, *o.teacher, std::span(all).subspan(size_t(first), size_t(count))).first));
    }
    teacher_logits = torch::cat(parts);
  }
  const int64_t steps = (n + o.batch_size - 1) / o.batch_size;
  const int64_t total_steps = steps * o.epochs;
  const auto start = std::chrono::steady_clock::now();
  TrainReport report;
  int64_t global = 0;
  for (int epoch = 0; epoch < o.epochs; ++epoch) {
    student.train();
    const auto order = shuffled_indices(data.size(), o.seed + uint64_t(epoch));
    double loss_sum = 0, correct = 0, seen = 0;
    for (int64_t step = 0; step < steps; ++step, ++global) {
      if (o.cosine) {
        const double lr = 0.5 * o.learning_rate *
                          (1 + std::cos(std::numbers::pi * double(global) / double(total_steps)));
        for (auto& group : optimizer->param_groups()) group.options().set_lr(lr);
      }
      const int64_t first = step * o.batch_size, count = std::min(o.batch_size, n - first);
      const auto [x, y] =
          batch_of(data, model, std::span(order).subspan(size_t(first), size_t(count)));
      const torch::Tensor logits = student.forward(x);
      torch::Tensor loss = F::cross_entropy(
          logits, y, F::CrossEntropyFuncOptions().label_smoothing(o.label_smoothing));
      if (teacher) {
        const auto picked = std::span(order).subspan(size_t(first), size_t(count));
        const torch::Tensor rows =
            torch::from_blob(const_cast<int64_t*>(picked.data()), {count}, torch::kInt64);
        const torch::Tensor soft =
            torch::softmax(teacher_logits.index_select(0, rows) / o.temperature, 1);
        const torch::Tensor kd = F::kl_div(torch::log_softmax(logits / o.temperature, 1), soft,
                                           F::KLDivFuncOptions().reduction(torch::kBatchMean));
        loss = o.alpha * o.temperature * o.temperature * kd + (1 - o.alpha) * loss;
      }
      optimizer->zero_grad();
      loss.backward();
      optimizer->step();
      loss_sum += loss.item<double>() * double(count);
      correct += logits.argmax(1).eq(y).sum().item<double>();
      seen += double(count);
      if (o.progress)
        o.progress(
            {epoch + 1, o.epochs, step + 1, steps, loss_sum / seen, correct / seen,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()});
    }
    report.epoch_loss.push_back(loss_sum / seen);
    report.epoch_accuracy.push_back(correct / seen);
  }
  student.write_back(model);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace edgeco

namespace edgeco {

Graph q_network(const power::ControlSpace& space, int hidden, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Graph g;
  g.name = "q_network";
  g.inputs = {"state"};
  const int64_t features = int64_t(space.feature_count()), actions = int64_t(space.actions());
  g.value("state").type = TensorType{DType::f32, {1, features}};
  std::string x = "state";
  const std::vector<int64_t> widths{features, hidden, hidden, actions};
  for (size_t layer = 0; layer + 1 < widths.size(); ++layer) {
    const int64_t in = widths[layer], out = widths[layer + 1];
    const std::string name = "fc" + std::to_string(layer + 1);
    std::normal_distribution<float> normal(0, float(std::sqrt(2.0 / double(in))));
    std::vector<float> w(size_t(in * out));
    for (float& v : w) v = normal(rng);
    g.value(name + ".weight").initializer =
        Tensor::from_values<float>({out, in}, std::span<const float>(w));
    g.value(name + ".bias").initializer = Tensor(DType::f32, {out});
    const bool last = layer + 2 == widths.size();
    const std::string y = last ? "q" : name + ".out";
    g.nodes.push_back(Node{name,
                           "Gemm",
                           "",
                           {x, name + ".weight", name + ".bias"},
                           {y},
                           {{"transB", Attribute{int64_t{1}}}}});
    x = y;
    if (!last) {
      g.nodes.push_back(Node{name + ".relu", "Relu", "", {x}, {name + ".act"}});
      x = name + ".act";
    }
  }
  g.outputs = {"q"};
  g.value("q");
  infer_types(g, OpRegistry::builtin());
  return g;
}

namespace {

// Transitions in flat arrays, overwritten oldest first once full.
class Replay {
 public:
  Replay(int64_t capacity, int64_t features)
      : capacity_(capacity),
        features_(features),
        state_(size_t(capacity * features)),
        next_(size_t(capacity * features)),
        action_(size_t(capacity)),
        reward_(size_t(capacity)),
        done_(size_t(capacity)) {}
  void add(const std::vector<float>& s, int64_t a, float r, const std::vector<float>& s2,
           bool done) {
    const size_t at = size_t(head_);
    std::copy(s.begin(), s.end(), state_.begin() + long(at * size_t(features_)));
    std::copy(s2.begin(), s2.end(), next_.begin() + long(at * size_t(features_)));
    action_[at] = a;
    reward_[at] = r;
    done_[at] = done ? 1.0f : 0.0f;
    head_ = (head_ + 1) % capacity_;
    size_ = std::min(size_ + 1, capacity_);
  }
  int64_t size() const { return size_; }
  struct Batch {
    torch::Tensor state, action, reward, next, done;
  };
  Batch sample(int64_t n, std::mt19937_64& rng) const {
    std::uniform_int_distribution<int64_t> pick(0, size_ - 1);
    torch::Tensor s = torch::empty({n, features_}), s2 = torch::empty({n, features_});
    torch::Tensor a = torch::empty({n}, torch::kInt64), r = torch::empty({n}),
                  d = torch::empty({n});
    float* sp = s.data_ptr<float>();
    float* s2p = s2.data_ptr<float>();
    for (int64_t i = 0; i < n; ++i) {
      const size_t j = size_t(pick(rng));
      std::memcpy(sp + i * features_, &state_[j * size_t(features_)],
                  sizeof(float) * size_t(features_));
      std::memcpy(s2p + i * features_, &next_[j * size_t(features_)],
                  sizeof(float) * size_t(features_));
      a.data_ptr<int64_t>()[i] = action_[j];
      r.data_ptr<float>()[i] = reward_[j];
      d.data_ptr<float>()[i] = done_[j];
    }
    return {s, a, r, s2, d};
  }

 private:
  int64_t capacity_, features_, head_ = 0, size_ = 0;
  std::vector<float> state_, next_;
  std::vector<int64_t> action_;
  std::vector<float> reward_, done_;
};

torch::Tensor row(const std::vector<float>& f) {
  return torch::from_blob(const_cast<float*>(f.data()), {1, int64_t(f.size())}, torch::kFloat32);
}

}  // namespace

Graph train_dqn(const sim::Simulator& simulator, const DqnOptions& o, DqnReport* report) {
  if (o.episodes < 1 || !(o.episode_hours > 0) || o.hidden < 1 || o.batch_size < 1 ||
      o.replay < o.batch_size || !(o.gamma >= 0 && o.gamma < 1) || !(o.learning_rate > 0))
    throw Error(ErrorKind::invalid_argument,
                "episodes, episode hours, hidden width, batch and learning rate must be positive, "
                "the replay at least a batch, gamma in [0, 1)");
  torch::manual_seed(o.seed);
  at::set_num_threads(o.threads);
  at::globalContext().setFlushDenormal(true);
  const power::ControlSpace space = simulator.control_space(o.levels, o.offload);
  const sim::Scenario& sc = simulator.scenario();
  const double trip = simulator.platform().thermal.throttle_c;
  Graph model = q_network(space, o.hidden, o.seed);
  GraphModule online(model);
  std::unique_ptr<GraphModule> target = std::make_unique<GraphModule>(model);
  target->eval();
  torch::optim::Adam optimizer(online.parameters(), torch::optim::AdamOptions(o.learning_rate));
  Replay replay(o.replay, int64_t(space.feature_count()));
  std::mt19937_64 rng(o.seed * 7919 + 1);
  std::uniform_real_distribution<double> unit(0, 1);
  const int64_t steps_per_episode =
      int64_t(std::ceil(o.episode_hours * 3600e3 / sc.control_interval_ms));
  const int64_t total_steps = steps_per_episode * o.episodes;
  const int64_t decay_steps =
      std::max<int64_t>(1, int64_t(o.epsilon_fraction * double(total_steps)));
  const auto start = std::chrono::steady_clock::now();
  DqnReport out;
  int64_t step = 0;
  for (int episode = 1; episode <= o.episodes; ++episode) {
    sim::Options options;
    options.hours = o.episode_hours;
    options.seed = o.seed * 1000 + uint64_t(episode);
    options.perturbation.ambient_offset_c = (2 * unit(rng) - 1) * o.ambient_spread_c;
    options.perturbation.rate_scale =
        std::exp(std::log(o.rate_scale_min) +
                 unit(rng) * (std::log(o.rate_scale_max) - std::log(o.rate_scale_min)));
    options.perturbation.battery_start_pct =
        o.battery_start_min_pct + unit(rng) * (100 - o.battery_start_min_pct);
    if (unit(rng) < 0.5) {
      options.events.push_back({sim::Event::Kind::load_burst, unit(rng) * o.episode_hours * 3600,
                                space.nominal_rate_hz * (2 + 8 * unit(rng)), 30 + 90 * unit(rng)});
    }
    sim::Episode env(simulator, options, "dqn");
    std::vector<float> state = space.features(env.snapshot());
    double episode_reward = 0;
    while (!env.done()) {
      const double epsilon =
          o.epsilon_end +
          (o.epsilon_start - o.epsilon_end) * std::max(0.0, 1 - double(step) / double(decay_steps));
      int64_t action = 0;
      if (unit(rng) < epsilon) {
        action = std::uniform_int_distribution<int64_t>(0, int64_t(space.actions()) - 1)(rng);
      } else {
        torch::NoGradGuard no_grad;
        action = online.forward(row(state)).argmax(1).item<int64_t>();
      }
      const sim::Interval interval = env.step(space.action(size_t(action), env.snapshot()));
      const double r = sim::reward(sc.reward, interval, trip);
      episode_reward += r;
      std::vector<float> next = space.features(env.snapshot());
      // The episode's time limit is not the end of the deployment: only a flat battery or a
      // shutdown ends it for good.
      const bool terminal = env.ended_early();
      replay.add(state, action, float(r), next, terminal);
      state = std::move(next);
      ++step;
      if (replay.size() >= std::max(o.warmup, o.batch_size) && step % o.train_every == 0) {
        // The learning rate falls linearly to a tenth by the end: the action values differ by
        // little against the arrivals' noise, and a smaller final step lets them settle.
        const double lr = o.learning_rate * (1 - 0.9 * double(step) / double(total_steps));
        for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
        const Replay::Batch b = replay.sample(o.batch_size, rng);
        torch::Tensor target_q;
        {
          torch::NoGradGuard no_grad;
          // Double DQN: the online network picks the next action, the target network values it.
          const torch::Tensor pick = online.forward(b.next).argmax(1, true);
          const torch::Tensor value = target->forward(b.next).gather(1, pick).squeeze(1);
          target_q = b.reward + o.gamma * (1 - b.done) * value;
        }
        const torch::Tensor q = online.forward(b.state).gather(1, b.action.unsqueeze(1)).squeeze(1);
        const torch::Tensor loss = F::smooth_l1_loss(q, target_q);
        optimizer.zero_grad();
        loss.backward();
        torch::nn::utils::clip_grad_norm_(online.parameters(), 10.0);
        optimizer.step();
      }
      if (step % o.target_sync == 0) {
        online.write_back(model);
        target = std::make_unique<GraphModule>(model);
        target->eval();
      }
    }
    const sim::Summary s = env.summary();
    out.episode_reward.push_back(episode_reward);
    out.episode_energy_j.push_back(s.energy_j);
    out.episode_misses.push_back(s.deadline_misses);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (o.progress) {
      const double epsilon =
          o.epsilon_end +
          (o.epsilon_start - o.epsilon_end) * std::max(0.0, 1 - double(step) / double(decay_steps));
      o.progress({episode, o.episodes, episode_reward, s.energy_j, epsilon, seconds,
                  s.deadline_misses, step});
    }
    if (o.checkpoint && o.checkpoint_every > 0 && episode % o.checkpoint_every == 0 &&
        episode < o.episodes) {
      online.write_back(model);
      o.checkpoint(model, episode);
    }
  }
  online.write_back(model);
  out.steps = step;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (report) *report = std::move(out);
  return model;
}

}  // namespace edgeco
