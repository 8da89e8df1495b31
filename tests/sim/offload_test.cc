// Offloading in the simulator: a frame's head here, the wait for the fog node, the tail here when
// a request fails; the controller's space with offload actions; the shield's link rule. The
// arithmetic is the fixture board's (fixture.h), checkable by hand.
#include <gtest/gtest.h>

#include "edgeco/control.h"
#include "fixture.h"

namespace edgeco::sim {
namespace {

// 1,000 bytes at 8 Mbit/s take 1 ms; with a 4 ms RTT and 2 ms on the server the answer comes
// 7 ms after the head. The head is 5 ms of the 40 ms model, the tail the other 35.
Simulator fog_simulator(const std::string& fog_extra, double hours = 0.1) {
  Scenario s = scenario("  - {name: cam, kind: periodic, rate_hz: 1}\n", hours);
  s.fog = parse_scenario(R"(
name: f
platform: test-board
deadline_ms: 100
streams: [{name: c, kind: periodic, rate_hz: 1}]
variants: [{name: v, model: v.onnx, resolution_px: 28, accuracy: 0.9, accuracy_source: t}]
fog: {platform: host, bandwidth_mbps: 8, rtt_ms: 4, timeout_ms: 50, radio_watts: 1)" +
                             fog_extra + "}\n",
                         "fog.yaml")
              .fog;
  std::vector<OffloadCost> offload;
  for (double ms : {40.0, 10.0}) {
    OffloadCost o;
    o.head = cost_of(5);
    o.tail = cost_of(ms - 5);
    o.server_ms = 2;
    o.bytes = 1000;
    offload.push_back(o);
  }
  return Simulator(s, hw::parse_platform(kBoard, "test-board.yaml"), {cost_of(40), cost_of(10)},
                   offload);
}

class Always : public power::Governor {
 public:
  explicit Always(bool offload) : offload_(offload) {}
  std::string name() const override { return offload_ ? "always-offload" : "local"; }
  power::Action decide(const power::Snapshot&) override {
    power::Action a;
    a.offload = offload_;
    return a;
  }

 private:
  bool offload_;
};

TEST(Offload, AnsweredFramesTakeTheHeadPlusTheWaitAndSpendOnlyTheHeadHere) {
  const Simulator sim = fog_simulator("");
  Always local(false), fog(true);
  const Summary l = sim.run(local), f = sim.run(fog);
  EXPECT_NEAR(l.latency_p50_ms, 40, 1e-6);
  EXPECT_NEAR(f.latency_p50_ms, 5 + 7, 1e-6);
  EXPECT_EQ(f.offloaded, f.served);
  EXPECT_EQ(f.fallbacks, 0);
  EXPECT_EQ(l.offloaded, 0);
  // The CPU's dynamic energy is the head's alone: 5/40 of the local run's.
  const double static_j = 1.0 * l.simulated_s;
  EXPECT_NEAR((f.device_energy_j.at("cpu")) / (l.device_energy_j.at("cpu")), 5.0 / 40, 1e-6);
  // The radio (1 W for the 1 ms transfer) is the board's.
  EXPECT_NEAR(f.device_energy_j.at("board") - static_j, 1.0 * 1e-3 * double(f.served), 1e-9);
}

TEST(Offload, AnOutageCostsTheTimeoutThenTheTailHere) {
  const Simulator sim = fog_simulator(", outages_s: [[0, 100000]]");
  Always fog(true);
  const Summary f = sim.run(fog);
  EXPECT_EQ(f.fallbacks, f.offloaded);
  EXPECT_EQ(f.served, f.offloaded);
  EXPECT_NEAR(f.latency_p50_ms, 5 + 50 + 35, 1e-6);
}

TEST(Offload, LossFallsBackAboutAsOftenAsItSays) {
  const Simulator sim = fog_simulator(", loss: 0.25", 1.0);
  Always fog(true);
  const Summary f = sim.run(fog);
  ASSERT_GT(f.offloaded, 3000);
  EXPECT_NEAR(double(f.fallbacks) / double(f.offloaded), 0.25, 0.03);
}

TEST(Offload, TheShieldKeepsFramesLocalWhileTheLinkIsDown) {
  const Simulator sim = fog_simulator("", 0.1);
  Options o;
  o.events.push_back(parse_event("link_down@60:120"));
  power::ControlSpace space = sim.control_space();
  ASSERT_TRUE(space.offload);
  power::ShieldedGovernor shielded(std::make_unique<Always>(true), space);
  const Summary s = sim.run(shielded, o);
  // The frame sent when the link went down fell back; from the next interval on the shield kept
  // frames here until the ping answered again.
  EXPECT_GE(s.shield_overrides.at("link"), 1000);
  EXPECT_LE(s.fallbacks, 2);
  EXPECT_GT(s.offloaded, 150);  // before and after the outage
  Always unshielded(true);
  EXPECT_GE(sim.run(unshielded, o).fallbacks, 119);
}

TEST(Offload, TheControlSpaceDoublesItsActionsAndSaysWhichAreOffloaded) {
  const Simulator sim = fog_simulator("");
  const power::ControlSpace with = sim.control_space(4), without = sim.control_space(4, false);
  EXPECT_EQ(with.actions(), 2 * without.actions());
  EXPECT_EQ(with.feature_count(), without.feature_count() + 2);
  power::Snapshot now;
  now.domains.resize(1);
  now.domains[0].name = "cpu";
  for (size_t i = 0; i < with.actions(); ++i) {
    const power::Action a = with.action(i, now);
    ASSERT_TRUE(a.offload.has_value());
    EXPECT_EQ(*a.offload, i >= without.actions()) << i;
    EXPECT_EQ(with.label(i).find("+fog") != std::string::npos, i >= without.actions());
  }
  EXPECT_FALSE(without.action(0, now).offload.has_value());
  // A scenario without a fog node refuses an offload action.
  Always fog(true);
  EXPECT_THROW(simulator(kPoisson, 0.01).run(fog), Error);
}

TEST(Offload, FogSectionIsCheckedLikeTheRest) {
  const auto refused = [](const std::string& fog, const std::string& says) {
    try {
      parse_scenario(R"(
name: f
platform: p
deadline_ms: 100
streams: [{name: c, kind: periodic, rate_hz: 1}]
variants: [{name: v, model: v.onnx, resolution_px: 28, accuracy: 0.9, accuracy_source: t}]
fog: )" + fog + "\n",
                     "f.yaml");
      ADD_FAILURE() << "accepted " << fog;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  refused("{platform: host, bandwidth_mbps: 8, loss: 2}", "fog.loss");
  refused("{platform: host, bandwidth_mbps: 8, latency: 2}", "latency");
  refused("{platform: host}", "bandwidth_mbps");
  refused("{platform: host, bandwidth_mbps: 8, outages_s: [[5, 1]]}", "outages_s");
  EXPECT_THROW(parse_event("link_down@10:0"), Error);
  EXPECT_EQ(parse_event("link_down@10:30").kind, Event::Kind::link_down);
}

}  // namespace
}  // namespace edgeco::sim
