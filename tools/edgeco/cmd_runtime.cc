// edgeco telemetry, simulate, scenarios: the runtime level's senses (real Linux interfaces) and its
// simulated world (a modelled board serving a scenario under a governor).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "commands.h"
#include "edgeco/onnx.h"
#include "edgeco/power.h"
#include "edgeco/session.h"
#include "edgeco/sim.h"

namespace edgeco::cli {
namespace {

struct TelemetryRequest {
  std::string root = "/";
  int samples = 2;
  int interval_ms = 200;
  bool json = false;
};

void telemetry_command(const TelemetryRequest& r) {
  if (r.samples < 1) throw Error(ErrorKind::invalid_argument, "--samples must be at least 1");
  if (r.interval_ms < 0) throw Error(ErrorKind::invalid_argument, "--interval-ms must be >= 0");
  std::error_code ec;
  if (!std::filesystem::is_directory(r.root, ec))
    throw Error(ErrorKind::invalid_argument, "not a folder", r.root);
  power::LinuxTelemetry source(r.root);
  power::Snapshot snap;
  for (int i = 0; i < r.samples; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(r.interval_ms));
    snap = source.sample();
  }
  if (r.json) {
    nlohmann::ordered_json j;
    j["root"] = r.root;
    j["readings"] = nlohmann::json::array();
    for (const auto& x : snap.readings)
      j["readings"].push_back({{"name", x.name}, {"value", x.value}, {"unit", x.unit}});
    j["missing"] = nlohmann::json::array();
    for (const auto& m : snap.missing)
      j["missing"].push_back({{"what", m.what}, {"path", m.path}, {"why", m.why}});
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::printf("telemetry under %s (%d sample%s, %d ms apart)\n", r.root.c_str(), r.samples,
              r.samples == 1 ? "" : "s", r.interval_ms);
  if (snap.readings.empty()) std::printf("  no readings: this system exposes none of them\n");
  for (const auto& x : snap.readings)
    std::printf("  %-40s %12.4f %s\n", x.name.c_str(), x.value, x.unit.c_str());
  if (!snap.missing.empty()) {
    std::printf("not read:\n");
    for (const auto& m : snap.missing)
      std::printf("  %-28s %s: %s\n", m.what.c_str(), m.path.c_str(), m.why.c_str());
  }
}

struct SimulateRequest {
  std::string platform, scenario, governor = "schedutil", trace, static_mhz, static_variant;
  std::string policy;
  std::vector<std::string> events;
  double hours = 0, rate_limit_ms = 10, ambient_offset_c = 0, rate_scale = 1, battery_start = -1;
  int lookahead = 2;
  uint64_t seed = 1;
  bool json = false, shield = false, no_shield = false, no_offload = false;
};

std::vector<double> parse_mhz_list(const std::string& text) {
  std::vector<double> out;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t comma = text.find(',', pos);
    const std::string item = text.substr(pos, comma == std::string::npos ? comma : comma - pos);
    char* end = nullptr;
    const double v = std::strtod(item.c_str(), &end);
    if (item.empty() || end != item.c_str() + item.size() || !(v > 0))
      throw Error(ErrorKind::invalid_argument, "'" + item + "' is not a frequency in MHz",
                  "--static-mhz");
    out.push_back(v);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

void simulate_command(const SimulateRequest& r) {
  sim::Scenario scenario = sim::find_scenario(r.scenario);
  const hw::Platform platform =
      hw::find_platform(r.platform.empty() ? scenario.platform : r.platform);
  power::GovernorSettings settings;
  settings.rate_limit_ms = r.rate_limit_ms;
  if (!r.static_mhz.empty()) settings.static_mhz = parse_mhz_list(r.static_mhz);
  settings.static_variant = r.static_variant;
  const bool bar = !r.json && ::isatty(2);
  if (bar) progress_bar("pricing variants", 0, "", false);
  const sim::Simulator simulator(
      std::move(scenario), platform, [](const std::filesystem::path& p) { return load_onnx(p); },
      reference_evaluator());
  sim::ControllerOptions controller;
  controller.settings = settings;
  controller.policy = r.policy;
  if (r.shield) controller.shield = true;
  if (r.no_shield) controller.shield = false;
  controller.offload = !r.no_offload;
  const bool oracle = r.governor == "oracle";
  const std::unique_ptr<power::Governor> governor =
      oracle ? nullptr : sim::make_controller(r.governor, simulator, controller);
  std::ofstream trace;
  sim::Options options;
  options.hours = r.hours;
  options.seed = r.seed;
  options.perturbation.ambient_offset_c = r.ambient_offset_c;
  options.perturbation.rate_scale = r.rate_scale;
  options.perturbation.battery_start_pct = r.battery_start;
  for (const std::string& e : r.events) options.events.push_back(sim::parse_event(e));
  if (!r.trace.empty()) {
    trace.open(r.trace, std::ios::binary | std::ios::trunc);
    if (!trace) throw Error(ErrorKind::io, "cannot write the trace", r.trace);
    options.trace = &trace;
  }
  if (bar)
    options.progress = [](double done) {
      progress_bar("simulating", done, std::to_string(int(done * 100)) + "%", done >= 1);
    };
  const sim::Summary s =
      oracle ? simulator.oracle(simulator.control_space(4, !r.no_offload), options, r.lookahead)
             : simulator.run(*governor, options);
  if (trace.is_open()) {
    trace.close();
    if (!trace) throw Error(ErrorKind::io, "writing the trace failed", r.trace);
  }
  if (r.json) {
    std::cout << sim::summary_to_json(s) << "\n";
    return;
  }
  std::printf("%s on %s under %s, seed %llu (simulated: every figure is modelled)\n",
              s.scenario.c_str(), s.platform.c_str(), s.governor.c_str(),
              static_cast<unsigned long long>(s.seed));
  std::printf("  simulated        %.1f h%s\n", s.simulated_s / 3600,
              s.shutdown        ? " (thermal shutdown)"
              : s.battery_empty ? " (battery empty)"
                                : "");
  std::printf(
      "  frames           %lld arrived, %lld served, %lld dropped, %lld past the deadline\n",
      static_cast<long long>(s.frames), static_cast<long long>(s.served),
      static_cast<long long>(s.dropped), static_cast<long long>(s.deadline_misses));
  std::printf("  energy           %.1f J, %.3f W average, %.2f frames/J\n", s.energy_j,
              s.avg_power_w, s.frames_per_j);
  std::printf("  latency          p50 %.2f ms, p95 %.2f ms, p99 %.2f ms\n", s.latency_p50_ms,
              s.latency_p95_ms, s.latency_p99_ms);
  std::printf("  accuracy         %.2f%% (served frames x the variants' measured top-1)\n",
              s.accuracy * 100);
  std::printf("  temperature      mean %.1f C, max %.1f C, throttled %.0f s\n",
              s.temperature_mean_c, s.temperature_max_c, s.throttled_s);
  std::printf("  battery          %.1f%% -> %.1f%%\n", s.battery_start_pct, s.battery_end_pct);
  for (const auto& [v, n] : s.served_by_variant)
    if (n > 0) std::printf("  served by %-18s %lld\n", v.c_str(), static_cast<long long>(n));
  std::printf("  decision         p50 %.2f us, p99 %.2f us (measured here)\n", s.decision_us_p50,
              s.decision_us_p99);
  for (const auto& [rule, n] : s.shield_overrides)
    std::printf("  shield override  %-8s %lld\n", rule.c_str(), static_cast<long long>(n));
  if (s.events > 0)
    std::printf("  reaction         p50 %.1f ms, max %.1f ms over %lld events (%lld unanswered)\n",
                s.reaction_ms_p50, s.reaction_ms_max, static_cast<long long>(s.events),
                static_cast<long long>(s.events_unanswered));
}

void scenarios_command(bool json) {
  nlohmann::ordered_json list = nlohmann::json::array();
  for (const std::string& name : sim::scenario_names()) {
    const sim::Scenario s = sim::find_scenario(name);
    nlohmann::ordered_json variants = nlohmann::json::array();
    for (const auto& v : s.variants)
      variants.push_back({{"name", v.name},
                          {"family", v.family},
                          {"model", v.model.string()},
                          {"resolution_px", v.resolution_px},
                          {"accuracy", v.accuracy},
                          {"accuracy_source", v.accuracy_source}});
    list.push_back({{"name", s.name},
                    {"platform", s.platform},
                    {"description", s.description},
                    {"deadline_ms", s.deadline_ms},
                    {"hours", s.hours},
                    {"variants", variants}});
    if (!json) {
      std::printf("%-14s %-24s deadline %6.0f ms, %zu variant%s  %s\n", s.name.c_str(),
                  s.platform.c_str(), s.deadline_ms, s.variants.size(),
                  s.variants.size() == 1 ? "" : "s", s.description.c_str());
    }
  }
  if (json) std::cout << list.dump(2) << "\n";
}

}  // namespace

void add_runtime_commands(CLI::App& app) {
  auto t = std::make_shared<TelemetryRequest>();
  CLI::App* tel = app.add_subcommand(
      "telemetry",
      "Read the board's power interfaces: thermal zones, batteries, cpufreq, devfreq, RAPL, Jetson "
      "INA3221 rails, CPU utilisation. Lists every reading found and, apart, what it looked for "
      "and "
      "could not read (absent, unreadable, bad value), naming the file.");
  tel->add_option("--root", t->root, "read under this folder instead of / (a fake tree)");
  tel->add_option("--samples", t->samples,
                  "samples to take; rates (RAPL power, CPU utilisation) need two")
      ->capture_default_str();
  tel->add_option("--interval-ms", t->interval_ms, "time between samples")->capture_default_str();
  tel->add_flag("--json", t->json,
                "print {\"root\", \"readings\": [{name, value, unit}], \"missing\": [...]}");
  tel->callback([t] { telemetry_command(*t); });

  auto s = std::make_shared<SimulateRequest>();
  CLI::App* simc = app.add_subcommand(
      "simulate",
      "Simulate a deployment: a scenario's streams served by its model variants on a modelled "
      "platform under a governor, with DVFS, power, temperature (RC network, the kernel's "
      "throttling) and battery. Every figure is modelled; accuracy is each variant's measured "
      "top-1.");
  simc->add_option("--platform", s->platform, "platform preset or file (default: the scenario's)");
  simc->add_option("--scenario", s->scenario, "scenario preset (edgeco scenarios) or file")
      ->required();
  simc->add_option("--governor", s->governor,
                   "the kernel's performance, powersave, ondemand, conservative, schedutil; "
                   "static (--static-*); static-max (every device at its highest point, the "
                   "default variant: the paper's static settings); rule (a threshold controller); "
                   "dqn (a learned policy: --policy, or the one shipped in models/governors); "
                   "oracle (knows the arrivals to come)")
      ->capture_default_str();
  simc->add_option("--policy", s->policy, "dqn: the Q-network (edgeco train-governor's ONNX)");
  simc->add_flag("--shield", s->shield,
                 "wrap the governor in the safety shield (default for rule and dqn)");
  simc->add_flag("--no-shield", s->no_shield, "run rule or dqn without the shield");
  simc->add_flag("--no-offload", s->no_offload,
                 "a scenario with a fog node: leave offloading out of the controller's actions "
                 "(for a policy trained without it)");
  simc->add_option("--lookahead", s->lookahead, "oracle: intervals it looks ahead")
      ->check(CLI::Range(1, 50))
      ->capture_default_str();
  simc->add_option("--event", s->events,
                   "inject an event (repeatable): battery_drop@SECONDS:PERCENT, "
                   "ambient_step@SECONDS:DEGREES, load_burst@SECONDS:FPS[:DURATION_S]; the "
                   "summary's reaction_ms is from each event to the configuration change");
  simc->add_option("--ambient-offset", s->ambient_offset_c, "add degrees C to the ambient all day")
      ->check(CLI::Range(-50.0, 60.0));
  simc->add_option("--rate-scale", s->rate_scale, "multiply every stream's frame rate")
      ->check(CLI::Range(0.001, 1000.0));
  simc->add_option("--battery-start", s->battery_start,
                   "start the battery at this percent (default: the scenario's)")
      ->check(CLI::Range(0.0, 100.0));
  simc->add_option("--hours", s->hours, "simulated hours (default: the scenario's)")
      ->check(CLI::Range(0.0, 8784.0));
  simc->add_option("--seed", s->seed, "random seed; the same seed gives the same run")
      ->capture_default_str();
  simc->add_option("--trace", s->trace,
                   "write a CSV trace: time_s,device,mhz,util,power_w,temperature_c,action per "
                   "device (and the board) per control interval");
  simc->add_option("--rate-limit-ms", s->rate_limit_ms, "schedutil's rate_limit_us, in ms")
      ->capture_default_str();
  simc->add_option("--static-mhz", s->static_mhz,
                   "static: each device's MHz, comma-separated in the platform's device order");
  simc->add_option("--static-variant", s->static_variant, "static: the variant to serve with");
  simc->add_flag("--json", s->json, "print the summary as JSON");
  simc->callback([s] { simulate_command(*s); });

  auto json = std::make_shared<bool>(false);
  CLI::App* list = app.add_subcommand("scenarios", "List the scenario presets (scenarios/*.yaml).");
  list->add_flag("--json", *json, "print JSON");
  list->callback([json] { scenarios_command(*json); });
}

}  // namespace edgeco::cli
