// edgeco-train: the training commands (train, distill), in their own executable because libtorch
// costs every process that links it ~0.3 s and ~150 MB at start-up; `edgeco train` and
// `edgeco distill` run this program.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "edgeco/onnx.h"
#include "edgeco/runtime.h"
#include "edgeco/sim.h"
#include "edgeco/train.h"
#include "edgeco/zoo.h"

namespace {

using namespace edgeco;

struct Command {
  std::string arch = "mobilenet_v2", dataset = "fashion-mnist", path, out, teacher, init;
  ZooOptions zoo;
  TrainOptions train;
  int64_t eval_limit = 0;
  int64_t resolution = 0;  // > 0: images resized to this (a camera-sized network)
  bool json = false;
};

// Architecture defaults for a data set: its channels, resolution and classes.
void fit_to_data(Command& c, const Dataset& d) {
  c.zoo.in_channels = d.samples.dim(1);
  c.zoo.resolution = d.samples.dim(2);
  c.zoo.classes = int64_t(d.classes.size());
  if (d.samples.rank() == 4 && d.samples.dim(2) <= 32) c.zoo.small_input = true;
}

void run(Command& c, bool distill) {
  Dataset data = load_dataset(c.dataset, c.path, "train");
  Dataset test = load_dataset(c.dataset, c.path, "test");
  if (c.resolution > 0) {
    if (data.samples.rank() != 4)
      throw Error(ErrorKind::invalid_argument, "--resolution is for image data sets", c.dataset);
    data.samples = resize_bilinear(data.samples, c.resolution, c.resolution);
    test.samples = resize_bilinear(test.samples, c.resolution, c.resolution);
  }
  fit_to_data(c, data);
  // --init continues from a model's weights (fine-tuning after pruning) instead of building one.
  Graph model = c.init.empty() ? build_model(c.arch, c.zoo) : load_onnx(c.init);
  if (!c.init.empty()) c.arch = model.name;
  std::optional<Graph> teacher;
  if (distill) {
    teacher = load_onnx(c.teacher);
    c.train.teacher = &*teacher;
  }
  const bool bar = !c.json && isatty(STDERR_FILENO);
  if (bar)
    c.train.progress = [](const TrainProgress& p) {
      const double done = double((p.epoch - 1) * p.steps + p.step) / double(p.epochs * p.steps);
      const double eta = done > 0 ? p.seconds * (1 - done) / done : 0;
      char detail[96];
      std::snprintf(detail, sizeof detail, "loss %.4f acc %.2f%% ETA %.0fs", p.loss,
                    100 * p.accuracy, eta);
      cli::progress_bar("epoch " + std::to_string(p.epoch) + "/" + std::to_string(p.epochs), done,
                        detail, p.step == p.steps);
    };
  const TrainReport report = train(model, data, c.train);
  save_onnx(model, c.out);
  Session session(
      model, SessionOptions{.threads = c.train.threads, .optimize = true, .fast_kernels = true});
  EvalOptions eval;
  eval.limit = c.eval_limit;
  const EvalResult r = evaluate(session, test, eval);
  if (c.json) {
    std::cout << nlohmann::json{{"out", c.out},
                                {"arch", c.arch},
                                {"dataset", test.name},
                                {"epochs", c.train.epochs},
                                {"distilled_from", distill ? c.teacher : ""},
                                {"train_loss", report.epoch_loss},
                                {"train_accuracy", report.epoch_accuracy},
                                {"seconds", report.seconds},
                                {"top1", r.top1},
                                {"test_samples", r.samples},
                                {"measured", true}}
                     .dump(2)
              << "\n";
    return;
  }
  std::printf(
      "wrote %s: %s trained %d epochs in %.0f s%s; %s top-1 %.2f%% (%lld samples, measured)\n",
      c.out.c_str(), c.arch.c_str(), c.train.epochs, report.seconds,
      distill ? (" distilled from " + c.teacher).c_str() : "", test.name.c_str(), 100 * r.top1,
      static_cast<long long>(r.samples));
}

void add_options(CLI::App* cmd, Command& c) {
  cmd->add_option("--arch", c.arch, "architecture (see `edgeco zoo --help`)")
      ->check(CLI::IsMember(zoo_architectures()));
  cmd->add_option("--init", c.init,
                  "start from this ONNX model's weights (e.g. a pruned model to fine-tune); "
                  "--arch and --width are then ignored")
      ->check(CLI::ExistingFile);
  cmd->add_option("--dataset", c.dataset, "fashion-mnist (default), cifar100 or uci-har")
      ->check(CLI::IsMember({"fashion-mnist", "cifar100", "uci-har"}));
  cmd->add_option("--path", c.path, "the data set's files (fashion-mnist: Debian's by default)");
  cmd->add_option("--resolution", c.resolution,
                  "train on the images resized to PX x PX (bilinear), e.g. camera-sized inputs")
      ->check(CLI::Range(8, 1024));
  cmd->add_option("--out,-o", c.out, "where to write the trained ONNX model")->required();
  cmd->add_option("--epochs", c.train.epochs, "epochs (default 1)")->check(CLI::Range(1, 10000));
  cmd->add_option("--batch", c.train.batch_size, "batch size (default 64)")
      ->check(CLI::Range(1, 65536));
  cmd->add_option("--optimizer", c.train.optimizer, "sgd (Nesterov) or adam")
      ->check(CLI::IsMember({"sgd", "adam"}));
  cmd->add_option("--lr", c.train.learning_rate, "peak learning rate (cosine decay)");
  cmd->add_option("--label-smoothing", c.train.label_smoothing, "default 0.1")
      ->check(CLI::Range(0.0, 0.5));
  cmd->add_option("--width", c.zoo.width, "width multiplier");
  cmd->add_option("--seed", c.train.seed, "seed of the initial weights and the shuffles");
  cmd->add_option("--threads", c.train.threads, "threads (default 2)")->check(CLI::Range(1, 256));
  cmd->add_option("--limit", c.train.limit, "train on the first N samples of each epoch");
  cmd->add_option("--eval-limit", c.eval_limit, "evaluate on the first N test samples");
  cmd->add_flag("--json", c.json, "print one JSON object (top1 as a fraction)");
}

struct GovernorCommand {
  std::string scenario, platform, out;
  DqnOptions dqn;
  bool json = false;
};

void train_governor(GovernorCommand& c) {
  sim::Scenario scenario = sim::find_scenario(c.scenario);
  const hw::Platform platform =
      hw::find_platform(c.platform.empty() ? scenario.platform : c.platform);
  const bool bar = !c.json && isatty(STDERR_FILENO);
  if (bar) cli::progress_bar("pricing variants", 0, "", false);
  const sim::Simulator simulator(std::move(scenario), platform,
                                 [](const std::filesystem::path& p) { return load_onnx(p); });
  if (bar)
    c.dqn.progress = [](const DqnProgress& p) {
      char detail[160];
      const double eta = p.seconds * (p.episodes - p.episode) / std::max(1, p.episode);
      std::snprintf(detail, sizeof detail,
                    "reward %.1f energy %.0f J misses %lld eps %.2f ETA %.0fs", p.reward,
                    p.energy_j, static_cast<long long>(p.misses), p.epsilon, eta);
      cli::progress_bar("episode " + std::to_string(p.episode) + "/" + std::to_string(p.episodes),
                        double(p.episode) / p.episodes, detail, p.episode == p.episodes);
    };
  const std::string checkpoint = c.out + ".checkpoint.onnx";
  c.dqn.checkpoint = [checkpoint](const Graph& g, int) { save_onnx(g, checkpoint); };
  DqnReport report;
  const Graph q = train_dqn(simulator, c.dqn, &report);
  save_onnx(q, c.out);
  std::error_code ec;
  std::filesystem::remove(checkpoint, ec);
  const power::ControlSpace space = simulator.control_space(c.dqn.levels, c.dqn.offload);
  if (c.json) {
    std::cout << nlohmann::json{{"out", c.out},
                                {"scenario", simulator.scenario().name},
                                {"platform", simulator.platform().name},
                                {"episodes", c.dqn.episodes},
                                {"episode_hours", c.dqn.episode_hours},
                                {"seed", c.dqn.seed},
                                {"steps", report.steps},
                                {"seconds", report.seconds},
                                {"features", space.feature_count()},
                                {"actions", space.actions()},
                                {"episode_reward", report.episode_reward},
                                {"episode_energy_j", report.episode_energy_j},
                                {"episode_misses", report.episode_misses},
                                {"simulated", true}}
                     .dump(2)
              << "\n";
    return;
  }
  std::printf(
      "wrote %s: a Q-network over %zu actions (%zu variants x %d levels%s), %zu features; "
      "%d episodes, %lld steps in %.0f s; last episode reward %.1f (simulated)\n",
      c.out.c_str(), space.actions(), space.variants.size(), space.levels,
      space.offload ? " x here/offloaded" : "", space.feature_count(), c.dqn.episodes,
      static_cast<long long>(report.steps), report.seconds, report.episode_reward.back());
}

}  // namespace

// Every error of a command is caught below; only a failure to set the commands up (bad_alloc) can
// escape, and that should end the program.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  edgeco::cli::retain_freed_memory();
  CLI::App app{
      "edgeco-train: train and distill edgeco's architectures, and train the runtime controller, "
      "on libtorch"};
  app.require_subcommand(1);
  auto c = std::make_shared<Command>();
  auto* train_cmd = app.add_subcommand(
      "train",
      "Train an architecture on a data set, write it as ONNX and report its test accuracy");
  add_options(train_cmd, *c);
  train_cmd->callback([c] {
    c->zoo.seed = uint32_t(c->train.seed);
    run(*c, false);
  });
  auto* distill_cmd = app.add_subcommand(
      "distill", "Train a student with knowledge distillation from a teacher ONNX model");
  add_options(distill_cmd, *c);
  distill_cmd->add_option("--teacher", c->teacher, "teacher ONNX model")
      ->required()
      ->check(CLI::ExistingFile);
  distill_cmd->add_option("--temperature", c->train.temperature, "softening temperature (4)");
  distill_cmd->add_option("--alpha", c->train.alpha, "weight of the distillation loss (0.9)")
      ->check(CLI::Range(0.0, 1.0));
  distill_cmd->callback([c] {
    c->zoo.seed = uint32_t(c->train.seed);
    run(*c, true);
  });
  auto g = std::make_shared<GovernorCommand>();
  auto* gov = app.add_subcommand(
      "train-governor",
      "Train the runtime controller: Double DQN on the deployment simulator (a scenario on a "
      "platform), its actions the variants x frequency levels, its reward the scenario's; writes "
      "the Q-network as ONNX for `edgeco simulate --governor dqn --policy`.");
  gov->add_option("--scenario", g->scenario, "scenario preset or file")->required();
  gov->add_option("--platform", g->platform, "platform preset or file (default: the scenario's)");
  gov->add_option("--out,-o", g->out, "where to write the Q-network (ONNX)")->required();
  gov->add_option("--episodes", g->dqn.episodes, "training episodes")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  gov->add_option("--episode-hours", g->dqn.episode_hours, "simulated hours per episode")
      ->check(CLI::Range(0.001, 1000.0))
      ->capture_default_str();
  gov->add_option("--seed", g->dqn.seed,
                  "seed of the weights, exploration and the episodes' scenario seeds (seed x "
                  "1000 + episode)")
      ->capture_default_str();
  gov->add_option("--hidden", g->dqn.hidden, "width of the two hidden layers")
      ->check(CLI::Range(4, 4096))
      ->capture_default_str();
  gov->add_option("--lr", g->dqn.learning_rate, "Adam's learning rate")->capture_default_str();
  gov->add_option("--gamma", g->dqn.gamma, "discount per control interval")
      ->check(CLI::Range(0.0, 0.9999))
      ->capture_default_str();
  gov->add_flag(
      "--no-offload", [g](int64_t n) { g->dqn.offload = n == 0; },
      "leave offloading out of the action space (a scenario with a fog node)");
  gov->add_option("--levels", g->dqn.levels, "frequency levels of the action space")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  gov->add_option("--threads", g->dqn.threads, "torch threads")->check(CLI::Range(1, 256));
  gov->add_flag("--json", g->json, "print one JSON object with the per-episode curves");
  gov->callback([g] { train_governor(*g); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const Error& e) {
    std::cerr << "edgeco: error (" << to_string(e.kind()) << "): " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "edgeco: internal error: " << e.what() << "\n";
    return 3;
  }
  return 0;
}
