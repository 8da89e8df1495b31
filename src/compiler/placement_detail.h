// What the placement solvers (placement.cc, placement_ilp.cc) share.
#pragma once

#include <utility>

#include "edgeco/compiler.h"

namespace edgeco::placement_detail {

int device_count(const PlacementProblem& p);
void check_problem(const PlacementProblem& p);
// Node i's cost on a choice, with its graph inputs moved from the host and its graph outputs back.
std::pair<double, double> local_cost(const PlacementProblem& p, size_t i, int choice);
bool better(const PlacementSettings& s, double latency, double energy, double best_latency,
            double best_energy);
[[noreturn]] void throw_deadline_missed(const PlacementProblem& p, const PlacementSettings& s);

}  // namespace edgeco::placement_detail

namespace edgeco {
// The integer programme, solved by GLPK within s.time_limit_s.
Placement place_ilp(const PlacementProblem& p, const PlacementSettings& s);
}  // namespace edgeco
