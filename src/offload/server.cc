// The fog node: ONNX models served over the Open Inference Protocol, REST (cpp-httplib) and gRPC
// side by side, one admission gate for both. A request is refused at once ("overloaded") when the
// workers are busy and the queue is full, waits at most the request timeout for a worker, and
// runs on a session of its own (sessions are not shared between threads).
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "edgeco/offload.h"
#include "edgeco/onnx.h"
#include "open_inference_grpc.grpc.pb.h"

namespace edgeco::offload {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

enum class Outcome { ok, bad_request, not_found, overloaded, timeout, unavailable, internal };

// How each outcome is counted (the failures' "reason" label) and answered on each protocol.
struct OutcomeWire {
  std::string_view reason;
  int http_status;
  grpc::StatusCode grpc_code;
};
constexpr OutcomeWire kOutcomes[] = {
    {"ok", 200, grpc::StatusCode::OK},
    {"bad_request", 400, grpc::StatusCode::INVALID_ARGUMENT},
    {"not_found", 404, grpc::StatusCode::NOT_FOUND},
    {"overloaded", 503, grpc::StatusCode::RESOURCE_EXHAUSTED},
    {"timeout", 504, grpc::StatusCode::DEADLINE_EXCEEDED},
    {"shutting_down", 503, grpc::StatusCode::UNAVAILABLE},
    {"internal", 500, grpc::StatusCode::INTERNAL},
};
static_assert(std::size(kOutcomes) == size_t(Outcome::internal) + 1,
              "one row per outcome, in order");
const OutcomeWire& wire_of(Outcome o) {
  return kOutcomes[size_t(o)];
}

// Listens on `port` (0: any free one); the port bound, or -1.
int bind_port(httplib::Server& server, const std::string& host, int port) {
  if (port == 0) return server.bind_to_any_port(host);
  return server.bind_to_port(host, port) ? port : -1;
}

json tensor_metadata(const Graph& g, const std::string& name) {
  const Value& v = g.value(name);
  json t{{"name", name}, {"datatype", "FP32"}, {"shape", json::array()}};
  if (v.type) {
    t["datatype"] = std::string(protocol_datatype(v.type->dtype));
    for (int64_t d : v.type->dims) t["shape"].push_back(d < 0 ? -1 : d);
  }
  return t;
}

struct Model {
  ServedModel served;
  std::mutex mutex;
  std::vector<std::unique_ptr<Session>> idle;  // one per worker, created on first use
  prometheus::Counter* requests = nullptr;
  prometheus::Histogram* latency = nullptr;
};

}  // namespace

struct Server::Impl {
  ServerOptions options;
  std::map<std::string, std::unique_ptr<Model>> models;

  std::mutex gate_mutex;
  std::condition_variable gate;
  int admitted = 0;  // running or waiting
  int running = 0;
  bool stopping = false;
  std::atomic<bool> stopped{false};

  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Family<prometheus::Counter>* failures = nullptr;
  prometheus::Gauge* queue_depth = nullptr;
  prometheus::Gauge* in_flight = nullptr;

  httplib::Server http, metrics_http;
  std::thread http_thread, metrics_thread;
  int bound_http = -1, bound_grpc = -1, bound_metrics = -1;

  class GrpcService;
  std::unique_ptr<GrpcService> grpc_service;
  std::unique_ptr<grpc::Server> grpc_server;

  std::mutex done_mutex;
  std::condition_variable done;
  bool finished = false;

  Model* find(const std::string& name) {
    const auto m = models.find(name);
    return m == models.end() ? nullptr : m->second.get();
  }

  void count_failure(std::string_view model, Outcome o) {
    failures->Add({{"model", std::string(model)}, {"reason", std::string(wire_of(o).reason)}})
        .Increment();
  }

  // Admission, a worker, a session, the run. `error` gets the message of a failure.
  Outcome infer(const std::string& name, const TensorMap& inputs,
                std::span<const std::string> wanted, TensorMap& outputs, std::string& error) {
    Model* model = find(name);
    if (model == nullptr) {
      error = "no model named '" + name + "' is served";
      count_failure("unknown", Outcome::not_found);
      return Outcome::not_found;
    }
    model->requests->Increment();
    const Clock::time_point start = Clock::now();
    {
      std::unique_lock lock(gate_mutex);
      if (stopping) {
        error = "the server is shutting down";
        count_failure(name, Outcome::unavailable);
        return Outcome::unavailable;
      }
      if (admitted >= options.threads + options.queue_limit) {
        error = "overloaded: " + std::to_string(options.threads) + " workers busy and " +
                std::to_string(options.queue_limit) + " requests waiting; retry later";
        count_failure(name, Outcome::overloaded);
        return Outcome::overloaded;
      }
      ++admitted;
      queue_depth->Set(double(admitted - running));
      const bool got =
          gate.wait_for(lock, std::chrono::duration<double, std::milli>(options.request_timeout_ms),
                        [&] { return running < options.threads; });
      if (!got) {
        --admitted;
        queue_depth->Set(double(admitted - running));
        error = "timed out waiting for a worker";
        count_failure(name, Outcome::timeout);
        return Outcome::timeout;
      }
      ++running;
      queue_depth->Set(double(admitted - running));
      in_flight->Set(double(running));
    }
    Outcome outcome = Outcome::ok;
    std::unique_ptr<Session> session;
    try {
      {
        const std::lock_guard lock(model->mutex);
        if (!model->idle.empty()) {
          session = std::move(model->idle.back());
          model->idle.pop_back();
        }
      }
      if (!session) session = std::make_unique<Session>(model->served.graph, options.session);
      for (const std::string& in : session->graph().inputs)
        if (inputs.count(in) == 0) throw Error(ErrorKind::invalid_argument, "missing input", in);
      for (const auto& [in, t] : inputs)
        if (std::find(session->graph().inputs.begin(), session->graph().inputs.end(), in) ==
            session->graph().inputs.end())
          throw Error(ErrorKind::invalid_argument, "the model has no such input", in);
      TensorMap all = session->run(inputs);
      if (wanted.empty()) {
        outputs = std::move(all);
      } else {
        for (const std::string& w : wanted) {
          const auto o = all.find(w);
          if (o == all.end()) throw Error(ErrorKind::invalid_argument, "no such output", w);
          outputs.insert_or_assign(w, o->second);
        }
      }
    } catch (const Error& e) {
      error = e.what();
      outcome = e.kind() == ErrorKind::internal || e.kind() == ErrorKind::out_of_memory
                    ? Outcome::internal
                    : Outcome::bad_request;
    } catch (const std::exception& e) {
      error = e.what();
      outcome = Outcome::internal;
    }
    if (session) {
      const std::lock_guard lock(model->mutex);
      model->idle.push_back(std::move(session));
    }
    {
      const std::lock_guard lock(gate_mutex);
      --running;
      --admitted;
      queue_depth->Set(double(admitted - running));
      in_flight->Set(double(running));
    }
    gate.notify_all();  // a waiting request, or shutdown() waiting for the last one
    if (outcome == Outcome::ok)
      model->latency->Observe(std::chrono::duration<double>(Clock::now() - start).count());
    else
      count_failure(name, outcome);
    return outcome;
  }

  json model_metadata(const Model& m) const {
    json doc{{"name", m.served.name},
             {"versions", json::array({"1"})},
             {"platform", "onnx"},
             {"inputs", json::array()},
             {"outputs", json::array()}};
    for (const std::string& in : m.served.graph.inputs)
      doc["inputs"].push_back(tensor_metadata(m.served.graph, in));
    for (const std::string& out : m.served.graph.outputs)
      doc["outputs"].push_back(tensor_metadata(m.served.graph, out));
    return doc;
  }

  std::string metrics_text() const {
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, registry->Collect());
    return out.str();
  }

  void serve_metrics(httplib::Server& s) {
    s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics_text(), "text/plain; version=0.0.4");
    });
  }

  void setup_rest();
  void start_grpc();
};

namespace {

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void reply_error(httplib::Response& res, int status, const std::string& message) {
  reply(res, status, json{{"error", message}});
}

}  // namespace

void Server::Impl::setup_rest() {
  http.set_payload_max_length(size_t(options.max_request_bytes));
  http.set_read_timeout(5, 0);
  http.set_write_timeout(5, 0);
  http.set_keep_alive_timeout(2);
  // Without it, Nagle's algorithm meets the client's delayed ACK: ~40 ms added to every answer.
  http.set_tcp_nodelay(true);
  // Enough handler threads that the admission gate, not the pool, decides who waits.
  const size_t handlers = size_t(options.threads) + size_t(options.queue_limit) + 4;
  // httplib owns the queue it asks for (its API takes a raw pointer).
  http.new_task_queue = [handlers] { return new httplib::ThreadPool(handlers); };
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, const std::exception_ptr& ep) {
        std::string what = "internal error";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        reply_error(res, 500, what);
      });
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.body.empty())
      reply_error(res, res.status,
                  res.status == 413 ? "the request is larger than the server accepts"
                                    : "no such endpoint: " + req.method + " " + req.path);
  });
  http.Get("/v2", [](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, json{{"name", "edgeco"}, {"version", "0.1.0"}, {"extensions", json::array()}});
  });
  http.Get("/v2/health/live", [](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, json{{"live", true}});
  });
  http.Get("/v2/health/ready", [this](const httplib::Request&, httplib::Response& res) {
    const bool ready = !stopped.load();
    reply(res, ready ? 200 : 503, json{{"ready", ready}});
  });
  http.Get(R"(/v2/models/([^/]+)(?:/versions/([^/]+))?/ready)",
           [this](const httplib::Request& req, httplib::Response& res) {
             const bool ready = find(req.matches[1]) != nullptr && !stopped.load();
             reply(res, ready ? 200 : 404, json{{"name", req.matches[1]}, {"ready", ready}});
           });
  http.Get(R"(/v2/models/([^/]+)(?:/versions/([^/]+))?)",
           [this](const httplib::Request& req, httplib::Response& res) {
             const Model* m = find(req.matches[1]);
             if (m == nullptr)
               return reply_error(res, 404,
                                  "no model named '" + std::string(req.matches[1]) + "' is served");
             reply(res, 200, model_metadata(*m));
           });
  http.Post(R"(/v2/models/([^/]+)(?:/versions/([^/]+))?/infer)",
            [this](const httplib::Request& req, httplib::Response& res) {
              const std::string name = req.matches[1];
              if (find(name) == nullptr) {
                count_failure("unknown", Outcome::not_found);
                return reply_error(res, 404, "no model named '" + name + "' is served");
              }
              InferRequest request;
              try {
                request = parse_rest_request(req.body, options.max_request_bytes / 4);
              } catch (const Error& e) {
                count_failure(name, Outcome::bad_request);
                return reply_error(res, 400, e.what());
              }
              TensorMap outputs;
              std::string error;
              const Outcome o = infer(name, request.inputs, request.outputs, outputs, error);
              if (o != Outcome::ok) return reply_error(res, wire_of(o).http_status, error);
              res.status = 200;
              res.set_content(rest_response(name, request.id, outputs), "application/json");
            });
  serve_metrics(http);
}

namespace {

// The inputs of a request, raw or typed contents; every size checked against the shapes.
TensorMap decode_inputs(const inference::ModelInferRequest& q, int64_t max_bytes) {
  TensorMap inputs;
  const bool raw = q.raw_input_contents_size() > 0;
  if (raw && q.raw_input_contents_size() != q.inputs_size())
    throw Error(ErrorKind::invalid_argument,
                std::to_string(q.raw_input_contents_size()) + " raw contents for " +
                    std::to_string(q.inputs_size()) + " inputs",
                "request");
  for (int k = 0; k < q.inputs_size(); ++k) {
    const auto& in = q.inputs(k);
    const std::string where = "input '" + in.name() + "'";
    const DType dtype = parse_protocol_datatype(in.datatype());
    const Dims shape(in.shape().begin(), in.shape().end());
    if (inputs.count(in.name()) != 0)
      throw Error(ErrorKind::invalid_argument, "given twice", where);
    Tensor t;
    try {
      if (raw) {
        t = tensor_from_raw(dtype, shape, q.raw_input_contents(k), max_bytes);
      } else {
        const auto& c = in.contents();
        std::string bytes;
        const auto pack = [&](const auto& field, auto as) {
          using T = decltype(as);
          bytes.resize(size_t(field.size()) * sizeof(T));
          for (int i = 0; i < field.size(); ++i) {
            const T v = T(field.Get(i));
            std::memcpy(bytes.data() + size_t(i) * sizeof(T), &v, sizeof(T));
          }
        };
        switch (dtype) {
          case DType::f32:
            pack(c.fp32_contents(), float{});
            break;
          case DType::f64:
            pack(c.fp64_contents(), double{});
            break;
          case DType::i64:
            pack(c.int64_contents(), int64_t{});
            break;
          case DType::i32:
            pack(c.int_contents(), int32_t{});
            break;
          case DType::i16:
            pack(c.int_contents(), int16_t{});
            break;
          case DType::i8:
            pack(c.int_contents(), int8_t{});
            break;
          case DType::u64:
            pack(c.uint64_contents(), uint64_t{});
            break;
          case DType::u32:
            pack(c.uint_contents(), uint32_t{});
            break;
          case DType::u16:
            pack(c.uint_contents(), uint16_t{});
            break;
          case DType::u8:
            pack(c.uint_contents(), uint8_t{});
            break;
          case DType::boolean:
            pack(c.bool_contents(), uint8_t{});
            break;
          default:
            throw Error(ErrorKind::invalid_argument, "this datatype travels only as raw bytes");
        }
        t = tensor_from_raw(dtype, shape, bytes, max_bytes);
      }
    } catch (const Error& e) {
      throw e.within(where);
    }
    inputs.emplace(in.name(), std::move(t));
  }
  return inputs;
}

}  // namespace

InferRequest parse_grpc_request(std::string_view serialized, int64_t max_bytes) {
  inference::ModelInferRequest q;
  if (!q.ParseFromArray(serialized.data(), int(std::min<size_t>(serialized.size(), INT32_MAX))))
    throw Error(ErrorKind::invalid_argument, "not a ModelInferRequest message", "request");
  InferRequest r;
  r.id = q.id();
  r.inputs = decode_inputs(q, max_bytes);
  for (const auto& o : q.outputs()) r.outputs.push_back(o.name());
  return r;
}

class Server::Impl::GrpcService final : public inference::GRPCInferenceService::Service {
 public:
  explicit GrpcService(Server::Impl& server) : server_(server) {}

  grpc::Status ServerLive(grpc::ServerContext*, const inference::ServerLiveRequest*,
                          inference::ServerLiveResponse* r) override {
    r->set_live(true);
    return grpc::Status::OK;
  }
  grpc::Status ServerReady(grpc::ServerContext*, const inference::ServerReadyRequest*,
                           inference::ServerReadyResponse* r) override {
    r->set_ready(!server_.stopped.load());
    return grpc::Status::OK;
  }
  grpc::Status ModelReady(grpc::ServerContext*, const inference::ModelReadyRequest* q,
                          inference::ModelReadyResponse* r) override {
    r->set_ready(server_.find(q->name()) != nullptr && !server_.stopped.load());
    return grpc::Status::OK;
  }
  grpc::Status ServerMetadata(grpc::ServerContext*, const inference::ServerMetadataRequest*,
                              inference::ServerMetadataResponse* r) override {
    r->set_name("edgeco");
    r->set_version("0.1.0");
    return grpc::Status::OK;
  }
  grpc::Status ModelMetadata(grpc::ServerContext*, const inference::ModelMetadataRequest* q,
                             inference::ModelMetadataResponse* r) override {
    const Model* m = server_.find(q->name());
    if (m == nullptr)
      return {grpc::StatusCode::NOT_FOUND, "no model named '" + q->name() + "' is served"};
    const json doc = server_.model_metadata(*m);
    r->set_name(m->served.name);
    r->add_versions("1");
    r->set_platform("onnx");
    for (const char* side : {"inputs", "outputs"}) {
      for (const json& t : doc[side]) {
        auto* meta = std::string_view(side) == "inputs" ? r->add_inputs() : r->add_outputs();
        meta->set_name(t["name"].get<std::string>());
        meta->set_datatype(t["datatype"].get<std::string>());
        for (const json& d : t["shape"]) meta->add_shape(d.get<int64_t>());
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status ModelInfer(grpc::ServerContext*, const inference::ModelInferRequest* q,
                          inference::ModelInferResponse* r) override {
    TensorMap inputs;
    try {
      inputs = decode_inputs(*q, server_.options.max_request_bytes);
    } catch (const Error& e) {
      server_.count_failure(server_.find(q->model_name()) ? q->model_name() : "unknown",
                            Outcome::bad_request);
      return {grpc::StatusCode::INVALID_ARGUMENT, e.what()};
    }
    std::vector<std::string> wanted;
    for (const auto& o : q->outputs()) wanted.push_back(o.name());
    TensorMap outputs;
    std::string error;
    const Outcome o = server_.infer(q->model_name(), inputs, wanted, outputs, error);
    if (o != Outcome::ok) return {wire_of(o).grpc_code, error};
    r->set_model_name(q->model_name());
    r->set_model_version("1");
    r->set_id(q->id());
    for (const auto& [name, t] : outputs) {
      const Tensor& out = t.dtype() == DType::f16 ? t.cast(DType::f32) : t;
      auto* meta = r->add_outputs();
      meta->set_name(name);
      meta->set_datatype(std::string(protocol_datatype(out.dtype())));
      for (int64_t d : out.dims()) meta->add_shape(d);
      const auto bytes = out.bytes();
      r->add_raw_output_contents(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    }
    return grpc::Status::OK;
  }

 private:
  Server::Impl& server_;
};

void Server::Impl::start_grpc() {
  grpc_service = std::make_unique<GrpcService>(*this);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.host + ":" + std::to_string(options.grpc_port),
                           grpc::InsecureServerCredentials(), &bound_grpc);
  builder.SetMaxReceiveMessageSize(int(std::min<int64_t>(options.max_request_bytes, INT32_MAX)));
  builder.SetMaxSendMessageSize(int(std::min<int64_t>(options.max_request_bytes, INT32_MAX)));
  grpc::ResourceQuota quota("edgeco-serve");
  // gRPC refuses calls itself past this many threads; with room above the admission gate's limit,
  // the gate answers "overloaded" first and gRPC's own refusal is for floods only.
  quota.SetMaxThreads(options.threads + options.queue_limit + 64);
  builder.SetResourceQuota(quota);
  builder.RegisterService(grpc_service.get());
  grpc_server = builder.BuildAndStart();
  if (!grpc_server || bound_grpc <= 0)
    throw Error(ErrorKind::io, "could not listen for gRPC",
                options.host + ":" + std::to_string(options.grpc_port));
}

std::vector<ServedModel> load_repository(std::span<const std::filesystem::path> paths) {
  std::vector<std::filesystem::path> files;
  for (const auto& p : paths) {
    if (std::filesystem::is_directory(p)) {
      std::vector<std::filesystem::path> found;
      for (const auto& entry : std::filesystem::directory_iterator(p))
        if (entry.path().extension() == ".onnx") found.push_back(entry.path());
      std::sort(found.begin(), found.end());
      if (found.empty())
        throw Error(ErrorKind::invalid_argument, "no *.onnx model in the folder", p.string());
      files.insert(files.end(), found.begin(), found.end());
    } else if (std::filesystem::exists(p)) {
      files.push_back(p);
    } else {
      throw Error(ErrorKind::io, "no such file or folder", p.string());
    }
  }
  std::vector<ServedModel> models;
  std::set<std::string> names;
  for (const auto& f : files) {
    ServedModel m;
    m.name = f.stem().string();
    m.path = f;
    if (!names.insert(m.name).second)
      throw Error(ErrorKind::invalid_argument, "two models are named '" + m.name + "'", f.string());
    m.graph = load_onnx(f);
    // Prepared once here, so a model that cannot run is refused at start, not at a request.
    Session check(m.graph);
    m.graph = check.graph();
    models.push_back(std::move(m));
  }
  return models;
}

Server::Server(std::vector<ServedModel> models, ServerOptions options)
    : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  if (options.threads < 1 || options.queue_limit < 0 || options.max_request_bytes < 1 ||
      !(options.request_timeout_ms > 0))
    throw Error(ErrorKind::invalid_argument,
                "threads and the request size must be positive, the queue limit >= 0");
  if (options.http_port < 0 && options.grpc_port < 0)
    throw Error(ErrorKind::invalid_argument, "neither REST nor gRPC is enabled");
  s.options = std::move(options);
  auto& requests = prometheus::BuildCounter()
                       .Name("edgeco_requests_total")
                       .Help("Inference requests received, per model")
                       .Register(*s.registry);
  s.failures = &prometheus::BuildCounter()
                    .Name("edgeco_request_failures_total")
                    .Help("Inference requests that failed, per model and reason")
                    .Register(*s.registry);
  auto& latency = prometheus::BuildHistogram()
                      .Name("edgeco_request_duration_seconds")
                      .Help("Time from admission to answer of successful requests, per model")
                      .Register(*s.registry);
  s.queue_depth = &prometheus::BuildGauge()
                       .Name("edgeco_queue_depth")
                       .Help("Requests admitted and waiting for a worker")
                       .Register(*s.registry)
                       .Add({});
  s.in_flight = &prometheus::BuildGauge()
                     .Name("edgeco_requests_in_flight")
                     .Help("Requests running on a worker")
                     .Register(*s.registry)
                     .Add({});
  const prometheus::Histogram::BucketBoundaries buckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                        0.05,   0.1,   0.25,   0.5,   1,    2.5};
  for (ServedModel& m : models) {
    auto model = std::make_unique<Model>();
    model->requests = &requests.Add({{"model", m.name}});
    model->latency = &latency.Add({{"model", m.name}}, buckets);
    const std::string name = m.name;
    model->served = std::move(m);
    s.models.emplace(name, std::move(model));
  }
  if (s.options.grpc_port >= 0) s.start_grpc();
  if (s.options.http_port >= 0) {
    s.setup_rest();
    s.bound_http = bind_port(s.http, s.options.host, s.options.http_port);
    if (s.bound_http <= 0) {
      if (s.grpc_server) s.grpc_server->Shutdown();
      throw Error(ErrorKind::io, "could not listen for REST",
                  s.options.host + ":" + std::to_string(s.options.http_port));
    }
    s.http_thread = std::thread([&s] { s.http.listen_after_bind(); });
  }
  if (s.options.metrics_port >= 0) {
    s.serve_metrics(s.metrics_http);
    s.bound_metrics = bind_port(s.metrics_http, s.options.host, s.options.metrics_port);
    if (s.bound_metrics <= 0) {
      shutdown();
      throw Error(ErrorKind::io, "could not listen for metrics",
                  s.options.host + ":" + std::to_string(s.options.metrics_port));
    }
    s.metrics_thread = std::thread([&s] { s.metrics_http.listen_after_bind(); });
  }
}

Server::~Server() {
  shutdown();
}

int Server::http_port() const {
  return impl_->bound_http;
}
int Server::grpc_port() const {
  return impl_->bound_grpc;
}
int Server::metrics_port() const {
  return impl_->bound_metrics;
}

void Server::shutdown() {
  Impl& s = *impl_;
  if (s.stopped.exchange(true)) return;
  {
    // New requests are refused from here; those admitted run to the end.
    const std::lock_guard lock(s.gate_mutex);
    s.stopping = true;
  }
  if (s.grpc_server) s.grpc_server->Shutdown();  // waits for the RPCs in flight
  {
    std::unique_lock lock(s.gate_mutex);
    s.gate.wait(lock, [&] { return s.admitted == 0; });
  }
  if (s.http_thread.joinable()) {
    s.http.stop();
    s.http_thread.join();
  }
  if (s.metrics_thread.joinable()) {
    s.metrics_http.stop();
    s.metrics_thread.join();
  }
  {
    const std::lock_guard lock(s.done_mutex);
    s.finished = true;
  }
  s.done.notify_all();
}

void Server::wait() {
  Impl& s = *impl_;
  std::unique_lock lock(s.done_mutex);
  s.done.wait(lock, [&] { return s.finished; });
}

}  // namespace edgeco::offload
