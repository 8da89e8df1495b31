// Model compression. For now: post-training static quantization to an ONNX QDQ model (the format
// ONNX Runtime's quantizer writes), calibrated by min/max, percentile, entropy or MSE.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "edgeco/data.h"
#include "edgeco/ir.h"

namespace edgeco {

// Runs the model on one calibration sample and calls `observe(name, value)` for every value it
// computes. compress sits left of the runtime and never runs a graph itself: the caller provides
// this, e.g. from Session::run(inputs, observer).
using ValueCallback = std::function<void(const std::string& name, const Tensor& value)>;
using CalibrationRunner =
    std::function<void(const TensorMap& sample, const ValueCallback& observe)>;

// How an activation's quantization range is chosen from what calibration observed: the min/max;
// the percentile range (clips outliers); the clipping with the least KL divergence between the
// value distribution and its quantized form (entropy, TensorRT's method); or the least expected
// squared quantization error (mse).
enum class CalibrationMethod { minmax, percentile, entropy, mse };

struct QuantizeOptions {
  CalibrationMethod method = CalibrationMethod::minmax;
  double percentile = 99.99;  // for CalibrationMethod::percentile: the share of values kept, %
  // Activations int8 with zero point 0 (symmetric) instead of uint8 with a zero point.
  bool symmetric_activations = false;
  // Lets type inference see through shape arithmetic (optional; the runtime's run_node fits).
  ConstantEvaluator evaluate;
  // When set, only these nodes are quantized; the others stay float (mixed precision).
  std::optional<std::set<std::string>> only;
  // Called after each calibration sample with (done, total), for progress bars.
  std::function<void(size_t, size_t)> progress;
};

struct QuantizeReport {
  std::vector<std::string> quantized;  // nodes whose weights and activations are now int8/uint8
  std::vector<std::string> skipped;    // "node: why"
  size_t calibration_samples = 0;
};

// Quantizes Conv (2-D), Gemm and MatMul with constant weights: weights int8, symmetric, per
// output channel; activations uint8 asymmetric (or int8 symmetric), per tensor, over the range
// `options.method` picks from the calibration inputs; biases int32 at scale x_scale * w_scale.
// Everything else stays float. The result runs on any ONNX runtime (opset >= 13, for per-axis
// DequantizeLinear).
Graph quantize_qdq(const Graph& model, std::span<const TensorMap> calibration,
                   const CalibrationRunner& run, const QuantizeOptions& options = {},
                   QuantizeReport* report = nullptr);

// Deterministic calibration inputs: uniform in [-1, 1) (floats), symbolic dims as 1.
std::vector<TensorMap> random_calibration(const Graph& model, size_t samples, uint32_t seed = 0);
// One sample per .npy file in `dir` (sorted by name), fed to the model's single input.
std::vector<TensorMap> npy_calibration(const Graph& model, const std::filesystem::path& dir);
// `samples` images of Fashion-MNIST's training split (seeded choice), one per sample, as the
// model's single float input [1, C, H, W] takes them: pixels in [0, 1], resized to H x W,
// repeated over C channels.
std::vector<TensorMap> fashion_mnist_calibration(
    const Graph& model, size_t samples, uint32_t seed = 0,
    const std::filesystem::path& dir = kFashionMnistDir);
// `samples` samples of a data set (seeded choice), one per sample, as the model's single float
// input takes them: images resized and their channels repeated to a 4-D [1, C, H, W] input
// (fit_images), other samples (UCI HAR's [9, 128] windows) as they are when the shapes agree.
std::vector<TensorMap> dataset_calibration(const Graph& model, const Dataset& data, size_t samples,
                                           uint32_t seed = 0);
// The inputs a command-line `--calibration SOURCE` names: "random", a data set's name
// ("fashion-mnist", "cifar100", "uci-har": its training split, from `path` as load_dataset takes
// it) or a folder of .npy files (all of them; `samples` and `seed` apply to the others).
std::vector<TensorMap> calibration_inputs(const Graph& model, const std::string& source,
                                          size_t samples, uint32_t seed,
                                          const std::filesystem::path& path = {});

}  // namespace edgeco

namespace edgeco {

// Structured pruning: whole output channels (filters) are removed, and with them the matching
// input channels of every consumer, so the result is a smaller dense graph, not a masked one.
// Channels that must stay aligned form one group: a residual Add or an SE block's Mul ties its
// operands' channels, a depthwise convolution or BatchNormalization passes them through, a Concat
// lays its inputs' channels side by side. Channels reaching a graph output or an operator the
// pruner does not know are kept.
enum class PruneCriterion {
  l1,     // the L1 norm of each filter (Li et al. 2017), summed over a group's producers
  hrank,  // the mean numerical rank of each channel's feature map (Lin et al. 2020, HRank)
};
enum class PruneScope {
  uniform,  // every prunable group loses `ratio` of its channels
  global,   // `ratio` of all prunable channels go, ranked by score normalised within the group
};

struct PruneOptions {
  double ratio = 0.4;
  PruneCriterion criterion = PruneCriterion::l1;
  PruneScope scope = PruneScope::uniform;
  int64_t min_channels = 4;  // no group is cut below this (or below its size, if smaller)
};

struct PruneGroup {
  std::vector<std::string> producers;  // nodes whose output channels form the group
  int64_t channels = 0, kept = 0;
  std::string kept_because;  // why a group was left whole ("" when it was prunable)
};

struct PruneReport {
  std::vector<PruneGroup> groups;
  int64_t filters_before = 0, filters_after = 0;  // output channels of all Conv and Gemm nodes
};

// The pruned model. HRank needs the feature maps: `samples` are run through `run` (as for
// quantization calibration) and each channel's map of each image is ranked; L1 needs neither.
Graph prune_channels(const Graph& model, const PruneOptions& options,
                     std::span<const TensorMap> samples = {}, const CalibrationRunner& run = {},
                     PruneReport* report = nullptr);

// Numerical rank of a rows x cols row-major matrix (Gaussian elimination with full pivoting;
// pivots below 1e-5 of the largest magnitude count as zero).
int64_t matrix_rank(std::span<const float> matrix, int64_t rows, int64_t cols);

}  // namespace edgeco

namespace edgeco {

// Mixed precision: each Conv/Gemm/MatMul with constant weights runs int8 (QDQ, as quantize_qdq
// writes it), fp16 (weights stored as float16 and its input rounded to float16 through Cast
// nodes; arithmetic in float on hosts without fp16 units) or fp32.

// The cost of running a layer of `macs` multiply-accumulates at a precision; the search minimises
// its sum. The default is MACs x bits; the hardware model's energy per layer plugs in here.
using PrecisionCost = std::function<double(const std::string& node, int64_t macs, NumType)>;
double macs_times_bits(const std::string& node, int64_t macs, NumType p);

// Top-1 accuracy (a fraction) of a candidate graph on held-out data; the caller runs it.
using AccuracyFunction = std::function<double(const Graph&)>;

struct MixedPrecisionOptions {
  double budget = 0.005;  // the accuracy (fraction) the result may lose against fp32
  PrecisionCost cost = macs_times_bits;
  QuantizeOptions quantize;
  // (what, done, total) as the search goes, for progress bars.
  std::function<void(const std::string&, size_t, size_t)> progress;
};

struct LayerPrecision {
  std::string node;
  int64_t macs = 0;
  // Accuracy lost with only this layer at that precision (fp16 is measured only where int8 loses).
  double int8_drop = 0, fp16_drop = 0;
  NumType precision = NumType::fp32;
};

struct MixedPrecisionReport {
  double fp32_accuracy = 0, int8_accuracy = 0, accuracy = 0;  // all fp32, all int8, the choice
  double fp32_cost = 0, int8_cost = 0, cost = 0;
  std::vector<LayerPrecision> layers;
  int evaluations = 0;
};

// The model with the given precision per layer (layers not named stay fp32).
Graph apply_precisions(const Graph& model, const std::map<std::string, NumType>& precisions,
                       std::span<const TensorMap> calibration, const CalibrationRunner& run,
                       const QuantizeOptions& options = {});

// Per-layer sensitivity (accuracy with only that layer at int8, at fp16), then a greedy search
// from all-int8: while accuracy is below fp32 - budget, the layer whose promotion (int8 -> fp16 ->
// fp32) recovers the most sensitivity per unit of added cost is promoted, and the whole
// assignment is measured again. Then each promotion is tried one step back (largest saving
// first) and kept back where the budget still holds.
Graph mixed_precision(const Graph& model, std::span<const TensorMap> calibration,
                      const CalibrationRunner& run, const AccuracyFunction& accuracy,
                      const MixedPrecisionOptions& options = {},
                      MixedPrecisionReport* report = nullptr);

}  // namespace edgeco
