#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <limits>
#include <random>

#include <nlohmann/json.hpp>

#include "edgeco/pipeline.h"
#include "edgeco/sim.h"

namespace edgeco::sim {

double thermal_step(double celsius, double watts, double ambient_c, double r, double c,
                    double dt_s) {
  const double steady = ambient_c + watts * r;
  if (r <= 0 || c <= 0) return steady;
  return steady + (celsius - steady) * std::exp(-dt_s / (r * c));
}

double open_circuit_volts(const hw::Battery& b, double soc) {
  const auto& curve = b.voltage_curve;
  if (curve.empty()) return 0;
  if (soc <= curve.front().first) return curve.front().second;
  for (size_t i = 1; i < curve.size(); ++i) {
    if (soc > curve[i].first) continue;
    const auto [x0, y0] = curve[i - 1];
    const auto [x1, y1] = curve[i];
    return x1 > x0 ? y0 + (y1 - y0) * (soc - x0) / (x1 - x0) : y1;
  }
  return curve.back().second;
}

std::optional<double> battery_current_a(const hw::Battery& b, double soc, double watts) {
  // P = (V - I R) I  =>  I = (V - sqrt(V^2 - 4 R P)) / (2 R), the smaller root.
  const double v = open_circuit_volts(b, soc);
  if (v <= 0) return std::nullopt;
  if (b.internal_ohm <= 0) return watts / v;
  const double disc = v * v - 4 * b.internal_ohm * watts;
  if (disc < 0) return std::nullopt;
  return (v - std::sqrt(disc)) / (2 * b.internal_ohm);
}

VariantCost price_variant(const Graph& graph, const hw::Platform& platform, Strategy strategy,
                          const ConstantEvaluator& evaluate) {
  CompileOptions o;
  o.strategy = strategy;
  o.dvfs = false;  // place with every device at its highest point; the simulator sets the rest
  o.tile = false;  // a cascade's savings depend on the operating points; priced untiled
  const Plan plan = compile(graph, platform, o, evaluate);
  Graph g = graph;
  InferenceResult inferred;
  prepare_for_pricing(g, o, evaluate, &inferred);
  const std::vector<NodeDemand> demands = describe_nodes(g, inferred);

  std::map<std::string, size_t> device_of_node;
  for (const PlanNode& n : plan.nodes)
    for (size_t d = 0; d < platform.devices.size(); ++d)
      if (platform.devices[d].name == n.device) device_of_node[n.name] = d;
  size_t host = 0;
  for (size_t d = 0; d < platform.devices.size(); ++d)
    if (platform.devices[d].kind == hw::DeviceKind::cpu) {
      host = d;
      break;
    }

  VariantCost c;
  for (const hw::Device& d : platform.devices) {
    c.busy_ms.emplace_back(d.opps.size(), 0.0);
    c.dynamic_mj.emplace_back(d.opps.size(), 0.0);
  }
  std::vector<size_t> placed(demands.size(), host);
  for (size_t i = 0; i < demands.size(); ++i) {
    const NodeDemand& demand = demands[i];
    const auto it = device_of_node.find(demand.node);
    if (it == device_of_node.end())
      throw Error(ErrorKind::internal, "the plan has no node of this name", demand.node);
    const size_t d = it->second;
    placed[i] = d;
    const hw::Device& dev = platform.devices[d];
    for (size_t p = 0; p < dev.opps.size(); ++p) {
      const std::optional<NodePrice> price = price_node(platform, d, p, demand.work, 25);
      if (!price)
        throw Error(ErrorKind::internal, "placed on a device that cannot run it", demand.node);
      const double ms = price->device.latency_ms;
      c.busy_ms[d][p] += ms;
      // The device's own energy less its leakage: the simulator charges leakage all the time, at
      // the temperature of the moment.
      c.dynamic_mj[d][p] += price->device.energy_mj - dev.leakage_watts(dev.opps[p], 25) * ms;
    }
    const auto transfer = [&](size_t from, size_t to, int64_t bytes) {
      const hw::Cost t =
          hw::transfer_cost(platform, platform.devices[from], platform.devices[to], bytes);
      c.transfer_ms += t.latency_ms;
      c.transfer_mj += t.energy_mj;
    };
    for (size_t k = 0; k < demand.inputs.size(); ++k)
      transfer(demand.inputs[k] < 0 ? host : placed[size_t(demand.inputs[k])], d,
               demand.input_bytes[k]);
    if (demand.output_bytes > 0) transfer(d, host, demand.output_bytes);
    ++c.nodes;
  }
  return c;
}

Simulator::Simulator(Scenario scenario, hw::Platform platform,
                     const std::function<Graph(const std::filesystem::path&)>& load_model,
                     const ConstantEvaluator& evaluate)
    : scenario_(std::move(scenario)), platform_(std::move(platform)) {
  for (const Variant& v : scenario_.variants) {
    try {
      // A variant at another resolution than its network's is the network at that input size
      // (or with a Resize in front), priced as such.
      costs_.push_back(price_variant(at_resolution(load_model(v.model), v.resolution_px), platform_,
                                     scenario_.strategy, evaluate));
    } catch (const Error& e) {
      throw e.within(scenario_.file.string() + ": variant " + v.name);
    }
  }
}

Simulator::Simulator(Scenario scenario, hw::Platform platform, std::vector<VariantCost> costs)
    : scenario_(std::move(scenario)), platform_(std::move(platform)), costs_(std::move(costs)) {
  if (costs_.size() != scenario_.variants.size())
    throw Error(ErrorKind::invalid_argument, "one cost per variant is needed", scenario_.name);
  for (const VariantCost& c : costs_) {
    if (c.busy_ms.size() != platform_.devices.size())
      throw Error(ErrorKind::invalid_argument, "a cost per device is needed", scenario_.name);
    for (size_t d = 0; d < c.busy_ms.size(); ++d)
      if (c.busy_ms[d].size() != platform_.devices[d].opps.size() ||
          c.dynamic_mj[d].size() != platform_.devices[d].opps.size())
        throw Error(ErrorKind::invalid_argument, "a cost per operating point is needed",
                    platform_.devices[d].name);
  }
}

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// The kernel's step_wise governor lifts a throttle once the zone is below the trip by its
// hysteresis; Tegra's and the Pi's device trees set a few degrees.
constexpr double kTripHysteresisC = 2.0;

// One frame source's arrival process.
class Source {
 public:
  Source(const Stream& s, std::mt19937_64& rng) : s_(s) {
    std::uniform_real_distribution<double> u(0, 1);
    switch (s_.kind) {
      case Stream::Kind::periodic:
        phase_ = u(rng) / s_.rate_hz;  // cameras are not in phase
        break;
      case Stream::Kind::bursty:
        burst_ = false;
        state_end_ = std::exponential_distribution<double>(1 / s_.mean_quiet_s)(rng);
        break;
      default:
        break;
    }
    next_ = draw(rng, 0);
  }
  double next() const { return next_; }
  void advance(std::mt19937_64& rng) { next_ = draw(rng, next_); }

 private:
  double draw(std::mt19937_64& rng, double after) {
    switch (s_.kind) {
      case Stream::Kind::periodic: {
        const double period = 1 / s_.rate_hz;
        const double jitter = s_.jitter_ms * 1e-3;
        const double t = phase_ + double(k_++) * period;
        return jitter > 0 ? t + std::uniform_real_distribution<double>(-jitter, jitter)(rng) : t;
      }
      case Stream::Kind::poisson:
        return after + std::exponential_distribution<double>(s_.rate_hz)(rng);
      case Stream::Kind::bursty: {
        double t = after;
        for (;;) {
          const double rate = burst_ ? s_.burst_rate_hz : s_.quiet_rate_hz;
          const double candidate =
              rate > 0 ? t + std::exponential_distribution<double>(rate)(rng) : kInf;
          if (candidate < state_end_) return candidate;
          // Memoryless: restart from the state change in the other state.
          t = state_end_;
          burst_ = !burst_;
          state_end_ = t + std::exponential_distribution<double>(
                               1 / (burst_ ? s_.mean_burst_s : s_.mean_quiet_s))(rng);
        }
      }
      case Stream::Kind::trace:
        return k_ < s_.trace_s.size() ? s_.trace_s[k_++] : kInf;
    }
    return kInf;
  }

  const Stream& s_;
  size_t k_ = 0;
  double next_ = 0, phase_ = 0, state_end_ = kInf;
  bool burst_ = false;
};

double ambient_at(const Scenario& s, const hw::Platform& p, double t_s) {
  if (s.ambient.empty()) return p.thermal.ambient_c;
  const double hour = std::fmod(t_s / 3600.0, 24.0);
  const auto& a = s.ambient;
  if (hour <= a.front().first) return a.front().second;
  for (size_t i = 1; i < a.size(); ++i)
    if (hour <= a[i].first)
      return a[i - 1].second + (a[i].second - a[i - 1].second) * (hour - a[i - 1].first) /
                                   (a[i].first - a[i - 1].first);
  return a.back().second;
}

size_t nearest_opp(const hw::Device& d, double mhz) {
  size_t best = 0;
  for (size_t i = 1; i < d.opps.size(); ++i)
    if (std::abs(d.opps[i].mhz - mhz) < std::abs(d.opps[best].mhz - mhz)) best = i;
  return best;
}

}  // namespace

Summary Simulator::run(power::Governor& governor, const Options& options) const {
  const Scenario& sc = scenario_;
  const hw::Platform& pf = platform_;
  const size_t nd = pf.devices.size();
  const double dt = sc.control_interval_ms * 1e-3;
  const double horizon = (options.hours > 0 ? options.hours : sc.hours) * 3600.0;
  const double r_th = pf.thermal.resistance_c_per_w + sc.extra_resistance_c_per_w;
  const double c_th = pf.thermal.capacitance_j_per_c;
  const bool has_battery = sc.on_battery && pf.battery.capacity_mah > 0;

  std::mt19937_64 rng(options.seed);
  std::vector<Source> sources;
  for (const Stream& s : sc.streams)
    for (int i = 0; i < s.count; ++i) sources.emplace_back(s, rng);

  Summary out;
  out.platform = pf.name;
  out.scenario = sc.name;
  out.governor = governor.name();
  out.seed = options.seed;
  out.battery_start_pct = has_battery ? sc.battery_start_pct : 100;

  std::vector<size_t> opp(nd), cap(nd);
  for (size_t d = 0; d < nd; ++d) opp[d] = cap[d] = pf.devices[d].opps.size() - 1;
  size_t variant = 0;
  double temperature = ambient_at(sc, pf, 0);
  double soc = out.battery_start_pct / 100;

  // The frame in service: when it arrived, started, ends; its per-device shares.
  bool busy = false;
  double f_arrival = 0, f_end = 0, f_accounted = 0;
  size_t f_variant = 0;
  std::vector<double> busy_frac(nd), dyn_w(nd);
  double transfer_w = 0;
  std::deque<double> queue;

  // Per interval accumulators.
  std::vector<double> busy_s(nd), dyn_j(nd);
  double transfer_j = 0;
  int64_t arrivals_interval = 0;
  std::vector<double> latencies, interval_latencies;
  double accuracy_sum = 0, temperature_sum = 0;
  int64_t intervals = 0;
  std::vector<int64_t> served_by(sc.variants.size(), 0);
  std::vector<double> device_j(nd, 0.0);
  double board_j = 0;

  const auto service_ms = [&](size_t v) {
    const VariantCost& c = costs_[v];
    double ms = c.transfer_ms;
    for (size_t d = 0; d < nd; ++d) ms += c.busy_ms[d][opp[d]];
    return ms;
  };
  const auto account = [&](double upto) {
    const double span = upto - f_accounted;
    if (span <= 0) return;
    for (size_t d = 0; d < nd; ++d) {
      busy_s[d] += span * busy_frac[d];
      dyn_j[d] += span * dyn_w[d];
    }
    transfer_j += span * transfer_w;
    f_accounted = upto;
  };
  const auto start = [&](double arrival, double t) {
    const VariantCost& c = costs_[variant];
    const double s = std::max(service_ms(variant), 1e-6) * 1e-3;
    for (size_t d = 0; d < nd; ++d) {
      busy_frac[d] = c.busy_ms[d][opp[d]] * 1e-3 / s;
      dyn_w[d] = c.dynamic_mj[d][opp[d]] * 1e-3 / s;
    }
    transfer_w = c.transfer_mj * 1e-3 / s;
    busy = true;
    f_arrival = arrival;
    f_accounted = t;
    f_end = t + s;
    f_variant = variant;
  };

  power::Snapshot snap;
  snap.domains.resize(nd);
  for (size_t d = 0; d < nd; ++d) {
    power::Domain& dom = snap.domains[d];
    dom.name = pf.devices[d].name;
    for (const auto& p : pf.devices[d].opps) dom.available_mhz.push_back(p.mhz);
    dom.min_mhz = dom.available_mhz.front();
    dom.governor = governor.name();
  }
  std::vector<double> device_watts;  // the last interval's, per device (readings)
  const auto observe = [&](double t, double watts) {
    snap.time_s = t;
    for (size_t d = 0; d < nd; ++d) {
      power::Domain& dom = snap.domains[d];
      dom.cur_mhz = pf.devices[d].opps[opp[d]].mhz;
      dom.max_mhz = pf.devices[d].opps[cap[d]].mhz;
      dom.util = std::clamp(busy_s[d] / dt, 0.0, 1.0);
    }
    snap.temperature_c = temperature;
    snap.power_w = watts;
    snap.battery_pct = has_battery ? soc * 100 : power::kUnknown;
    snap.latency_ms =
        interval_latencies.empty() ? power::kUnknown : percentile(interval_latencies, 0.95);
    snap.input_rate_hz = double(arrivals_interval) / dt;
    snap.queue_length = double(queue.size());
    snap.variant = sc.variants[variant].name;
    snap.resolution_px = sc.variants[variant].resolution_px;
    if (!options.readings) return;
    snap.readings.clear();
    snap.readings.push_back({"thermal/board", temperature, "C"});
    if (!std::isnan(watts)) snap.readings.push_back({"power/board", watts, "W"});
    for (size_t d = 0; d < nd; ++d) {
      const power::Domain& dom = snap.domains[d];
      const bool cpu = pf.devices[d].kind == hw::DeviceKind::cpu;
      const std::string base = (cpu ? "cpufreq/" : "devfreq/") + dom.name;
      snap.readings.push_back({base + "/cur", dom.cur_mhz, "MHz"});
      snap.readings.push_back({base + "/min", dom.min_mhz, "MHz"});
      snap.readings.push_back({base + "/max", dom.max_mhz, "MHz"});
      snap.readings.push_back({base + "/available", double(dom.available_mhz.size()), "count"});
      if (!device_watts.empty())
        snap.readings.push_back({"power/" + dom.name, device_watts[d], "W"});
      if (cpu) snap.readings.push_back({"cpu/util", dom.util, "fraction"});
    }
    if (has_battery) snap.readings.push_back({"battery/sim/capacity", soc * 100, "%"});
  };
  std::vector<std::string> action_text(nd, "init");
  std::string variant_action = "init";
  const auto apply = [&](const power::Action& a) {
    for (size_t d = 0; d < nd; ++d) {
      if (d >= a.mhz.size() || std::isnan(a.mhz[d])) {
        action_text[d] = "keep";
        continue;
      }
      char buf[32];
      std::snprintf(buf, sizeof buf, "%g", a.mhz[d]);
      action_text[d] = buf;
      opp[d] = nearest_opp(pf.devices[d], a.mhz[d]);
    }
    variant_action = "keep";
    std::optional<size_t> want;
    if (a.variant) {
      for (size_t v = 0; v < sc.variants.size(); ++v)
        if (sc.variants[v].name == *a.variant) want = v;
      if (!want)
        throw Error(ErrorKind::invalid_argument, "no variant '" + *a.variant + "' in the scenario",
                    "governor " + governor.name());
    }
    if (a.resolution_px) {
      const std::string& family = sc.variants[want.value_or(variant)].family;
      std::optional<size_t> at;
      for (size_t v = 0; v < sc.variants.size(); ++v)
        if (sc.variants[v].family == family && sc.variants[v].resolution_px == *a.resolution_px)
          at = v;
      if (!at)
        throw Error(ErrorKind::invalid_argument,
                    "no variant of '" + family + "' at " + std::to_string(*a.resolution_px) + " px",
                    "governor " + governor.name());
      want = at;
    }
    if (want) {
      variant = *want;
      variant_action = sc.variants[variant].name;
    }
  };

  if (options.trace) *options.trace << "time_s,device,mhz,util,power_w,temperature_c,action\n";
  char row[256];

  governor.reset();
  observe(0, power::kUnknown);
  apply(governor.decide(snap));

  const int64_t total_intervals = int64_t(std::ceil(horizon / dt - 1e-9));
  int64_t next_progress = 0;
  for (int64_t k = 0; k < total_intervals; ++k) {
    const double a = double(k) * dt, b = a + dt;
    if (options.progress && k >= next_progress) {
      options.progress(double(k) / double(total_intervals));
      next_progress = k + std::max<int64_t>(1, total_intervals / 100);
    }
    // The thermal governor's cap holds whatever the controller asked.
    bool throttled = false;
    for (size_t d = 0; d < nd; ++d) {
      opp[d] = std::min(opp[d], cap[d]);
      throttled |= cap[d] + 1 < pf.devices[d].opps.size();
    }
    std::fill(busy_s.begin(), busy_s.end(), 0.0);
    std::fill(dyn_j.begin(), dyn_j.end(), 0.0);
    transfer_j = 0;
    arrivals_interval = 0;
    interval_latencies.clear();

    for (;;) {
      size_t src = 0;
      double ta = kInf;
      for (size_t i = 0; i < sources.size(); ++i)
        if (sources[i].next() < ta) ta = sources[i].next(), src = i;
      const double td = busy ? f_end : kInf;
      if (std::min(ta, td) >= b) break;
      if (td <= ta) {
        account(td);
        const double latency_ms = (td - f_arrival) * 1e3;
        latencies.push_back(latency_ms);
        interval_latencies.push_back(latency_ms);
        if (latency_ms > sc.deadline_ms) ++out.deadline_misses;
        ++out.served;
        ++served_by[f_variant];
        accuracy_sum += sc.variants[f_variant].accuracy;
        busy = false;
        if (!queue.empty()) {
          const double arrival = queue.front();
          queue.pop_front();
          start(arrival, td);
        }
      } else {
        sources[src].advance(rng);
        ++out.frames;
        ++arrivals_interval;
        const double t = std::max(ta, a);
        if (!busy) {
          start(t, t);
        } else if (queue.size() < size_t(sc.queue_capacity)) {
          queue.push_back(t);
        } else {
          ++out.dropped;
          if (sc.drop_oldest) {
            queue.pop_front();
            queue.push_back(t);
          }
        }
      }
    }
    if (busy) account(b);

    // Power over the interval: dynamic work done, leakage at the interval's start temperature,
    // the board's static power and the interconnect's transfers.
    double watts = 0;
    std::vector<double>& device_w = dyn_j;  // reused: joules -> watts in place
    for (size_t d = 0; d < nd; ++d) {
      const hw::Device& dev = pf.devices[d];
      device_w[d] = dyn_j[d] / dt + dev.leakage_watts(dev.opps[opp[d]], temperature);
      watts += device_w[d];
    }
    const double board_w = pf.static_watts + transfer_j / dt;
    watts += board_w;
    const double ambient = ambient_at(sc, pf, a);
    temperature = thermal_step(temperature, watts, ambient, r_th, c_th, dt);
    temperature_sum += temperature;
    out.temperature_max_c = std::max(out.temperature_max_c, temperature);
    ++intervals;
    for (size_t d = 0; d < nd; ++d) device_j[d] += device_w[d] * dt;
    board_j += board_w * dt;
    out.energy_j += watts * dt;
    if (throttled) out.throttled_s += dt;
    out.simulated_s = b;

    if (options.trace) {
      for (size_t d = 0; d < nd; ++d) {
        std::snprintf(row, sizeof row, "%.3f,%s,%g,%.6f,%.6f,%.4f,%s\n", a,
                      pf.devices[d].name.c_str(), pf.devices[d].opps[opp[d]].mhz,
                      std::clamp(busy_s[d] / dt, 0.0, 1.0), device_w[d], temperature,
                      action_text[d].c_str());
        *options.trace << row;
      }
      std::snprintf(row, sizeof row, "%.3f,board,0,0,%.6f,%.4f,variant=%s\n", a, board_w,
                    temperature, variant_action.c_str());
      *options.trace << row;
    }

    if (has_battery) {
      const std::optional<double> amps = battery_current_a(pf.battery, soc, watts);
      if (amps) soc -= *amps * dt / 3600.0 / (pf.battery.capacity_mah * 1e-3);
      if (!amps || soc <= 0) {
        soc = std::max(soc, 0.0);
        out.battery_empty = true;
        break;
      }
    }
    if (temperature >= pf.thermal.shutdown_c && pf.thermal.shutdown_c > 0) {
      out.shutdown = true;
      break;
    }
    // step_wise: one state deeper per interval at or above the trip, one back below it.
    for (size_t d = 0; d < nd; ++d) {
      const size_t top = pf.devices[d].opps.size() - 1;
      if (pf.thermal.throttle_c > 0 && temperature >= pf.thermal.throttle_c)
        cap[d] = cap[d] > 0 ? cap[d] - 1 : 0;
      else if (temperature < pf.thermal.throttle_c - kTripHysteresisC)
        cap[d] = std::min(top, cap[d] + 1);
    }

    if (options.readings) device_watts.assign(device_w.begin(), device_w.end());
    observe(b, watts);
    const power::Action action = governor.decide(snap);
    if (options.observe) options.observe(snap, action);
    apply(action);
  }
  if (options.progress) options.progress(1.0);

  out.avg_power_w = out.simulated_s > 0 ? out.energy_j / out.simulated_s : 0;
  out.frames_per_j = out.energy_j > 0 ? double(out.served) / out.energy_j : 0;
  out.accuracy = out.served > 0 ? accuracy_sum / double(out.served) : 0;
  out.temperature_mean_c = intervals > 0 ? temperature_sum / double(intervals) : temperature;
  out.latency_p50_ms = percentile(latencies, 0.50);
  out.latency_p95_ms = percentile(latencies, 0.95);
  out.latency_p99_ms = percentile(latencies, 0.99);
  out.battery_end_pct = has_battery ? soc * 100 : 100;
  for (size_t d = 0; d < nd; ++d) out.device_energy_j[pf.devices[d].name] = device_j[d];
  out.device_energy_j["board"] = board_j;
  for (size_t v = 0; v < sc.variants.size(); ++v)
    out.served_by_variant[sc.variants[v].name] = served_by[v];
  return out;
}

std::string summary_to_json(const Summary& s) {
  nlohmann::ordered_json j;
  j["platform"] = s.platform;
  j["scenario"] = s.scenario;
  j["governor"] = s.governor;
  j["seed"] = s.seed;
  j["simulated_s"] = s.simulated_s;
  j["frames"] = s.frames;
  j["served"] = s.served;
  j["dropped"] = s.dropped;
  j["deadline_misses"] = s.deadline_misses;
  j["energy_j"] = s.energy_j;
  j["avg_power_w"] = s.avg_power_w;
  j["frames_per_j"] = s.frames_per_j;
  j["latency_ms"] = {
      {"p50", s.latency_p50_ms}, {"p95", s.latency_p95_ms}, {"p99", s.latency_p99_ms}};
  j["accuracy"] = s.accuracy;
  j["temperature_c"] = {{"mean", s.temperature_mean_c}, {"max", s.temperature_max_c}};
  j["throttled_s"] = s.throttled_s;
  j["battery"] = {{"start_pct", s.battery_start_pct}, {"end_pct", s.battery_end_pct}};
  j["battery_empty"] = s.battery_empty;
  j["shutdown"] = s.shutdown;
  j["device_energy_j"] = s.device_energy_j;
  j["served_by_variant"] = s.served_by_variant;
  j["simulated"] = true;
  return j.dump(2);
}

}  // namespace edgeco::sim
