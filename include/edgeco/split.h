// Splitting a model for fog offloading: a head the edge device runs and a tail a fog node runs
// (Neurosurgeon's split layer; for a DAG, a cut is a set of tensors), each cut priced with the
// compiler's cost model for a link. No network here: the simulator prices offloading with it, the
// offload module (edgeco/offload.h) sends the cut tensors.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "edgeco/compiler.h"
#include "edgeco/hw.h"
#include "edgeco/ir.h"

namespace edgeco::offload {

// Where a model is cut: the tensors that cross from the edge to the server. `head_nodes` nodes (in
// topological order) run on the edge. A cut with no head node sends the model's inputs (all on the
// server); a cut with every node in the head sends nothing (all local).
struct Cut {
  std::vector<std::string> tensors;
  size_t head_nodes = 0;
  std::string after;  // the last head node, "" when the head is empty
  size_t total_nodes = 0;
  bool all_local() const { return head_nodes == total_nodes; }
  bool all_remote() const { return head_nodes == 0; }
};

// Every prefix of the graph's topological order as a cut, from all on the server (0) to all local
// (the node count): the candidates Neurosurgeon searches, with the DAG's crossing tensors.
std::vector<Cut> candidate_cuts(const Graph& graph);
// The cut right after `node` in topological order. Throws invalid_argument naming an unknown node.
Cut cut_after(const Graph& graph, std::string_view node);
// The cut whose crossing tensors are `tensors`: the head is every node they depend on. Throws
// invalid_argument when another tensor would also have to cross (the set is not a cut).
Cut cut_at(const Graph& graph, std::span<const std::string> tensors);

// The two models of a cut: head (graph inputs -> cut tensors), tail (cut tensors -> graph outputs).
// Graph outputs the head computes are head outputs too (they need no server).
struct SplitModels {
  Graph head, tail;
};
SplitModels split(const Graph& graph, const Cut& cut);

// How the cut tensors travel: as they are (f32), or converted to save bandwidth. The tail of a
// narrowed cut takes the narrow type and widens it first, so a server needs nothing but the tail.
enum class Wire { f32, f16, int8 };
std::string_view to_string(Wire wire);
Wire parse_wire(std::string_view text);
// A split's models with the cut narrowed to `wire` (the head ends in the conversion, the tail
// starts with its inverse); int8 uses a symmetric per-tensor scale of max|x| / 127 from
// `calibration` (the cut tensors' values on sample inputs, by name).
SplitModels narrow_cut(SplitModels models, Wire wire, const std::map<std::string, float>& scales);
// Head and tail joined back into one model with `whole`'s inputs and outputs: with a narrowed
// wire, the model as the wire changes it (what `edgeco eval` measures the accuracy cost on).
Graph join(const SplitModels& models, const Graph& whole);
// max|x| / 127 of each cut tensor over the outputs of the head on `samples` (one feed each).
std::map<std::string, float> int8_scales(const Graph& head, std::span<const TensorMap> samples);

// Pricing the cuts.

struct Link {
  double bandwidth_mbps = 0;
  double rtt_ms = 0;
};

struct CutPrice {
  Cut cut;
  double edge_ms = 0, edge_mj = 0;  // the head on the edge platform (the compiler's plan)
  double server_ms = 0;             // the tail on the server platform
  int64_t transfer_bytes = 0;       // the cut tensors on the wire
  // With a link (price_for_link): edge + transfer + RTT + server, and the edge board's energy:
  // the head's plus its idle power while it waits for the answer.
  double latency_ms = 0, device_energy_mj = 0;
};

struct SplitPricing {
  std::vector<CutPrice> candidates;
  double edge_idle_watts = 0;
  Wire wire = Wire::f32;
};

// Prices every candidate cut once (compiling each head on `edge` and each tail on `server`); the
// link enters later, so a run-time choice is a cheap pass over the candidates.
SplitPricing price_cuts(const Graph& graph, const hw::Platform& edge, const hw::Platform& server,
                        Wire wire = Wire::f32, const CompileOptions& options = {});
// Fills each candidate's latency and device energy for `link`.
void price_for_link(SplitPricing& pricing, const Link& link);
// The index of the candidate with the least `objective` (latency or device energy; ties go to the
// cut with fewer nodes on the server). price_for_link must have run.
size_t best_cut(const SplitPricing& pricing, Objective objective);

// The name a cut's tail is served under: "<model>.cut<index>" (index into candidate_cuts).
std::string tail_name(std::string_view model, size_t cut_index);

}  // namespace edgeco::offload
