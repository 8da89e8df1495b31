#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <limits>
#include <random>

#include <nlohmann/json.hpp>

#include "edgeco/split.h"
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

double energy_per_inference_mj(const VariantCost& c, const hw::Platform& platform) {
  double mj = c.transfer_mj;
  for (size_t d = 0; d < platform.devices.size() && d < c.dynamic_mj.size(); ++d) {
    const hw::Device& dev = platform.devices[d];
    mj += c.dynamic_mj[d].back() + dev.leakage_watts(dev.opps.back(), 25) * c.busy_ms[d].back();
  }
  return mj;
}

Simulator::Simulator(Scenario scenario, hw::Platform platform,
                     const std::function<Graph(const std::filesystem::path&)>& load_model,
                     const ConstantEvaluator& evaluate)
    : scenario_(std::move(scenario)), platform_(std::move(platform)) {
  for (const Variant& v : scenario_.variants) {
    try {
      // A variant at another resolution than its network's is the network at that input size
      // (or with a Resize in front), priced as such.
      const Graph model = at_resolution(load_model(v.model), v.resolution_px);
      costs_.push_back(price_variant(model, platform_, scenario_.strategy, evaluate));
      if (scenario_.fog) offload_costs_.push_back(price_offload(model, costs_.back(), evaluate));
    } catch (const Error& e) {
      throw e.within(scenario_.file.string() + ": variant " + v.name);
    }
  }
}

OffloadCost Simulator::price_offload(const Graph& model, const VariantCost& whole,
                                     const ConstantEvaluator& evaluate) const {
  const Fog& fog = *scenario_.fog;
  const hw::Platform server = hw::find_platform(fog.platform);
  // As price_variant prices a variant: placement at the highest operating points, untiled.
  CompileOptions options;
  options.strategy = scenario_.strategy;
  options.dvfs = false;
  options.tile = false;
  offload::SplitPricing pricing =
      offload::price_cuts(model, platform_, server, offload::Wire::f32, options);
  // The cut with the least device energy among those that send something (all local is last).
  pricing.candidates.pop_back();
  offload::price_for_link(pricing, {fog.bandwidth_mbps, fog.rtt_ms});
  const offload::CutPrice& chosen =
      pricing.candidates[offload::best_cut(pricing, Objective::energy)];
  OffloadCost out;
  out.server_ms = chosen.server_ms;
  out.bytes = chosen.transfer_bytes;
  out.cut = chosen.cut.after;
  if (chosen.cut.all_remote()) {
    out.head = whole;  // shaped like it, doing nothing
    for (auto& per_opp : out.head.busy_ms) std::fill(per_opp.begin(), per_opp.end(), 0.0);
    for (auto& per_opp : out.head.dynamic_mj) std::fill(per_opp.begin(), per_opp.end(), 0.0);
    out.head.transfer_ms = out.head.transfer_mj = 0;
    out.head.nodes = 0;
    out.tail = whole;
  } else {
    const offload::SplitModels parts = offload::split(model, chosen.cut);
    out.head = price_variant(parts.head, platform_, scenario_.strategy, evaluate);
    out.tail = price_variant(parts.tail, platform_, scenario_.strategy, evaluate);
  }
  return out;
}

Simulator::Simulator(Scenario scenario, hw::Platform platform, std::vector<VariantCost> costs,
                     std::vector<OffloadCost> offload_costs)
    : scenario_(std::move(scenario)),
      platform_(std::move(platform)),
      costs_(std::move(costs)),
      offload_costs_(std::move(offload_costs)) {
  if (costs_.size() != scenario_.variants.size())
    throw Error(ErrorKind::invalid_argument, "one cost per variant is needed", scenario_.name);
  if (!offload_costs_.empty() &&
      (!scenario_.fog || offload_costs_.size() != scenario_.variants.size()))
    throw Error(ErrorKind::invalid_argument,
                "offload costs need a fog node and one cost per variant", scenario_.name);
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

// One frame source's arrival process, from `from` until `until` (an injected burst).
class Source {
 public:
  Source(const Stream& s, std::mt19937_64& rng, double from = 0, double until = kInf)
      : s_(&s), until_(until) {
    std::uniform_real_distribution<double> u(0, 1);
    switch (s.kind) {
      case Stream::Kind::periodic:
        phase_ = from + u(rng) / s.rate_hz;  // cameras are not in phase
        break;
      case Stream::Kind::bursty:
        burst_ = false;
        state_end_ = from + std::exponential_distribution<double>(1 / s.mean_quiet_s)(rng);
        break;
      default:
        break;
    }
    next_ = draw(rng, from);
  }
  double next() const { return next_; }
  void advance(std::mt19937_64& rng) { next_ = draw(rng, next_); }

 private:
  double draw(std::mt19937_64& rng, double after) {
    const double t = draw_unbounded(rng, after);
    return t < until_ ? t : kInf;
  }
  double draw_unbounded(std::mt19937_64& rng, double after) {
    const Stream& s = *s_;
    switch (s.kind) {
      case Stream::Kind::periodic: {
        const double period = 1 / s.rate_hz;
        const double jitter = s.jitter_ms * 1e-3;
        const double t = phase_ + double(k_++) * period;
        return jitter > 0 ? t + std::uniform_real_distribution<double>(-jitter, jitter)(rng) : t;
      }
      case Stream::Kind::poisson:
        return after + std::exponential_distribution<double>(s.rate_hz)(rng);
      case Stream::Kind::bursty: {
        double t = after;
        for (;;) {
          const double rate = burst_ ? s.burst_rate_hz : s.quiet_rate_hz;
          const double candidate =
              rate > 0 ? t + std::exponential_distribution<double>(rate)(rng) : kInf;
          if (candidate < state_end_) return candidate;
          // Memoryless: restart from the state change in the other state.
          t = state_end_;
          burst_ = !burst_;
          state_end_ = t + std::exponential_distribution<double>(
                               1 / (burst_ ? s.mean_burst_s : s.mean_quiet_s))(rng);
        }
      }
      case Stream::Kind::trace:
        return k_ < s.trace_s.size() ? s.trace_s[k_++] : kInf;
    }
    return kInf;
  }

  const Stream* s_;
  size_t k_ = 0;
  double next_ = 0, phase_ = 0, state_end_ = kInf, until_ = kInf;
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

namespace {
// An event that no configuration change answers within this long counts as unanswered.
constexpr double kReactionWindowS = 30;
}  // namespace

double reward(const RewardWeights& w, const Interval& i, double trip_c) {
  double r = w.accuracy * i.accuracy_sum - w.energy_per_j * i.energy_j - w.miss * double(i.misses) -
             w.drop * double(i.dropped) - (i.reconfigured ? w.reconfigure : 0);
  if (trip_c > 0)
    r -= w.thermal_per_c * std::max(0.0, i.temperature_c - (trip_c - w.thermal_margin_c));
  return r;
}

Event parse_event(std::string_view text) {
  const auto fail = [&](const std::string& why) -> Event {
    throw Error(ErrorKind::invalid_argument,
                "event '" + std::string(text) + "': " + why +
                    " (KIND@SECONDS:VALUE[:DURATION], KIND one of battery_drop, ambient_step, "
                    "load_burst, link_down)");
  };
  const size_t at = text.find('@');
  if (at == std::string_view::npos) return fail("no '@'");
  Event e;
  const std::string_view kind = text.substr(0, at);
  if (kind == "battery_drop")
    e.kind = Event::Kind::battery_drop;
  else if (kind == "ambient_step")
    e.kind = Event::Kind::ambient_step;
  else if (kind == "load_burst")
    e.kind = Event::Kind::load_burst;
  else if (kind == "link_down")
    e.kind = Event::Kind::link_down;
  else
    return fail("unknown kind");
  std::vector<double> numbers;
  std::string rest(text.substr(at + 1));
  size_t pos = 0;
  while (pos <= rest.size()) {
    const size_t colon = std::min(rest.find(':', pos), rest.size());
    const std::string part = rest.substr(pos, colon - pos);
    char* end = nullptr;
    const double v = std::strtod(part.c_str(), &end);
    if (part.empty() || end != part.c_str() + part.size() || !std::isfinite(v))
      return fail("'" + part + "' is not a number");
    numbers.push_back(v);
    pos = colon + 1;
  }
  if (numbers.size() < 2 || numbers.size() > 3) return fail("expected 2 or 3 numbers");
  e.time_s = numbers[0];
  e.value = numbers[1];
  if (numbers.size() == 3) e.duration_s = numbers[2];
  if (e.time_s < 0 || e.duration_s <= 0) return fail("time must be >= 0 and duration > 0");
  if (e.kind == Event::Kind::battery_drop && (e.value < 0 || e.value > 100))
    return fail("a battery level is 0..100 percent");
  if (e.kind == Event::Kind::load_burst && e.value <= 0) return fail("a rate must be > 0");
  if (e.kind == Event::Kind::link_down && e.value <= 0) return fail("a duration must be > 0");
  return e;
}

// Everything a run changes, small enough to copy for a look ahead.
struct Episode::State {
  std::mt19937_64 rng;
  // Offloading: asked for, the fog node's outages from events, this interval's requests.
  bool offload = false;
  std::vector<std::pair<double, double>> link_down;
  int64_t i_offloaded = 0, i_fallbacks = 0;
  std::vector<Source> sources;
  std::vector<size_t> opp, cap;
  size_t variant = 0;
  double temperature = 0, soc = 1, ambient_offset = 0;
  // The frame in service: when it arrived, ends, was accounted up to; its per-device shares.
  bool busy = false;
  double f_arrival = 0, f_end = 0, f_accounted = 0;
  size_t f_variant = 0;
  std::vector<double> busy_frac, dyn_w;
  double transfer_w = 0;
  std::deque<double> queue;
  // This interval.
  std::vector<double> busy_s, dyn_j;
  double transfer_j = 0;
  std::vector<double> interval_latencies;
  // The run.
  int64_t k = 0, total_intervals = 0;
  bool ended = false;
  Summary totals;
  double accuracy_sum = 0, temperature_sum = 0;
  std::vector<int64_t> served_by;
  std::vector<double> device_j, device_watts;
  double board_j = 0;
  size_t next_event = 0;
  power::Snapshot snap;
  std::vector<std::string> action_text;
  std::string variant_action = "init";
  // Every latency of the run: the Episode's, out of a look-ahead's copy (which sets it null).
  std::vector<double>* latencies = nullptr;
};

namespace {

struct Run {
  const Scenario& sc;
  const hw::Platform& pf;
  const std::vector<VariantCost>& costs;
  const std::vector<OffloadCost>& offload;
  const Options& options;
  const std::vector<Stream>& streams;  // the scenario's, then one per event
  size_t scenario_streams;
  const std::string& governor;

  size_t devices() const { return pf.devices.size(); }
  double dt() const { return sc.control_interval_ms * 1e-3; }
  bool has_battery() const { return sc.on_battery && pf.battery.capacity_mah > 0; }

  bool fog_reachable(const Episode::State& st, double t) const {
    for (const auto& [a, b] : sc.fog->outages_s)
      if (t >= a && t < b) return false;
    for (const auto& [a, b] : st.link_down)
      if (t >= a && t < b) return false;
    return true;
  }
  void account(Episode::State& st, double upto) const {
    const double span = upto - st.f_accounted;
    if (span <= 0) return;
    for (size_t d = 0; d < devices(); ++d) {
      st.busy_s[d] += span * st.busy_frac[d];
      st.dyn_j[d] += span * st.dyn_w[d];
    }
    st.transfer_j += span * st.transfer_w;
    st.f_accounted = upto;
  }
  // The frame starting at t: on the device, or offloaded (the head here, then the wait for the
  // fog node's answer; the timeout and the tail here when the request fails).
  void start(Episode::State& st, double arrival, double t) const {
    const size_t nd = devices();
    // The frame's busy ms and dynamic mJ per device, summed in place (no allocation per frame),
    // then turned into shares of its service time below.
    std::vector<double>& busy_ms = st.busy_frac;
    std::vector<double>& dyn_mj = st.dyn_w;
    std::fill(busy_ms.begin(), busy_ms.end(), 0.0);
    std::fill(dyn_mj.begin(), dyn_mj.end(), 0.0);
    double fixed_ms = 0, fixed_mj = 0;
    const auto add = [&](const VariantCost& c) {
      for (size_t d = 0; d < nd; ++d) {
        busy_ms[d] += c.busy_ms[d][st.opp[d]];
        dyn_mj[d] += c.dynamic_mj[d][st.opp[d]];
      }
      fixed_ms += c.transfer_ms;
      fixed_mj += c.transfer_mj;
    };
    if (st.offload && !offload.empty()) {
      const Fog& fog = *sc.fog;
      const OffloadCost& oc = offload[st.variant];
      add(oc.head);
      const double transfer_ms = double(oc.bytes) * 8 / (fog.bandwidth_mbps * 1e3);
      const double wait_ms = transfer_ms + fog.rtt_ms + oc.server_ms;
      const bool lost =
          fog.loss > 0 && std::uniform_real_distribution<double>(0, 1)(st.rng) < fog.loss;
      const bool answered = !lost && fog_reachable(st, t) && wait_ms <= fog.timeout_ms;
      ++st.i_offloaded;
      if (answered) {
        fixed_ms += wait_ms;
        fixed_mj += fog.radio_watts * transfer_ms;
      } else {
        ++st.i_fallbacks;
        fixed_ms += fog.timeout_ms;
        fixed_mj += fog.radio_watts * std::min(transfer_ms, fog.timeout_ms);
        add(oc.tail);
      }
    } else {
      add(costs[st.variant]);
    }
    double total_ms = fixed_ms;
    for (double b : busy_ms) total_ms += b;
    const double s = std::max(total_ms, 1e-6) * 1e-3;
    for (size_t d = 0; d < nd; ++d) {
      busy_ms[d] = busy_ms[d] * 1e-3 / s;
      dyn_mj[d] = dyn_mj[d] * 1e-3 / s;
    }
    st.transfer_w = fixed_mj * 1e-3 / s;
    st.busy = true;
    st.f_arrival = arrival;
    st.f_accounted = t;
    st.f_end = t + s;
    st.f_variant = st.variant;
  }

  void init(Episode::State& st) const {
    const size_t nd = devices();
    st.rng.seed(options.seed);
    for (size_t i = 0; i < scenario_streams; ++i)
      for (int c = 0; c < streams[i].count; ++c) st.sources.emplace_back(streams[i], st.rng);
    st.totals.platform = pf.name;
    st.totals.scenario = sc.name;
    st.totals.governor = governor;
    st.totals.seed = options.seed;
    const double start_pct = options.perturbation.battery_start_pct >= 0
                                 ? std::min(options.perturbation.battery_start_pct, 100.0)
                                 : sc.battery_start_pct;
    st.totals.battery_start_pct = has_battery() ? start_pct : 100;
    st.opp.resize(nd);
    st.cap.resize(nd);
    for (size_t d = 0; d < nd; ++d) st.opp[d] = st.cap[d] = pf.devices[d].opps.size() - 1;
    st.ambient_offset = options.perturbation.ambient_offset_c;
    st.temperature = ambient(st, 0);
    st.soc = st.totals.battery_start_pct / 100;
    st.busy_frac.resize(nd);
    st.dyn_w.resize(nd);
    st.busy_s.resize(nd);
    st.dyn_j.resize(nd);
    st.served_by.assign(sc.variants.size(), 0);
    st.device_j.assign(nd, 0.0);
    st.action_text.assign(nd, "init");
    const double horizon = (options.hours > 0 ? options.hours : sc.hours) * 3600.0;
    st.total_intervals = int64_t(std::ceil(horizon / dt() - 1e-9));
    st.snap.domains.resize(nd);
    for (size_t d = 0; d < nd; ++d) {
      power::Domain& dom = st.snap.domains[d];
      dom.name = pf.devices[d].name;
      for (const auto& p : pf.devices[d].opps) dom.available_mhz.push_back(p.mhz);
      dom.min_mhz = dom.available_mhz.front();
      dom.governor = governor;
    }
    observe(st, 0, power::kUnknown, 0);
  }

  // The operating points and the variant: what a reconfiguration changes.
  static std::vector<size_t> configuration(const Episode::State& st) {
    std::vector<size_t> c = st.opp;
    c.push_back(st.variant);
    c.push_back(st.offload ? 1 : 0);
    return c;
  }

  double ambient(const Episode::State& st, double t) const {
    return ambient_at(sc, pf, t) + st.ambient_offset;
  }

  void observe(Episode::State& st, double t, double watts, int64_t arrivals) const {
    const size_t nd = devices();
    power::Snapshot& snap = st.snap;
    snap.time_s = t;
    for (size_t d = 0; d < nd; ++d) {
      power::Domain& dom = snap.domains[d];
      dom.cur_mhz = pf.devices[d].opps[st.opp[d]].mhz;
      dom.max_mhz = pf.devices[d].opps[st.cap[d]].mhz;
      dom.util = std::clamp(st.busy_s[d] / dt(), 0.0, 1.0);
    }
    snap.temperature_c = st.temperature;
    snap.power_w = watts;
    snap.battery_pct = has_battery() ? st.soc * 100 : power::kUnknown;
    snap.latency_ms =
        st.interval_latencies.empty() ? power::kUnknown : percentile(st.interval_latencies, 0.95);
    snap.input_rate_hz = double(arrivals) / dt();
    snap.queue_length = double(st.queue.size());
    snap.variant = sc.variants[st.variant].name;
    snap.resolution_px = sc.variants[st.variant].resolution_px;
    if (!offload.empty()) {
      snap.offloading = st.offload;
      // Requests that fell back this interval; with none sent, a ping's answer at its end.
      snap.offload_failure_rate = st.i_offloaded > 0
                                      ? double(st.i_fallbacks) / double(st.i_offloaded)
                                      : (fog_reachable(st, t) ? 0.0 : 1.0);
    }
    if (!options.readings) return;
    snap.readings.clear();
    snap.readings.push_back({"thermal/board", st.temperature, "C"});
    if (!std::isnan(watts)) snap.readings.push_back({"power/board", watts, "W"});
    for (size_t d = 0; d < nd; ++d) {
      const power::Domain& dom = snap.domains[d];
      const bool cpu = pf.devices[d].kind == hw::DeviceKind::cpu;
      const std::string base = (cpu ? "cpufreq/" : "devfreq/") + dom.name;
      snap.readings.push_back({base + "/cur", dom.cur_mhz, "MHz"});
      snap.readings.push_back({base + "/min", dom.min_mhz, "MHz"});
      snap.readings.push_back({base + "/max", dom.max_mhz, "MHz"});
      snap.readings.push_back({base + "/available", double(dom.available_mhz.size()), "count"});
      if (!st.device_watts.empty())
        snap.readings.push_back({"power/" + dom.name, st.device_watts[d], "W"});
      if (cpu) snap.readings.push_back({"cpu/util", dom.util, "fraction"});
    }
    if (has_battery()) snap.readings.push_back({"battery/sim/capacity", st.soc * 100, "%"});
  }

  void apply(Episode::State& st, const power::Action& a) const {
    for (size_t d = 0; d < devices(); ++d) {
      if (d >= a.mhz.size() || std::isnan(a.mhz[d])) {
        st.action_text[d] = "keep";
        continue;
      }
      char buf[32];
      std::snprintf(buf, sizeof buf, "%g", a.mhz[d]);
      st.action_text[d] = buf;
      st.opp[d] = nearest_opp(pf.devices[d], a.mhz[d]);
    }
    if (a.offload) {
      if (offload.empty())
        throw Error(ErrorKind::invalid_argument, "the scenario has no fog node to offload to",
                    "governor " + governor);
      st.offload = *a.offload;
    }
    st.variant_action = "keep";
    std::optional<size_t> want;
    if (a.variant) {
      for (size_t v = 0; v < sc.variants.size(); ++v)
        if (sc.variants[v].name == *a.variant) want = v;
      if (!want)
        throw Error(ErrorKind::invalid_argument, "no variant '" + *a.variant + "' in the scenario",
                    "governor " + governor);
    }
    if (a.resolution_px) {
      const std::string& family = sc.variants[want.value_or(st.variant)].family;
      std::optional<size_t> at;
      for (size_t v = 0; v < sc.variants.size(); ++v)
        if (sc.variants[v].family == family && sc.variants[v].resolution_px == *a.resolution_px)
          at = v;
      if (!at)
        throw Error(ErrorKind::invalid_argument,
                    "no variant of '" + family + "' at " + std::to_string(*a.resolution_px) + " px",
                    "governor " + governor);
      want = at;
    }
    if (want) {
      st.variant = *want;
      st.variant_action = sc.variants[st.variant].name;
    }
  }

  // Events whose time falls in [a, b) take effect at a.
  void fire_events(Episode::State& st, double a, double b) const {
    const std::vector<Event>& events = options.events;
    while (st.next_event < events.size() && events[st.next_event].time_s < b) {
      const Event& e = events[st.next_event++];
      switch (e.kind) {
        case Event::Kind::battery_drop:
          if (has_battery()) st.soc = std::min(st.soc, e.value / 100);
          break;
        case Event::Kind::ambient_step:
          st.ambient_offset += e.value;
          break;
        case Event::Kind::link_down:
          st.link_down.emplace_back(a, a + e.value);
          break;
        case Event::Kind::load_burst:
          // The burst's stream is the Episode's (stable) copy of the event; see Episode().
          st.sources.emplace_back(streams[scenario_streams + st.next_event - 1], st.rng, a,
                                  a + e.duration_s);
          break;
      }
    }
  }

  // One control interval from the state's configuration; `trace`, when set, gets its rows.
  Interval advance(Episode::State& st, std::ostream* trace) const {
    const size_t nd = devices();
    const double step = dt();
    const double a = double(st.k) * step, b = a + step;
    Interval out;
    fire_events(st, a, b);
    // The thermal governor's cap holds whatever the controller asked.
    bool throttled = false;
    for (size_t d = 0; d < nd; ++d) {
      st.opp[d] = std::min(st.opp[d], st.cap[d]);
      throttled |= st.cap[d] + 1 < pf.devices[d].opps.size();
    }
    std::fill(st.busy_s.begin(), st.busy_s.end(), 0.0);
    std::fill(st.dyn_j.begin(), st.dyn_j.end(), 0.0);
    st.transfer_j = 0;
    st.interval_latencies.clear();
    st.i_offloaded = st.i_fallbacks = 0;

    for (;;) {
      size_t src = 0;
      double ta = kInf;
      for (size_t i = 0; i < st.sources.size(); ++i)
        if (st.sources[i].next() < ta) ta = st.sources[i].next(), src = i;
      const double td = st.busy ? st.f_end : kInf;
      if (std::min(ta, td) >= b) break;
      if (td <= ta) {
        account(st, td);
        const double latency_ms = (td - st.f_arrival) * 1e3;
        if (st.latencies) st.latencies->push_back(latency_ms);
        st.interval_latencies.push_back(latency_ms);
        if (latency_ms > sc.deadline_ms) ++out.misses;
        ++out.served;
        ++st.served_by[st.f_variant];
        out.accuracy_sum += sc.variants[st.f_variant].accuracy;
        st.busy = false;
        if (!st.queue.empty()) {
          const double arrival = st.queue.front();
          st.queue.pop_front();
          start(st, arrival, td);
        }
      } else {
        st.sources[src].advance(st.rng);
        ++out.arrivals;
        const double t = std::max(ta, a);
        if (!st.busy) {
          start(st, t, t);
        } else if (st.queue.size() < size_t(sc.queue_capacity)) {
          st.queue.push_back(t);
        } else {
          ++out.dropped;
          if (sc.drop_oldest) {
            st.queue.pop_front();
            st.queue.push_back(t);
          }
        }
      }
    }
    if (st.busy) account(st, b);

    // Power over the interval: dynamic work done, leakage at the interval's start temperature,
    // the board's static power and the interconnect's transfers.
    double watts = 0;
    std::vector<double>& device_w = st.dyn_j;  // reused: joules -> watts in place
    for (size_t d = 0; d < nd; ++d) {
      const hw::Device& dev = pf.devices[d];
      device_w[d] = st.dyn_j[d] / step + dev.leakage_watts(dev.opps[st.opp[d]], st.temperature);
      watts += device_w[d];
    }
    const double board_w = pf.static_watts + st.transfer_j / step;
    watts += board_w;
    const double r_th = pf.thermal.resistance_c_per_w + sc.extra_resistance_c_per_w;
    st.temperature = thermal_step(st.temperature, watts, ambient(st, a), r_th,
                                  pf.thermal.capacitance_j_per_c, step);
    out.energy_j = watts * step;
    out.temperature_c = st.temperature;

    Summary& t = st.totals;
    t.frames += out.arrivals;
    t.served += out.served;
    t.dropped += out.dropped;
    t.deadline_misses += out.misses;
    t.offloaded += st.i_offloaded;
    t.fallbacks += st.i_fallbacks;
    st.accuracy_sum += out.accuracy_sum;
    st.temperature_sum += st.temperature;
    t.temperature_max_c = std::max(t.temperature_max_c, st.temperature);
    for (size_t d = 0; d < nd; ++d) st.device_j[d] += device_w[d] * step;
    st.board_j += board_w * step;
    t.energy_j += out.energy_j;
    if (throttled) t.throttled_s += step;
    t.simulated_s = b;
    ++st.k;

    if (trace) {
      char row[256];
      for (size_t d = 0; d < nd; ++d) {
        std::snprintf(row, sizeof row, "%.3f,%s,%g,%.6f,%.6f,%.4f,%s\n", a,
                      pf.devices[d].name.c_str(), pf.devices[d].opps[st.opp[d]].mhz,
                      std::clamp(st.busy_s[d] / step, 0.0, 1.0), device_w[d], st.temperature,
                      st.action_text[d].c_str());
        *trace << row;
      }
      std::snprintf(row, sizeof row, "%.3f,board,0,0,%.6f,%.4f,variant=%s\n", a, board_w,
                    st.temperature, st.variant_action.c_str());
      *trace << row;
    }

    if (has_battery()) {
      const std::optional<double> amps = battery_current_a(pf.battery, st.soc, watts);
      if (amps) st.soc -= *amps * step / 3600.0 / (pf.battery.capacity_mah * 1e-3);
      if (!amps || st.soc <= 0) {
        st.soc = std::max(st.soc, 0.0);
        t.battery_empty = true;
        st.ended = true;
      }
    }
    if (pf.thermal.shutdown_c > 0 && st.temperature >= pf.thermal.shutdown_c) {
      t.shutdown = true;
      st.ended = true;
    }
    if (st.k >= st.total_intervals) st.ended = true;
    // step_wise: one state deeper per interval at or above the trip, one back below it.
    for (size_t d = 0; d < nd; ++d) {
      const size_t top = pf.devices[d].opps.size() - 1;
      if (pf.thermal.throttle_c > 0 && st.temperature >= pf.thermal.throttle_c)
        st.cap[d] = st.cap[d] > 0 ? st.cap[d] - 1 : 0;
      else if (st.temperature < pf.thermal.throttle_c - kTripHysteresisC)
        st.cap[d] = std::min(top, st.cap[d] + 1);
    }
    if (options.readings) st.device_watts.assign(device_w.begin(), device_w.end());
    observe(st, b, watts, out.arrivals);
    return out;
  }
};

}  // namespace

// What the Episode keeps outside its copyable state: decision times, the configurations
// applied and the events awaiting a reaction.
struct Episode::Record {
  std::vector<double> latencies, decision_us, reactions_ms;
  std::map<std::vector<size_t>, int64_t> configurations;
  std::vector<double> pending_events;  // times of events not yet answered
  std::vector<size_t> last_configuration;
  int64_t events = 0, unanswered = 0;
};

Episode::Episode(const Simulator& simulator, const Options& options, std::string governor)
    : sim_(&simulator),
      options_(options),
      streams_(std::make_unique<std::vector<Stream>>()),
      state_(std::make_unique<State>()),
      record_(std::make_unique<Record>()),
      governor_(std::move(governor)) {
  const double scale = options_.perturbation.rate_scale;
  if (!(scale > 0) || !std::isfinite(scale))
    throw Error(ErrorKind::invalid_argument, "a rate scale must be a number > 0");
  for (Stream s : sim_->scenario().streams) {
    s.rate_hz *= scale;
    s.quiet_rate_hz *= scale;
    s.burst_rate_hz *= scale;
    streams_->push_back(std::move(s));
  }
  scenario_streams_ = streams_->size();
  std::stable_sort(options_.events.begin(), options_.events.end(),
                   [](const Event& a, const Event& b) { return a.time_s < b.time_s; });
  // One stream per event, after the scenario's and in event order (a load burst's arrivals).
  for (const Event& e : options_.events) {
    Stream burst;
    burst.name = "burst";
    burst.kind = Stream::Kind::poisson;
    burst.rate_hz = e.kind == Event::Kind::load_burst ? e.value : 1;
    streams_->push_back(burst);
  }
  state_->latencies = &record_->latencies;
  Run{sim_->scenario(), sim_->platform(), sim_->costs(),     sim_->offload_costs(),
      options_,         *streams_,        scenario_streams_, governor_}
      .init(*state_);
}

Episode::~Episode() = default;
Episode::Episode(Episode&&) noexcept = default;

const power::Snapshot& Episode::snapshot() const {
  return state_->snap;
}
bool Episode::done() const {
  return state_->ended;
}
bool Episode::ended_early() const {
  return state_->totals.battery_empty || state_->totals.shutdown;
}

Interval Episode::step(const power::Action& action, double decision_us) {
  if (state_->ended) throw Error(ErrorKind::invalid_argument, "the episode has ended");
  const Run run{sim_->scenario(), sim_->platform(), sim_->costs(),     sim_->offload_costs(),
                options_,         *streams_,        scenario_streams_, governor_};
  State& st = *state_;
  Record& rec = *record_;
  const std::vector<size_t> before = run.configuration(st);
  run.apply(st, action);
  const std::vector<size_t> configuration = run.configuration(st);
  const double now = st.snap.time_s;
  if (!rec.last_configuration.empty() && configuration != rec.last_configuration) {
    for (double t : rec.pending_events)
      rec.reactions_ms.push_back((now - t) * 1e3 + decision_us / 1e3);
    rec.pending_events.clear();
  }
  rec.last_configuration = configuration;
  ++rec.configurations[configuration];
  rec.decision_us.push_back(decision_us);
  const size_t fired = st.next_event;
  Interval out = run.advance(st, options_.trace);
  out.reconfigured = configuration != before;
  // Events fire at the start of the interval holding them: that is when a reaction starts.
  const double start = now;
  for (size_t e = fired; e < st.next_event; ++e) {
    rec.pending_events.push_back(start);
    ++rec.events;
  }
  while (!rec.pending_events.empty() &&
         st.snap.time_s - rec.pending_events.front() > kReactionWindowS) {
    rec.pending_events.erase(rec.pending_events.begin());
    ++rec.unanswered;
  }
  if (options_.progress) {
    const int64_t every = std::max<int64_t>(1, st.total_intervals / 100);
    if (st.k % every == 0 || st.ended) options_.progress(double(st.k) / double(st.total_intervals));
  }
  return out;
}

Interval Episode::preview(const power::Action& action, int intervals) const {
  const Run run{sim_->scenario(), sim_->platform(), sim_->costs(),     sim_->offload_costs(),
                options_,         *streams_,        scenario_streams_, governor_};
  State st = *state_;
  st.latencies = nullptr;
  const std::vector<size_t> before = run.configuration(st);
  run.apply(st, action);
  Interval sum;
  sum.reconfigured = run.configuration(st) != before;
  for (int i = 0; i < intervals && !st.ended; ++i) {
    const Interval one = run.advance(st, nullptr);
    sum.energy_j += one.energy_j;
    sum.accuracy_sum += one.accuracy_sum;
    sum.temperature_c = std::max(sum.temperature_c, one.temperature_c);
    sum.arrivals += one.arrivals;
    sum.served += one.served;
    sum.misses += one.misses;
    sum.dropped += one.dropped;
  }
  return sum;
}

Summary Episode::summary(const power::Governor* governor) const {
  const State& st = *state_;
  const Record& rec = *record_;
  const Scenario& sc = sim_->scenario();
  const hw::Platform& pf = sim_->platform();
  Summary out = st.totals;
  out.avg_power_w = out.simulated_s > 0 ? out.energy_j / out.simulated_s : 0;
  out.frames_per_j = out.energy_j > 0 ? double(out.served) / out.energy_j : 0;
  out.accuracy = out.served > 0 ? st.accuracy_sum / double(out.served) : 0;
  out.temperature_mean_c = st.k > 0 ? st.temperature_sum / double(st.k) : st.temperature;
  out.latency_p50_ms = percentile(rec.latencies, 0.50);
  out.latency_p95_ms = percentile(rec.latencies, 0.95);
  out.latency_p99_ms = percentile(rec.latencies, 0.99);
  const bool has_battery = sc.on_battery && pf.battery.capacity_mah > 0;
  out.battery_end_pct = has_battery ? st.soc * 100 : 100;
  for (size_t d = 0; d < pf.devices.size(); ++d)
    out.device_energy_j[pf.devices[d].name] = st.device_j[d];
  out.device_energy_j["board"] = st.board_j;
  for (size_t v = 0; v < sc.variants.size(); ++v)
    out.served_by_variant[sc.variants[v].name] = st.served_by[v];
  out.decision_us_p50 = percentile(rec.decision_us, 0.50);
  out.decision_us_p99 = percentile(rec.decision_us, 0.99);
  if (governor) out.shield_overrides = governor->overrides();
  for (const auto& [configuration, count] : rec.configurations) {
    std::string label = sc.variants[configuration.back()].name;
    for (size_t d = 0; d < pf.devices.size(); ++d)
      if (pf.devices[d].opps.size() > 1) {
        char buf[48];
        std::snprintf(buf, sizeof buf, " %s@%g", pf.devices[d].name.c_str(),
                      pf.devices[d].opps[configuration[d]].mhz);
        label += buf;
      }
    out.actions[label] += count;
  }
  out.events = rec.events;
  out.events_unanswered = rec.unanswered + int64_t(rec.pending_events.size());
  out.reaction_ms_p50 = percentile(rec.reactions_ms, 0.50);
  out.reaction_ms_max = rec.reactions_ms.empty()
                            ? 0
                            : *std::max_element(rec.reactions_ms.begin(), rec.reactions_ms.end());
  return out;
}

Summary Simulator::run(power::Governor& governor, const Options& options) const {
  if (options.trace) *options.trace << "time_s,device,mhz,util,power_w,temperature_c,action\n";
  Episode episode(*this, options, governor.name());
  governor.reset();
  while (!episode.done()) {
    const auto t0 = std::chrono::steady_clock::now();
    const power::Action action = governor.decide(episode.snapshot());
    const double us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    if (options.observe) options.observe(episode.snapshot(), action);
    episode.step(action, us);
  }
  if (options.progress) options.progress(1.0);
  return episode.summary(&governor);
}

Summary Simulator::oracle(const power::ControlSpace& space, const Options& options,
                          int lookahead) const {
  if (options.trace) *options.trace << "time_s,device,mhz,util,power_w,temperature_c,action\n";
  Episode episode(*this, options, "oracle");
  const double trip = platform_.thermal.throttle_c;
  while (!episode.done()) {
    const auto t0 = std::chrono::steady_clock::now();
    const power::Snapshot& now = episode.snapshot();
    double best_reward = -std::numeric_limits<double>::infinity();
    power::Action best;
    for (size_t i = 0; i < space.actions(); ++i) {
      power::Action a = space.action(i, now);
      const double r = reward(scenario_.reward, episode.preview(a, lookahead), trip);
      if (r > best_reward) best_reward = r, best = std::move(a);
    }
    const double us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    if (options.observe) options.observe(now, best);
    episode.step(best, us);
  }
  if (options.progress) options.progress(1.0);
  return episode.summary();
}

power::ControlSpace Simulator::control_space(int levels, bool offload) const {
  power::ControlSpace space;
  space.offload = offload && !offload_costs_.empty();
  space.levels = std::max(1, levels);
  for (const hw::Device& d : platform_.devices) {
    if (d.opps.size() < 2) continue;
    power::ControlSpace::Device dev{d.name, {}};
    for (const auto& p : d.opps) dev.mhz.push_back(p.mhz);
    space.devices.push_back(std::move(dev));
  }
  for (size_t v = 0; v < scenario_.variants.size(); ++v) {
    const Variant& variant = scenario_.variants[v];
    space.variants.push_back({variant.name, variant.resolution_px, variant.accuracy,
                              energy_per_inference_mj(costs_[v], platform_)});
  }
  space.deadline_ms = scenario_.deadline_ms;
  space.trip_c = platform_.thermal.throttle_c;
  space.queue_capacity = scenario_.queue_capacity;
  double rate = 0;
  for (const Stream& s : scenario_.streams) {
    const double mean =
        s.kind == Stream::Kind::bursty
            ? (s.quiet_rate_hz * s.mean_quiet_s + s.burst_rate_hz * s.mean_burst_s) /
                  std::max(1e-9, s.mean_quiet_s + s.mean_burst_s)
        : s.kind == Stream::Kind::trace ? double(s.trace_s.size()) / (24 * 3600.0)
                                        : s.rate_hz;
    rate += mean * s.count;
  }
  space.nominal_rate_hz = std::max(rate, 1e-3);
  return space;
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
  j["decision_us"] = {{"p50", s.decision_us_p50}, {"p99", s.decision_us_p99}};
  j["shield_overrides"] = s.shield_overrides;
  j["reaction_ms"] = {{"p50", s.reaction_ms_p50},
                      {"max", s.reaction_ms_max},
                      {"events", s.events},
                      {"unanswered", s.events_unanswered}};
  j["actions"] = s.actions;
  j["offloaded"] = s.offloaded;
  j["fallbacks"] = s.fallbacks;
  j["simulated"] = true;
  return j.dump(2);
}

}  // namespace edgeco::sim
