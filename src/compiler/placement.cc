// Placement of a graph's nodes on a platform's devices: an exact dynamic programme over the
// topological order, a brute-force oracle, and the ILP (placement_ilp.cc) for wide graphs.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <unordered_map>

#include "compiler/placement_detail.h"
#include "edgeco/compiler.h"

namespace edgeco {

std::string_view to_string(Objective o) {
  switch (o) {
    case Objective::energy:
      return "energy";
    case Objective::latency:
      return "latency";
    case Objective::edp:
      return "edp";
  }
  return "?";
}

Objective parse_objective(std::string_view text) {
  for (Objective o : {Objective::energy, Objective::latency, Objective::edp})
    if (text == to_string(o)) return o;
  throw Error(ErrorKind::invalid_argument,
              "unknown objective '" + std::string(text) + "' (energy, latency or edp)");
}

double objective_value(Objective o, double latency_ms, double energy_mj) {
  switch (o) {
    case Objective::energy:
      return energy_mj;
    case Objective::latency:
      return latency_ms;
    case Objective::edp:
      return latency_ms * energy_mj;
  }
  return 0;
}

namespace placement_detail {

int device_count(const PlacementProblem& p) {
  int devices = p.host + 1;
  for (const auto& n : p.nodes)
    for (const auto& c : n.choices) devices = std::max(devices, c.device + 1);
  return devices;
}

void check_problem(const PlacementProblem& p) {
  if (!p.transfer) throw Error(ErrorKind::invalid_argument, "placement problem without transfer");
  for (size_t i = 0; i < p.nodes.size(); ++i) {
    const auto& n = p.nodes[i];
    const std::string where = "placement node #" + std::to_string(i);
    if (n.choices.empty())
      throw Error(ErrorKind::unsupported, "no device of the platform can run it", where);
    if (n.inputs.size() != n.input_bytes.size())
      throw Error(ErrorKind::invalid_argument, "inputs and input_bytes differ in length", where);
    for (int in : n.inputs)
      if (in < -1 || in >= int(i))
        throw Error(ErrorKind::invalid_argument,
                    "input " + std::to_string(in) + " is not an earlier node", where);
    for (const auto& c : n.choices)
      if (c.device < 0 || c.opp < 0)
        throw Error(ErrorKind::invalid_argument, "negative device or operating point", where);
  }
}

// Node i's own cost on `choice` plus moving its graph inputs from the host and its graph outputs
// back; edges from other nodes are added by the caller, who knows their devices.
std::pair<double, double> local_cost(const PlacementProblem& p, size_t i, int choice) {
  const auto& n = p.nodes[i];
  const auto& c = n.choices[size_t(choice)];
  double latency = c.latency_ms, energy = c.energy_mj;
  for (size_t k = 0; k < n.inputs.size(); ++k)
    if (n.inputs[k] < 0) {
      const auto [l, e] = p.transfer(p.host, c.device, n.input_bytes[k]);
      latency += l, energy += e;
    }
  if (n.output_bytes > 0) {
    const auto [l, e] = p.transfer(c.device, p.host, n.output_bytes);
    latency += l, energy += e;
  }
  return {latency, energy};
}

bool better(const PlacementSettings& s, double latency, double energy, double best_latency,
            double best_energy) {
  return objective_value(s.objective, latency, energy) <
         objective_value(s.objective, best_latency, best_energy);
}

[[noreturn]] void throw_deadline_missed(const PlacementProblem& p, const PlacementSettings& s) {
  PlacementSettings fastest = s;
  fastest.objective = Objective::latency;
  fastest.deadline_ms = 0;
  const Placement f = place(p, fastest);
  char text[160];
  std::snprintf(text, sizeof text,
                "no placement meets the deadline of %.4g ms: the fastest takes %.4g ms",
                s.deadline_ms, f.latency_ms);
  throw Error(ErrorKind::unsupported, text);
}

}  // namespace placement_detail

using namespace placement_detail;

std::pair<double, double> placement_totals(const PlacementProblem& p, std::span<const int> choice) {
  if (choice.size() != p.nodes.size())
    throw Error(ErrorKind::invalid_argument, "placement has " + std::to_string(choice.size()) +
                                                 " choices for " + std::to_string(p.nodes.size()) +
                                                 " nodes");
  double latency = 0, energy = 0;
  for (size_t i = 0; i < p.nodes.size(); ++i) {
    const auto [l, e] = local_cost(p, i, choice[i]);
    latency += l, energy += e;
    const auto& n = p.nodes[i];
    const int device = n.choices[size_t(choice[i])].device;
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      if (n.inputs[k] < 0) continue;
      const int from =
          p.nodes[size_t(n.inputs[k])].choices[size_t(choice[size_t(n.inputs[k])])].device;
      const auto [tl, te] = p.transfer(from, device, n.input_bytes[k]);
      latency += tl, energy += te;
    }
  }
  return {latency, energy};
}

namespace {

Placement finish(const PlacementProblem& p, std::vector<int> choice, std::string method,
                 bool optimal) {
  Placement result;
  std::tie(result.latency_ms, result.energy_mj) = placement_totals(p, choice);
  result.choice = std::move(choice);
  result.method = std::move(method);
  result.optimal = optimal;
  return result;
}

Placement brute_force(const PlacementProblem& p, const PlacementSettings& s) {
  double combinations = 1;
  for (const auto& n : p.nodes) combinations *= double(n.choices.size());
  if (combinations > 2e7)
    throw Error(ErrorKind::invalid_argument, "brute force over " +
                                                 std::to_string(int64_t(combinations)) +
                                                 " combinations: use dp or ilp");
  std::vector<int> choice(p.nodes.size(), 0), best;
  double best_latency = 0, best_energy = 0;
  while (true) {
    const auto [latency, energy] = placement_totals(p, choice);
    const bool meets = s.deadline_ms <= 0 || latency <= s.deadline_ms * (1 + 1e-12);
    if (meets && (best.empty() || better(s, latency, energy, best_latency, best_energy)))
      best = choice, best_latency = latency, best_energy = energy;
    size_t i = 0;
    for (; i < choice.size(); ++i) {
      if (++choice[i] < int(p.nodes[i].choices.size())) break;
      choice[i] = 0;
    }
    if (i == choice.size()) break;
  }
  if (best.empty()) throw_deadline_missed(p, s);
  return finish(p, std::move(best), "brute-force", true);
}

// The dynamic programme. After step i, the state is the device of every "open" node: one whose
// output a later node still reads; the cost of what follows depends on the past only through it.
// The number of states is devices^open, small for CNNs (MobileNetV2's residuals keep at most two
// nodes open). In scalar mode each state keeps the label minimising weight_energy * E +
// weight_latency * L. In Pareto mode it keeps the front of (latency, energy) labels, which is
// exact for any objective growing with both (EDP, energy under a deadline); labels that cannot
// beat `bound` even with the cheapest rest of the graph are dropped (branch and bound).
struct Label {
  double latency, energy;
  int32_t prev;    // index into the previous step's labels
  int32_t choice;  // of this step's node
};

struct DpMode {
  bool pareto = false;
  double weight_energy = 1, weight_latency = 0;            // scalar mode
  double bound = std::numeric_limits<double>::infinity();  // Pareto mode: the incumbent's value
};

class ParetoDp {
 public:
  ParetoDp(const PlacementProblem& p, const PlacementSettings& s) : p_(p), s_(s) {
    devices_ = device_count(p);
    last_use_.resize(p.nodes.size());
    for (size_t i = 0; i < p.nodes.size(); ++i) {
      last_use_[i] = int(i);
      for (int in : p.nodes[i].inputs)
        if (in >= 0) last_use_[size_t(in)] = std::max(last_use_[size_t(in)], int(i));
    }
    // The cheapest the rest of the graph can be, edges free: for the bound.
    rest_latency_.assign(p.nodes.size() + 1, 0);
    rest_energy_.assign(p.nodes.size() + 1, 0);
    for (size_t i = p.nodes.size(); i-- > 0;) {
      double l = std::numeric_limits<double>::infinity(), e = l;
      for (size_t c = 0; c < p.nodes[i].choices.size(); ++c) {
        const auto [cl, ce] = local_cost(p, i, int(c));
        l = std::min(l, cl), e = std::min(e, ce);
      }
      rest_latency_[i] = rest_latency_[i + 1] + l;
      rest_energy_[i] = rest_energy_[i + 1] + e;
    }
  }

  // The widest frontier, for the automatic choice between dp and ilp.
  double max_states() const {
    double widest = 1;
    int open = 0;
    std::vector<int> closes(p_.nodes.size() + 1, 0);
    for (size_t i = 0; i < p_.nodes.size(); ++i) {
      if (last_use_[i] > int(i)) ++open, ++closes[size_t(last_use_[i])];
      open -= closes[i];
      widest = std::max(widest, std::pow(double(devices_), open));
    }
    return widest;
  }

  // The best placement in this mode; nullopt when none meets the deadline (or, in Pareto mode,
  // none beats the bound). Throws Error(unsupported) "label budget" when a step grows too large.
  std::optional<std::vector<int>> solve(const DpMode& mode) {
    mode_ = mode;
    created_ = 0;
    struct State {
      std::vector<int8_t> devices;  // of the open nodes, in order
      std::vector<int32_t> labels;  // the front
    };
    std::vector<int> open;
    std::vector<State> states{State{{}, {0}}};  // before the first node: one empty state
    std::vector<std::vector<Label>> steps{{Label{0, 0, -1, -1}}};
    for (size_t i = 0; i < p_.nodes.size(); ++i) {
      const auto& node = p_.nodes[i];
      std::vector<int> next_open;
      for (int u : open)
        if (last_use_[size_t(u)] > int(i)) next_open.push_back(u);
      if (last_use_[i] > int(i)) next_open.push_back(int(i));
      // Where each input and each next-open node sits in the current state.
      std::vector<int> input_slot(node.inputs.size(), -1), keep_slot(next_open.size(), -1);
      for (size_t k = 0; k < node.inputs.size(); ++k)
        if (node.inputs[k] >= 0)
          input_slot[k] = int(std::find(open.begin(), open.end(), node.inputs[k]) - open.begin());
      for (size_t k = 0; k < next_open.size(); ++k)
        if (next_open[k] != int(i))
          keep_slot[k] = int(std::find(open.begin(), open.end(), next_open[k]) - open.begin());
      const auto& prev_labels = steps.back();
      std::vector<Label> labels;
      std::vector<State> next_states;
      std::unordered_map<uint64_t, size_t> index;
      for (const State& st : states) {
        for (size_t c = 0; c < node.choices.size(); ++c) {
          const int device = node.choices[c].device;
          auto [dl, de] = local_cost(p_, i, int(c));
          for (size_t k = 0; k < node.inputs.size(); ++k) {
            if (input_slot[k] < 0) continue;
            const auto [l, e] =
                p_.transfer(st.devices[size_t(input_slot[k])], device, node.input_bytes[k]);
            dl += l, de += e;
          }
          uint64_t code = 0;
          std::vector<int8_t> devices(next_open.size());
          for (size_t k = 0; k < next_open.size(); ++k) {
            devices[k] = keep_slot[k] < 0 ? int8_t(device) : st.devices[size_t(keep_slot[k])];
            code = code * uint64_t(devices_) + uint64_t(devices[k]);
          }
          auto [it, fresh] = index.emplace(code, next_states.size());
          if (fresh) next_states.push_back(State{std::move(devices), {}});
          State& target = next_states[it->second];
          for (int32_t li : st.labels) {
            const Label& from = prev_labels[size_t(li)];
            const Label label{from.latency + dl, from.energy + de, li, int32_t(c)};
            if (!viable(label, i + 1)) continue;
            insert(target.labels, labels, label);
          }
        }
      }
      created_ += int64_t(labels.size());
      if (created_ > s_.max_dp_labels)
        throw Error(ErrorKind::unsupported,
                    "the dynamic programme outgrew its label budget at node #" + std::to_string(i));
      std::erase_if(next_states, [](const State& st) { return st.labels.empty(); });
      if (next_states.empty()) return std::nullopt;
      states = std::move(next_states);
      open = std::move(next_open);
      steps.push_back(std::move(labels));
    }
    // Every node is closed after the last one: one state remains.
    int32_t best = -1;
    const auto& last = steps.back();
    for (int32_t li : states.front().labels)
      if (best < 0 || key(last[size_t(li)]) < key(last[size_t(best)])) best = li;
    std::vector<int> choice(p_.nodes.size());
    for (size_t i = p_.nodes.size(); i-- > 0;) {
      const Label& l = steps[i + 1][size_t(best)];
      choice[i] = l.choice;
      best = l.prev;
    }
    return choice;
  }

 private:
  double key(const Label& l) const {
    if (mode_.pareto) return objective_value(s_.objective, l.latency, l.energy);
    return mode_.weight_energy * l.energy + mode_.weight_latency * l.latency;
  }

  // Whether a label after `done` nodes can still meet the deadline and beat the bound.
  bool viable(const Label& l, size_t done) const {
    const double latency = l.latency + rest_latency_[done];
    if (s_.deadline_ms > 0 && latency > s_.deadline_ms * (1 + 1e-12)) return false;
    if (!mode_.pareto) return true;
    const double energy = l.energy + rest_energy_[done];
    return objective_value(s_.objective, latency, energy) <= mode_.bound * (1 + 1e-9);
  }

  // Adds `label` to a state's front unless a label there is at least as good in both latency and
  // energy (or, in scalar mode, in the weighted sum); drops the labels it beats.
  void insert(std::vector<int32_t>& front, std::vector<Label>& labels, const Label& label) const {
    if (!mode_.pareto) {
      if (front.empty()) {
        front.push_back(int32_t(labels.size()));
        labels.push_back(label);
      } else if (key(label) < key(labels[size_t(front[0])])) {
        labels[size_t(front[0])] = label;
      }
      return;
    }
    // The front is sorted by latency, energy falling: a label is dominated when the last one
    // not slower has no more energy; it removes the slower ones that have no less energy.
    auto pos =
        std::upper_bound(front.begin(), front.end(), label.latency,
                         [&](double l, int32_t li) { return l < labels[size_t(li)].latency; });
    if (pos != front.begin() && labels[size_t(*(pos - 1))].energy <= label.energy) return;
    auto end = pos;
    while (end != front.end() && labels[size_t(*end)].energy >= label.energy) ++end;
    pos = front.erase(pos, end);
    front.insert(pos, int32_t(labels.size()));
    labels.push_back(label);
  }

  const PlacementProblem& p_;
  const PlacementSettings& s_;
  DpMode mode_;
  int64_t created_ = 0;
  int devices_ = 1;
  std::vector<int> last_use_;
  std::vector<double> rest_latency_, rest_energy_;
};

bool meets(const PlacementSettings& s, const Placement& p) {
  return s.deadline_ms <= 0 || p.latency_ms <= s.deadline_ms * (1 + 1e-12);
}

// The exact DP. Energy or latency without a deadline is one scalar pass. Otherwise an incumbent
// comes first from scalar passes on E + lambda * L (lambda searched for the deadline, or
// iterated as in Dinkelbach's method for EDP), then the Pareto pass proves or improves it. When
// the Pareto pass outgrows its budget the incumbent is returned, not marked optimal (energy
// under a deadline goes to the ILP instead, which is exact there).
Placement solve_dp(const PlacementProblem& p, const PlacementSettings& s) {
  ParetoDp dp(p, s);
  auto scalar = [&](double weight_energy, double weight_latency) -> std::optional<Placement> {
    PlacementSettings free = s;
    free.deadline_ms = 0;
    ParetoDp unconstrained(p, free);
    const auto choice = unconstrained.solve(DpMode{false, weight_energy, weight_latency});
    if (!choice) return std::nullopt;
    return finish(p, *choice, "dp", false);
  };
  if (s.deadline_ms <= 0 && s.objective != Objective::edp) {
    const bool energy = s.objective == Objective::energy;
    auto best = scalar(energy ? 1 : 0, energy ? 0 : 1);
    best->optimal = true;
    return *best;
  }
  std::optional<Placement> fastest = scalar(0, 1), incumbent;
  if (!meets(s, *fastest)) throw_deadline_missed(p, s);
  auto consider = [&](const std::optional<Placement>& c) {
    if (c && meets(s, *c) &&
        (!incumbent ||
         better(s, c->latency_ms, c->energy_mj, incumbent->latency_ms, incumbent->energy_mj)))
      incumbent = c;
  };
  consider(fastest);
  consider(scalar(1, 0));
  if (s.objective == Objective::latency) {
    incumbent->optimal = true;  // the fastest placement meets the deadline: nothing is faster
    return *incumbent;
  }
  if (s.deadline_ms > 0) {
    // The smallest lambda whose E + lambda * L placement meets the deadline.
    double lo = 0, hi = incumbent->energy_mj / std::max(incumbent->latency_ms, 1e-12);
    for (int k = 0; k < 60; ++k) {
      const auto c = scalar(1, hi);
      consider(c);
      if (c && meets(s, *c)) break;
      lo = hi, hi *= 4;
    }
    for (int k = 0; k < 30; ++k) {
      const double mid = (lo + hi) / 2;
      const auto c = scalar(1, mid);
      consider(c);
      (c && meets(s, *c) ? hi : lo) = mid;
    }
  }
  if (s.objective == Objective::edp)
    for (int k = 0; k < 20; ++k) {
      const double lambda = incumbent->energy_mj / std::max(incumbent->latency_ms, 1e-12);
      const double before = incumbent->latency_ms * incumbent->energy_mj;
      consider(scalar(1, lambda));
      if (incumbent->latency_ms * incumbent->energy_mj >= before * (1 - 1e-12)) break;
    }
  try {
    DpMode mode;
    mode.pareto = true;
    mode.bound = objective_value(s.objective, incumbent->latency_ms, incumbent->energy_mj);
    if (const auto choice = dp.solve(mode)) {
      Placement exact = finish(p, *choice, "dp", true);
      if (!better(s, exact.latency_ms, exact.energy_mj, incumbent->latency_ms,
                  incumbent->energy_mj))
        exact = finish(p, incumbent->choice, "dp", true);
      return exact;
    }
    incumbent->optimal = true;  // nothing beats it
    return *incumbent;
  } catch (const Error& e) {
    if (e.message().find("label budget") == std::string::npos) throw;
  }
  if (s.objective == Objective::energy) return place_ilp(p, s);
  incumbent->method = "dp-lagrangian";
  return *incumbent;
}

}  // namespace

Placement place(const PlacementProblem& p, const PlacementSettings& s) {
  check_problem(p);
  if (device_count(p) > 127)
    throw Error(ErrorKind::unsupported, "more than 127 devices in a placement problem");
  if (p.nodes.empty()) return Placement{{}, 0, 0, "dp", true};
  switch (s.method) {
    case PlacementMethod::brute_force:
      return brute_force(p, s);
    case PlacementMethod::dp:
      return solve_dp(p, s);
    case PlacementMethod::ilp:
      return place_ilp(p, s);
    case PlacementMethod::automatic:
      break;
  }
  if (ParetoDp(p, s).max_states() * double(p.nodes.size()) <= double(s.max_dp_labels) / 4)
    return solve_dp(p, s);
  return place_ilp(p, s);
}

}  // namespace edgeco
