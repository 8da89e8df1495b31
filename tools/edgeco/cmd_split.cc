// edgeco split: cut a model into a head for the edge device and a tail for a fog node, at a
// given place or where the cost model says the link makes it pay (offload.h does the work).
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "edgeco/compress.h"
#include "edgeco/offload.h"
#include "edgeco/onnx.h"

namespace edgeco::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

struct SplitRequest {
  std::string model, at, head, tail, joined, repository, name;
  std::string platform, server_platform = "host", objective = "latency", wire = "f32";
  std::string calibration = "random";
  size_t samples = 32;
  double bandwidth_mbps = 0, rtt_ms = 0;
  bool json = false, with_heads = false;
};

offload::Cut cut_named(const Graph& g, const std::string& at) {
  for (const Node& n : g.nodes)
    if (n.name == at) return offload::cut_after(g, at);
  std::vector<std::string> tensors;
  for (std::string& t : comma_items(at))
    if (!t.empty()) tensors.push_back(std::move(t));
  if (tensors.empty()) throw Error(ErrorKind::invalid_argument, "--at names nothing");
  return offload::cut_at(g, tensors);
}

ordered_json cut_json(const offload::CutPrice& c, size_t index) {
  return ordered_json{{"index", index},
                      {"after", c.cut.after},
                      {"cut", c.cut.tensors},
                      {"edge_nodes", c.cut.head_nodes},
                      {"server_nodes", c.cut.total_nodes - c.cut.head_nodes},
                      {"latency_ms", c.latency_ms},
                      {"device_energy_mj", c.device_energy_mj},
                      {"transfer_bytes", c.transfer_bytes},
                      {"edge_ms", c.edge_ms},
                      {"server_ms", c.server_ms}};
}

offload::SplitModels split_for_wire(const Graph& g, const offload::Cut& cut, offload::Wire wire,
                                    const SplitRequest& r) {
  offload::SplitModels parts = offload::split(g, cut);
  std::map<std::string, float> scales;
  if (wire == offload::Wire::int8) {
    const std::vector<TensorMap> samples = calibration_inputs(g, r.calibration, r.samples, 1);
    scales = offload::int8_scales(parts.head, samples);
  }
  return offload::narrow_cut(std::move(parts), wire, scales);
}

void split_command(const SplitRequest& r) {
  const Graph g = load_onnx(r.model);
  const offload::Wire wire = offload::parse_wire(r.wire);
  if (!r.at.empty()) {
    if (r.head.empty() || r.tail.empty())
      throw Error(ErrorKind::invalid_argument, "--at writes two models: give --head and --tail");
    const offload::Cut cut = cut_named(g, r.at);
    const offload::SplitModels parts = split_for_wire(g, cut, wire, r);
    save_onnx(parts.head, r.head);
    save_onnx(parts.tail, r.tail);
    if (!r.joined.empty()) save_onnx(offload::join(parts, g), r.joined);
    ordered_json j{{"cut", cut.tensors},
                   {"after", cut.after},
                   {"wire", offload::to_string(wire)},
                   {"head", r.head},
                   {"tail", r.tail},
                   {"head_nodes", parts.head.nodes.size()},
                   {"tail_nodes", parts.tail.nodes.size()}};
    if (r.json) {
      std::cout << j.dump() << "\n";
    } else {
      std::printf("cut after %s: %zu tensor(s) cross (%s on the wire)\n", cut.after.c_str(),
                  cut.tensors.size(), std::string(offload::to_string(wire)).c_str());
      std::printf("  head %s (%zu nodes), tail %s (%zu nodes)\n", r.head.c_str(),
                  parts.head.nodes.size(), r.tail.c_str(), parts.tail.nodes.size());
    }
    return;
  }
  if (!r.repository.empty()) {
    // Every candidate cut's tail, named as the Offloader asks for them, and the whole model.
    if (wire != offload::Wire::f32)
      throw Error(ErrorKind::unsupported,
                  "a repository's tails take the cut as f32 (what `edgeco stream --offload` "
                  "sends); narrow one cut with --at instead");
    const std::string name = r.name.empty() ? fs::path(r.model).stem().string() : r.name;
    fs::create_directories(r.repository);
    const std::vector<offload::Cut> cuts = offload::candidate_cuts(g);
    size_t written = 0;
    save_onnx(g, fs::path(r.repository) / (name + ".onnx"));
    for (size_t k = 0; k < cuts.size(); ++k) {
      if (cuts[k].all_local() || cuts[k].all_remote()) continue;
      const offload::SplitModels parts = split_for_wire(g, cuts[k], wire, r);
      save_onnx(parts.tail, fs::path(r.repository) / (offload::tail_name(name, k) + ".onnx"));
      if (r.with_heads)
        save_onnx(parts.head,
                  fs::path(r.repository) / (offload::tail_name(name, k) + ".head.onnx"));
      ++written;
    }
    if (r.json)
      std::cout << ordered_json{{"repository", r.repository},
                                {"model", name},
                                {"tails", written},
                                {"cuts", cuts.size()}}
                       .dump()
                << "\n";
    else
      std::printf("wrote %s and %zu tails (%s.cut1 .. %s.cut%zu) to %s\n", (name + ".onnx").c_str(),
                  written, name.c_str(), name.c_str(), cuts.size() - 2, r.repository.c_str());
    return;
  }
  if (r.platform.empty() || !(r.bandwidth_mbps > 0))
    throw Error(ErrorKind::invalid_argument,
                "give --at NODE (with --head and --tail), --repository DIR, or --platform with "
                "--bandwidth-mbps to choose the cut");
  const Objective objective = parse_objective(r.objective);
  if (objective == Objective::edp)
    throw Error(ErrorKind::invalid_argument, "the split's objective is latency or energy");
  const hw::Platform edge = hw::find_platform(r.platform);
  const hw::Platform server = hw::find_platform(r.server_platform);
  offload::SplitPricing pricing = offload::price_cuts(g, edge, server, wire);
  offload::price_for_link(pricing, offload::Link{r.bandwidth_mbps, r.rtt_ms});
  const size_t best = offload::best_cut(pricing, objective);
  const offload::CutPrice& chosen = pricing.candidates[best];
  if (r.json) {
    ordered_json j{{"model", r.model},
                   {"platform", edge.name},
                   {"server_platform", server.name},
                   {"bandwidth_mbps", r.bandwidth_mbps},
                   {"rtt_ms", r.rtt_ms},
                   {"objective", r.objective},
                   {"wire", offload::to_string(wire)},
                   {"edge_idle_watts", pricing.edge_idle_watts},
                   {"modelled",
                    "latency and energy from the platforms' cost models; the link "
                    "as given"},
                   {"chosen", cut_json(chosen, best)},
                   {"candidates", ordered_json::array()}};
    for (size_t k = 0; k < pricing.candidates.size(); ++k)
      j["candidates"].push_back(cut_json(pricing.candidates[k], k));
    std::cout << j.dump() << "\n";
    return;
  }
  const offload::CutPrice& local = pricing.candidates.back();
  const offload::CutPrice& remote = pricing.candidates.front();
  std::printf("%zu candidate cuts of %s, edge %s, server %s, %.1f Mbit/s, RTT %.1f ms (modelled)\n",
              pricing.candidates.size(), r.model.c_str(), edge.name.c_str(), server.name.c_str(),
              r.bandwidth_mbps, r.rtt_ms);
  const auto row = [](const char* label, const offload::CutPrice& c) {
    std::printf("  %-9s %-28s %9.2f ms %9.2f mJ %10lld B\n", label,
                c.cut.all_local()    ? "(all local)"
                : c.cut.all_remote() ? "(all on the server)"
                                     : ("after " + c.cut.after).c_str(),
                c.latency_ms, c.device_energy_mj, static_cast<long long>(c.transfer_bytes));
  };
  row("local", local);
  row("server", remote);
  row("chosen", chosen);
}

}  // namespace

void add_split_command(CLI::App& app) {
  auto r = std::make_shared<SplitRequest>();
  CLI::App* cmd = app.add_subcommand(
      "split",
      "Cut a model in two: a head for the edge device and a tail for a fog node (their "
      "composition is the model). --at cuts after a node, or at a comma-separated set of "
      "tensors; --repository writes the tail of every candidate cut for `edgeco serve`; with "
      "--platform and --bandwidth-mbps every cut is priced by the cost model (edge part on the "
      "platform, the cut tensors over the link, the rest on --server-platform, the device idling "
      "while it waits) and the best is chosen.");
  cmd->add_option("MODEL", r->model, "ONNX model")->required()->check(CLI::ExistingFile);
  cmd->add_option("--at", r->at, "a node (cut after it) or tensors separated by commas");
  cmd->add_option("--head", r->head, "with --at: where to write the head");
  cmd->add_option("--tail", r->tail, "with --at: where to write the tail");
  cmd->add_option(
      "--joined", r->joined,
      "with --at: also write head and tail joined as one model (with --wire f16 or "
      "int8, the model as the wire changes it: `edgeco eval` it for the accuracy cost)");
  cmd->add_option("--repository", r->repository, "write every candidate cut's tail here");
  cmd->add_flag("--with-heads", r->with_heads,
                "with --repository: also each cut's head, as NAME.cutK.head.onnx (for checking "
                "the pairs with another runtime; a server needs only the tails)");
  cmd->add_option("--name", r->name, "with --repository: the served name (default: the file's)");
  cmd->add_option("--platform", r->platform, "the edge platform (preset or YAML)");
  cmd->add_option("--server-platform", r->server_platform, "the fog node's platform")
      ->capture_default_str();
  cmd->add_option("--bandwidth-mbps", r->bandwidth_mbps, "link bandwidth")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--rtt-ms", r->rtt_ms, "link round-trip time")->check(CLI::NonNegativeNumber);
  cmd->add_option("--objective", r->objective, "latency or energy (the edge device's)")
      ->capture_default_str();
  cmd->add_option("--wire", r->wire, "the cut tensors on the wire: f32, f16 or int8")
      ->capture_default_str();
  cmd->add_option("--calibration", r->calibration,
                  "int8 wire: inputs for the cut tensors' scales (random, fashion-mnist, a folder "
                  "of .npy)")
      ->capture_default_str();
  cmd->add_option("--samples", r->samples, "int8 wire: calibration samples")
      ->check(CLI::Range(size_t{1}, size_t{100000}))
      ->capture_default_str();
  cmd->add_flag("--json", r->json, "print JSON");
  cmd->callback([r] { split_command(*r); });
}

}  // namespace edgeco::cli
