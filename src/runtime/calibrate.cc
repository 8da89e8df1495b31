// Calibrating the `host` platform: micro-benchmarks of single layers on this machine's runtime,
// fitted into the cost model's parameters (sustained MACs per cycle per type and operator class,
// DRAM and cache bandwidth, per-node overhead), written as a platform YAML.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "edgeco/compress.h"
#include "edgeco/hw.h"
#include "edgeco/runtime.h"

namespace edgeco {
namespace {

Tensor random_tensor(const Dims& dims, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  std::vector<float> v(size_t(checked_numel(dims)));
  for (auto& x : v) x = u(rng);
  return Tensor::from_values<float>(dims, std::span<const float>(v));
}

// Layer `i` of a chain, "layer<i>": an `op` reading `x` with its own weights and bias (random,
// seeded by `i`), writing `out`.
void add_layer(Graph& g, int i, const std::string& op, const std::string& x, const Dims& weights,
               const std::string& out, std::map<std::string, Attribute> attributes) {
  const std::string n = std::to_string(i);
  g.value("w" + n).initializer = random_tensor(weights, uint32_t(1 + 2 * i));
  g.value("b" + n).initializer = random_tensor({weights.front()}, uint32_t(2 + 2 * i));
  g.nodes.push_back(Node{"layer" + n, op, "", {x, "w" + n, "b" + n}, {out}, std::move(attributes)});
}

// One benchmark: a graph whose nodes `nodes` are timed, and what the cost model sees in them.
struct Bench {
  std::string what;
  hw::OpClass op_class;
  Graph graph;
  std::vector<std::string> nodes;
  int64_t macs = 0, bytes = 0;  // over all of `nodes`
};

// A convolution (+ ReLU, as in every real network: the fused kernel is what runs there too),
// `depth` times in a chain: each layer has its own weights and reads the output of the one before
// (a layer that changes the channel count alternates with its mirror), so weights come from
// memory and activations from the previous layer, as in a network; a single layer rerun would
// find its weights in cache. Strided layers do not chain (depth 1).
// With `swish`, the activation is x * Sigmoid(x) (SiLU) instead of ReLU.
Bench conv(int64_t c_in, int64_t c_out, int64_t side, int64_t k, int64_t stride, bool depthwise,
           int depth = 1, bool swish = false) {
  Bench b;
  const int64_t group = depthwise ? c_in : 1;
  if (stride != 1) depth = 1;
  b.what = std::string(depthwise ? "depthwise" : "conv") + " " + std::to_string(k) + "x" +
           std::to_string(k) + "/" + std::to_string(stride) + " " + std::to_string(c_in) + "->" +
           std::to_string(c_out) + " @" + std::to_string(side) +
           (depth > 1 ? " x" + std::to_string(depth) : "");
  b.op_class = depthwise ? hw::OpClass::depthwise_conv : hw::OpClass::dense_conv;
  Graph& g = b.graph;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {1, c_in, side, side}};
  const int64_t pad = k / 2;
  const int64_t out_side = (side + 2 * pad - k) / stride + 1;
  std::string x = "x";
  for (int i = 0; i < depth; ++i) {
    const auto [from, to] = i % 2 == 0 ? std::pair{c_in, c_out} : std::pair{c_out, c_in};
    const std::string n = std::to_string(i);
    add_layer(g, i, "Conv", x, {to, from / group, k, k}, "c" + n,
              {{"pads", Attribute{std::vector<int64_t>{pad, pad, pad, pad}}},
               {"strides", Attribute{std::vector<int64_t>{stride, stride}}},
               {"kernel_shape", Attribute{std::vector<int64_t>{k, k}}},
               {"group", Attribute{group}}});
    if (swish) {
      g.nodes.push_back(Node{"gate" + n, "Sigmoid", "", {"c" + n}, {"s" + n}});
      g.nodes.push_back(Node{"swish" + n, "Mul", "", {"c" + n, "s" + n}, {"y" + n}});
    } else {
      g.nodes.push_back(Node{"relu" + n, "Relu", "", {"c" + n}, {"y" + n}});
    }
    x = "y" + n;
    b.nodes.push_back("layer" + n);
    b.macs += to * out_side * out_side * (from / group) * k * k;
    b.bytes += (from * side * side + to * out_side * out_side + to * from / group * k * k) * 4;
  }
  g.outputs = {x};
  return b;
}

// A fully connected layer at batch 1, `depth` times in a chain (alternating with its mirror),
// each with its own weights: in a network a classifier's weights come from memory, while a single
// layer rerun would find them in cache.
Bench gemm(int64_t in, int64_t out, int depth = 1) {
  Bench b;
  b.what = "gemm " + std::to_string(in) + "->" + std::to_string(out) +
           (depth > 1 ? " x" + std::to_string(depth) : "");
  b.op_class = hw::OpClass::matmul;
  Graph& g = b.graph;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {1, in}};
  std::string x = "x";
  for (int i = 0; i < depth; ++i) {
    const auto [from, to] = i % 2 == 0 ? std::pair{in, out} : std::pair{out, in};
    const std::string n = std::to_string(i);
    add_layer(g, i, "Gemm", x, {to, from}, "y" + n, {{"transB", Attribute{int64_t(1)}}});
    x = "y" + n;
    b.nodes.push_back("layer" + n);
    b.macs += from * to;
    b.bytes += (from + to + from * to) * 4;
  }
  g.outputs = {x};
  return b;
}

Bench elementwise(int64_t channels, int64_t side) {
  Bench b;
  b.what = "add " + std::to_string(channels) + "@" + std::to_string(side);
  b.op_class = hw::OpClass::elementwise;
  Graph& g = b.graph;
  g.inputs = {"x", "z"};
  g.value("x").type = TensorType{DType::f32, {1, channels, side, side}};
  g.value("z").type = TensorType{DType::f32, {1, channels, side, side}};
  g.nodes.push_back(Node{"layer", "Add", "", {"x", "z"}, {"y"}});
  g.outputs = {"y"};
  b.nodes = {"layer"};
  b.macs = channels * side * side;
  b.bytes = 3 * b.macs * 4;
  return b;
}

Bench pooling(int64_t channels, int64_t side) {
  Bench b;
  b.what = "global pool " + std::to_string(channels) + "@" + std::to_string(side);
  b.op_class = hw::OpClass::pooling;
  Graph& g = b.graph;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {1, channels, side, side}};
  g.nodes.push_back(Node{"layer", "GlobalAveragePool", "", {"x"}, {"y"}});
  g.outputs = {"y"};
  b.nodes = {"layer"};
  b.macs = channels * side * side;
  b.bytes = (b.macs + channels) * 4;
  return b;
}

// Shapes from the layers of MobileNetV2, ResNet-18 and EfficientNet-B0 at 224 x 224.
std::vector<Bench> benches(int depth) {
  std::vector<Bench> out;
  for (auto [ci, co, side, k, s] : std::vector<std::array<int64_t, 5>>{{3, 32, 224, 3, 2},
                                                                       {64, 64, 56, 3, 1},
                                                                       {128, 128, 28, 3, 1},
                                                                       {256, 256, 14, 3, 1},
                                                                       {16, 96, 112, 1, 1},
                                                                       {32, 192, 28, 1, 1},
                                                                       {576, 96, 14, 1, 1},
                                                                       {320, 1280, 7, 1, 1}})
    out.push_back(conv(ci, co, side, k, s, false, depth));
  for (auto [c, side, k, s] : std::vector<std::array<int64_t, 4>>{
           {32, 112, 3, 1}, {144, 56, 3, 1}, {192, 28, 3, 1}, {576, 14, 3, 1}, {960, 7, 3, 1}})
    out.push_back(conv(c, c, side, k, s, true, depth));
  out.push_back(gemm(1280, 1000, depth));
  out.push_back(gemm(512, 1000, depth));
  out.push_back(elementwise(24, 56));
  out.push_back(elementwise(64, 28));
  out.push_back(pooling(1280, 7));
  out.push_back(pooling(512, 7));
  return out;
}

// Median over the timed rounds of the summed time of `nodes` in each run.
double median_nodes_ms(const RoundTimer& timer, size_t id, std::span<const std::string> nodes) {
  std::vector<double> times;
  for (const auto& run : timer.node_timings(id)) {
    double ms = 0;
    size_t found = 0;
    for (const auto& t : run)
      if (std::find(nodes.begin(), nodes.end(), t.node) != nodes.end()) {
        ms += t.ms;
        ++found;
      }
    if (found != nodes.size())
      throw Error(ErrorKind::internal, "a benchmarked node was not run", nodes.front());
    times.push_back(ms);
  }
  std::nth_element(times.begin(), times.begin() + long(times.size() / 2), times.end());
  return times[times.size() / 2];
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

double host_mhz() {
  // cpufreq where the kernel has it, else what /proc/cpuinfo reports.
  std::ifstream max_freq("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq");
  double khz = 0;
  if (max_freq >> khz && khz > 0) return khz / 1000;
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line))
    if (line.starts_with("cpu MHz")) return std::stod(line.substr(line.find(':') + 1));
  return 1000;  // unknown: rates are then per 1 GHz cycle, consistently
}

double l2_kib() {
  // sysfs where the kernel exposes caches, else /proc/cpuinfo's "cache size" (L2 on x86).
  std::ifstream size("/sys/devices/system/cpu/cpu0/cache/index2/size");
  std::string text;
  if (size >> text && !text.empty()) return std::stod(text);  // "1024K"
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line))
    if (line.starts_with("cache size")) return std::stod(line.substr(line.find(':') + 1));
  return 512;
}

// Whether every timed node of a benchmark runs as a Winograd convolution in its session.
bool runs_winograd(const Session& session, std::span<const std::string> nodes) {
  size_t found = 0;
  for (const Node& n : session.graph().nodes)
    if (std::find(nodes.begin(), nodes.end(), n.name) != nodes.end()) {
      if (!is_winograd(n)) return false;
      ++found;
    }
  return found == nodes.size();
}

// The last-level cache (L3) as the OS reports it; 0 when it reports none.
double l3_kib() {
  std::ifstream size("/sys/devices/system/cpu/cpu0/cache/index3/size");
  std::string text;
  if (size >> text && !text.empty()) return std::stod(text);  // "32768K"
#ifdef _SC_LEVEL3_CACHE_SIZE
  if (const long bytes = sysconf(_SC_LEVEL3_CACHE_SIZE); bytes > 0) return double(bytes) / 1024;
#endif
  return 0;
}

}  // namespace

size_t RoundTimer::add(const Graph& graph, TensorMap inputs, bool winograd) {
  SessionOptions options{.threads = threads_, .optimize = true, .fast_kernels = true};
  options.winograd = winograd;
  jobs_.push_back(Job{std::make_unique<Session>(graph, options), std::move(inputs), {}, {}});
  return jobs_.size() - 1;
}

void RoundTimer::run(int rounds, int warmup_rounds,
                     const std::function<void(size_t, size_t)>& progress) {
  const int total = warmup_rounds + rounds;
  for (int r = 0; r < total; ++r) {
    for (Job& job : jobs_) {
      job.session->run(job.inputs);
      const auto start = std::chrono::steady_clock::now();
      job.session->run(job.inputs);
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      if (r < warmup_rounds) continue;
      job.run_ms.push_back(ms);
      job.node_timings.push_back(job.session->last_timings());
    }
    if (progress) progress(size_t(r) + 1, size_t(total));
  }
}

HostCalibration calibrate_host(const HostCalibrationOptions& options) {
  HostCalibration cal;
  cal.threads = options.threads;
  cal.chain = std::max(options.chain, 1);
  cal.mhz = host_mhz();
  cal.l2_kib = l2_kib();
  // The on-chip level of a node split over N threads is the N cores' L2s together.
  cal.onchip_kib = cal.l2_kib * std::clamp(options.threads, 1, 16);
  RoundTimer timer(options.threads);
  std::vector<std::vector<std::string>> timed_nodes;  // by timer id: the nodes a benchmark times
  auto add = [&](const Graph& g, const std::vector<std::string>& nodes, bool winograd = true) {
    TensorMap inputs;
    for (const auto& name : g.inputs) inputs[name] = random_tensor(g.value(name).type->dims, 9);
    timed_nodes.resize(timer.add(g, std::move(inputs), winograd) + 1);
    timed_nodes.back() = nodes;
    return timed_nodes.size() - 1;
  };
  auto median_ms = [&](size_t id) { return median_nodes_ms(timer, id, timed_nodes[id]); };
  // Per-node overhead: a Relu on one element.
  Graph one;
  one.inputs = {"x"};
  one.value("x").type = TensorType{DType::f32, {1, 1, 1, 1}};
  one.nodes.push_back(Node{"layer", "Relu", "", {"x"}, {"y"}});
  one.outputs = {"y"};
  const size_t overhead = add(one, {"layer"});
  // Bandwidth: 16 MiB tensors, beyond the caches, below the allocator's mmap threshold (a larger
  // buffer would be mapped afresh, and page faults timed, on every run). A 1x1 depthwise
  // convolution is a pass over memory the fast kernels run (a lone Add of two graph inputs would
  // time the reference kernel).
  const Bench big = conv(64, 64, 256, 1, 1, true);
  const size_t dram = add(big.graph, big.nodes);
  // On chip: 2 x 256 KiB per thread, in the L2 of the cores that run it. Per thread, so that the
  // pass is large enough to run on every thread (kernels below 128 K MACs run on one, and at 2
  // threads the fork and join would be timed as bandwidth). 64 channels, as in the other two
  // passes, were tried: 1-thread errors fell (largest 6% vs 5-12%), 2-thread ones rose to 13-16%.
  const int threads = std::clamp(options.threads, 1, 16);
  const Bench small = conv(16 * threads, 16 * threads, 64, 1, 1, true);
  const size_t onchip = add(small.graph, small.nodes);
  // The last-level cache: 2 x 4 MiB, the size of the first layers' activations of a 224 x 224 CNN
  // (beyond L2, within L3). The level is modelled up to the bandwidth pass's tensor size: a VM
  // may report the L3 of all the host's sockets, and the DRAM figure is timed at 2 x 16 MiB.
  const Bench mid = conv(64, 64, 128, 1, 1, true);
  const size_t llc = add(mid.graph, mid.nodes);
  cal.llc_kib = std::floor(std::min(l3_kib(), double(big.bytes) / 2 / 1024));
  if (cal.llc_kib <= std::max(cal.onchip_kib, double(mid.bytes) / 1024)) cal.llc_kib = 0;
  // Exp-based activations: the same depthwise layers (few MACs per output) with SiLU instead of
  // ReLU; the difference is the activation's cost per element.
  const Bench relu = conv(32, 32, 112, 3, 1, true, cal.chain);
  const Bench swish = conv(32, 32, 112, 3, 1, true, cal.chain, true);
  const size_t relu_id = add(relu.graph, relu.nodes);
  const size_t swish_id = add(swish.graph, swish.nodes);
  // Each operator class, fp32 and int8 (pooling and element-wise stay float in a quantized
  // model: int8 takes fp32's rate for them).
  struct Point {
    const Bench* bench;
    hw::NumType type;
    size_t id;
  };
  std::vector<Point> points;
  const std::vector<Bench> all = benches(cal.chain);
  for (const Bench& b : all)
    for (hw::NumType type : {hw::NumType::fp32, hw::NumType::int8}) {
      Graph g = b.graph;
      if (type == hw::NumType::int8) {
        if (b.op_class == hw::OpClass::pooling || b.op_class == hw::OpClass::elementwise) continue;
        Session calibration(g,
                            SessionOptions{.threads = 1, .optimize = false, .fast_kernels = true});
        const std::vector<TensorMap> samples = random_calibration(g, 2, 0);
        QuantizeOptions q;
        q.evaluate = [](const Node& n, int64_t opset, std::span<const Tensor* const> in) {
          return run_node(n, opset, in);
        };
        g = quantize_qdq(
            g, samples,
            [&](const TensorMap& sample, const ValueCallback& observe) {
              calibration.run(sample, observe);
            },
            q);
      }
      points.push_back({&b, type, add(g, b.nodes)});
      // A layer the compiler gives to Winograd is also timed direct: the dense rate covers the
      // 3x3 layers that stay direct (fewer channels, as in SqueezeNet), the Winograd rate these.
      if (runs_winograd(timer.session(points.back().id), b.nodes))
        points.push_back({&b, type, add(g, b.nodes, false)});
    }
  std::vector<size_t> networks;
  for (const TimedNetwork& n : options.networks) networks.push_back(timer.add(n.graph, n.inputs));
  timer.run(options.repeats, 1, options.progress);
  for (size_t id : networks) cal.networks.push_back({timer.run_ms(id), timer.node_timings(id)});

  cal.overhead_us = median_ms(overhead) * 1e3;
  // A pass's time less a node's overhead; with few rounds on a loaded machine the overhead can
  // measure as much as a small pass, so at least half the pass's own time is kept (a bandwidth
  // must stay positive for the platform file to load).
  auto pass_ms = [&](size_t id) {
    const double ms = median_ms(id);
    return std::max(ms - cal.overhead_us * 1e-3, 0.5 * ms);
  };
  cal.dram_gbps = double(big.bytes) / pass_ms(dram) / 1e6;
  cal.onchip_gbps = double(small.bytes) / pass_ms(onchip) / 1e6;
  cal.llc_gbps = double(mid.bytes) / pass_ms(llc) / 1e6;
  const double relu_ms = median_ms(relu_id), swish_ms = median_ms(swish_id);
  const double elements = double(relu.nodes.size()) * 32 * 112 * 112;
  cal.transcendental_per_cycle =
      swish_ms > relu_ms ? elements / ((swish_ms - relu_ms) * 1e-3) / (cal.mhz * 1e6) : 0;
  std::map<std::pair<hw::NumType, hw::OpClass>, std::vector<double>> rates;
  for (const Point& p : points) {
    const Bench& b = *p.bench;
    const double ms = median_ms(p.id);
    const double compute_ms = std::max(ms - double(b.nodes.size()) * cal.overhead_us * 1e-3, 1e-6);
    const double rate = double(b.macs) / (compute_ms * 1e-3) / (cal.mhz * 1e6);
    // Layers the compiler gave to Winograd (as it would in a network) are their own class.
    hw::OpClass cls = b.op_class;
    if (runs_winograd(timer.session(p.id), b.nodes)) cls = hw::OpClass::winograd_conv;
    rates[{p.type, cls}].push_back(rate);
    cal.points.push_back({b.what, p.type, cls, b.macs, b.bytes, ms, rate});
  }
  for (const auto& [key, values] : rates) cal.macs_per_cycle[key] = median(values);
  return cal;
}

hw::Platform host_platform(const HostCalibration& c) {
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d", std::gmtime(&now));
  hw::Platform p;
  p.header =
      "The machine edgeco runs on, calibrated by `edgeco calibrate` on " + std::string(date) +
      ".\n"
      "  [CAL] measured: micro-benchmarks of layers on edgeco's runtime, " +
      std::to_string(c.threads) +
      " thread(s),\n"
      "        unstrided convolutions in chains of " +
      std::to_string(c.chain) +
      " layers with their own weights;\n"
      "        each rate is the median over the layer shapes of its class (see `edgeco "
      "calibrate\n"
      "        --json` for every point)\n"
      "  [PROC] /proc/cpuinfo or cpufreq (frequency), sysfs cache size\n"
      "  [HOR] Horowitz, ISSCC 2014 (energy per byte)\n"
      "  [VAL] the model's form, chosen by `edgeco validate` on torchvision CNNs: on one thread\n"
      "        a dense layer's memory time adds to its compute time; on two, half of the\n"
      "        shorter side hides under the longer (memory_overlap 0.5); depthwise,\n"
      "        element-wise, pooling and batch-1 matmul rates, timed as streaming passes,\n"
      "        already hold their memory time (bench/RESULTS.md has the comparisons)\n"
      "Power is not measurable on this machine (no RAPL/powercap): the power figures are\n"
      "unverified guesses, so the host's energy is not validated; its latency is.";
  p.name = "host";
  p.description = "this machine, calibrated " + std::string(date) + " (" +
                  std::to_string(c.threads) + " thread(s))";
  p.sources = {"[CAL]", "[PROC]", "[HOR]", "[VAL]"};
  p.static_watts = 0;
  p.interconnect_gbps = c.dram_gbps;
  p.interconnect_pj_per_byte = 64;
  p.thermal = {25, 0.5, 100, 95, 105};
  p.battery = {0, 0, {{0, 12}, {1, 12}}};
  p.notes = {{"static_watts", "unverified"},
             {"interconnect", "one device: unused"},
             {"thermal", "unverified"},
             {"battery", "mains"}};
  hw::Device cpu;
  cpu.name = "cpu";
  cpu.kind = hw::DeviceKind::cpu;
  cpu.opps = {{c.mhz, 1.0}};
  cpu.capacitance_nf = 1.0;
  cpu.leakage_w = 1.0;
  cpu.leakage_ref_volts = 1.0;
  for (hw::NumType type : {hw::NumType::fp32, hw::NumType::int8}) {
    for (hw::OpClass cls :
         {hw::OpClass::dense_conv, hw::OpClass::winograd_conv, hw::OpClass::depthwise_conv,
          hw::OpClass::matmul, hw::OpClass::elementwise, hw::OpClass::pooling}) {
      auto it = c.macs_per_cycle.find({type, cls});
      if (it == c.macs_per_cycle.end() && cls == hw::OpClass::winograd_conv) continue;
      if (it == c.macs_per_cycle.end() && type == hw::NumType::int8)
        it = c.macs_per_cycle.find({hw::NumType::fp32, cls});
      if (it != c.macs_per_cycle.end()) cpu.macs_per_cycle[type][cls] = it->second;
    }
    // Operators without a benchmark: the element-wise rate (they are data movement, mostly).
    const auto ew = c.macs_per_cycle.find({hw::NumType::fp32, hw::OpClass::elementwise});
    cpu.macs_per_cycle[type][hw::OpClass::other] = ew != c.macs_per_cycle.end() ? ew->second : 1.0;
  }
  cpu.onchip_bytes = c.onchip_kib * 1024;
  cpu.onchip_gbps = c.onchip_gbps;
  cpu.dram_gbps = c.dram_gbps;
  cpu.onchip_pj_per_byte = 4;
  cpu.dram_pj_per_byte = 64;
  if (c.llc_kib > 0) {
    cpu.llc_bytes = c.llc_kib * 1024;
    cpu.llc_gbps = c.llc_gbps;
    cpu.llc_pj_per_byte = 16;
  }
  cpu.overhead_us = c.overhead_us;
  cpu.memory_overlap = c.threads > 1 ? 0.5 : 0.0;
  cpu.transcendental_per_cycle = c.transcendental_per_cycle;
  p.devices.push_back(cpu);
  const std::string d = "devices[0].";
  const std::map<std::string, std::string> device_notes = {
      {"opps_mhz_mv", "[PROC]; voltage unverified"},
      {"capacitance_nf", "unverified"},
      {"leakage", "unverified"},
      {"macs_per_cycle", "[CAL]"},
      {"memory.onchip_kib", "[PROC] L2 per core x " + std::to_string(c.threads) + " thread(s)"},
      {"memory.onchip_gbps", "[CAL] a 1x1 depthwise conv, 2 x 256 KiB per thread"},
      {"memory.dram_gbps", "[CAL] a 1x1 depthwise conv, 2 x 16 MiB"},
      {"memory.onchip_pj_per_byte", "derived from [HOR]"},
      {"memory.dram_pj_per_byte", "[HOR]"},
      {"memory.llc_kib",
       "[PROC] L3, at most the DRAM pass's tensor (a VM may report every socket's)"},
      {"memory.llc_gbps", "[CAL] a 1x1 depthwise conv, 2 x 4 MiB"},
      {"memory.llc_pj_per_byte", "derived from [HOR] (between SRAM and DRAM)"},
      {"overhead_us", "[CAL] a one-element node"},
      {"memory_overlap", "[VAL]"},
      {"transcendental_per_cycle", "[CAL] depthwise 3x3 layers with SiLU vs with ReLU"}};
  for (const auto& [field, note] : device_notes) p.notes[d + field] = note;
  return p;
}

std::map<std::string, GroupTime> group_times(
    const Plan& plan, const std::map<std::string, std::vector<double>>& runs) {
  std::map<std::string, GroupTime> groups;
  std::set<std::string> planned;
  for (const PlanNode& n : plan.nodes) {
    planned.insert(n.name);
    const auto it = runs.find(n.name);
    GroupTime& g =
        groups[it == runs.end() ? "(not timed by the runtime)" : n.type + " " + n.op_class];
    ++g.nodes;
    g.modelled_ms += n.latency_ms;
    if (it != runs.end()) g.measured_ms += mean(it->second);
  }
  for (const auto& [name, times] : runs)
    if (!planned.count(name)) {
      GroupTime& g = groups["(not in the plan)"];
      ++g.nodes;
      g.measured_ms += mean(times);
    }
  return groups;
}

}  // namespace edgeco
