// Fog offloading: a model split into a head the edge device runs and a tail a fog node runs
// (Neurosurgeon's split layer; for a DAG, a cut is a set of tensors), the cut priced with the cost
// model for the current link, an Open Inference Protocol (KServe v2) server, and a client that
// falls back to running the tail locally whenever the server fails it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "edgeco/compiler.h"
#include "edgeco/hw.h"
#include "edgeco/ir.h"
#include "edgeco/session.h"

namespace edgeco::offload {

// ---- Splitting a model --------------------------------------------------------------------------

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

// ---- Pricing the cuts ---------------------------------------------------------------------------

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

// ---- Tensors on the Open Inference Protocol -----------------------------------------------------

// The protocol's datatype names ("FP32", "INT64", ...) for edgeco's element types and back.
std::string_view protocol_datatype(DType dtype);
DType parse_protocol_datatype(std::string_view name);
// A request's inputs from the REST JSON body ({"inputs": [{"name", "shape", "datatype", "data"}]}),
// checked against nothing but itself: shapes agree with the data, sizes within `max_elements`.
// Throws invalid_argument saying what is wrong and where.
struct InferRequest {
  std::string id;
  TensorMap inputs;
  std::vector<std::string> outputs;  // requested outputs ("" none: all)
};
InferRequest parse_rest_request(std::string_view body, int64_t max_elements);
// The REST response body.
std::string rest_response(std::string_view model, const std::string& id, const TensorMap& outputs);
// A serialized gRPC ModelInferRequest decoded as the server decodes it (raw or typed contents,
// every size checked against its shape, at most `max_bytes` per tensor).
InferRequest parse_grpc_request(std::string_view serialized, int64_t max_bytes);
// A tensor from the protocol's raw row-major bytes; throws when the size does not match.
Tensor tensor_from_raw(DType dtype, const Dims& shape, std::string_view raw, int64_t max_elements);

// ---- The server ---------------------------------------------------------------------------------

struct ServerOptions {
  std::string host = "127.0.0.1";
  int http_port = 8000;   // 0: pick a free port; -1: no REST
  int grpc_port = 8001;   // 0: pick a free port; -1: no gRPC
  int metrics_port = -1;  // -1: /metrics on the REST port only
  int threads = 2;        // inference workers
  int queue_limit = 16;   // requests waiting beyond the workers; more are refused (overloaded)
  int64_t max_request_bytes = 64 << 20;
  double request_timeout_ms = 10000;  // a request that waited longer is answered with a timeout
  SessionOptions session;
};

// A served model: its name (the file's stem) and its graph (the server prepares one session per
// inference worker from it).
struct ServedModel {
  std::string name;
  std::filesystem::path path;
  Graph graph;
};
// Models from ONNX files and folders of them (each *.onnx, the stem as the name). Throws on a
// duplicate name or a model that does not load.
std::vector<ServedModel> load_repository(std::span<const std::filesystem::path> paths);

class Server {
 public:
  Server(std::vector<ServedModel> models, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  // Ports actually bound (after picking free ones).
  int http_port() const;
  int grpc_port() const;
  int metrics_port() const;
  // Stops accepting, lets in-flight requests finish, then returns. Idempotent.
  void shutdown();
  // Blocks until shutdown() (from another thread or a signal handler's thread).
  void wait();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// ---- The client with local fallback -------------------------------------------------------------

// Where a frame ran: all on the device, head local and tail on the server, or head local and the
// tail too because the server failed this frame.
enum class Where { local, offload, fallback };
std::string_view to_string(Where where);

struct ClientOptions {
  double timeout_ms = 200;         // per request (a gRPC deadline)
  double backoff_initial_ms = 50;  // after a failure, wait before the next try...
  double backoff_max_ms = 500;  // ...doubling up to this (a probe costs a frame at most a timeout)
  int breaker_failures = 3;     // consecutive failures that open the circuit
  double smoothing = 0.2;       // EWMA weight of a new bandwidth / RTT sample
  // While the chosen cut keeps every frame local, the server is pinged this often, so a link
  // that got better is noticed (its RTT measured; bandwidth kept at the last estimate).
  double probe_interval_ms = 1000;
  Link assumed_link{100, 1};  // the estimate before any measurement
};

// One connection to an OIP gRPC server. Thread-compatible (one caller at a time).
class InferenceClient {
 public:
  InferenceClient(const std::string& target, ClientOptions options = {});
  ~InferenceClient();
  InferenceClient(InferenceClient&&) noexcept;
  InferenceClient& operator=(InferenceClient&&) noexcept;
  // Runs `model` on the server. Throws Error (io) on any failure: refused, timed out, a server
  // error, or an answer that is not a valid response for the request (garbage, wrong shapes).
  TensorMap infer(const std::string& model, const TensorMap& inputs,
                  std::span<const std::string> outputs);
  bool server_ready();
  // A fresh channel: gRPC's own reconnection after a server died can lag its return by seconds.
  void reconnect();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The runtime's offload actuator for one model: runs the head locally, the tail on the server,
// and on any server failure the tail locally for that frame. Reconnects with exponential back-off
// behind a circuit breaker, and re-chooses the cut from the measured link (smoothed) when pricing
// is given.
struct OffloadStats {
  int64_t local = 0, offload = 0, fallback = 0, failures = 0;
  double bandwidth_mbps = 0, rtt_ms = 0;  // the smoothed estimates (0: none yet)
  bool circuit_open = false;
  size_t cut = 0, cuts = 0;  // the cut in use (an index into the candidates) and their number
};

class Offloader {
 public:
  // `graph` is the whole model; `cuts` the cuts it may use (each with its tail served on the
  // server as `tail_name(model_name, index)`); `pricing`, when given, has one candidate per cut
  // and makes the choice adapt to the link; otherwise `initial` is used throughout.
  Offloader(std::string model_name, const Graph& graph, std::vector<Cut> cuts, size_t initial,
            const std::string& target, ClientOptions options = {},
            std::optional<SplitPricing> pricing = std::nullopt,
            Objective objective = Objective::latency, SessionOptions session = {});
  ~Offloader();
  Offloader(const Offloader&) = delete;
  Offloader& operator=(const Offloader&) = delete;

  // One frame: the model's outputs and where it ran. Never throws for a server failure.
  TensorMap run(const TensorMap& inputs, Where* where);
  // Offloading on or off (the governor's action); off runs everything locally.
  void set_enabled(bool on);
  size_t current_cut() const;
  OffloadStats stats() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// An Offloader for `graph`, served as `name` at `target`. `split`: "auto" (every cut priced with
// `edge` and `server`, the first choice for `client.assumed_link`, then following the measured
// link; latency first), "remote" (the whole model on the server) or a node to cut after.
std::unique_ptr<Offloader> make_offloader(std::string name, const Graph& graph,
                                          std::string_view split, const std::string& target,
                                          const hw::Platform& edge, const hw::Platform& server,
                                          ClientOptions client = {}, SessionOptions session = {});

// The name a cut's tail is served under: "<model>.cut<index>" (index into candidate_cuts).
std::string tail_name(std::string_view model, size_t cut_index);

}  // namespace edgeco::offload
