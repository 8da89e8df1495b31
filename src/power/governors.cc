#include <algorithm>
#include <cmath>

#include "edgeco/power.h"

namespace edgeco::power {

double resolve_frequency(const Domain& d, double mhz, Relation relation) {
  const double lo =
      d.min_mhz > 0 ? d.min_mhz : (d.available_mhz.empty() ? 0 : d.available_mhz.front());
  const double hi =
      d.max_mhz > 0 ? d.max_mhz : (d.available_mhz.empty() ? mhz : d.available_mhz.back());
  const double target = std::clamp(mhz, lo, std::max(lo, hi));
  // The table's entries inside the policy limits (cpufreq resolves within them).
  std::vector<double> table;
  for (double f : d.available_mhz)
    if (f >= lo - 1e-9 && f <= hi + 1e-9) table.push_back(f);
  if (table.empty()) return target;
  // A tolerance for the MHz conversion of kHz/Hz figures.
  constexpr double eps = 1e-6;
  switch (relation) {
    case Relation::lowest_at_or_above:
      for (double f : table)
        if (f >= target - eps) return f;
      return table.back();
    case Relation::highest_at_or_below:
      for (auto it = table.rbegin(); it != table.rend(); ++it)
        if (*it <= target + eps) return *it;
      return table.front();
    case Relation::closest: {
      double best = table.front();
      for (double f : table)
        if (std::abs(f - target) < std::abs(best - target) - eps) best = f;
      return best;
    }
  }
  return target;
}

namespace {

double policy_min(const Domain& d) {
  return d.min_mhz > 0 ? d.min_mhz
                       : (d.available_mhz.empty() ? d.cur_mhz : d.available_mhz.front());
}
double policy_max(const Domain& d) {
  return d.max_mhz > 0 ? d.max_mhz : (d.available_mhz.empty() ? d.cur_mhz : d.available_mhz.back());
}
// Utilisation as a percentage load; an unknown one counts as idle.
double load_pct(const Domain& d) {
  return std::isnan(d.util) ? 0 : std::clamp(d.util, 0.0, 1.0) * 100;
}

class Fixed : public Governor {
 public:
  explicit Fixed(bool max) : max_(max) {}
  std::string name() const override { return max_ ? "performance" : "powersave"; }
  Action decide(const Snapshot& now) override {
    Action a;
    for (const Domain& d : now.domains) a.mhz.push_back(max_ ? policy_max(d) : policy_min(d));
    return a;
  }

 private:
  bool max_;
};

class Ondemand : public Governor {
 public:
  explicit Ondemand(const GovernorSettings& s) : s_(s) {}
  std::string name() const override { return "ondemand"; }
  Action decide(const Snapshot& now) override {
    Action a;
    for (const Domain& d : now.domains) {
      const double load = load_pct(d);
      if (load > s_.up_threshold) {
        a.mhz.push_back(policy_max(d));
        continue;
      }
      // cpuinfo min/max: the hardware's range (the table's ends where listed).
      const double min_f = d.available_mhz.empty() ? policy_min(d) : d.available_mhz.front();
      const double max_f = d.available_mhz.empty() ? policy_max(d) : d.available_mhz.back();
      a.mhz.push_back(
          resolve_frequency(d, min_f + load * (max_f - min_f) / 100, Relation::closest));
    }
    return a;
  }

 private:
  GovernorSettings s_;
};

class Conservative : public Governor {
 public:
  explicit Conservative(const GovernorSettings& s) : s_(s) {}
  std::string name() const override { return "conservative"; }
  void reset() override { requested_.clear(), down_skip_.clear(); }
  Action decide(const Snapshot& now) override {
    requested_.resize(now.domains.size(), kUnknown);
    down_skip_.resize(now.domains.size(), 0);
    Action a;
    for (size_t i = 0; i < now.domains.size(); ++i) {
      const Domain& d = now.domains[i];
      const double lo = policy_min(d), hi = policy_max(d);
      double& requested = requested_[i];
      // A request outside the policy (or none yet) restarts from the current frequency.
      if (std::isnan(requested) || requested > hi || requested < lo) requested = d.cur_mhz;
      const double step = s_.freq_step_pct * hi / 100;
      const double load = load_pct(d);
      double target = kUnknown;
      if (load > s_.up_threshold) {
        down_skip_[i] = 0;
        if (requested < hi) {
          requested = std::min(requested + step, hi);
          target = resolve_frequency(d, requested, Relation::highest_at_or_below);
        }
      } else if (++down_skip_[i] >= s_.sampling_down_factor) {
        down_skip_[i] = 0;
        if (load < s_.down_threshold && requested > lo) {
          requested = requested > step ? std::max(requested - step, lo) : lo;
          target = resolve_frequency(d, requested, Relation::lowest_at_or_above);
        }
      }
      a.mhz.push_back(target);
    }
    return a;
  }

 private:
  GovernorSettings s_;
  std::vector<double> requested_;
  std::vector<int> down_skip_;
};

class Schedutil : public Governor {
 public:
  explicit Schedutil(const GovernorSettings& s) : s_(s) {}
  std::string name() const override { return "schedutil"; }
  void reset() override { last_update_s_.clear(), next_.clear(); }
  Action decide(const Snapshot& now) override {
    last_update_s_.resize(now.domains.size(), -1e300);
    next_.resize(now.domains.size(), kUnknown);
    Action a;
    for (size_t i = 0; i < now.domains.size(); ++i) {
      const Domain& d = now.domains[i];
      if ((now.time_s - last_update_s_[i]) * 1e3 < s_.rate_limit_ms - 1e-9) {
        a.mhz.push_back(kUnknown);
        continue;
      }
      const double util = std::isnan(d.util) ? 0 : std::clamp(d.util, 0.0, 1.0);
      // map_util_freq: (freq + freq / 4) * util / max, on the current frequency (no frequency
      // invariance: the utilisation is measured at the current clock).
      double next = resolve_frequency(d, 1.25 * d.cur_mhz * util, Relation::lowest_at_or_above);
      // sugov_update_single: no lowering while the CPU has not idled since the last update.
      const bool busy = util >= 1.0;
      if (busy && !std::isnan(next_[i]) && next < next_[i]) next = next_[i];
      next_[i] = next;
      last_update_s_[i] = now.time_s;
      a.mhz.push_back(next);
    }
    return a;
  }

 private:
  GovernorSettings s_;
  std::vector<double> last_update_s_, next_;
};

class Static : public Governor {
 public:
  explicit Static(const GovernorSettings& s) : s_(s) {}
  std::string name() const override { return "static"; }
  Action decide(const Snapshot& now) override {
    Action a;
    for (size_t i = 0; i < now.domains.size(); ++i) {
      const Domain& d = now.domains[i];
      a.mhz.push_back(i < s_.static_mhz.size() && s_.static_mhz[i] > 0
                          ? resolve_frequency(d, s_.static_mhz[i], Relation::closest)
                          : policy_max(d));
    }
    if (!s_.static_variant.empty()) a.variant = s_.static_variant;
    if (s_.static_resolution_px > 0) a.resolution_px = s_.static_resolution_px;
    return a;
  }

 private:
  GovernorSettings s_;
};

}  // namespace

std::vector<std::string> governor_names() {
  return {"performance", "powersave", "ondemand", "conservative", "schedutil", "static"};
}

std::unique_ptr<Governor> make_governor(std::string_view name, const GovernorSettings& s) {
  if (name == "performance") return std::make_unique<Fixed>(true);
  if (name == "powersave") return std::make_unique<Fixed>(false);
  if (name == "ondemand") return std::make_unique<Ondemand>(s);
  if (name == "conservative") return std::make_unique<Conservative>(s);
  if (name == "schedutil") return std::make_unique<Schedutil>(s);
  if (name == "static") return std::make_unique<Static>(s);
  std::string known;
  for (const auto& n : governor_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error(ErrorKind::invalid_argument,
              "no governor '" + std::string(name) + "' (known: " + known + ")");
}

}  // namespace edgeco::power
