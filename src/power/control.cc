#include "edgeco/control.h"

#include <algorithm>
#include <cmath>

#include "edgeco/onnx.h"
#include "edgeco/session.h"

namespace edgeco::power {

namespace {

// The index of the operating point nearest `mhz` in an ascending table.
size_t nearest_index(const std::vector<double>& table, double mhz) {
  size_t best = 0;
  for (size_t i = 1; i < table.size(); ++i)
    if (std::abs(table[i] - mhz) < std::abs(table[best] - mhz)) best = i;
  return best;
}

const Domain* find_domain(const Snapshot& now, const std::string& name) {
  for (const Domain& d : now.domains)
    if (d.name == name) return &d;
  return nullptr;
}

double fraction(size_t index, size_t count) {
  return count > 1 ? double(index) / double(count - 1) : 1.0;
}

size_t variant_index(const ControlSpace& space, const std::string& name) {
  for (size_t v = 0; v < space.variants.size(); ++v)
    if (space.variants[v].name == name) return v;
  return 0;
}

// The device's current operating-point index in the space's table.
size_t current_opp(const ControlSpace::Device& dev, const Snapshot& now) {
  const Domain* d = find_domain(now, dev.name);
  return d ? nearest_index(dev.mhz, d->cur_mhz) : dev.mhz.size() - 1;
}

}  // namespace

size_t ControlSpace::opp_of_level(size_t d, int level) const {
  const size_t n = devices.at(d).mhz.size();
  if (levels <= 1) return n - 1;
  return size_t(std::lround(double(level) * double(n - 1) / double(levels - 1)));
}

Action ControlSpace::action(size_t index, const Snapshot& now) const {
  if (index >= actions())
    throw Error(ErrorKind::invalid_argument,
                "action " + std::to_string(index) + " outside 0.." + std::to_string(actions() - 1));
  const size_t local_actions = variants.size() * size_t(levels);
  const size_t v = (index % local_actions) / size_t(levels);
  const int level = int(index % size_t(levels));
  Action a;
  if (offload) a.offload = index >= local_actions;
  a.mhz.assign(now.domains.size(), kUnknown);
  for (size_t d = 0; d < devices.size(); ++d)
    for (size_t i = 0; i < now.domains.size(); ++i)
      if (now.domains[i].name == devices[d].name) a.mhz[i] = devices[d].mhz[opp_of_level(d, level)];
  a.variant = variants[v].name;
  return a;
}

size_t ControlSpace::cheapest_variant() const {
  size_t best = 0;
  for (size_t v = 1; v < variants.size(); ++v)
    if (variants[v].energy_mj < variants[best].energy_mj) best = v;
  return best;
}

std::string ControlSpace::label(size_t index) const {
  const size_t local_actions = variants.size() * size_t(levels);
  return variants.at((index % local_actions) / size_t(levels)).name + "@L" +
         std::to_string(index % size_t(levels)) + (index >= local_actions ? "+fog" : "");
}

size_t ControlSpace::feature_count() const {
  return 8 + 3 * devices.size() + variants.size() + (offload ? 2 : 0);
}

std::vector<float> ControlSpace::features(const Snapshot& now) const {
  const auto known = [](double x, double fallback) { return std::isnan(x) ? fallback : x; };
  std::vector<float> f;
  f.reserve(feature_count());
  const double t = known(now.temperature_c, 25);
  f.push_back(float((t - 25) / 50));
  f.push_back(float(std::clamp((trip_c - t) / 30, -1.0, 1.0)));
  f.push_back(float(known(now.battery_pct, 100) / 100));
  f.push_back(std::isnan(now.battery_pct) ? 0.0f : 1.0f);
  f.push_back(float(std::clamp(known(now.latency_ms, 0) / deadline_ms, 0.0, 4.0)));
  f.push_back(float(std::clamp(known(now.queue_length, 0) / queue_capacity, 0.0, 1.0)));
  f.push_back(float(std::clamp(known(now.input_rate_hz, 0) / nominal_rate_hz, 0.0, 5.0)));
  f.push_back(float(std::clamp(known(now.power_w, 0) / 5, 0.0, 4.0)));
  for (const Device& dev : devices) {
    const Domain* d = find_domain(now, dev.name);
    const size_t n = dev.mhz.size();
    f.push_back(float(fraction(d ? nearest_index(dev.mhz, d->cur_mhz) : n - 1, n)));
    f.push_back(float(d ? std::clamp(known(d->util, 0), 0.0, 1.0) : 0));
    f.push_back(
        float(fraction(d && d->max_mhz > 0 ? nearest_index(dev.mhz, d->max_mhz) : n - 1, n)));
  }
  for (const Choice& c : variants) f.push_back(c.name == now.variant ? 1.0f : 0.0f);
  if (offload) {
    f.push_back(now.offloading.value_or(false) ? 1.0f : 0.0f);
    f.push_back(float(std::clamp(known(now.offload_failure_rate, 0), 0.0, 1.0)));
  }
  return f;
}

ShieldedGovernor::ShieldedGovernor(std::unique_ptr<Governor> inner, ControlSpace space,
                                   ShieldSettings s)
    : inner_(std::move(inner)), space_(std::move(space)), s_(s) {}

void ShieldedGovernor::reset() {
  inner_->reset();
  misses_in_a_row_ = 0;
  overrides_.clear();
}

Action ShieldedGovernor::decide(const Snapshot& now) {
  Action a = inner_->decide(now);
  a.mhz.resize(now.domains.size(), kUnknown);
  const bool hot = !std::isnan(now.temperature_c) && space_.trip_c > 0 &&
                   now.temperature_c >= space_.trip_c - s_.thermal_margin_c;
  const bool late = !std::isnan(now.latency_ms) && now.latency_ms > space_.deadline_ms;
  misses_in_a_row_ = late ? misses_in_a_row_ + 1 : 0;
  bool thermal = false, deadline = false;
  for (const ControlSpace::Device& dev : space_.devices) {
    for (size_t i = 0; i < now.domains.size(); ++i) {
      if (now.domains[i].name != dev.name) continue;
      const size_t cur = current_opp(dev, now);
      double& want = a.mhz[i];
      const size_t asked = std::isnan(want) ? cur : nearest_index(dev.mhz, want);
      if (hot) {
        const size_t limit = cur > 0 ? cur - 1 : 0;
        if (asked > limit) want = dev.mhz[limit], thermal = true;
      } else if (misses_in_a_row_ >= s_.miss_streak && asked <= cur && cur + 1 < dev.mhz.size()) {
        want = dev.mhz[cur + 1];
        deadline = true;
      }
    }
  }
  if (thermal) ++overrides_["thermal"];
  if (deadline) ++overrides_["deadline"];
  if (deadline) misses_in_a_row_ = 0;
  if (!std::isnan(now.battery_pct) && now.battery_pct <= space_.critical_battery_pct &&
      !space_.variants.empty()) {
    const std::string& cheapest = space_.variants[space_.cheapest_variant()].name;
    const std::string asked = a.variant.value_or(now.variant);
    if (asked != cheapest) {
      a.variant = cheapest;
      a.resolution_px.reset();
      ++overrides_["battery"];
    }
  }
  // link: half the requests (or the ping) failed last interval, so frames stay on the device.
  if (space_.offload && a.offload.value_or(now.offloading.value_or(false)) &&
      !std::isnan(now.offload_failure_rate) && now.offload_failure_rate >= 0.5) {
    a.offload = false;
    ++overrides_["link"];
  }
  return a;
}

RuleGovernor::RuleGovernor(ControlSpace space) : space_(std::move(space)) {
  for (size_t v = 0; v < space_.variants.size(); ++v) by_accuracy_.push_back(v);
  std::stable_sort(by_accuracy_.begin(), by_accuracy_.end(), [&](size_t a, size_t b) {
    return space_.variants[a].accuracy > space_.variants[b].accuracy;
  });
  reset();
}

void RuleGovernor::reset() {
  rank_ = 0;
  level_ = space_.levels - 1;
  calm_ = 0;
}

Action RuleGovernor::decide(const Snapshot& now) {
  const double latency = std::isnan(now.latency_ms) ? 0 : now.latency_ms;
  const double queue = std::isnan(now.queue_length) ? 0 : now.queue_length;
  const bool pressed = latency > 0.8 * space_.deadline_ms || queue > space_.queue_capacity / 2;
  const bool slack = latency < 0.4 * space_.deadline_ms && queue == 0;
  const bool hot = !std::isnan(now.temperature_c) && space_.trip_c > 0 &&
                   now.temperature_c >= space_.trip_c - 10;
  if (pressed) {
    calm_ = 0;
    if (level_ + 1 < space_.levels && !hot)
      ++level_;
    else if (rank_ + 1 < by_accuracy_.size())
      ++rank_;  // the top level is not enough: a cheaper variant
  } else if (slack && ++calm_ >= 10) {
    calm_ = 0;
    if (level_ > 0)
      --level_;
    else if (rank_ > 0)
      --rank_;  // slack at the lowest level: back towards the most accurate variant
  }
  if (hot && level_ > 0) --level_;
  size_t v = by_accuracy_[rank_];
  if (!std::isnan(now.battery_pct) && now.battery_pct <= 2 * space_.critical_battery_pct)
    v = space_.cheapest_variant();
  return space_.action(v * size_t(space_.levels) + size_t(level_), now);
}

Action StaticMaxGovernor::decide(const Snapshot& now) {
  return space_.action(size_t(space_.levels - 1), now);  // variant 0 at the top level
}

struct DqnGovernor::Net {
  Session session;
  std::string input, output;
};

DqnGovernor::DqnGovernor(const std::filesystem::path& policy, ControlSpace space)
    : space_(std::move(space)) {
  Graph g = load_onnx(policy);
  if (g.inputs.size() != 1 || g.outputs.size() != 1)
    throw Error(ErrorKind::invalid_argument, "a Q-network has one input and one output",
                policy.string());
  const Value& in = g.value(g.inputs[0]);
  const size_t want_in = space_.feature_count();
  if (!in.type || in.type->dims.size() != 2 || in.type->dims[1] != int64_t(want_in))
    throw Error(ErrorKind::invalid_argument,
                "input must be [1, " + std::to_string(want_in) + "] for this deployment's " +
                    "features (was the policy trained for another scenario or platform?)",
                policy.string());
  const std::string input = g.inputs[0], output = g.outputs[0];
  net_ = std::make_unique<Net>(Net{Session(std::move(g)), input, output});
  const std::vector<float> q = q_values(Snapshot{});
  if (q.size() != space_.actions())
    throw Error(ErrorKind::invalid_argument,
                "the network gives " + std::to_string(q.size()) + " action values, the space has " +
                    std::to_string(space_.actions()) + " (" +
                    std::to_string(space_.variants.size()) + " variants x " +
                    std::to_string(space_.levels) + " levels)",
                policy.string());
}

DqnGovernor::~DqnGovernor() = default;

std::vector<float> DqnGovernor::q_values(const Snapshot& now) {
  const std::vector<float> f = space_.features(now);
  TensorMap in;
  in.emplace(net_->input,
             Tensor::from_values<float>({1, int64_t(f.size())}, std::span<const float>(f)));
  const TensorMap out = net_->session.run(in);
  const Tensor& q = out.at(net_->output);
  const auto values = q.data<float>();
  return {values.begin(), values.end()};
}

Action DqnGovernor::decide(const Snapshot& now) {
  const std::vector<float> q = q_values(now);
  const size_t best = size_t(std::max_element(q.begin(), q.end()) - q.begin());
  return space_.action(best, now);
}

std::unique_ptr<Governor> make_controller(std::string_view name, const ControlSpace& space,
                                          const std::filesystem::path& policy,
                                          std::optional<bool> shield,
                                          const ShieldSettings& shield_settings,
                                          const GovernorSettings& settings) {
  std::unique_ptr<Governor> g;
  // Our own controllers switch variants near the trip and battery limits: shielded unless asked
  // not to be. The kernel's governors and the paper's static settings run as the kernel runs them.
  bool shielded = false;
  if (name == "static-max") {
    g = std::make_unique<StaticMaxGovernor>(space);
  } else if (name == "rule") {
    g = std::make_unique<RuleGovernor>(space);
    shielded = true;
  } else if (name == "dqn") {
    if (policy.empty())
      throw Error(ErrorKind::invalid_argument,
                  "the dqn governor needs a policy (--policy FILE.onnx from edgeco "
                  "train-governor)");
    g = std::make_unique<DqnGovernor>(policy, space);
    shielded = true;
  } else {
    g = make_governor(name, settings);
  }
  if (shield.value_or(shielded))
    g = std::make_unique<ShieldedGovernor>(std::move(g), space, shield_settings);
  return g;
}

}  // namespace edgeco::power
