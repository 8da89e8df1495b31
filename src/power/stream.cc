#include "edgeco/stream.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "edgeco/data.h"
#include "edgeco/session.h"

namespace edgeco::power {

namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct Input {
  std::string name;
  int64_t channels = 1, height = 0, width = 0;
};

Input input_of(const StreamVariant& v) {
  const Graph& g = v.session->graph();
  const Value& in = g.value(g.inputs.at(0));
  if (!in.type || in.type->dims.size() != 4 || in.type->dims[1] <= 0 || in.type->dims[2] <= 0 ||
      in.type->dims[3] <= 0)
    throw Error(ErrorKind::invalid_argument,
                "a streamed model takes images [N, C, H, W] with C, H and W known",
                "variant " + v.name);
  return {g.inputs[0], in.type->dims[1], in.type->dims[2], in.type->dims[3]};
}

int64_t argmax(const Tensor& logits) {
  const Tensor f = logits.dtype() == DType::f32 ? logits : logits.cast(DType::f32);
  const auto v = f.data<float>();
  if (v.empty()) throw Error(ErrorKind::invalid_argument, "the model gave no output values");
  return int64_t(std::max_element(v.begin(), v.end()) - v.begin());
}

}  // namespace

StreamSummary run_stream(std::vector<StreamVariant> variants, const StreamSource& source,
                         const StreamOptions& o, Governor& governor,
                         const std::function<void(const FrameRecord&)>& on_frame) {
  if (variants.empty()) throw Error(ErrorKind::invalid_argument, "no model to stream with");
  if (!(o.rate_hz > 0) || o.count < 1 || o.queue_capacity < 1 || !(o.control_interval_ms > 0))
    throw Error(ErrorKind::invalid_argument,
                "rate, count, queue capacity and control interval must be positive");
  if (source.images.rank() != 4 || source.images.dim(0) < 1)
    throw Error(ErrorKind::invalid_argument, "the source has no images [N, C, H, W]");
  const int64_t samples = source.images.dim(0);
  const int64_t per_image = source.images.numel() / samples;
  const Dims one_image{1, source.images.dim(1), source.images.dim(2), source.images.dim(3)};
  const Tensor images =
      source.images.dtype() == DType::f32 ? source.images : source.images.cast(DType::f32);
  const auto pixels = images.data<float>();

  std::vector<Input> inputs;
  std::vector<VariantSwitch::Variant> switchable;
  for (const StreamVariant& v : variants) {
    if (!v.session) throw Error(ErrorKind::invalid_argument, "no session", "variant " + v.name);
    inputs.push_back(input_of(v));
    switchable.push_back({v.name, v.session});
  }
  VariantSwitch models(std::move(switchable));
  const auto variant_index = [&](const std::string& name) {
    for (size_t i = 0; i < variants.size(); ++i)
      if (variants[i].name == name) return i;
    return size_t(0);
  };

  StreamSummary out;
  LinuxTelemetry telemetry(o.root);
  std::vector<std::pair<std::string, std::unique_ptr<FrequencyActuator>>> actuators;
  for (auto& a : linux_frequency_actuators(o.root)) {
    const std::string why = a->unavailable_reason();
    if (!why.empty()) out.unavailable.push_back(a->name() + ": " + why);
    std::string name = a->name();
    actuators.emplace_back(std::move(name), std::move(a));
  }
  const double deadline_ms = o.deadline_ms > 0 ? o.deadline_ms : 1000 / o.rate_hz;

  // The camera: frame i arrives at start + i / rate into the bounded queue.
  std::mutex mutex;
  std::condition_variable ready;
  struct Waiting {
    int64_t frame;
    Clock::time_point arrival;
  };
  std::deque<Waiting> queue;
  std::vector<Waiting> dropped;  // dropped by the camera, reported by the server
  bool all_arrived = false;
  int64_t arrivals = 0;
  const Clock::time_point start = Clock::now();
  std::jthread camera([&](const std::stop_token& stop) {
    for (int64_t i = 0; i < o.count && !stop.stop_requested(); ++i) {
      const Clock::time_point at =
          start + std::chrono::duration_cast<Clock::duration>(
                      std::chrono::duration<double>(double(i) / o.rate_hz));
      std::this_thread::sleep_until(at);
      {
        const std::lock_guard lock(mutex);
        if (queue.size() >= size_t(o.queue_capacity)) {
          dropped.push_back(queue.front());
          queue.pop_front();
        }
        queue.push_back({i, Clock::now()});
        ++arrivals;
      }
      ready.notify_one();
    }
    {
      const std::lock_guard lock(mutex);
      all_arrived = true;
    }
    ready.notify_one();
  });

  std::vector<double> latencies, interval_latencies, decisions;
  int64_t correct = 0, labelled = 0, arrivals_seen = 0;
  Clock::time_point last_control = start - std::chrono::hours(1);
  std::optional<bool> offload_wish;
  double measured_j = 0;
  bool measured = false;
  std::optional<Clock::time_point> last_power_at;
  double modelled_mj = 0;
  bool modelled_known = true;

  const auto emit = [&](const FrameRecord& r) {
    if (on_frame) on_frame(r);
  };
  const auto control = [&](Clock::time_point now, size_t waiting, int64_t arrived) {
    Snapshot s = telemetry.sample();
    if (!std::isnan(s.power_w)) {
      if (last_power_at) measured_j += s.power_w * ms_between(*last_power_at, now) * 1e-3;
      last_power_at = now;
      measured = true;
    }
    s.latency_ms = interval_latencies.empty() ? kUnknown : percentile(interval_latencies, 0.95);
    s.queue_length = double(waiting);
    const double span_ms = std::min(ms_between(last_control, now), ms_between(start, now));
    s.input_rate_hz = span_ms > 0 ? double(arrived - arrivals_seen) / (span_ms * 1e-3) : kUnknown;
    s.variant = models.current();
    s.resolution_px = int(inputs[variant_index(s.variant)].height);
    arrivals_seen = arrived;
    interval_latencies.clear();
    const Clock::time_point t0 = Clock::now();
    const Action a = governor.decide(s);
    decisions.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    if (a.offload) offload_wish = a.offload;
    if (a.variant && *a.variant != models.current()) {
      models.select(*a.variant);
      ++out.switches;
    }
    for (size_t i = 0; i < a.mhz.size() && i < s.domains.size(); ++i) {
      if (std::isnan(a.mhz[i])) continue;
      for (auto& [name, actuator] : actuators)
        if (name == s.domains[i].name && actuator->unavailable_reason().empty() &&
            std::abs(a.mhz[i] - s.domains[i].cur_mhz) > 1e-6)
          actuator->set_mhz(a.mhz[i]);
    }
    last_control = now;
  };

  try {
    for (;;) {
      Waiting next{};
      size_t waiting = 0;
      int64_t arrived = 0;
      std::vector<Waiting> lost;
      {
        std::unique_lock lock(mutex);
        ready.wait(lock, [&] { return !queue.empty() || all_arrived || !dropped.empty(); });
        lost.swap(dropped);
        if (queue.empty() && all_arrived && lost.empty()) break;
        if (!queue.empty()) {
          next = queue.front();
          queue.pop_front();
        } else {
          next.frame = -1;
        }
        waiting = queue.size();
        arrived = arrivals;
      }
      for (const Waiting& w : lost) {
        FrameRecord r;
        r.frame = w.frame;
        r.t_ms = ms_between(start, w.arrival);
        r.dropped = true;
        if (source.labels)
          r.label = int64_t(source.labels->data<int64_t>()[size_t(w.frame % samples)]);
        ++out.dropped;
        emit(r);
      }
      if (next.frame < 0) continue;
      const Clock::time_point now = Clock::now();
      if (ms_between(last_control, now) >= o.control_interval_ms) control(now, waiting, arrived);

      const size_t v = variant_index(models.current());
      const Input& in = inputs[v];
      const int64_t sample = next.frame % samples;
      Tensor image = Tensor::from_values<float>(
          one_image, pixels.subspan(size_t(sample * per_image), size_t(per_image)));
      image = fit_images(image, in.channels, in.height, in.width);
      TensorMap feed;
      feed.emplace(in.name, std::move(image));
      std::string where = "local";
      const TensorMap result =
          o.runner ? o.runner(variants[v].name, feed, offload_wish, where) : models.run(feed);
      const Graph& g = variants[v].session->graph();
      const int64_t predicted = argmax(result.at(g.outputs.at(0)));
      const Clock::time_point done = Clock::now();

      FrameRecord r;
      r.frame = next.frame;
      r.t_ms = ms_between(start, next.arrival);
      r.latency_ms = ms_between(next.arrival, done);
      r.variant = variants[v].name;
      r.resolution_px = int(in.height);
      r.where = where;
      r.predicted = predicted;
      if (source.labels) {
        r.label = int64_t(source.labels->data<int64_t>()[size_t(sample)]);
        ++labelled;
        if (r.label == predicted) ++correct;
      }
      latencies.push_back(r.latency_ms);
      interval_latencies.push_back(r.latency_ms);
      if (r.latency_ms > deadline_ms) ++out.deadline_misses;
      ++out.served;
      ++out.served_by_variant[r.variant];
      ++out.served_where[r.where];
      if (variants[v].energy_mj > 0)
        modelled_mj += variants[v].energy_mj;
      else
        modelled_known = false;
      emit(r);
    }
  } catch (...) {
    camera.request_stop();
    throw;
  }
  camera.join();
  out.seconds = ms_between(start, Clock::now()) * 1e-3;
  out.frames = out.served + out.dropped;
  if (out.frames != o.count)
    throw Error(ErrorKind::internal, "frames unaccounted for: " + std::to_string(o.count) +
                                         " sent, " + std::to_string(out.frames) + " reported");
  out.latency_p50_ms = percentile(latencies, 0.50);
  out.latency_p95_ms = percentile(latencies, 0.95);
  out.latency_p99_ms = percentile(latencies, 0.99);
  if (labelled > 0) out.accuracy = double(correct) / double(labelled);
  out.decision_us_p50 = percentile(decisions, 0.50);
  out.decision_us_p99 = percentile(decisions, 0.99);
  out.shield_overrides = governor.overrides();
  if (measured) {
    out.energy_j = measured_j;
    out.energy_source = "measured (the board's power sensor, sampled each control interval)";
  } else if (modelled_known) {
    out.energy_j = modelled_mj * 1e-3 + o.static_watts * out.seconds;
    out.energy_source =
        "modelled (no power sensor here): each variant's modelled energy per "
        "inference plus static power";
  } else {
    out.energy_source = "unknown: no power sensor here and no model of a variant's energy";
  }
  for (auto& [name, actuator] : actuators) actuator->restore();
  return out;
}

}  // namespace edgeco::power
