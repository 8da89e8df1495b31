// Placement as an integer programme, for graphs whose frontier is too wide for the dynamic
// programme. Binary x[node][choice] picks one choice per node; a continuous y[edge][a][b] >=
// x[u on a] + x[v on b] - 1 is 1 exactly when an edge crosses from device a to b, and carries
// that transfer's cost. GLPK's branch and cut solves it within a time limit; after it, the best
// placement found so far is returned, marked not optimal.
#include <glpk.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>
#include <set>

#include "compiler/placement_detail.h"

namespace edgeco {
namespace {

using namespace placement_detail;

struct ProblemDeleter {
  void operator()(glp_prob* p) const { glp_delete_prob(p); }
};

struct Solved {
  std::vector<int> choice;
  bool optimal = false;
};

class Ilp {
 public:
  explicit Ilp(const PlacementProblem& p) : p_(p) {}

  // Minimises weight_energy * E + weight_latency * L, with L <= deadline when deadline > 0.
  // nullopt: infeasible, or nothing feasible found in time.
  std::optional<Solved> solve(double weight_energy, double weight_latency, double deadline_ms,
                              double seconds) const {
    std::unique_ptr<glp_prob, ProblemDeleter> lp(glp_create_prob());
    glp_set_obj_dir(lp.get(), GLP_MIN);
    std::vector<int> ia{0}, ja{0};
    std::vector<double> ar{0};
    std::vector<std::vector<int>> x(p_.nodes.size());
    std::vector<double> deadline_row;  // latency coefficient per column (1-based)
    deadline_row.push_back(0);
    // Scale the objective to O(1000): GLPK's tolerances are absolute.
    double magnitude = 0;
    for (size_t i = 0; i < p_.nodes.size(); ++i) {
      double most = 0;
      for (size_t c = 0; c < p_.nodes[i].choices.size(); ++c) {
        const auto [l, e] = local_cost(p_, i, int(c));
        most = std::max(most, weight_energy * e + weight_latency * l);
      }
      magnitude += most;
    }
    const double scale = magnitude > 0 ? 1000 / magnitude : 1;
    auto add_column = [&](int kind, double cost, double latency) {
      const int col = glp_add_cols(lp.get(), 1);
      glp_set_col_kind(lp.get(), col, kind);
      glp_set_col_bnds(lp.get(), col, GLP_DB, 0, 1);
      glp_set_obj_coef(lp.get(), col, cost * scale);
      deadline_row.push_back(latency);
      return col;
    };
    for (size_t i = 0; i < p_.nodes.size(); ++i) {
      const int row = glp_add_rows(lp.get(), 1);
      glp_set_row_bnds(lp.get(), row, GLP_FX, 1, 1);  // exactly one choice
      for (size_t c = 0; c < p_.nodes[i].choices.size(); ++c) {
        const auto [l, e] = local_cost(p_, i, int(c));
        const int col = add_column(GLP_BV, weight_energy * e + weight_latency * l, l);
        x[i].push_back(col);
        ia.push_back(row), ja.push_back(col), ar.push_back(1);
      }
    }
    for (size_t i = 0; i < p_.nodes.size(); ++i) {
      const auto& node = p_.nodes[i];
      for (size_t k = 0; k < node.inputs.size(); ++k) {
        if (node.inputs[k] < 0) continue;
        const size_t u = size_t(node.inputs[k]);
        std::set<int> from, to;
        for (const auto& c : p_.nodes[u].choices) from.insert(c.device);
        for (const auto& c : node.choices) to.insert(c.device);
        for (int a : from)
          for (int b : to) {
            if (a == b) continue;
            const auto [l, e] = p_.transfer(a, b, node.input_bytes[k]);
            if (l == 0 && e == 0) continue;
            const int y = add_column(GLP_CV, weight_energy * e + weight_latency * l, l);
            const int row = glp_add_rows(lp.get(), 1);
            glp_set_row_bnds(lp.get(), row, GLP_LO, -1, 0);  // y - x[u on a] - x[v on b] >= -1
            ia.push_back(row), ja.push_back(y), ar.push_back(1);
            for (size_t c = 0; c < p_.nodes[u].choices.size(); ++c)
              if (p_.nodes[u].choices[c].device == a)
                ia.push_back(row), ja.push_back(x[u][c]), ar.push_back(-1);
            for (size_t c = 0; c < node.choices.size(); ++c)
              if (node.choices[c].device == b)
                ia.push_back(row), ja.push_back(x[i][c]), ar.push_back(-1);
          }
      }
    }
    if (deadline_ms > 0) {
      const int row = glp_add_rows(lp.get(), 1);
      glp_set_row_bnds(lp.get(), row, GLP_UP, 0, 1);  // sum(latency) / deadline <= 1
      for (size_t col = 1; col < deadline_row.size(); ++col)
        if (deadline_row[col] != 0)
          ia.push_back(row), ja.push_back(int(col)), ar.push_back(deadline_row[col] / deadline_ms);
    }
    glp_load_matrix(lp.get(), int(ia.size()) - 1, ia.data(), ja.data(), ar.data());
    glp_iocp parm;
    glp_init_iocp(&parm);
    parm.presolve = GLP_ON;
    parm.msg_lev = GLP_MSG_OFF;
    parm.tm_lim = int(std::clamp(seconds, 0.001, 1e6) * 1000);
    glp_intopt(lp.get(), &parm);
    const int status = glp_mip_status(lp.get());
    if (status != GLP_OPT && status != GLP_FEAS) return std::nullopt;
    Solved solved;
    solved.optimal = status == GLP_OPT;
    for (size_t i = 0; i < p_.nodes.size(); ++i) {
      int pick = 0;
      for (size_t c = 0; c < x[i].size(); ++c)
        if (glp_mip_col_val(lp.get(), x[i][c]) > 0.5) pick = int(c);
      solved.choice.push_back(pick);
    }
    return solved;
  }

 private:
  const PlacementProblem& p_;
};

}  // namespace

Placement place_ilp(const PlacementProblem& p, const PlacementSettings& s) {
  check_problem(p);
  glp_term_out(GLP_OFF);
  const Ilp ilp(p);
  auto result = [&](const Solved& solved, bool optimal) {
    Placement out;
    std::tie(out.latency_ms, out.energy_mj) = placement_totals(p, solved.choice);
    out.choice = solved.choice;
    out.method = "ilp";
    out.optimal = optimal;
    return out;
  };
  auto none_found = [&]() {
    if (s.deadline_ms > 0) throw_deadline_missed(p, s);
    throw Error(ErrorKind::unsupported, "the ILP found no placement within its time limit of " +
                                            std::to_string(s.time_limit_s) + " s");
  };
  if (s.objective != Objective::edp) {
    const bool energy = s.objective == Objective::energy;
    const auto solved = ilp.solve(energy ? 1 : 0, energy ? 0 : 1, s.deadline_ms, s.time_limit_s);
    if (!solved) none_found();
    return result(*solved, solved->optimal);
  }
  // EDP is a product, not linear: sweep E + lambda * L between the energy-optimal and the
  // latency-optimal placements and keep the best product (not proven optimal).
  const double share = s.time_limit_s / 11;
  const auto by_energy = ilp.solve(1, 0, s.deadline_ms, share);
  const auto by_latency = ilp.solve(0, 1, s.deadline_ms, share);
  if (!by_energy || !by_latency) none_found();
  Placement best = result(*by_energy, false);
  const Placement fastest = result(*by_latency, false);
  if (fastest.latency_ms * fastest.energy_mj < best.latency_ms * best.energy_mj) best = fastest;
  const double lambda = best.energy_mj / std::max(best.latency_ms, 1e-12);
  for (int k = -4; k <= 4; ++k) {
    const auto solved = ilp.solve(1, lambda * std::pow(2.0, k), s.deadline_ms, share);
    if (!solved) continue;
    const Placement candidate = result(*solved, false);
    if (candidate.latency_ms * candidate.energy_mj < best.latency_ms * best.energy_mj)
      best = candidate;
  }
  return best;
}

}  // namespace edgeco
