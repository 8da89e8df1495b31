// edgeco stream: the real control loop on this machine (power/stream.h does the work).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "edgeco/data.h"
#include "edgeco/offload.h"
#include "edgeco/onnx.h"
#include "edgeco/sim.h"
#include "edgeco/stream.h"

namespace edgeco::cli {
namespace {

namespace fs = std::filesystem;

struct StreamRequest {
  std::string models, source = "fashion-mnist:test", governor = "rule", policy, root = "/", out,
                      platform = "host";
  power::StreamOptions stream;
  std::string offload, split = "auto", server_platform = "host";
  offload::ClientOptions client;
  double link_mbps = 100, link_rtt_ms = 1;
  int threads = 1;
  bool json = false, shield = false, no_shield = false;
};

struct Named {
  std::string name;
  fs::path model;
  double accuracy = 0;
};

// A scenario's variants (with their measured accuracy), or ONNX files separated by commas.
std::vector<Named> variants_of(const std::string& spec) {
  std::vector<Named> out;
  const bool files = spec.find(".onnx") != std::string::npos;
  if (!files) {
    for (const sim::Variant& v : sim::find_scenario(spec).variants)
      out.push_back({v.name, v.model, v.accuracy});
    return out;
  }
  for (const std::string& item : comma_items(spec)) {
    if (item.empty()) throw Error(ErrorKind::invalid_argument, "an empty model path", spec);
    const fs::path p = item;
    out.push_back({p.stem().string(), p, 0});
  }
  return out;
}

power::StreamSource source_of(const std::string& spec) {
  if (spec.rfind("fashion-mnist", 0) == 0) {
    std::string split = "test";
    if (spec.size() > 13) {
      if (spec[13] != ':' || (spec.substr(14) != "test" && spec.substr(14) != "train"))
        throw Error(ErrorKind::invalid_argument,
                    "expected fashion-mnist, fashion-mnist:test or "
                    "fashion-mnist:train",
                    spec);
      split = spec.substr(14);
    }
    Dataset d = load_dataset("fashion-mnist", "", split);
    return {std::move(d.samples), std::move(d.labels)};
  }
  std::error_code ec;
  if (!fs::is_directory(spec, ec))
    throw Error(ErrorKind::invalid_argument,
                "a source is fashion-mnist[:test|:train] or a folder of .npy images", spec);
  std::vector<fs::path> files;
  for (fs::directory_iterator it(spec, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".npy") files.push_back(it->path());
  std::sort(files.begin(), files.end());
  if (files.empty()) throw Error(ErrorKind::invalid_argument, "no .npy files", spec);
  std::vector<float> all;
  Dims shape;
  for (const fs::path& f : files) {
    Tensor t = load_npy(f);
    if (t.dtype() != DType::f32) t = t.cast(DType::f32);
    Dims d(t.dims().begin(), t.dims().end());
    if (d.size() == 2) d.insert(d.begin(), 1);           // [H, W]
    if (d.size() == 4 && d[0] == 1) d.erase(d.begin());  // [1, C, H, W]
    if (d.size() != 3)
      throw Error(
          ErrorKind::invalid_argument,
          "an image is [H, W], [C, H, W] or [1, C, H, W], this is " + dims_to_string(t.dims()),
          f.string());
    if (shape.empty()) shape = d;
    if (d != shape)
      throw Error(ErrorKind::invalid_argument,
                  "every image must have the first's shape " + dims_to_string(shape), f.string());
    const auto v = t.data<float>();
    all.insert(all.end(), v.begin(), v.end());
  }
  Dims dims{int64_t(files.size()), shape[0], shape[1], shape[2]};
  return {Tensor::from_values<float>(dims, std::span<const float>(all)), std::nullopt};
}

nlohmann::ordered_json frame_json(const power::FrameRecord& r) {
  nlohmann::ordered_json j;
  j["frame"] = r.frame;
  j["t_ms"] = r.t_ms;
  if (r.dropped) {
    j["dropped"] = true;
    j["label"] = r.label >= 0 ? nlohmann::ordered_json(r.label) : nullptr;
    return j;
  }
  j["latency_ms"] = r.latency_ms;
  j["variant"] = r.variant;
  j["resolution"] = r.resolution_px;
  j["where"] = r.where;
  j["predicted"] = r.predicted;
  if (r.label >= 0) {
    j["label"] = r.label;
    j["correct"] = r.label == r.predicted;
  } else {
    j["label"] = nullptr;
    j["correct"] = nullptr;
  }
  return j;
}

void stream_command(StreamRequest& r) {
  const std::vector<Named> named = variants_of(r.models);
  const power::StreamSource source = source_of(r.source);
  const hw::Platform platform = hw::find_platform(r.platform);
  // Sessions, each warmed and timed once, and each variant's modelled energy per inference on
  // the platform (the energy figure where this machine has no power sensor).
  std::vector<power::StreamVariant> variants;
  power::ControlSpace space;
  nlohmann::ordered_json warm = nlohmann::ordered_json::object();
  for (const Named& n : named) {
    Graph g = load_onnx(n.model);
    const double mj =
        sim::energy_per_inference_mj(sim::price_variant(g, platform, Strategy::exact), platform);
    auto session = std::make_shared<Session>(
        std::move(g), SessionOptions{.threads = r.threads, .optimize = true, .fast_kernels = true});
    const Value& in = session->graph().value(session->graph().inputs.at(0));
    if (!in.type || in.type->dims.size() != 4)
      throw Error(ErrorKind::invalid_argument, "a streamed model takes images [N, C, H, W]",
                  n.model.string());
    const Dims& d = in.type->dims;
    Tensor first = Tensor::from_values<float>(
        {1, source.images.dim(1), source.images.dim(2), source.images.dim(3)},
        source.images.data<float>().subspan(0,
                                            size_t(source.images.numel() / source.images.dim(0))));
    TensorMap feed;
    feed.emplace(session->graph().inputs[0], fit_images(first, d[1], d[2], d[3]));
    session->run(feed);
    const auto t0 = std::chrono::steady_clock::now();
    session->run(feed);
    warm[n.name] =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    variants.push_back({n.name, session, n.accuracy, mj});
    space.variants.push_back({n.name, int(d[2]), n.accuracy, mj});
  }
  // The DVFS domains this machine exposes (none in most containers).
  power::LinuxTelemetry probe(r.root);
  for (const power::Domain& d : probe.sample().domains)
    if (d.available_mhz.size() > 1) space.devices.push_back({d.name, d.available_mhz});
  space.levels = space.devices.empty() ? 1 : 4;
  r.stream.static_watts = platform.static_watts;
  space.deadline_ms = r.stream.deadline_ms > 0 ? r.stream.deadline_ms : 1000 / r.stream.rate_hz;
  space.queue_capacity = r.stream.queue_capacity;
  space.nominal_rate_hz = r.stream.rate_hz;
  std::optional<bool> shield;
  if (r.shield) shield = true;
  if (r.no_shield) shield = false;
  const std::unique_ptr<power::Governor> governor =
      power::make_controller(r.governor, space, r.policy, shield);
  r.stream.root = r.root;
  const SessionOptions session_options{
      .threads = r.threads, .optimize = true, .fast_kernels = true};
  std::map<std::string, std::unique_ptr<offload::Offloader>> offloaders;
  if (!r.offload.empty()) {
    const hw::Platform server = hw::find_platform(r.server_platform);
    r.client.assumed_link = {r.link_mbps, r.link_rtt_ms};
    for (const Named& n : named)
      offloaders[n.name] = offload::make_offloader(n.name, load_onnx(n.model), r.split, r.offload,
                                                   platform, server, r.client, session_options);
    r.stream.runner = [&offloaders](const std::string& variant, const TensorMap& feed,
                                    std::optional<bool> wish, std::string& where) {
      offload::Offloader& o = *offloaders.at(variant);
      o.set_enabled(wish.value_or(true));
      offload::Where w = offload::Where::local;
      TensorMap out = o.run(feed, &w);
      where = std::string(offload::to_string(w));
      return out;
    };
  }

  std::ofstream file;
  if (!r.out.empty()) {
    file.open(r.out, std::ios::binary | std::ios::trunc);
    if (!file) throw Error(ErrorKind::io, "cannot write the frame log", r.out);
  }
  const bool bar = !r.json && ::isatty(2);
  int64_t reported = 0;
  const auto on_frame = [&](const power::FrameRecord& f) {
    ++reported;
    if (file.is_open())
      file << frame_json(f).dump() << "\n";
    else if (r.json)
      std::cout << frame_json(f).dump() << "\n";
    if (bar && (reported % 50 == 0 || reported == r.stream.count))
      progress_bar("streaming", double(reported) / double(r.stream.count),
                   std::to_string(reported) + "/" + std::to_string(r.stream.count),
                   reported == r.stream.count);
  };
  power::restore_actuators_on_signals();
  const power::StreamSummary s = power::run_stream(variants, source, r.stream, *governor, on_frame);
  if (file.is_open()) {
    file.close();
    if (!file) throw Error(ErrorKind::io, "writing the frame log failed", r.out);
  }
  nlohmann::ordered_json j;
  j["governor"] = governor->name();
  j["rate_hz"] = r.stream.rate_hz;
  j["frames"] = s.frames;
  j["served"] = s.served;
  j["dropped"] = s.dropped;
  j["deadline_ms"] = space.deadline_ms;
  j["deadline_misses"] = s.deadline_misses;
  j["seconds"] = s.seconds;
  j["latency_ms"] = {
      {"p50", s.latency_p50_ms}, {"p95", s.latency_p95_ms}, {"p99", s.latency_p99_ms}};
  j["accuracy"] = s.accuracy ? nlohmann::ordered_json(*s.accuracy) : nullptr;
  j["served_by_variant"] = s.served_by_variant;
  j["served_where"] = s.served_where;
  if (!offloaders.empty()) {
    nlohmann::ordered_json per = nlohmann::ordered_json::object();
    for (const auto& [name, o] : offloaders) {
      const offload::OffloadStats st = o->stats();
      per[name] = {{"cut", st.cut},
                   {"cuts", st.cuts},
                   {"all_local", st.cut + 1 == st.cuts},
                   {"offload", st.offload},
                   {"fallback", st.fallback},
                   {"local", st.local},
                   {"failures", st.failures},
                   {"bandwidth_mbps", st.bandwidth_mbps},
                   {"rtt_ms", st.rtt_ms}};
    }
    j["offload"] = per;
  }
  j["switches"] = s.switches;
  j["decision_us"] = {{"p50", s.decision_us_p50}, {"p99", s.decision_us_p99}};
  j["shield_overrides"] = s.shield_overrides;
  j["warm_latency_ms"] = warm;
  j["energy_j"] = s.energy_j ? nlohmann::ordered_json(*s.energy_j) : nullptr;
  j["energy_source"] = s.energy_source;
  j["unavailable_actuators"] = s.unavailable;
  j["measured"] = "latency, accuracy, drops and decisions on this machine";
  if (r.json) {
    std::cout << nlohmann::ordered_json{{"summary", j}}.dump() << "\n";
    return;
  }
  std::printf("streamed %lld frames at %.1f fps under %s in %.1f s (measured here)\n",
              static_cast<long long>(s.frames), r.stream.rate_hz, governor->name().c_str(),
              s.seconds);
  std::printf(
      "  served %lld, dropped %lld (every drop is in the frame log), %lld past the %.1f ms "
      "deadline\n",
      static_cast<long long>(s.served), static_cast<long long>(s.dropped),
      static_cast<long long>(s.deadline_misses), space.deadline_ms);
  std::printf("  latency p50 %.2f ms, p95 %.2f ms, p99 %.2f ms\n", s.latency_p50_ms,
              s.latency_p95_ms, s.latency_p99_ms);
  if (s.accuracy) std::printf("  accuracy %.2f%% of served frames\n", 100 * *s.accuracy);
  for (const auto& [v, n] : s.served_by_variant)
    std::printf("  served by %-18s %lld (warm latency %.2f ms)\n", v.c_str(),
                static_cast<long long>(n), warm.value(v, 0.0));
  std::printf("  variant switches %lld; decisions p50 %.1f us, p99 %.1f us\n",
              static_cast<long long>(s.switches), s.decision_us_p50, s.decision_us_p99);
  for (const auto& [w, n] : s.served_where)
    std::printf("  ran %-9s %lld frame(s)\n", w.c_str(), static_cast<long long>(n));
  if (s.energy_j) std::printf("  energy %.2f J, %s\n", *s.energy_j, s.energy_source.c_str());
  for (const std::string& u : s.unavailable) std::printf("  not actuated: %s\n", u.c_str());
}

}  // namespace

void add_stream_command(CLI::App& app) {
  auto r = std::make_shared<StreamRequest>();
  CLI::App* cmd = app.add_subcommand(
      "stream",
      "Run the control loop for real: frames arrive at --rate into a bounded queue, edgeco "
      "sessions serve them, and a governor reads this machine's telemetry (measured latency, "
      "queue, sysfs where present) every control interval and switches variants (and sets "
      "cpufreq/devfreq where writable). Every frame is served or reported dropped.");
  cmd->add_option("MODELS", r->models,
                  "a scenario (its variants, with their measured accuracy) or ONNX files "
                  "separated by commas, the first the default")
      ->required();
  cmd->add_option("--source", r->source,
                  "fashion-mnist[:test|:train] (labelled) or a folder of .npy images")
      ->capture_default_str();
  cmd->add_option("--rate", r->stream.rate_hz, "frames per second")
      ->check(CLI::Range(0.001, 100000.0))
      ->capture_default_str();
  cmd->add_option("--count", r->stream.count, "frames to send")
      ->check(CLI::Range(int64_t{1}, int64_t{100'000'000}))
      ->capture_default_str();
  cmd->add_option("--deadline-ms", r->stream.deadline_ms, "per-frame deadline (default: a period)");
  cmd->add_option("--queue", r->stream.queue_capacity, "frames waiting at most (then drop oldest)")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  cmd->add_option("--interval-ms", r->stream.control_interval_ms, "control interval")
      ->check(CLI::Range(1.0, 60'000.0))
      ->capture_default_str();
  cmd->add_option("--governor", r->governor,
                  "rule (default), static-max, dqn (--policy), static or a kernel governor")
      ->capture_default_str();
  cmd->add_option("--policy", r->policy, "dqn: a Q-network for this machine's features");
  cmd->add_flag("--shield", r->shield, "wrap the governor in the safety shield");
  cmd->add_flag("--no-shield", r->no_shield, "run rule or dqn without the shield");
  cmd->add_option("--root", r->root, "telemetry and actuators under this folder (a fake tree)");
  cmd->add_option("--platform", r->platform,
                  "platform whose model gives the energy where no power sensor exists")
      ->capture_default_str();
  cmd->add_option("--threads", r->threads, "threads per session")->check(CLI::Range(1, 256));
  cmd->add_option("--out", r->out, "write one JSON line per frame here");
  cmd->add_flag("--json", r->json,
                "print JSON lines: one per frame (unless --out), then {\"summary\": {...}}");
  cmd->add_option("--offload", r->offload,
                  "a fog node's Open Inference Protocol gRPC address (host:port) serving each "
                  "variant's tails (`edgeco split --repository`): the head runs here, the tail "
                  "there, and locally for any frame the server fails");
  cmd->add_option("--split", r->split,
                  "with --offload: auto (the cost model's best cut for the measured link), remote "
                  "(the whole model on the server) or a node to cut after")
      ->capture_default_str();
  cmd->add_option("--server-platform", r->server_platform, "with --split auto: the fog node's")
      ->capture_default_str();
  cmd->add_option("--link-mbps", r->link_mbps, "with --split auto: the link assumed at first")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--link-rtt-ms", r->link_rtt_ms, "with --split auto: the RTT assumed at first")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--offload-timeout-ms", r->client.timeout_ms, "per request to the fog node")
      ->check(CLI::Range(1.0, 600000.0))
      ->capture_default_str();
  cmd->callback([r] { stream_command(*r); });
}

}  // namespace edgeco::cli
