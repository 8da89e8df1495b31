// Accuracy of a classifier on a labelled data set, run batch by batch on a Session.
#include <algorithm>
#include <numeric>

#include "edgeco/runtime.h"

namespace edgeco {

EvalResult evaluate(Session& session, const Dataset& data, const EvalOptions& options) {
  const Graph& g = session.graph();
  if (g.inputs.size() != 1 || g.outputs.empty())
    throw Error(ErrorKind::unsupported, "evaluation needs a model with one input");
  const TensorType& in = *g.value(g.inputs[0]).type;
  const Dims& sample = data.samples.dims();
  if (!in.rank_known || in.dims.size() != sample.size())
    throw Error(ErrorKind::invalid_argument,
                "the model takes " + in.to_string() + ", the data set's samples are " +
                    dims_to_string(Dims(sample.begin() + 1, sample.end())),
                data.name);
  // A fixed batch dim decides the batch size, and a final partial batch is then padded (the padding
  // dropped); a symbolic one runs the last batch as it is.
  const bool fixed_batch = in.dims[0] > 0;
  const int64_t batch = fixed_batch ? in.dims[0] : std::max<int64_t>(1, options.batch_size);
  const int64_t n = options.limit > 0 ? std::min(options.limit, data.size()) : data.size();
  const int64_t classes = int64_t(data.classes.size());
  EvalResult r;
  r.samples = n;
  r.confusion.assign(size_t(classes), std::vector<int64_t>(size_t(classes), 0));
  int64_t top1 = 0, top5 = 0;
  const auto labels = data.labels.data<int64_t>();
  std::vector<int64_t> order(static_cast<size_t>(classes));
  for (int64_t first = 0; first < n; first += batch) {
    const int64_t count = std::min(batch, n - first), rows = fixed_batch ? batch : count;
    std::vector<int64_t> indices(static_cast<size_t>(rows));
    for (int64_t i = 0; i < rows; ++i) indices[size_t(i)] = first + std::min(i, count - 1);
    Tensor x = gather_batch(data, indices).samples;
    if (sample.size() == 4) x = fit_images(x, in.dims[1], in.dims[2], in.dims[3]);
    const Tensor logits = session.run({{g.inputs[0], x}}).at(g.outputs[0]).cast(DType::f32);
    if (logits.rank() != 2 || logits.dim(0) != rows || logits.dim(1) != classes)
      throw Error(ErrorKind::invalid_argument,
                  "the model's output is " + dims_to_string(logits.dims()) + ", expected [" +
                      std::to_string(rows) + ", " + std::to_string(classes) + "] logits",
                  data.name);
    const auto v = logits.data<float>();
    for (int64_t i = 0; i < count; ++i) {
      const float* row = v.data() + i * classes;
      std::iota(order.begin(), order.end(), 0);
      const size_t k = size_t(std::min<int64_t>(5, classes));
      std::partial_sort(order.begin(), order.begin() + ptrdiff_t(k), order.end(),
                        [&](int64_t a, int64_t b) { return row[a] > row[b]; });
      const int64_t truth = labels[size_t(first + i)];
      top1 += order[0] == truth;
      top5 += std::find(order.begin(), order.begin() + ptrdiff_t(k), truth) !=
              order.begin() + ptrdiff_t(k);
      ++r.confusion[size_t(truth)][size_t(order[0])];
    }
    if (options.progress) options.progress(first + count, n);
  }
  r.top1 = n ? double(top1) / double(n) : 0.0;
  r.top5 = n ? double(top5) / double(n) : 0.0;
  for (int64_t c = 0; c < classes; ++c) {
    const auto& row = r.confusion[size_t(c)];
    const int64_t total = std::accumulate(row.begin(), row.end(), int64_t{0});
    r.per_class.push_back(total ? double(row[size_t(c)]) / double(total) : 0.0);
  }
  return r;
}

}  // namespace edgeco
