#include "edgeco/pipeline.h"

#include <numeric>
#include <set>

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

namespace edgeco {

Graph at_resolution(Graph model, int64_t px, bool* resized_in_front) {
  if (px < 1 || px > 8192)
    throw Error(ErrorKind::invalid_argument, "a resolution of 1..8192 pixels", std::to_string(px));
  if (resized_in_front) *resized_in_front = false;
  std::string input;
  for (const std::string& name : model.inputs) {
    const Value& v = model.value(name);
    if (!v.initializer && v.type && v.type->rank_known && v.type->dims.size() == 4) {
      input = name;
      break;
    }
  }
  if (input.empty())
    throw Error(ErrorKind::invalid_argument, "the model has no image input (rank 4)", model.name);
  const Dims native = model.value(input).type->dims;
  if (native[2] == px && native[3] == px) return model;

  // Intermediate shapes recorded at the old size (value_info) would contradict the new one.
  std::set<std::string> keep(model.inputs.begin(), model.inputs.end());
  for (const Node& n : model.nodes)
    for (const std::string& out : n.outputs)
      if (!keep.contains(out) && !model.value(out).initializer) model.value(out).type.reset();
  for (const std::string& out : model.outputs) model.value(out).type.reset();
  Graph scaled = model;
  scaled.value(input).type->dims[2] = scaled.value(input).type->dims[3] = px;
  try {
    Graph check = scaled;
    infer_types(check, OpRegistry::builtin(), reference_evaluator());
    return scaled;
  } catch (const Error&) {
    // The network is fixed to its size: scale the image to it in front.
  }
  if (native[2] < 1 || native[3] < 1)
    throw Error(ErrorKind::unsupported, "the image input's height and width are not fixed", input);
  const std::string resized = input + "_resized", shape = input + "_shape",
                    batch_channels = input + "_nc", hw = input + "_hw", sizes = input + "_sizes";
  for (Node& n : model.nodes)
    for (std::string& x : n.inputs)
      if (x == input) x = resized;
  for (std::string& out : model.outputs)
    if (out == input) out = resized;
  model.value(input).type->dims[2] = model.value(input).type->dims[3] = px;
  model.value(hw).initializer =
      Tensor::from_values<int64_t>({2}, std::vector<int64_t>{native[2], native[3]});
  model.value(input + "_zero").initializer =
      Tensor::from_values<int64_t>({1}, std::vector<int64_t>{0});
  model.value(input + "_two").initializer =
      Tensor::from_values<int64_t>({1}, std::vector<int64_t>{2});
  Node resize{input + "_resize", "Resize", "", {input, "", "", sizes}, {resized}};
  resize.attributes["mode"] = Attribute{std::string("linear")};
  resize.attributes["coordinate_transformation_mode"] = Attribute{std::string("half_pixel")};
  Node concat{input + "_sizes_concat", "Concat", "", {batch_channels, hw}, {sizes}};
  concat.attributes["axis"] = Attribute{int64_t(0)};
  std::vector<Node> front = {Node{input + "_shape_of", "Shape", "", {input}, {shape}},
                             Node{input + "_nc_slice",
                                  "Slice",
                                  "",
                                  {shape, input + "_zero", input + "_two"},
                                  {batch_channels}},
                             std::move(concat), std::move(resize)};
  model.nodes.insert(model.nodes.begin(), std::make_move_iterator(front.begin()),
                     std::make_move_iterator(front.end()));
  Graph check = model;
  infer_types(check, OpRegistry::builtin(), reference_evaluator());
  if (resized_in_front) *resized_in_front = true;
  return model;
}

}  // namespace edgeco
