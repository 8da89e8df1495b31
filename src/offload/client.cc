// The edge side of offloading: a gRPC client of the Open Inference Protocol and the Offloader
// that runs a model's head locally and its tail on the fog node, falling back to the local tail
// on any failure. A frame is answered exactly once: either the server's answer arrived in time and
// checked out, or the local tail computed it.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "edgeco/offload.h"
#include "open_inference_grpc.grpc.pb.h"

namespace edgeco::offload {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

}  // namespace

std::string_view to_string(Where where) {
  switch (where) {
    case Where::local:
      return "local";
    case Where::offload:
      return "offload";
    case Where::fallback:
      return "fallback";
  }
  return "?";
}

struct InferenceClient::Impl {
  ClientOptions options;
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub;
};

InferenceClient::InferenceClient(const std::string& target, ClientOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (target.empty()) throw Error(ErrorKind::invalid_argument, "no server address");
  impl_->options = options;
  impl_->address = target;
  for (const char* scheme : {"grpc://", "http://"})
    if (impl_->address.rfind(scheme, 0) == 0)
      impl_->address = impl_->address.substr(std::strlen(scheme));
  reconnect();
}

void InferenceClient::reconnect() {
  grpc::ChannelArguments args;
  // gRPC's own reconnection backs off up to 2 minutes by default: far longer than a frame. The
  // Offloader's circuit breaker paces retries; the channel only has to reconnect promptly.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  args.SetMaxReceiveMessageSize(64 << 20);
  // A channel of its own (not shared with an earlier one by gRPC's subchannel pool).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  impl_->channel =
      grpc::CreateCustomChannel(impl_->address, grpc::InsecureChannelCredentials(), args);
  impl_->stub = inference::GRPCInferenceService::NewStub(impl_->channel);
}

InferenceClient::~InferenceClient() = default;
InferenceClient::InferenceClient(InferenceClient&&) noexcept = default;
InferenceClient& InferenceClient::operator=(InferenceClient&&) noexcept = default;

bool InferenceClient::server_ready() {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::microseconds(int64_t(impl_->options.timeout_ms * 1e3)));
  inference::ServerReadyResponse response;
  const grpc::Status status =
      impl_->stub->ServerReady(&context, inference::ServerReadyRequest{}, &response);
  return status.ok() && response.ready();
}

TensorMap InferenceClient::infer(const std::string& model, const TensorMap& inputs,
                                 std::span<const std::string> outputs) {
  inference::ModelInferRequest request;
  request.set_model_name(model);
  for (const auto& [name, t] : inputs) {
    auto* in = request.add_inputs();
    in->set_name(name);
    in->set_datatype(std::string(protocol_datatype(t.dtype())));
    for (int64_t d : t.dims()) in->add_shape(d);
    const auto bytes = t.bytes();
    request.add_raw_input_contents(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  for (const std::string& o : outputs) request.add_outputs()->set_name(o);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::microseconds(int64_t(impl_->options.timeout_ms * 1e3)));
  inference::ModelInferResponse response;
  const grpc::Status status = impl_->stub->ModelInfer(&context, request, &response);
  const std::string where = "server model '" + model + "'";
  if (!status.ok())
    throw Error(ErrorKind::io,
                "request failed (gRPC code " + std::to_string(int(status.error_code())) +
                    "): " + status.error_message(),
                where);
  // Trust nothing: every asked-for output present once, sizes matching the shapes.
  if (response.raw_output_contents_size() != response.outputs_size())
    throw Error(ErrorKind::io, "the answer's raw contents do not match its outputs", where);
  TensorMap result;
  for (int k = 0; k < response.outputs_size(); ++k) {
    const auto& o = response.outputs(k);
    const Dims shape(o.shape().begin(), o.shape().end());
    try {
      result.insert_or_assign(o.name(),
                              tensor_from_raw(parse_protocol_datatype(o.datatype()), shape,
                                              response.raw_output_contents(k), int64_t(1) << 28));
    } catch (const Error& e) {
      throw Error(ErrorKind::io, "a malformed answer: " + e.message(), where);
    }
  }
  for (const std::string& o : outputs)
    if (result.count(o) == 0)
      throw Error(ErrorKind::io, "the answer lacks output '" + o + "'", where);
  return result;
}

struct Offloader::Impl {
  std::string model;
  Graph graph;
  std::vector<Cut> cuts;
  size_t cut = 0;
  std::optional<SplitPricing> pricing;
  Objective objective = Objective::latency;
  SessionOptions session_options;
  ClientOptions options;
  InferenceClient client;
  bool enabled = true;

  std::unique_ptr<Session> whole;
  std::map<size_t, std::pair<std::unique_ptr<Session>, std::unique_ptr<Session>>> parts;

  // Circuit breaker: after `breaker_failures` failures in a row the server is not asked until
  // `retry_at`; then one frame probes it (half-open). Each failed probe doubles the wait.
  Clock::time_point last_probe{};
  int consecutive_failures = 0;
  double backoff_ms = 0;
  Clock::time_point retry_at{};
  OffloadStats stats;
  mutable std::mutex mutex;

  Impl(std::string m, const Graph& g, std::vector<Cut> c, size_t initial, const std::string& target,
       ClientOptions o, std::optional<SplitPricing> p, Objective obj, SessionOptions s)
      : model(std::move(m)),
        graph(g),
        cuts(std::move(c)),
        cut(initial),
        pricing(std::move(p)),
        objective(obj),
        session_options(s),
        options(o),
        client(target, o) {
    stats.bandwidth_mbps = o.assumed_link.bandwidth_mbps;
    stats.rtt_ms = o.assumed_link.rtt_ms;
  }

  bool circuit_open() const {
    return consecutive_failures >= options.breaker_failures && Clock::now() < retry_at;
  }

  // The cut for the link as now estimated (when the choice follows the link).
  void rechoose() {
    if (!pricing) return;
    price_for_link(*pricing, Link{stats.bandwidth_mbps, stats.rtt_ms});
    cut = best_cut(*pricing, objective);
  }

  // A ping now and then measures the RTT (and, while every frame stays local by choice, lets a
  // link that got better be noticed).
  void probe_if_due() {
    if (!pricing || ms_since(last_probe) < options.probe_interval_ms || circuit_open()) return;
    last_probe = Clock::now();
    const Clock::time_point t0 = Clock::now();
    if (!client.server_ready()) {
      record_failure();
      return;
    }
    stats.rtt_ms = (1 - options.smoothing) * stats.rtt_ms + options.smoothing * ms_since(t0);
    rechoose();
  }

  Session& whole_session() {
    if (!whole) whole = std::make_unique<Session>(graph, session_options);
    return *whole;
  }

  std::pair<std::unique_ptr<Session>, std::unique_ptr<Session>>& split_sessions(size_t k) {
    auto found = parts.find(k);
    if (found != parts.end()) return found->second;
    SplitModels m = split(graph, cuts[k]);
    auto& entry = parts[k];
    entry.first = std::make_unique<Session>(std::move(m.head), session_options);
    entry.second = std::make_unique<Session>(std::move(m.tail), session_options);
    return entry;
  }

  // One request; nullopt when the server failed it (counted, and the link estimate updated).
  std::optional<TensorMap> ask_server(const std::string& name, const TensorMap& inputs,
                                      std::span<const std::string> outputs) {
    int64_t bytes = 0;
    for (const auto& [n, t] : inputs) bytes += int64_t(t.nbytes());
    const double server_ms = pricing ? pricing->candidates[cut].server_ms : 0;
    const Clock::time_point t0 = Clock::now();
    try {
      TensorMap out = client.infer(name, inputs, outputs);
      record_success(bytes, ms_since(t0), server_ms);
      return out;
    } catch (const Error&) {
      const double elapsed = ms_since(t0);
      // Timed out: the transfer took at least this long, so the bandwidth is at most this (what
      // moves a choice off a link too slow to ever answer in time).
      if (pricing && elapsed >= 0.9 * options.timeout_ms) {
        const double bound = double(bytes) * 8 / (std::max(0.01, elapsed - stats.rtt_ms) * 1e3);
        stats.bandwidth_mbps = std::min(stats.bandwidth_mbps, bound);
        rechoose();
      }
      record_failure();
      return std::nullopt;
    }
  }

  void record_failure() {
    ++stats.failures;
    if (++consecutive_failures >= options.breaker_failures) {
      backoff_ms = backoff_ms == 0 ? options.backoff_initial_ms
                                   : std::min(backoff_ms * 2, options.backoff_max_ms);
      retry_at = Clock::now() + std::chrono::microseconds(int64_t(backoff_ms * 1e3));
      stats.circuit_open = true;
    }
  }

  void record_success(int64_t bytes_sent, double elapsed_ms, double server_ms) {
    consecutive_failures = 0;
    backoff_ms = 0;
    stats.circuit_open = false;
    // The request's time less what the model says the server spent is the network's: the RTT
    // (measured by the pings) plus the transfer, which gives the bandwidth.
    const double network_ms = std::max(0.01, elapsed_ms - server_ms);
    const double transfer_ms = std::max(0.01, network_ms - stats.rtt_ms);
    const double a = options.smoothing;
    stats.bandwidth_mbps =
        (1 - a) * stats.bandwidth_mbps + a * double(bytes_sent) * 8 / (transfer_ms * 1e3);
    rechoose();
    probe_if_due();
  }

  TensorMap run(const TensorMap& inputs, Where* where) {
    const std::lock_guard lock(mutex);
    const Cut& c = cuts[cut];
    const auto local_all = [&](Where w) {
      if (w == Where::local)
        ++stats.local;
      else
        ++stats.fallback;
      if (where) *where = w;
      return whole_session().run(inputs);
    };
    if (!enabled) return local_all(Where::local);
    if (c.all_local()) {
      TensorMap out = local_all(Where::local);
      probe_if_due();  // after the frame, so its latency does not pay for the ping
      return out;
    }
    const bool skip_server = circuit_open();
    if (!skip_server && consecutive_failures >= options.breaker_failures) client.reconnect();
    if (c.all_remote()) {
      std::optional<TensorMap> out;
      if (!skip_server) out = ask_server(model, inputs, graph.outputs);
      if (!out) return local_all(Where::fallback);
      ++stats.offload;
      if (where) *where = Where::offload;
      return std::move(*out);
    }
    auto& [head, tail] = split_sessions(cut);
    TensorMap sent = head->run(inputs);
    // Graph inputs that cross the cut travel as they are.
    for (const std::string& in : tail->graph().inputs)
      if (sent.count(in) == 0 && inputs.count(in) != 0) sent.emplace(in, inputs.at(in));
    TensorMap tail_inputs;
    for (const std::string& in : tail->graph().inputs) tail_inputs.emplace(in, sent.at(in));
    TensorMap out;
    bool answered = false;
    if (!skip_server) {
      // The tail of the cut this frame was split at, even if the answer moves the choice.
      std::optional<TensorMap> answer =
          ask_server(tail_name(model, cut), tail_inputs, tail->graph().outputs);
      if (answer) {
        out = std::move(*answer);
        answered = true;
      }
    }
    if (!answered) out = tail->run(tail_inputs);
    // The head's own graph outputs complete the answer.
    for (const std::string& o : graph.outputs)
      if (out.count(o) == 0 && sent.count(o) != 0) out.emplace(o, sent.at(o));
    if (answered)
      ++stats.offload;
    else
      ++stats.fallback;
    if (where) *where = answered ? Where::offload : Where::fallback;
    return out;
  }
};

Offloader::Offloader(std::string model_name, const Graph& graph, std::vector<Cut> cuts,
                     size_t initial, const std::string& target, ClientOptions options,
                     std::optional<SplitPricing> pricing, Objective objective,
                     SessionOptions session) {
  if (cuts.empty() || initial >= cuts.size())
    throw Error(ErrorKind::invalid_argument, "no cut to offload at");
  if (pricing && pricing->candidates.size() != cuts.size())
    throw Error(ErrorKind::invalid_argument, "the pricing is for other cuts");
  if (options.timeout_ms <= 0 || options.breaker_failures < 1)
    throw Error(ErrorKind::invalid_argument, "the timeout and breaker threshold must be positive");
  impl_ = std::make_unique<Impl>(std::move(model_name), graph, std::move(cuts), initial, target,
                                 options, std::move(pricing), objective, session);
}

Offloader::~Offloader() = default;

std::unique_ptr<Offloader> make_offloader(std::string name, const Graph& graph,
                                          std::string_view split, const std::string& target,
                                          const hw::Platform& edge, const hw::Platform& server,
                                          ClientOptions client, SessionOptions session) {
  std::optional<SplitPricing> pricing;
  size_t initial = 0;  // "remote": no node on the device
  if (split == "auto") {
    pricing = price_cuts(graph, edge, server);
    price_for_link(*pricing, client.assumed_link);
    initial = best_cut(*pricing, Objective::latency);
  } else if (split != "remote") {
    initial = cut_after(graph, split).head_nodes;
  }
  return std::make_unique<Offloader>(std::move(name), graph, candidate_cuts(graph), initial, target,
                                     client, std::move(pricing), Objective::latency, session);
}

TensorMap Offloader::run(const TensorMap& inputs, Where* where) {
  return impl_->run(inputs, where);
}

void Offloader::set_enabled(bool on) {
  const std::lock_guard lock(impl_->mutex);
  impl_->enabled = on;
}

size_t Offloader::current_cut() const {
  const std::lock_guard lock(impl_->mutex);
  return impl_->cut;
}

OffloadStats Offloader::stats() const {
  const std::lock_guard lock(impl_->mutex);
  OffloadStats s = impl_->stats;
  s.cut = impl_->cut;
  s.cuts = impl_->cuts.size();
  return s;
}

}  // namespace edgeco::offload
