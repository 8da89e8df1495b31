// Training on libtorch: the bridge computes what edgeco's runtime computes; training on a small
// synthetic task learns it (judged by edgeco's own evaluation of the written-back graph); and
// distillation moves a student towards its teacher.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "../sim/fixture.h"
#include "../test_util.h"
#include "edgeco/onnx.h"
#include "edgeco/train.h"
#include "edgeco/zoo.h"

namespace edgeco {
namespace {

void randomize_batch_norm(Graph& g, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.5f, 1.5f), c(-0.2f, 0.2f);
  for (const Node& n : g.nodes) {
    if (n.op_type != "BatchNormalization") continue;
    for (size_t i = 1; i < 5; ++i)
      for (float& v : g.value(n.inputs[i]).initializer->data<float>())
        v = i == 1 || i == 4 ? u(rng) : c(rng);  // scale and variance positive
  }
}

void expect_close(const Tensor& a, const Tensor& b, double rel) {
  const auto x = a.to_doubles(), y = b.to_doubles();
  ASSERT_EQ(x.size(), y.size());
  double scale = 0;
  for (double v : y) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(x[i], y[i], rel * scale) << i;
}

TEST(TorchBridge, ComputesWhatTheRuntimeComputes) {
  ZooOptions o;
  o.resolution = 32;
  o.classes = 10;
  for (const char* arch : {"resnet8", "mobilenet_v3_small", "mobilenet_v2"}) {
    Graph g = build_model(arch, o);
    randomize_batch_norm(g, 1);
    const Tensor x = testing::random_floats({2, 3, 32, 32}, 0, 1, 2);
    const Tensor expected = Session(g).run({{"input", x}}).at("logits");
    expect_close(torch_forward(g, x), expected, 1e-4);
  }
}

// Signals of six classes: class k is a sine of frequency k + 1 in channel 0, plus noise.
Dataset sine_dataset(int64_t n, uint32_t seed) {
  Dataset d;
  d.name = "sines";
  d.classes = {"1", "2", "3", "4", "5", "6"};
  d.samples = Tensor(DType::f32, {n, 9, 32});
  d.labels = Tensor(DType::i64, {n});
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0, 0.3f);
  auto s = d.samples.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = i % 6;
    d.labels.data<int64_t>()[size_t(i)] = k;
    for (int64_t c = 0; c < 9; ++c)
      for (int64_t t = 0; t < 32; ++t)
        s[size_t((i * 9 + c) * 32 + t)] =
            noise(rng) + (c == 0 ? std::sin(2 * 3.14159265f * float(k + 1) * float(t) / 32) : 0);
  }
  return d;
}

Graph har_model(uint32_t seed) {
  ZooOptions o;
  o.in_channels = 9;
  o.resolution = 32;
  o.classes = 6;
  o.width = 0.25;
  o.seed = seed;
  return build_model("har_cnn", o);
}

TrainOptions quick(int epochs) {
  TrainOptions t;
  t.epochs = epochs;
  t.batch_size = 32;
  t.optimizer = "adam";
  t.learning_rate = 1e-2;
  t.label_smoothing = 0;
  t.threads = 2;
  return t;
}

TEST(Train, LearnsASyntheticTaskAndWritesTheWeightsBack) {
  const Dataset train_set = sine_dataset(384, 1), test_set = sine_dataset(120, 2);
  Graph g = har_model(3);
  Session before(g);
  const double untrained = evaluate(before, test_set).top1;
  const TrainReport report = train(g, train_set, quick(6));
  ASSERT_EQ(report.epoch_loss.size(), 6u);
  EXPECT_LT(report.epoch_loss.back(), report.epoch_loss.front());
  Session after(g);  // edgeco's runtime on the graph with the written-back weights
  const double trained = evaluate(after, test_set).top1;
  EXPECT_GE(trained, 0.9) << "untrained " << untrained;
  // The bridge and the runtime agree on the trained graph too (BN on running statistics).
  const Tensor x = gather_batch(test_set, std::vector<int64_t>{0, 1, 2}).samples;
  expect_close(torch_forward(g, x), after.run({{"input", x}}).at("logits"), 1e-4);
}

TEST(Train, DistillationPullsTheStudentTowardsTheTeacher) {
  const Dataset data = sine_dataset(384, 4);
  Graph teacher = har_model(5);
  train(teacher, data, quick(6));
  // Labels the teacher's own predictions could not come from: all class 0. With alpha = 1 the
  // student learns only from the teacher's soft outputs, so it must agree with the teacher.
  Dataset wrong = data;
  wrong.labels = Tensor(DType::i64, {data.size()});
  Graph student = har_model(6);
  TrainOptions kd = quick(6);
  kd.teacher = &teacher;
  kd.alpha = 1.0;
  train(student, wrong, kd);
  Session t(teacher), s(student);
  int agree = 0;
  const Tensor x = data.samples;
  const auto a = t.run({{"input", x}}).at("logits").to_doubles();
  const auto b = s.run({{"input", x}}).at("logits").to_doubles();
  for (int64_t i = 0; i < data.size(); ++i) {
    auto argmax = [&](const std::vector<double>& v) {
      return std::max_element(v.begin() + i * 6, v.begin() + i * 6 + 6) - (v.begin() + i * 6);
    };
    agree += argmax(a) == argmax(b);
  }
  EXPECT_GE(agree, int(data.size() * 8 / 10));
}

TEST(Train, UnsupportedOperatorsAndBadOptionsAreErrors) {
  Graph g = har_model(1);
  g.nodes.insert(g.nodes.end() - 1, Node{"odd", "Erf", "", {g.nodes.back().inputs[0]}, {"erf"}});
  g.nodes.back().inputs[0] = "erf";
  const Dataset d = sine_dataset(12, 1);
  EXPECT_THROW(train(g, d, quick(1)), Error);
  Graph ok = har_model(1);
  TrainOptions bad = quick(1);
  bad.optimizer = "rmsprop";
  EXPECT_THROW(train(ok, d, bad), Error);
  // Images for a 1-D network: the shapes are named, not left to torch.
  Dataset images;
  images.name = "images";
  images.classes = d.classes;
  images.samples = Tensor(DType::f32, {2, 9, 4, 8});
  images.labels = Tensor(DType::i64, {2});
  const Error e = testing::capture_error([&] { train(ok, images, quick(1)); });
  EXPECT_NE(std::string(e.what()).find("the data set's samples are [2, 9, 4, 8]"),
            std::string::npos);
}

}  // namespace
}  // namespace edgeco

namespace edgeco::sim {
namespace {

// On the fixture's board at 10 frames/s, "small" at a low operating point earns the most per
// frame (0.8 accuracy for ~15 mJ; "big" pays 0.1 more accuracy with 80-100 mJ or misses its
// deadline at the low points). A few minutes of simulated experience teach the DQN that; the
// policy then runs from its graph in edgeco's runtime, on seeds it never saw.
TEST(Dqn, LearnsTheCheapAccurateEnoughConfigurationAndRunsFromItsGraph) {
  const Simulator sim = simulator(kPoisson, 0.25);
  DqnOptions o;
  o.episodes = 10;
  o.episode_hours = 0.1;
  o.warmup = 1000;
  o.target_sync = 500;
  o.epsilon_fraction = 0.5;
  o.levels = 3;
  o.seed = 4;
  DqnReport report;
  const Graph q = train_dqn(sim, o, &report);
  ASSERT_EQ(report.episode_reward.size(), 10u);
  EXPECT_EQ(report.steps, 10 * 3600);
  // Exploration falls from 1 to 0.02 over half the steps: the later episodes earn more.
  EXPECT_GT(report.episode_reward.back(), report.episode_reward.front());

  const std::string path = ::testing::TempDir() + "/dqn.onnx";
  save_onnx(q, path);
  power::DqnGovernor dqn(path, sim.control_space(3));
  Options eval;
  eval.seed = 7;  // training used 4001..4010
  const Summary learned = sim.run(dqn, eval);
  auto top = make_controller("static-max", sim, {.levels = 3});
  const Summary fixed = sim.run(*top, eval);
  EXPECT_GT(double(learned.served_by_variant.at("small")), 0.9 * double(learned.served));
  EXPECT_LT(learned.energy_j, 0.9 * fixed.energy_j);
  EXPECT_LE(learned.deadline_misses, fixed.deadline_misses + learned.served / 100);
}

}  // namespace
}  // namespace edgeco::sim
