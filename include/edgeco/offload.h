// Fog offloading over the network: an Open Inference Protocol (KServe v2) server, and a client that
// runs a model's head here and its tail (edgeco/split.h) on the server, falling back to running the
// tail locally whenever the server fails it. The only module that touches gRPC and HTTP.
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

#include "edgeco/session.h"
#include "edgeco/split.h"

namespace edgeco::offload {

// Tensors on the Open Inference Protocol.

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

// The server.

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

// The client, with local fallback.

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

}  // namespace edgeco::offload
