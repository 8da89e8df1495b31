#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "../test_util.h"
#include "edgeco/control.h"
#include "edgeco/onnx.h"
#include "edgeco/sim.h"
#include "fixture.h"

namespace edgeco::sim {
namespace {

using power::Action;
using power::ControlSpace;
using power::Snapshot;

// The fixture's board at 3 levels: level L is operating point L (500, 1000, 2000 MHz).
ControlSpace space_of(const Simulator& sim) {
  return sim.control_space(3);
}

Snapshot snapshot_at(double mhz, double celsius, double battery_pct,
                     const std::string& variant = "big") {
  Snapshot s;
  power::Domain d;
  d.name = "cpu";
  d.available_mhz = {500, 1000, 2000};
  d.cur_mhz = mhz;
  d.min_mhz = 500;
  d.max_mhz = 2000;
  d.util = 0.5;
  s.domains = {d};
  s.temperature_c = celsius;
  s.battery_pct = battery_pct;
  s.variant = variant;
  s.latency_ms = 20;
  return s;
}

TEST(ControlSpace, AnActionIndexIsAVariantAndAFrequencyLevel) {
  const Simulator sim = simulator(kPoisson);
  const ControlSpace space = space_of(sim);
  ASSERT_EQ(space.devices.size(), 1u);
  EXPECT_EQ(space.actions(), 6u);  // 2 variants x 3 levels
  const Snapshot now = snapshot_at(1000, 30, 80);
  const Action a = space.action(4, now);  // variant 1 (small), level 1
  EXPECT_EQ(a.variant.value(), "small");
  ASSERT_EQ(a.mhz.size(), 1u);
  EXPECT_EQ(a.mhz[0], 1000);
  EXPECT_EQ(space.action(2, now).mhz[0], 2000);
  EXPECT_EQ(space.action(0, now).mhz[0], 500);
  EXPECT_EQ(space.label(5), "small@L2");
  // small costs 10 ms at 2 GHz against big's 40: the cheaper per inference.
  EXPECT_EQ(space.cheapest_variant(), 1u);
  EXPECT_EQ(space.deadline_ms, 100);
  EXPECT_EQ(space.trip_c, 60);
  EXPECT_NEAR(space.nominal_rate_hz, 10, 1e-9);
  EXPECT_NE(testing::error_of([&] { space.action(6, now); }).find("outside 0..5"),
            std::string::npos);
}

TEST(ControlSpace, FeaturesAreTheNormalisedTelemetryAndTheConfiguration) {
  const Simulator sim = simulator(kPoisson);
  const ControlSpace space = space_of(sim);
  Snapshot now = snapshot_at(1000, 45, 80, "small");
  now.queue_length = 2;
  now.input_rate_hz = 20;
  now.power_w = 2.5;
  const std::vector<float> f = space.features(now);
  ASSERT_EQ(f.size(), space.feature_count());
  ASSERT_EQ(f.size(), 8u + 3u + 2u);
  EXPECT_FLOAT_EQ(f[0], (45.0f - 25) / 50);  // temperature
  EXPECT_FLOAT_EQ(f[1], (60.0f - 45) / 30);  // headroom to the trip
  EXPECT_FLOAT_EQ(f[2], 0.8f);               // battery
  EXPECT_FLOAT_EQ(f[3], 1.0f);               // on battery
  EXPECT_FLOAT_EQ(f[4], 0.2f);               // latency / deadline
  EXPECT_FLOAT_EQ(f[5], 0.5f);               // queue / capacity
  EXPECT_FLOAT_EQ(f[6], 2.0f);               // rate / nominal
  EXPECT_FLOAT_EQ(f[7], 0.5f);               // power / 5 W
  EXPECT_FLOAT_EQ(f[8], 0.5f);               // the cpu at the middle point
  EXPECT_FLOAT_EQ(f[9], 0.5f);               // its utilisation
  EXPECT_FLOAT_EQ(f[10], 1.0f);              // not capped
  EXPECT_FLOAT_EQ(f[11], 0.0f);              // big
  EXPECT_FLOAT_EQ(f[12], 1.0f);              // small serves
}

// A governor that always asks for the same thing.
class Asks : public power::Governor {
 public:
  explicit Asks(Action a) : a_(std::move(a)) {}
  std::string name() const override { return "asks"; }
  Action decide(const Snapshot&) override { return a_; }

 private:
  Action a_;
};

TEST(Shield, StepsDownNearTheTripWhateverTheGovernorAsks) {
  const Simulator sim = simulator(kPoisson);
  power::ShieldedGovernor shield(std::make_unique<Asks>(Action{{2000}, "big", {}, {}}),
                                 space_of(sim));
  // 56 C is within the 5 C margin of the 60 C trip: one point below the current 1000 MHz.
  Action a = shield.decide(snapshot_at(1000, 56, 80));
  EXPECT_EQ(a.mhz[0], 500);
  EXPECT_EQ(shield.overrides().at("thermal"), 1);
  // Below the margin the governor's request stands.
  a = shield.decide(snapshot_at(1000, 50, 80));
  EXPECT_EQ(a.mhz[0], 2000);
  EXPECT_EQ(shield.overrides().at("thermal"), 1);
}

TEST(Shield, ServesTheCheapestVariantOnACriticalBattery) {
  const Simulator sim = simulator(kPoisson);
  power::ShieldedGovernor shield(std::make_unique<Asks>(Action{{2000}, "big", {}, {}}),
                                 space_of(sim));
  EXPECT_EQ(shield.decide(snapshot_at(1000, 30, 9)).variant.value(), "small");
  EXPECT_EQ(shield.overrides().at("battery"), 1);
  EXPECT_EQ(shield.decide(snapshot_at(1000, 30, 50)).variant.value(), "big");
  EXPECT_EQ(shield.overrides().count("thermal"), 0u);
}

TEST(Shield, StepsUpAfterAStreakOfMissedDeadlines) {
  const Simulator sim = simulator(kPoisson);
  power::ShieldedGovernor shield(std::make_unique<Asks>(Action{{500}, "big", {}, {}}),
                                 space_of(sim));
  Snapshot late = snapshot_at(500, 30, 80);
  late.latency_ms = 150;  // past the 100 ms deadline
  EXPECT_EQ(shield.decide(late).mhz[0], 500);
  EXPECT_EQ(shield.decide(late).mhz[0], 500);
  EXPECT_EQ(shield.decide(late).mhz[0], 1000);  // the third in a row
  EXPECT_EQ(shield.overrides().at("deadline"), 1);
}

TEST(Shield, KeepsAGovernorThatWouldOverheatBelowTheTrip) {
  // In an enclosure the top point heats the board past the 60 C trip; unshielded, performance
  // crosses it; shielded, it never does.
  Scenario sc = scenario("  - {name: cam, kind: poisson, rate_hz: 24}\n", 2);
  sc.extra_resistance_c_per_w = 5;  // 15 C/W in all: ~3.3 W at the top point is ~75 C
  const Simulator sim(sc, hw::parse_platform(kBoard, "test-board.yaml"),
                      {cost_of(40), cost_of(10)});
  Options o;
  auto hot = power::make_governor("performance");
  const Summary bare = sim.run(*hot, o);
  ASSERT_GT(bare.temperature_max_c, 60);
  ControllerOptions shielded;
  shielded.shield = true;
  auto safe = make_controller("performance", sim, shielded);
  const Summary s = sim.run(*safe, o);
  EXPECT_LT(s.temperature_max_c, 60);
  EXPECT_EQ(s.throttled_s, 0);
  EXPECT_GT(s.shield_overrides.at("thermal"), 0);
}

TEST(RuleGovernor, RaisesTheFrequencyUnderPressureAndLowersItWithSlack) {
  const Simulator sim = simulator(kPoisson);
  power::RuleGovernor rule(space_of(sim));
  Snapshot now = snapshot_at(2000, 30, 80);
  now.latency_ms = 10;
  now.queue_length = 0;
  // Ten calm intervals per step down, from the top.
  for (int i = 0; i < 9; ++i) EXPECT_EQ(rule.decide(now).mhz[0], 2000);
  EXPECT_EQ(rule.decide(now).mhz[0], 1000);
  now.latency_ms = 90;  // 90% of the deadline
  EXPECT_EQ(rule.decide(now).mhz[0], 2000);
  // At the top level and still pressed: the next most accurate variant.
  EXPECT_EQ(rule.decide(now).variant.value(), "small");
}

TEST(StaticMax, IsTheDefaultVariantAtTheTopOperatingPoints) {
  const Simulator sim = simulator(kPoisson);
  auto g = make_controller("static-max", sim);
  const Action a = g->decide(snapshot_at(500, 30, 80, "small"));
  EXPECT_EQ(a.variant.value(), "big");
  EXPECT_EQ(a.mhz[0], 2000);
}

// A Q-network whose value is its bias: action `best` wins whatever the state.
void write_constant_policy(const ControlSpace& space, size_t best, const std::string& path,
                           int64_t features) {
  Graph g;
  g.inputs = {"state"};
  g.value("state").type = TensorType{DType::f32, {1, features}};
  const int64_t actions = int64_t(space.actions());
  g.value("w").initializer = Tensor(DType::f32, {actions, features});
  std::vector<float> bias(size_t(actions), 0.0f);
  bias[best] = 1;
  g.value("b").initializer = Tensor::from_values<float>({actions}, std::span<const float>(bias));
  g.nodes.push_back(
      Node{"fc", "Gemm", "", {"state", "w", "b"}, {"q"}, {{"transB", Attribute{int64_t{1}}}}});
  g.outputs = {"q"};
  g.value("q");
  save_onnx(g, path);
}

TEST(DqnGovernor, RunsTheQNetworkFromOnnxAndTakesTheBestAction) {
  const Simulator sim = simulator(kPoisson);
  const ControlSpace space = space_of(sim);
  const std::string path = ::testing::TempDir() + "/policy.onnx";
  write_constant_policy(space, 4, path, int64_t(space.feature_count()));
  power::DqnGovernor dqn(path, space);
  const Action a = dqn.decide(snapshot_at(2000, 30, 80));
  EXPECT_EQ(a.variant.value(), "small");
  EXPECT_EQ(a.mhz[0], 1000);
  const std::vector<float> q = dqn.q_values(snapshot_at(2000, 30, 80));
  ASSERT_EQ(q.size(), 6u);
  EXPECT_FLOAT_EQ(q[4], 1);
  EXPECT_FLOAT_EQ(q[0], 0);
}

TEST(DqnGovernor, RefusesAPolicyTrainedForAnotherDeployment) {
  const Simulator sim = simulator(kPoisson);
  const ControlSpace space = space_of(sim);
  const std::string path = ::testing::TempDir() + "/wrong.onnx";
  write_constant_policy(space, 0, path, int64_t(space.feature_count()) + 3);
  EXPECT_NE(testing::error_of([&] { power::DqnGovernor(path, space); }).find("another scenario"),
            std::string::npos);
  EXPECT_NE(
      testing::error_of([&] { make_controller("dqn", sim); }).find("none is shipped for test"),
      std::string::npos);
}

TEST(Episode, APreviewLeavesTheEpisodeAsItWasAndForetellsTheStep) {
  const Simulator sim = simulator(kPoisson);
  Episode e(sim, Options{});
  const Action fast{{2000}, "big", {}, {}}, slow{{500}, "big", {}, {}};
  for (int i = 0; i < 20; ++i) e.step(fast);
  const Interval seen_slow = e.preview(slow);
  const Interval seen_fast = e.preview(fast);
  EXPECT_TRUE(seen_slow.reconfigured);
  EXPECT_FALSE(seen_fast.reconfigured);
  const Interval stepped = e.step(fast);
  EXPECT_FALSE(stepped.reconfigured);
  EXPECT_TRUE(e.step(slow).reconfigured);
  EXPECT_EQ(seen_fast.energy_j, stepped.energy_j);
  EXPECT_EQ(seen_fast.served, stepped.served);
  EXPECT_EQ(seen_fast.arrivals, stepped.arrivals);
  EXPECT_EQ(seen_fast.arrivals, seen_slow.arrivals);  // the same frames arrive either way
  EXPECT_LT(seen_slow.energy_j, seen_fast.energy_j);
}

TEST(Episode, SteppingByHandIsWhatRunDoes) {
  const Simulator sim = simulator(kPoisson, 0.1);
  auto g = power::make_governor("ondemand");
  Options o;
  o.seed = 5;
  const Summary run = sim.run(*g, o);
  g->reset();
  Episode e(sim, o, "ondemand");
  while (!e.done()) e.step(g->decide(e.snapshot()));
  const Summary by_hand = e.summary();
  EXPECT_EQ(by_hand.energy_j, run.energy_j);
  EXPECT_EQ(by_hand.deadline_misses, run.deadline_misses);
  EXPECT_EQ(by_hand.served, run.served);
  EXPECT_EQ(by_hand.actions, run.actions);
}

TEST(Oracle, EarnsAtLeastTheRewardOfEveryFixedConfiguration) {
  const Simulator sim = simulator("  - {name: cam, kind: poisson, rate_hz: 12}\n", 0.25);
  const ControlSpace space = space_of(sim);
  const double trip = sim.platform().thermal.throttle_c;
  const auto total = [&](const Summary& s) {
    Interval all;
    all.energy_j = s.energy_j;
    all.accuracy_sum = s.accuracy * double(s.served);
    all.misses = s.deadline_misses;
    all.dropped = s.dropped;
    return reward(sim.scenario().reward, all, trip);
  };
  Options o;
  o.seed = 3;
  const Summary oracle = sim.oracle(space, o);
  for (size_t i = 0; i < space.actions(); ++i) {
    Asks fixed(space.action(i, Episode(sim, o).snapshot()));
    const Summary s = sim.run(fixed, o);
    EXPECT_GE(total(oracle), total(s)) << space.label(i);
  }
}

TEST(Events, AShieldedControllerAnswersABatteryDropWithinOneInterval) {
  Scenario sc = scenario(kPoisson, 0.15);
  sc.on_battery = true;
  Simulator sim(sc, hw::parse_platform(kBoard, "test-board.yaml"), {cost_of(40), cost_of(10)});
  ControllerOptions c;
  c.shield = true;
  auto g = make_controller("static-max", sim, c);
  Options o;
  o.events = {parse_event("battery_drop@300.05:8")};
  const Summary s = sim.run(*g, o);
  EXPECT_EQ(s.events, 1);
  EXPECT_EQ(s.events_unanswered, 0);
  // The event fires with the interval from 300.0 s; the next decision (at 300.1 s) switches.
  EXPECT_GE(s.reaction_ms_max, 100);
  EXPECT_LT(s.reaction_ms_max, 101);
  EXPECT_GT(s.served_by_variant.at("small"), 0);
  EXPECT_FALSE(s.battery_empty);
  // Every decision from 300.1 s to the last at 539.9 s asked for big and got small.
  EXPECT_EQ(s.shield_overrides.at("battery"), 2399);
}

TEST(Events, BadEventTextIsAnErrorThatSaysTheForm) {
  EXPECT_NE(testing::error_of([] { parse_event("melt@10:3"); }).find("unknown kind"),
            std::string::npos);
  EXPECT_NE(testing::error_of([] { parse_event("battery_drop@x:3"); }).find("'x' is not a number"),
            std::string::npos);
  EXPECT_NE(testing::error_of([] { parse_event("battery_drop@10:300"); }).find("0..100"),
            std::string::npos);
  EXPECT_NE(testing::error_of([] { parse_event("load_burst"); }).find("no '@'"), std::string::npos);
  const Event e = parse_event("load_burst@7200:20:60");
  EXPECT_EQ(e.kind, Event::Kind::load_burst);
  EXPECT_EQ(e.time_s, 7200);
  EXPECT_EQ(e.value, 20);
  EXPECT_EQ(e.duration_s, 60);
}

TEST(Scenario, RewardWeightsAreReadAndUnknownOnesRefused) {
  const std::string base = R"(
name: w
platform: test-board
deadline_ms: 100
streams: [{name: cam, kind: poisson, rate_hz: 1}]
variants: [{name: big, model: big.onnx, resolution_px: 28, accuracy: 0.9, accuracy_source: test}]
)";
  const Scenario s = parse_scenario(base + "reward: {energy_per_j: 5, miss: 7}\n", "w.yaml");
  EXPECT_EQ(s.reward.energy_per_j, 5);
  EXPECT_EQ(s.reward.miss, 7);
  EXPECT_EQ(s.reward.accuracy, RewardWeights{}.accuracy);
  Interval i;
  i.energy_j = 2;
  i.accuracy_sum = 3;
  i.misses = 1;
  i.temperature_c = 58;  // 3 C into the 5 C margin below a 60 C trip
  EXPECT_DOUBLE_EQ(reward(s.reward, i, 60), 3 - 5 * 2 - 7 * 1 - 1 * 3);
  i.reconfigured = true;  // a change of configuration costs the default 0.1
  EXPECT_DOUBLE_EQ(reward(s.reward, i, 60), 3 - 5 * 2 - 7 * 1 - 1 * 3 - 0.1);
  const std::string error =
      testing::error_of([&] { parse_scenario(base + "reward: {speed: 1}\n", "w.yaml"); });
  EXPECT_NE(error.find("w.yaml:7:10"), std::string::npos) << error;
  EXPECT_NE(error.find("speed"), std::string::npos) << error;
}

TEST(Perturbation, ScalesTheRateAndOffsetsTheAmbient) {
  const Simulator sim = simulator(kPoisson, 0.25);
  auto g = power::make_governor("powersave");
  Options base;
  const Summary a = sim.run(*g, base);
  Options more = base;
  more.perturbation.rate_scale = 2;
  more.perturbation.ambient_offset_c = 10;
  const Summary b = sim.run(*g, more);
  EXPECT_NEAR(double(b.frames) / double(a.frames), 2.0, 0.1);
  EXPECT_GT(b.temperature_mean_c, a.temperature_mean_c + 9);
}

}  // namespace
}  // namespace edgeco::sim
