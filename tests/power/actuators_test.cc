#include <gtest/gtest.h>
#include <sys/wait.h>

#include <csignal>
#include <cstdio>

#include "edgeco/power.h"
#include "edgeco/session.h"
#include "fake_tree.h"

namespace edgeco::power {
namespace {

using testing::FakeTree;

TEST(FrequencyActuator, UsesUserspaceWhereOfferedAndRestoresOnDestruction) {
  FakeTree t;
  testing::lay_out_jetson_nano(t);
  const std::string f = "sys/devices/system/cpu/cpu0/cpufreq/";
  {
    FrequencyActuator a(FrequencyActuator::Kind::cpufreq, t.root() / f);
    EXPECT_EQ(a.unavailable_reason(), "");
    EXPECT_EQ(a.method(), "userspace");
    EXPECT_DOUBLE_EQ(a.set_mhz(1000), 1036.8);  // the nearest listed frequency
    EXPECT_EQ(t.read(f + "scaling_governor"), "userspace");
    EXPECT_EQ(t.read(f + "scaling_setspeed"), "1036800");
    a.set_mhz(204);
    EXPECT_EQ(t.read(f + "scaling_setspeed"), "204000");
  }
  EXPECT_EQ(t.read(f + "scaling_governor"), "schedutil");
  // Not written back: the kernel refuses a value there outside userspace.
  EXPECT_EQ(t.read(f + "scaling_setspeed"), "204000");
}

TEST(FrequencyActuator, ClampsMaxFreqWithoutUserspaceAndPinsDevfreq) {
  FakeTree t;
  testing::lay_out_jetson_nano(t);
  const std::string f = "sys/devices/system/cpu/cpu1/cpufreq/";
  t.write(f + "scaling_available_governors", "schedutil performance\n");
  const std::string g = "sys/class/devfreq/57000000.gpu/";
  {
    FrequencyActuator cpu(FrequencyActuator::Kind::cpufreq, t.root() / f);
    EXPECT_EQ(cpu.method(), "max_freq clamp");
    cpu.set_mhz(600);
    EXPECT_EQ(t.read(f + "scaling_max_freq"), "614400");
    FrequencyActuator gpu(FrequencyActuator::Kind::devfreq, t.root() / g);
    EXPECT_DOUBLE_EQ(gpu.set_mhz(384), 384);
    EXPECT_EQ(t.read(g + "min_freq"), "384000000");
    EXPECT_EQ(t.read(g + "max_freq"), "384000000");
    gpu.restore();
    EXPECT_EQ(t.read(g + "min_freq"), "76800000");
    EXPECT_EQ(t.read(g + "max_freq"), "921600000");
  }
  EXPECT_EQ(t.read(f + "scaling_max_freq"), "1479000");
}

TEST(FrequencyActuator, SaysWhyItIsUnavailable) {
  FakeTree t;
  FrequencyActuator a(FrequencyActuator::Kind::cpufreq,
                      t.root() / "sys/devices/system/cpu/cpu0/cpufreq");
  EXPECT_NE(a.unavailable_reason().find("no such folder"), std::string::npos);
  EXPECT_THROW(a.set_mhz(100), Error);
  EXPECT_TRUE(linux_frequency_actuators(t.root()).empty());
  testing::lay_out_raspberry_pi_4(t);
  EXPECT_EQ(linux_frequency_actuators(t.root()).size(), 4u);
}

TEST(FrequencyActuator, RestoresWhenTheProcessGetsSigterm) {
  FakeTree t;
  testing::lay_out_raspberry_pi_4(t);
  const std::string f = "sys/devices/system/cpu/cpu0/cpufreq/";
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    restore_actuators_on_signals();
    auto a = std::make_unique<FrequencyActuator>(FrequencyActuator::Kind::cpufreq, t.root() / f);
    a->set_mhz(900);
    raise(SIGTERM);  // never returns: the handler restores, then the default action ends us
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  EXPECT_EQ(t.read(f + "scaling_governor"), "ondemand");
}

TEST(BoardControl, AppliesTheGovernorsChoiceThroughTheActuators) {
  FakeTree t;
  testing::lay_out_raspberry_pi_4(t);
  const std::string f = "sys/devices/system/cpu/cpu2/cpufreq/";
  {
    BoardControl board(t.root());
    EXPECT_TRUE(board.unavailable().empty());
    auto ondemand = make_governor("ondemand");
    board.step(*ondemand);  // the first sample has no utilisation: idle, the lowest frequency
    EXPECT_EQ(t.read(f + "scaling_setspeed"), "600000");
    // 120 of 200 jiffies busy since the last sample: load 60, 600 + 60 * (1500 - 600) / 100 =
    // 1140 -> closest 1100.
    t.write("proc/stat", "cpu  560 10 260 3080 50 0 5 0 0 0\n");
    const auto [snap, action] = board.step(*ondemand);
    EXPECT_NEAR(snap.domains[2].util, 0.6, 1e-12);
    EXPECT_DOUBLE_EQ(action.mhz[2], 1100);
    EXPECT_EQ(t.read(f + "scaling_setspeed"), "1100000");
    EXPECT_EQ(t.read(f + "scaling_governor"), "userspace");
  }
  EXPECT_EQ(t.read(f + "scaling_governor"), "ondemand");  // put back
}

Graph scale_by(float k) {
  Graph g;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {1, 2}};
  g.value("k").initializer = Tensor::from_values<float>({1}, std::vector<float>{k});
  g.nodes = {Node{"mul", "Mul", "", {"x", "k"}, {"y"}}};
  g.outputs = {"y"};
  return g;
}

TEST(VariantSwitch, TakesEffectAtTheNextRunWithoutPreparing) {
  VariantSwitch v({{"double", std::make_shared<Session>(scale_by(2))},
                   {"triple", std::make_shared<Session>(scale_by(3))}});
  const TensorMap in{{"x", Tensor::from_values<float>({1, 2}, std::vector<float>{1, 2})}};
  EXPECT_EQ(v.run(in).at("y").data<float>()[1], 4.0f);
  const double us = v.select("triple");
  // Reported, not bounded (a timing bar belongs in a benchmark): a pointer swap, which is why
  // edgeco simulate charges a switch no time.
  std::printf("variant switch: %.3f us\n", us);
  EXPECT_GE(us, 0.0);
  EXPECT_EQ(v.current(), "triple");
  EXPECT_EQ(v.run(in).at("y").data<float>()[1], 6.0f);
  EXPECT_THROW(v.select("quadruple"), Error);
  v.restore();
  EXPECT_EQ(v.current(), "double");
}

}  // namespace
}  // namespace edgeco::power
