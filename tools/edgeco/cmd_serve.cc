// edgeco serve: ONNX models over the Open Inference Protocol (offload.h does the work).
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "edgeco/offload.h"

namespace edgeco::cli {
namespace {

struct ServeRequest {
  std::vector<std::string> paths;
  offload::ServerOptions server;
  int max_request_mb = 64;
  bool fast = false, json = false;
};

void serve_command(ServeRequest& r) {
  // SIGTERM and SIGINT go to this thread alone (every thread the server starts inherits the mask),
  // which then shuts the server down gracefully.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::vector<std::filesystem::path> paths(r.paths.begin(), r.paths.end());
  std::vector<offload::ServedModel> models = offload::load_repository(paths);
  r.server.max_request_bytes = int64_t(r.max_request_mb) << 20;
  if (r.fast) r.server.session = SessionOptions{.optimize = true, .fast_kernels = true};
  nlohmann::ordered_json names = nlohmann::ordered_json::array();
  for (const auto& m : models) names.push_back(m.name);
  offload::Server server(std::move(models), r.server);
  nlohmann::ordered_json ready{{"http_port", server.http_port()},
                               {"grpc_port", server.grpc_port()},
                               {"metrics_port", server.metrics_port()},
                               {"models", names}};
  if (r.json) {
    std::cout << ready.dump() << std::endl;
  } else {
    std::printf("serving %zu model(s) on %s:", names.size(), r.server.host.c_str());
    if (server.http_port() > 0) std::printf(" REST %d", server.http_port());
    if (server.grpc_port() > 0) std::printf(", gRPC %d", server.grpc_port());
    if (server.metrics_port() > 0) std::printf(", metrics %d", server.metrics_port());
    std::printf(" (Open Inference Protocol; SIGTERM stops it gracefully)\n");
    for (const auto& n : names) std::printf("  %s\n", n.get<std::string>().c_str());
    std::fflush(stdout);
  }
  int received = 0;
  sigwait(&signals, &received);
  std::fprintf(stderr, "edgeco serve: %s, finishing the requests in flight\n",
               received == SIGTERM ? "SIGTERM" : "SIGINT");
  server.shutdown();
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto r = std::make_shared<ServeRequest>();
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "Serve ONNX models over the Open Inference Protocol (KServe v2, as Triton and KServe "
      "speak it): REST on --http, gRPC (inference.GRPCInferenceService) on --grpc, Prometheus "
      "metrics at /metrics. Each model is named after its file; a folder serves every *.onnx "
      "in it (the tails `edgeco split --repository` writes, say). Requests beyond the workers "
      "and the queue are refused at once as overloaded; SIGTERM lets the requests in flight "
      "finish and refuses new ones.");
  cmd->add_option("MODEL_OR_DIR", r->paths, "ONNX files or folders of them")->required();
  cmd->add_option("--host", r->server.host, "address to listen on")->capture_default_str();
  cmd->add_option("--http", r->server.http_port, "REST port (0: any free one, -1: none)")
      ->check(CLI::Range(-1, 65535))
      ->capture_default_str();
  cmd->add_option("--grpc", r->server.grpc_port, "gRPC port (0: any free one, -1: none)")
      ->check(CLI::Range(-1, 65535))
      ->capture_default_str();
  cmd->add_option("--metrics", r->server.metrics_port,
                  "a port of its own for /metrics (0: any free one; default: the REST port only)")
      ->check(CLI::Range(-1, 65535));
  cmd->add_option("--threads", r->server.threads, "inference workers")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--queue", r->server.queue_limit,
                  "requests that may wait for a worker; more are refused (overloaded)")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  cmd->add_option("--max-request-mb", r->max_request_mb, "largest request accepted")
      ->check(CLI::Range(1, 2047))
      ->capture_default_str();
  cmd->add_option("--timeout-ms", r->server.request_timeout_ms,
                  "longest a request waits for a worker")
      ->check(CLI::Range(1.0, 3.6e6))
      ->capture_default_str();
  cmd->add_flag("--fast", r->fast, "optimized graphs and fast kernels (default: reference)");
  cmd->add_flag("--json", r->json, "print the bound ports as one JSON line when ready");
  cmd->callback([r] { serve_command(*r); });
}

}  // namespace edgeco::cli
