#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

#include "../test_util.h"
#include "edgeco/onnx.h"
#include "edgeco/session.h"
#include "edgeco/sim.h"
#include "fixture.h"

namespace edgeco::sim {
namespace {

struct Row {
  double t, mhz, util, watts, celsius;
  std::string device, action;
};
std::vector<Row> parse_trace(const std::string& csv) {
  std::vector<Row> rows;
  std::istringstream in(csv);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "time_s,device,mhz,util,power_w,temperature_c,action");
  while (std::getline(in, line)) {
    std::vector<std::string> c;
    std::stringstream ss(line);
    for (std::string cell; std::getline(ss, cell, ',');) c.push_back(cell);
    EXPECT_EQ(c.size(), 7u) << line;
    if (c.size() != 7) continue;
    rows.push_back({std::stod(c[0]), std::stod(c[2]), std::stod(c[3]), std::stod(c[4]),
                    std::stod(c[5]), c[1], c[6]});
  }
  return rows;
}

TEST(Thermal, TheStepIsTheExactRcSolutionAtAnyStepSize) {
  // T(t) = Ta + P R + (T0 - Ta - P R) exp(-t / RC): R 4 C/W, C 40 J/C, 6 W from 25 C, 1000 s.
  const double analytic = 25 + 24 + (25 - 49) * std::exp(-1000.0 / 160.0);
  double t = 25;
  for (int i = 0; i < 100; ++i) t = thermal_step(t, 6, 25, 4, 40, 10);  // 10 s steps
  EXPECT_NEAR(t, analytic, 1e-9);
  EXPECT_NEAR(thermal_step(25, 6, 25, 4, 40, 1000), analytic, 1e-9);
  // A naive Euler step at 10 s would be off: 25 + 10 * (49 - 25) / 160 = 26.5 vs 26.46
  EXPECT_NEAR(thermal_step(25, 6, 25, 4, 40, 10), 49 - 24 * std::exp(-10.0 / 160.0), 1e-12);
}

TEST(Simulator, TheTracesTemperatureFollowsTheAnalyticRcCurveUnderConstantPower) {
  // No frames arrive within the hour: power is the static 1 W plus nothing, the board warms from
  // 25 C towards 35 C with tau = R C = 50 s.
  const Simulator sim = simulator("  - {name: never, kind: poisson, rate_hz: 0.000001}\n", 0.05);
  auto g = power::make_governor("powersave");
  std::ostringstream trace;
  Options o;
  o.trace = &trace;
  o.seed = 3;
  sim.run(*g, o);
  for (const Row& r : parse_trace(trace.str())) {
    if (r.device != "board") continue;
    const double end = r.t + 0.1;
    EXPECT_NEAR(r.celsius, 35 - 10 * std::exp(-end / 50), 0.1) << r.t;
  }
}

TEST(Simulator, SummaryEnergyIsTheTracesPowerIntegratedOverTime) {
  const Simulator sim = simulator(kPoisson);
  auto g = power::make_governor("ondemand");
  std::ostringstream trace;
  Options o;
  o.trace = &trace;
  const Summary s = sim.run(*g, o);
  double integral = 0;
  for (const Row& r : parse_trace(trace.str())) integral += r.watts * 0.1;
  EXPECT_GT(s.energy_j, 0);
  EXPECT_NEAR(integral, s.energy_j, s.energy_j * 0.005);
  EXPECT_NEAR(s.avg_power_w, s.energy_j / s.simulated_s, 1e-9);
  // Every frame is accounted for: served, dropped or still in the system at the end.
  EXPECT_LE(s.served + s.dropped, s.frames);
  EXPECT_GE(s.served + s.dropped + 5, s.frames);
}

TEST(Simulator, TheSameSeedGivesTheSameSummaryBitForBit) {
  const Simulator sim = simulator(kPoisson);
  auto g = power::make_governor("schedutil");
  Options o;
  o.seed = 42;
  // Every figure but the decision times (wall time, measured) is simulated.
  const auto simulated = [&](Summary s) {
    s.decision_us_p50 = s.decision_us_p99 = 0;
    return summary_to_json(s);
  };
  const std::string a = simulated(sim.run(*g, o));
  const std::string b = simulated(sim.run(*g, o));
  EXPECT_EQ(a, b);
  o.seed = 43;
  EXPECT_NE(a, summary_to_json(sim.run(*g, o)));
}

TEST(Simulator, SchedutilsChosenFrequencyIsTheKernelFormulasInTheTrace) {
  const Simulator sim = simulator(kPoisson);
  power::GovernorSettings settings;
  settings.rate_limit_ms = 10;  // shorter than the control interval: every interval updates
  auto g = power::make_governor("schedutil", settings);
  std::ostringstream trace;
  Options o;
  o.trace = &trace;
  sim.run(*g, o);
  const std::vector<double> table = {500, 1000, 2000};
  int agree = 0, total = 0;
  const std::vector<Row> rows = parse_trace(trace.str());
  std::vector<Row> cpu;
  for (const Row& r : rows)
    if (r.device == "cpu") cpu.push_back(r);
  std::set<double> seen;
  for (size_t k = 0; k + 1 < cpu.size(); ++k) {
    // The action recorded on interval k+1 was decided from interval k's frequency and utilisation.
    const double want = 1.25 * cpu[k].mhz * cpu[k].util;
    double expected = table.back();
    for (double f : table)
      if (f >= want - 1e-9) {
        expected = f;
        break;
      }
    ++total;
    if (std::stod(cpu[k + 1].action) == expected) ++agree;
    seen.insert(cpu[k + 1].mhz);
  }
  std::printf("schedutil's formula in the trace: %d of %d intervals\n", agree, total);
  ASSERT_GT(total, 10000);
  EXPECT_GE(double(agree) / total, 0.99) << agree << " of " << total;
  EXPECT_GE(seen.size(), 2u);  // the load moves it: not a trace stuck at one point
}

TEST(Simulator, GovernorsSeeTheReadingsABoardWouldExpose) {
  const Simulator sim = simulator(kPoisson, 0.01);
  auto g = power::make_governor("schedutil");
  Options o;
  o.readings = true;
  int seen = 0;
  o.observe = [&](const power::Snapshot& s, const power::Action&) {
    if (s.time_s < 1) return;
    ++seen;
    EXPECT_DOUBLE_EQ(*s.reading("thermal/board"), s.temperature_c);
    EXPECT_DOUBLE_EQ(*s.reading("cpufreq/cpu/cur"), s.domains[0].cur_mhz);
    EXPECT_DOUBLE_EQ(*s.reading("cpufreq/cpu/available"), 3);
    EXPECT_DOUBLE_EQ(*s.reading("cpu/util"), s.domains[0].util);
    // The board's power is the device's plus the static watt (no transfers on one device).
    EXPECT_NEAR(*s.reading("power/board"), *s.reading("power/cpu") + 1.0, 1e-9);
  };
  sim.run(*g, o);
  EXPECT_GT(seen, 300);
}

TEST(Simulator, ABoundedQueueDropsAndDeadlinesAreCounted) {
  // 40 ms at 2 GHz, 160 ms at 500 MHz: 10 fps periodic under powersave cannot keep up.
  const Simulator sim = simulator("  - {name: cam, kind: periodic, rate_hz: 10}\n", 0.1);
  auto slow = power::make_governor("powersave");
  const Summary s = sim.run(*slow);
  EXPECT_GT(s.dropped, 0);
  EXPECT_GT(s.deadline_misses, 0);
  // Dropping the oldest keeps the last four arrivals: the one served is 300-400 ms old when it
  // starts, then takes 160 ms.
  EXPECT_GE(s.latency_p50_ms, 460 - 1e-3);
  EXPECT_LE(s.latency_p50_ms, 560 + 1e-3);
  auto fast = power::make_governor("performance");
  const Summary f = sim.run(*fast);
  EXPECT_EQ(f.dropped, 0);
  EXPECT_NEAR(f.latency_p50_ms, 40, 1e-3);
  EXPECT_EQ(f.deadline_misses, 0);
  EXPECT_NEAR(f.accuracy, 0.9, 1e-9);
}

TEST(Simulator, TheBatteryDrainsByCoulombCounting) {
  Scenario sc = scenario("  - {name: never, kind: poisson, rate_hz: 0.000001}\n", 0.5);
  sc.on_battery = true;
  const Simulator sim(sc, hw::parse_platform(kBoard, "b.yaml"), {cost_of(40), cost_of(10)});
  auto g = power::make_governor("powersave");
  const Summary s = sim.run(*g);
  // 1 W for half an hour from a 1000 mAh cell near 4.2 V: about 0.5 Wh / 4.2 V = 119 mAh.
  const double used_pct = s.battery_start_pct - s.battery_end_pct;
  EXPECT_GT(used_pct, 11.5);
  EXPECT_LT(used_pct, 12.5);
  EXPECT_NEAR(*battery_current_a(hw::parse_platform(kBoard, "b.yaml").battery, 1.0, 4.2),
              (4.2 - std::sqrt(4.2 * 4.2 - 4 * 0.1 * 4.2)) / 0.2, 1e-12);
}

TEST(Simulator, AtTheTripTheBoardThrottlesWhateverTheGovernorAsks) {
  // 40 ms frames at 20 fps keep the 2 GHz point 80% busy: about 1 + 0.8 * 2.42 W, which at
  // 10 C/W from a 45 C ambient passes the 60 C trip.
  Scenario sc = scenario("  - {name: cam, kind: periodic, rate_hz: 20}\n", 0.2);
  sc.ambient = {{0, 45}, {24, 45}};
  const Simulator sim(sc, hw::parse_platform(kBoard, "b.yaml"), {cost_of(40), cost_of(10)});
  auto g = power::make_governor("performance");
  std::ostringstream trace;
  Options o;
  o.trace = &trace;
  const Summary s = sim.run(*g, o);
  EXPECT_GT(s.throttled_s, 0);
  bool capped_while_hot = false;
  for (const Row& r : parse_trace(trace.str()))
    // performance asks for the policy's max, which the thermal cap lowers (as the kernel's
    // cooling device lowers cpufreq's policy max): below 2 GHz only when throttled.
    if (r.device == "cpu" && r.mhz < 2000 && r.celsius >= 58) capped_while_hot = true;
  EXPECT_TRUE(capped_while_hot);
  EXPECT_LE(s.temperature_max_c, 61.0);  // held near the trip
}

TEST(Scenario, ErrorsNameTheFileTheLineAndTheField) {
  const auto error_of = [](const std::string& text) {
    return testing::error_of([&] { parse_scenario(text, "bad.yaml"); });
  };
  // yaml-cpp reports an unclosed flow where the input ends.
  EXPECT_NE(
      error_of("name: x\nplatform: p\ndeadline_ms: [1\n").find("bad.yaml:4:1: not valid YAML"),
      std::string::npos);
  const std::string base =
      "name: x\nplatform: p\ndeadline_ms: 10\nstreams:\n  - {name: c, kind: periodic, rate_hz: "
      "5}\n";
  EXPECT_NE(error_of(base).find("variants"), std::string::npos);
  EXPECT_NE(error_of("name: x\nplatform: p\ndeadline_ms: 10\nstreems: []\n").find("bad.yaml:4"),
            std::string::npos);
  const std::string kind =
      error_of("name: x\nplatform: p\ndeadline_ms: 10\nstreams:\n  - {name: c, kind: sometimes}\n");
  EXPECT_NE(kind.find("bad.yaml:5"), std::string::npos) << kind;
  EXPECT_NE(kind.find("sometimes"), std::string::npos);
  // A mapping as a key (found by fuzz_scenario): an error, not yaml-cpp's bad conversion.
  const std::string key =
      error_of("name: x\nplatform: p\ndeadline_ms: 10\nstreams:\n  - {? {a: 1} : 2}\n");
  EXPECT_NE(key.find("bad.yaml:5"), std::string::npos) << key;
  EXPECT_NE(key.find("a key must be text"), std::string::npos) << key;
  const std::string acc = error_of(base +
                                   "variants:\n  - {name: v, model: m.onnx, resolution_px: 28, "
                                   "accuracy: 92.5, accuracy_source: s}\n");
  EXPECT_NE(acc.find("bad.yaml:7"), std::string::npos) << acc;
  EXPECT_NE(acc.find("accuracy"), std::string::npos);
}

TEST(Scenario, TraceFilesParseAndBadRowsNameTheLine) {
  EXPECT_EQ(parse_trace_csv("camera,time_s\nA,0.5\nB,1.25\n", "t.csv"),
            (std::vector<double>{0.5, 1.25}));
  const auto error_of = [](const std::string& text) {
    return testing::error_of([&] { parse_trace_csv(text, "t.csv"); });
  };
  EXPECT_NE(error_of("time\n1\n").find("t.csv:1"), std::string::npos);
  EXPECT_NE(error_of("time_s\n1\nabc\n").find("t.csv:3"), std::string::npos);
  EXPECT_NE(error_of("time_s\n2\n1\n").find("t.csv:3: times must not decrease"), std::string::npos);
  EXPECT_NE(error_of("time_s\n-1\n").find("t.csv:2"), std::string::npos);
  EXPECT_NE(error_of("").find("empty"), std::string::npos);
}

// The shipped scenarios with the shipped models: the governors order as physics says.
class ShippedScenario : public ::testing::TestWithParam<std::string> {};

TEST_P(ShippedScenario, PerformanceRunsHotterAndDrawsMoreThanPowersave) {
  const Scenario sc = find_scenario(GetParam());
  const Simulator sim(
      sc, hw::find_platform(sc.platform),
      [](const std::filesystem::path& p) { return load_onnx(p); }, reference_evaluator());
  Options o;
  o.hours = 0.5;
  auto perf = power::make_governor("performance");
  auto save = power::make_governor("powersave");
  const Summary p = sim.run(*perf, o), s = sim.run(*save, o);
  EXPECT_GT(p.avg_power_w, s.avg_power_w);
  EXPECT_GT(p.temperature_mean_c, s.temperature_mean_c);
  EXPECT_GT(p.served, 0);
  EXPECT_NEAR(p.accuracy, sc.variants[0].accuracy, 1e-9);
  if (GetParam() == "navigation") {
    // 45 C inside the enclosure: performance meets the 80 C trip and is throttled.
    EXPECT_GT(p.throttled_s, 0);
    EXPECT_EQ(s.throttled_s, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Presets, ShippedScenario,
                         ::testing::Values("surveillance", "navigation", "har-wearable"));

}  // namespace
}  // namespace edgeco::sim
