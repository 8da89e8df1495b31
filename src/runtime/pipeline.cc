#include "edgeco/pipeline.h"

#include <numeric>

#include "edgeco/evaluate.h"
#include "edgeco/session.h"

namespace edgeco {

Dataset validation_split(const std::string& name, const std::filesystem::path& path,
                         int64_t count) {
  const Dataset train = load_dataset(name, path, "train");
  count = std::min(count, train.size());
  std::vector<int64_t> last(static_cast<size_t>(count));
  std::iota(last.begin(), last.end(), train.size() - count);
  Batch b = gather_batch(train, last);
  return Dataset{train.name + " (last " + std::to_string(count) + " training images)",
                 std::move(b.samples), std::move(b.labels), train.classes};
}

MixedResult quantize_mixed(const Graph& model, std::span<const TensorMap> samples,
                           const CalibrationRunner& runner, const QuantizeOptions& quantize,
                           const MixedRequest& request) {
  const Dataset val = validation_split(request.dataset, request.path, request.val_samples);
  MixedPrecisionOptions options;
  options.budget = request.budget;
  options.quantize = quantize;
  options.quantize.progress = nullptr;
  options.progress = request.progress;
  const AccuracyFunction accuracy = [&](const Graph& g) {
    Session s(g, {.threads = request.threads, .optimize = true, .fast_kernels = true});
    return evaluate(s, val).top1;
  };
  MixedResult result{{}, {}, val.name};
  result.model = mixed_precision(model, samples, runner, accuracy, options, &result.report);
  return result;
}

Graph prune_model(const Graph& model, const PruneOptions& options, const std::string& calibration,
                  size_t samples, uint32_t seed, int threads, PruneReport* report,
                  const std::filesystem::path& data_path) {
  if (options.criterion != PruneCriterion::hrank)
    return prune_channels(model, options, {}, {}, report);
  const std::vector<TensorMap> inputs =
      calibration_inputs(model, calibration, samples, seed, data_path);
  Session session(model, {.threads = threads, .fast_kernels = true});
  const CalibrationRunner runner = [&](const TensorMap& sample, const ValueCallback& observe) {
    session.run(sample, observe);
  };
  return prune_channels(model, options, inputs, runner, report);
}

}  // namespace edgeco
