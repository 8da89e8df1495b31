#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>

#include "edgeco/compress.h"
#include "edgeco/data.h"

namespace edgeco {
namespace {

struct Range {
  float lo = std::numeric_limits<float>::infinity();
  float hi = -std::numeric_limits<float>::infinity();
  void add(const Tensor& t) {
    for (float v : t.data<float>())
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  }
};

// Values seen for one tensor, binned over its min/max range (second calibration pass).
struct Histogram {
  static constexpr int kBins = 2048;
  float lo = 0, hi = 0;  // the range the bins cover (includes 0)
  std::vector<double> counts = std::vector<double>(kBins, 0.0);

  double width() const { return double(hi - lo) / kBins; }
  void add(const Tensor& t) {
    const double w = width();
    if (!(w > 0)) return;
    for (float v : t.data<float>()) {
      if (!std::isfinite(v)) continue;
      const int b = std::clamp(int((double(v) - lo) / w), 0, kBins - 1);
      counts[size_t(b)] += 1;
    }
  }
  double centre(int b) const { return lo + (b + 0.5) * width(); }
};

// The value below which `fraction` of the histogram's mass lies.
float quantile(const Histogram& h, double fraction) {
  double total = 0;
  for (double c : h.counts) total += c;
  double seen = 0;
  for (int b = 0; b < Histogram::kBins; ++b) {
    seen += h.counts[size_t(b)];
    if (seen >= fraction * total) return float(h.lo + (b + 1) * h.width());
  }
  return h.hi;
}

// Expected squared error of quantizing the histogram's values to uint8 over [lo, hi] (clipping
// included), from the bin centres.
double quantization_mse(const Histogram& h, float lo, float hi) {
  const double scale = double(hi - lo) / 255.0;
  if (!(scale > 0)) return INFINITY;
  const double zero = std::clamp(std::nearbyint(-lo / scale), 0.0, 255.0);
  double err = 0;
  for (int b = 0; b < Histogram::kBins; ++b) {
    if (h.counts[size_t(b)] == 0) continue;
    const double x = h.centre(b);
    const double q = std::clamp(std::nearbyint(x / scale) + zero, 0.0, 255.0);
    const double d = (q - zero) * scale - x;
    err += h.counts[size_t(b)] * d * d;
  }
  return err;
}

// Kullback-Leibler divergence of the histogram's distribution clipped to its first `keep` bins
// (the rest folded into the last kept bin) from that distribution quantized to `levels` levels:
// the entropy calibration's criterion (TensorRT's method), here over the bins above zero.
double clipped_kl(const std::vector<double>& positive, size_t keep, size_t levels) {
  std::vector<double> p(positive.begin(), positive.begin() + ptrdiff_t(keep));
  for (size_t b = keep; b < positive.size(); ++b) p.back() += positive[b];
  std::vector<double> q(keep, 0.0);
  for (size_t level = 0; level < levels; ++level) {
    const size_t first = level * keep / levels, last = (level + 1) * keep / levels;
    double mass = 0;
    size_t nonzero = 0;
    for (size_t b = first; b < last; ++b) {
      mass += positive[b];  // the unclipped counts, as the quantized tensor sees them
      nonzero += positive[b] > 0;
    }
    for (size_t b = first; b < last; ++b)
      if (positive[b] > 0) q[b] = mass / double(nonzero);
  }
  double p_total = 0, q_total = 0;
  for (size_t b = 0; b < keep; ++b) p_total += p[b], q_total += q[b];
  if (!(p_total > 0) || !(q_total > 0)) return INFINITY;
  double kl = 0;
  for (size_t b = 0; b < keep; ++b) {
    if (p[b] == 0) continue;
    const double pb = p[b] / p_total;
    const double qb = q[b] > 0 ? q[b] / q_total : 1e-12;
    kl += pb * std::log(pb / qb);
  }
  return kl;
}

// The range [lo, hi] to quantize over, by `method`, from the min/max range and the histogram.
std::pair<float, float> calibrated_range(const Histogram& h, CalibrationMethod method,
                                         double percentile) {
  switch (method) {
    case CalibrationMethod::minmax:
      return {h.lo, h.hi};
    case CalibrationMethod::percentile: {
      const double tail = (100.0 - percentile) / 100.0;
      return {std::min(0.0f, quantile(h, tail)), std::max(0.0f, quantile(h, 1.0 - tail))};
    }
    case CalibrationMethod::mse: {
      // Shrink each end towards zero in 1% steps; keep the pair with the least error.
      std::pair<float, float> best{h.lo, h.hi};
      double best_err = quantization_mse(h, h.lo, h.hi);
      for (int i = 99; i >= 10; --i) {
        const float f = float(i) / 100.0f;
        for (const auto& [lo, hi] : {std::pair{h.lo * f, h.hi * f}, std::pair{h.lo, h.hi * f},
                                     std::pair{h.lo * f, h.hi}}) {
          const double err = quantization_mse(h, lo, hi);
          if (err < best_err) best_err = err, best = {lo, hi};
        }
      }
      return best;
    }
    case CalibrationMethod::entropy: {
      // Over the bins above zero (activations after Relu/Clip, what uint8 mostly carries): the
      // clipping point with the least KL divergence; the negative side keeps its min.
      const double w = h.width();
      const int zero_bin = std::clamp(int(-h.lo / w), 0, Histogram::kBins - 1);
      std::vector<double> positive(h.counts.begin() + zero_bin, h.counts.end());
      constexpr size_t kLevels = 128;
      if (positive.size() <= kLevels) return {h.lo, h.hi};
      size_t best_keep = positive.size();
      double best_kl = INFINITY;
      for (size_t keep = kLevels; keep <= positive.size(); keep += 16) {
        const double kl = clipped_kl(positive, keep, kLevels);
        if (kl < best_kl) best_kl = kl, best_keep = keep;
      }
      return {h.lo, std::max(0.0f, float(h.lo + (zero_bin + best_keep) * w))};
    }
  }
  return {h.lo, h.hi};
}

// uint8 asymmetric parameters covering [lo, hi] and 0 (so zero padding is exact).
std::pair<float, uint8_t> activation_params(const Range& r) {
  const float lo = std::min(r.lo, 0.0f), hi = std::max(r.hi, 0.0f);
  float scale = (hi - lo) / 255.0f;
  if (!(scale > 0) || !std::isfinite(scale)) scale = 1.0f;
  const float zero_point = std::clamp(std::nearbyint(-lo / scale), 0.0f, 255.0f);
  return {scale, uint8_t(zero_point)};
}

// int8 symmetric parameters: zero point 0, scale max(|lo|, |hi|) / 127.
std::pair<float, uint8_t> symmetric_activation_params(const Range& r) {
  float scale = std::max(std::abs(r.lo), std::abs(r.hi)) / 127.0f;
  if (!(scale > 0) || !std::isfinite(scale)) scale = 1.0f;
  return {scale, 0};
}

// A node whose weight (input 1) is quantized per channel along `axis` of the weight.
struct Candidate {
  size_t node;
  int64_t axis;
};

std::optional<Candidate> quantizable(const Graph& g, size_t index, std::string& why) {
  const Node& n = g.nodes[index];
  if (!n.domain.empty() || n.inputs.size() < 2) return std::nullopt;
  const Value* x = g.find_value(n.inputs[0]);
  const Value* w = g.find_value(n.inputs[1]);
  const bool float_input = x && x->type && x->type->dtype == DType::f32;
  const bool const_weight = w && w->initializer && w->initializer->dtype() == DType::f32;
  auto has_constant_bias = [&](size_t i) {
    const Value* b = n.has_input(i) ? g.find_value(n.inputs[i]) : nullptr;
    return !n.has_input(i) || (b && b->initializer && b->initializer->dtype() == DType::f32 &&
                               b->initializer->rank() == 1);
  };
  if (n.op_type == "Conv") {
    if (!float_input || !const_weight || w->initializer->rank() != 4)
      return why = "not a 2-D float Conv with constant weights", std::nullopt;
    if (!has_constant_bias(2)) return why = "bias is not a constant vector", std::nullopt;
    return Candidate{index, 0};
  }
  if (n.op_type == "Gemm") {
    if (!float_input || !const_weight || n.attr_int("transA", 0) != 0)
      return why = "A transposed or B not constant", std::nullopt;
    if (n.attr_float("alpha", 1.0f) != 1.0f || n.attr_float("beta", 1.0f) != 1.0f)
      return why = "alpha or beta is not 1", std::nullopt;
    if (!has_constant_bias(2)) return why = "C is not a constant vector", std::nullopt;
    return Candidate{index, n.attr_int("transB", 0) != 0 ? 0 : 1};
  }
  if (n.op_type == "MatMul") {
    if (!float_input || !const_weight || w->initializer->rank() != 2)
      return why = "B is not a constant matrix", std::nullopt;
    return Candidate{index, 1};
  }
  return std::nullopt;
}

// Per-channel symmetric int8 weights: scale_c = max|w_c| / 127, values in [-127, 127].
std::pair<Tensor, Tensor> quantize_weight(const Tensor& w, int64_t axis) {
  const int64_t channels = w.dim(size_t(axis));
  int64_t inner = 1;
  for (size_t d = size_t(axis) + 1; d < w.rank(); ++d) inner *= w.dim(d);
  const auto values = w.data<float>();
  std::vector<float> scales(size_t(channels), 0.0f);
  for (size_t i = 0; i < values.size(); ++i) {
    const size_t c = size_t((int64_t(i) / inner) % channels);
    scales[c] = std::max(scales[c], std::abs(values[i]));
  }
  for (float& s : scales) s = s > 0 ? s / 127.0f : 1.0f;
  Tensor q(DType::i8, w.dims());
  auto out = q.data<int8_t>();
  for (size_t i = 0; i < values.size(); ++i) {
    const size_t c = size_t((int64_t(i) / inner) % channels);
    out[i] = int8_t(std::clamp(std::nearbyint(values[i] / scales[c]), -127.0f, 127.0f));
  }
  return {std::move(q), Tensor::from_values<float>({channels}, std::span<const float>(scales))};
}

}  // namespace

std::vector<TensorMap> random_calibration(const Graph& model, size_t samples, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<TensorMap> out(samples);
  for (auto& sample : out)
    for (const auto& name : model.inputs) {
      const TensorType& type = *model.value(name).type;
      if (type.dtype != DType::f32)
        throw Error(ErrorKind::unsupported, "random calibration needs float32 inputs",
                    "input '" + name + "'");
      Dims dims = type.dims;
      for (auto& d : dims) d = d < 0 ? 1 : d;
      Tensor t(DType::f32, dims);
      for (float& v : t.data<float>()) v = uniform(rng);
      sample[name] = std::move(t);
    }
  return out;
}

std::vector<TensorMap> npy_calibration(const Graph& model, const std::filesystem::path& dir) {
  if (model.inputs.size() != 1)
    throw Error(ErrorKind::unsupported, "calibration from a folder needs a model with one input",
                dir.string());
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().extension() == ".npy") files.push_back(entry.path());
  if (files.empty()) throw Error(ErrorKind::invalid_argument, "holds no .npy files", dir.string());
  std::sort(files.begin(), files.end());
  std::vector<TensorMap> out;
  out.reserve(files.size());
  for (const auto& f : files) out.push_back({{model.inputs[0], load_npy(f)}});
  return out;
}

std::vector<TensorMap> fashion_mnist_calibration(const Graph& model, size_t samples, uint32_t seed,
                                                 const std::filesystem::path& dir) {
  if (model.inputs.size() != 1)
    throw Error(ErrorKind::unsupported, "Fashion-MNIST calibration needs a model with one input");
  const TensorType& type = *model.value(model.inputs[0]).type;
  if (type.dtype != DType::f32 || !type.rank_known || type.dims.size() != 4)
    throw Error(ErrorKind::unsupported,
                "Fashion-MNIST calibration needs a float32 [N, C, H, W] input, the model takes " +
                    type.to_string(),
                "input '" + model.inputs[0] + "'");
  const int64_t c = type.dims[1], h = type.dims[2], w = type.dims[3];
  if (c <= 0 || h <= 0 || w <= 0)
    throw Error(ErrorKind::unsupported, "the input's C, H and W must be fixed",
                "input '" + model.inputs[0] + "'");
  // The stored bytes: a few images are converted, not all 60,000.
  const Tensor train = load_fashion_mnist_images(dir, "train");
  const int64_t pixels = train.numel() / train.dim(0);
  const auto order = shuffled_indices(train.dim(0), seed);
  std::vector<TensorMap> out;
  for (size_t i = 0; i < samples && i < order.size(); ++i) {
    Tensor image(DType::f32, {1, 1, train.dim(2), train.dim(3)});
    const auto src = train.data<uint8_t>().subspan(size_t(order[i] * pixels), size_t(pixels));
    auto dst = image.data<float>();
    for (size_t k = 0; k < src.size(); ++k) dst[k] = float(src[k]) / 255.0f;
    out.push_back({{model.inputs[0], fit_images(image, c, h, w)}});
  }
  return out;
}

Graph quantize_qdq(const Graph& model, std::span<const TensorMap> calibration,
                   const CalibrationRunner& run, const QuantizeOptions& options,
                   QuantizeReport* report) {
  if (calibration.empty())
    throw Error(ErrorKind::invalid_argument, "quantization needs at least one calibration sample");
  Graph g = model;
  g.sort_topologically();
  infer_types(g, OpRegistry::builtin(), options.evaluate);
  // Per-axis DequantizeLinear needs opset 13; older models get per-tensor weight scales instead.
  const bool per_channel = g.opset >= 13;
  QuantizeReport local;
  QuantizeReport& rep = report ? *report : local;

  // Readers of each value, to see whether a quantized node's output only feeds an activation.
  std::map<std::string, std::vector<size_t>> readers;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const auto& in : g.nodes[i].inputs) readers[in].push_back(i);
  const std::set<std::string> graph_outputs(g.outputs.begin(), g.outputs.end());
  // The tensor to quantize after node i: its output, or, when that only feeds a Relu or Clip, the
  // activation's output (as ONNX Runtime's quantizer does: the uint8 range then covers only what
  // the activation lets through, and an int8 kernel applies the activation by clamping).
  auto quantized_output = [&](size_t i) {
    const std::string& y = g.nodes[i].outputs[0];
    auto it = readers.find(y);
    if (graph_outputs.count(y) || it == readers.end() || it->second.size() != 1) return y;
    const Node& act = g.nodes[it->second[0]];
    const bool clip_with_constants =
        act.op_type == "Clip" &&
        std::all_of(act.inputs.begin() + 1, act.inputs.end(), [&](const std::string& b) {
          const Value* v = b.empty() ? nullptr : g.find_value(b);
          return b.empty() || (v && v->initializer);
        });
    if (act.domain.empty() && (act.op_type == "Relu" || clip_with_constants) && act.inputs[0] == y)
      return act.outputs[0];
    return y;
  };

  std::vector<Candidate> candidates;
  std::set<std::string> activations;  // float tensors entering or leaving a quantized node
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    std::string why;
    if (options.only && !options.only->count(g.nodes[i].name)) continue;
    if (auto c = quantizable(g, i, why)) {
      candidates.push_back(*c);
      activations.insert(g.nodes[i].inputs[0]);
      activations.insert(quantized_output(i));
      rep.quantized.push_back(g.nodes[i].name);
    } else if (!why.empty()) {
      rep.skipped.push_back(g.nodes[i].name + ": " + why);
    }
  }

  // Calibrate on the graph as given: its value names are the ones observed. Methods other than
  // min/max take a second pass that bins the values over the min/max range.
  const bool histograms = options.method != CalibrationMethod::minmax;
  const size_t passes = histograms ? 2 : 1;
  std::map<std::string, Range> ranges;
  for (size_t s = 0; s < calibration.size(); ++s) {
    run(calibration[s], [&](const std::string& name, const Tensor& value) {
      if (activations.count(name) && value.dtype() == DType::f32) ranges[name].add(value);
    });
    if (options.progress) options.progress(s + 1, passes * calibration.size());
  }
  if (histograms) {
    std::map<std::string, Histogram> bins;
    for (const auto& [name, r] : ranges) {
      Histogram& h = bins[name];
      h.lo = std::min(r.lo, 0.0f);
      h.hi = std::max(r.hi, 0.0f);
    }
    for (size_t s = 0; s < calibration.size(); ++s) {
      run(calibration[s], [&](const std::string& name, const Tensor& value) {
        if (auto it = bins.find(name); it != bins.end() && value.dtype() == DType::f32)
          it->second.add(value);
      });
      if (options.progress) options.progress(calibration.size() + s + 1, 2 * calibration.size());
    }
    for (auto& [name, r] : ranges) {
      const auto [lo, hi] = calibrated_range(bins.at(name), options.method, options.percentile);
      r.lo = lo;
      r.hi = hi;
    }
  }
  rep.calibration_samples = calibration.size();

  // Rewrite. Q/DQ pairs follow each calibrated activation's producer; all its readers take the DQ.
  std::map<std::string, float> act_scale;
  std::map<std::string, std::vector<Node>>
      after;  // activation -> its Q/DQ pair, placed after its producer
  std::map<std::string, std::vector<Node>>
      before;  // node -> the DequantizeLinear of its weight and bias
  std::map<std::string, std::string> dequantized;  // activation -> its DQ output
  for (const auto& name : activations) {
    auto it = ranges.find(name);
    if (it == ranges.end()) continue;  // never computed (constant-folded): stays float
    const auto [scale, zero_point] = options.symmetric_activations
                                         ? symmetric_activation_params(it->second)
                                         : activation_params(it->second);
    act_scale[name] = scale;
    const std::string q = name + "_quantized", dq = name + "_dequantized";
    g.value(name + "_scale").initializer = Tensor::scalar<float>(scale);
    g.value(name + "_zero_point").initializer = options.symmetric_activations
                                                    ? Tensor::scalar<int8_t>(0)
                                                    : Tensor::scalar<uint8_t>(zero_point);
    after[name] = {Node{name + "_QuantizeLinear",
                        "QuantizeLinear",
                        "",
                        {name, name + "_scale", name + "_zero_point"},
                        {q}},
                   Node{name + "_DequantizeLinear",
                        "DequantizeLinear",
                        "",
                        {q, name + "_scale", name + "_zero_point"},
                        {dq}}};
    dequantized[name] = dq;
  }
  for (const Candidate& c : candidates) {
    Node& n = g.nodes[c.node];
    if (!act_scale.count(n.inputs[0])) continue;
    const Tensor w = *g.value(n.inputs[1]).initializer;
    auto [w_q, w_scales] = quantize_weight(w, c.axis);
    if (!per_channel) {  // one scale for the whole tensor
      std::tie(w_q, w_scales) = quantize_weight(w.reshaped({1, w.numel()}), 0);
      w_q = w_q.reshaped(w.dims());
    }
    const std::string w_name = n.name + "_weight";
    const int64_t channels = w_scales.numel();
    g.value(w_name + "_quantized").initializer = w_q;
    g.value(w_name + "_scale").initializer = channels == 1 ? w_scales.reshaped({}) : w_scales;
    g.value(w_name + "_zero_point").initializer =
        channels == 1 ? Tensor::scalar<int8_t>(0) : Tensor(DType::i8, {channels});
    Node w_dq{w_name + "_DequantizeLinear",
              "DequantizeLinear",
              "",
              {w_name + "_quantized", w_name + "_scale", w_name + "_zero_point"},
              {w_name + "_dequantized"}};
    if (channels > 1) w_dq.attributes["axis"] = Attribute{c.axis};
    std::vector<Node> weight_nodes{w_dq};
    n.inputs[1] = w_name + "_dequantized";
    if (n.has_input(2) && n.op_type != "MatMul") {
      // int32 bias at scale x_scale * w_scale[c], as int8 kernels accumulate.
      const auto b = g.value(n.inputs[2]).initializer->to_doubles();
      const auto ws = w_scales.to_doubles();
      const double xs = act_scale[n.inputs[0]];
      std::vector<int32_t> b_q(b.size());
      std::vector<float> b_scale(b.size());
      for (size_t k = 0; k < b.size(); ++k) {
        b_scale[k] = float(xs * ws[ws.size() == 1 ? 0 : k]);
        b_q[k] = int32_t(
            std::clamp(std::nearbyint(b[k] / double(b_scale[k])), -2147483647.0, 2147483647.0));
      }
      const std::string b_name = n.name + "_bias";
      const int64_t m = int64_t(b.size());
      g.value(b_name + "_quantized").initializer =
          Tensor::from_values<int32_t>({m}, std::span<const int32_t>(b_q));
      g.value(b_name + "_scale").initializer =
          Tensor::from_values<float>({m}, std::span<const float>(b_scale));
      g.value(b_name + "_zero_point").initializer = Tensor(DType::i32, {m});
      weight_nodes.push_back(
          Node{b_name + "_DequantizeLinear",
               "DequantizeLinear",
               "",
               {b_name + "_quantized", b_name + "_scale", b_name + "_zero_point"},
               {b_name + "_dequantized"},
               {{"axis", Attribute{int64_t{0}}}}});
      n.inputs[2] = b_name + "_dequantized";
    }
    before[n.name] = std::move(weight_nodes);
  }
  // Readers take the dequantized activations (the Q/DQ nodes themselves read the original).
  for (Node& n : g.nodes)
    for (auto& in : n.inputs)
      if (auto it = dequantized.find(in); it != dequantized.end()) in = it->second;

  std::vector<Node> nodes;
  for (const auto& in : g.inputs)
    if (auto it = after.find(in); it != after.end())
      nodes.insert(nodes.end(), it->second.begin(), it->second.end());
  for (Node& n : g.nodes) {
    if (auto it = before.find(n.name); it != before.end())
      nodes.insert(nodes.end(), it->second.begin(), it->second.end());
    nodes.push_back(n);
    for (const auto& out : n.outputs)
      if (auto it = after.find(out); it != after.end())
        nodes.insert(nodes.end(), it->second.begin(), it->second.end());
  }
  g.nodes = std::move(nodes);
  // Values typed for the float graph keep their types; new ones are inferred by whoever loads it.
  std::set<std::string> used;
  for (const Node& n : g.nodes)
    for (const auto& in : n.inputs) used.insert(in);
  for (auto it = g.values.begin(); it != g.values.end();) {
    if (it->second.initializer && !used.count(it->first))
      it = g.values.erase(it);  // float weights replaced
    else
      ++it;
  }
  g.sort_topologically();
  g.validate(OpRegistry::builtin());
  return g;
}

std::vector<TensorMap> dataset_calibration(const Graph& model, const Dataset& data, size_t samples,
                                           uint32_t seed) {
  if (model.inputs.size() != 1)
    throw Error(ErrorKind::unsupported,
                "calibration on " + data.name + " needs a model with one input");
  const TensorType& type = *model.value(model.inputs[0]).type;
  const std::string where = "input '" + model.inputs[0] + "'";
  if (type.dtype != DType::f32 || !type.rank_known)
    throw Error(ErrorKind::unsupported,
                "calibration on " + data.name + " needs a float32 input, the model takes " +
                    type.to_string(),
                where);
  const Dims sample(data.samples.dims().begin() + 1, data.samples.dims().end());
  const Dims wanted(type.dims.begin() + 1, type.dims.end());
  const bool images = type.dims.size() == 4 && sample.size() == 3;
  bool same = sample.size() == wanted.size();
  for (size_t i = 0; same && i < sample.size(); ++i) same = wanted[i] < 0 || wanted[i] == sample[i];
  if (!images && !same)
    throw Error(ErrorKind::invalid_argument,
                data.name + " samples are " + dims_to_string(sample) + ", the model takes " +
                    type.to_string(),
                where);
  for (int64_t d : wanted)
    if (images && d <= 0)
      throw Error(ErrorKind::unsupported, "the input's C, H and W must be fixed", where);
  const auto order = shuffled_indices(data.size(), seed);
  std::vector<TensorMap> out;
  for (size_t i = 0; i < samples && i < order.size(); ++i) {
    Tensor one = gather_batch(data, std::vector<int64_t>{order[i]}).samples;
    if (images) one = fit_images(one, wanted[0], wanted[1], wanted[2]);
    out.push_back({{model.inputs[0], std::move(one)}});
  }
  return out;
}

std::vector<TensorMap> calibration_inputs(const Graph& model, const std::string& source,
                                          size_t samples, uint32_t seed,
                                          const std::filesystem::path& path) {
  if (source == "random") return random_calibration(model, samples, seed);
  if (source == "fashion-mnist" && path.empty())
    return fashion_mnist_calibration(model, samples, seed);
  if (source == "fashion-mnist" || source == "cifar100" || source == "uci-har")
    return dataset_calibration(model, load_dataset(source, path, "train"), samples, seed);
  if (std::filesystem::is_directory(source)) return npy_calibration(model, source);
  throw Error(ErrorKind::invalid_argument,
              "expected 'random', a data set (fashion-mnist, cifar100, uci-har) or a folder of "
              ".npy inputs",
              "--calibration " + source);
}

}  // namespace edgeco
