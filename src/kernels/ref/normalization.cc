// BatchNormalization (inference) and the Reduce* family.
#include <limits>

#include "common.h"

namespace edgeco::kernels::ref {
namespace {

void batch_norm(const KernelArgs& args) {
  const Tensor& x = args.in(0);
  Tensor& y = args.out(0);
  const double epsilon = args.node.attr_float("epsilon", 1e-5f);
  const bool training = args.opset >= 14 && args.node.attr_int("training_mode", 0) != 0;
  const int64_t channels = x.dim(1), inner = product(x.dims(), 2), outer = x.dim(0);
  dispatch_float(x.dtype(), args, [&](auto tag) {
    using T = decltype(tag);
    auto px = x.data<T>();
    auto py = y.data<T>();
    auto scale = args.in(1).data<T>();
    auto bias = args.in(2).data<T>();
    std::vector<double> mean(static_cast<size_t>(channels)), var(static_cast<size_t>(channels));
    for (int64_t c = 0; c < channels; ++c)
      mean[size_t(c)] = double(args.in(3).data<T>()[size_t(c)]),
      var[size_t(c)] = double(args.in(4).data<T>()[size_t(c)]);
    if (training) {
      // Normalise with the batch's statistics (population variance) and update the running ones.
      const double momentum = args.node.attr_float("momentum", 0.9f);
      const double count = double(outer * inner);
      for (int64_t c = 0; c < channels; ++c) {
        double sum = 0, sq = 0;
        for (int64_t n = 0; n < outer; ++n)
          for (int64_t i = 0; i < inner; ++i) {
            const double v = double(px[size_t((n * channels + c) * inner + i)]);
            sum += v, sq += v * v;
          }
        const double batch_mean = sum / count, batch_var = sq / count - batch_mean * batch_mean;
        if (args.outputs.size() > 1 && !args.node.outputs[1].empty())
          args.out(1).data<T>()[size_t(c)] =
              static_cast<T>(mean[size_t(c)] * momentum + batch_mean * (1 - momentum));
        if (args.outputs.size() > 2 && !args.node.outputs[2].empty())
          args.out(2).data<T>()[size_t(c)] =
              static_cast<T>(var[size_t(c)] * momentum + batch_var * (1 - momentum));
        mean[size_t(c)] = batch_mean, var[size_t(c)] = batch_var;
      }
    }
    for (int64_t n = 0; n < outer; ++n)
      for (int64_t c = 0; c < channels; ++c) {
        const double s = double(scale[size_t(c)]) / std::sqrt(var[size_t(c)] + epsilon);
        const double shift = double(bias[size_t(c)]) - mean[size_t(c)] * s;
        const size_t base = size_t((n * channels + c) * inner);
        for (int64_t i = 0; i < inner; ++i)
          py[base + size_t(i)] = static_cast<T>(double(px[base + size_t(i)]) * s + shift);
      }
  });
}

enum class Reduce { mean, sum, max, min, prod, l1, l2, log_sum, log_sum_exp, sum_square };

void reduce(const KernelArgs& args, Reduce kind) {
  const Tensor& x = args.in(0);
  Tensor& y = args.out(0);
  const size_t rank = x.rank();
  // Which axes are reduced: the output keeps 1 there (keepdims) or drops them.
  std::vector<bool> reduced(rank, false);
  Dims axes;
  if (args.node.has_attr("axes"))
    axes = args.node.attr_ints("axes");
  else if (args.has(1))
    axes = args.in(1).to_int64s();
  if (axes.empty()) {
    if (args.node.attr_int("noop_with_empty_axes", 0) != 0) {
      args.outputs[0] = x;
      return;
    }
    std::fill(reduced.begin(), reduced.end(), true);
  }
  for (int64_t a : axes) reduced[size_t(normalize_axis(a, int64_t(rank), "axis"))] = true;
  Dims kept_dims(rank);
  for (size_t i = 0; i < rank; ++i) kept_dims[i] = reduced[i] ? 1 : x.dim(i);
  const int64_t count = std::max<int64_t>(1, x.numel() / std::max<int64_t>(1, y.numel()));
  dispatch_numeric(x.dtype(), args, [&](auto tag) {
    using T = decltype(tag);
    auto px = x.data<T>();
    auto py = y.data<T>();
    double init = 0;
    if (kind == Reduce::max) init = -INFINITY;
    if (kind == Reduce::min) init = INFINITY;
    if (kind == Reduce::prod) init = 1;
    std::vector<double> acc(size_t(y.numel()), init);
    // Map each input element to its output slot: output strides with 0 on reduced axes.
    Dims strides(rank, 0);
    int64_t stride = 1;
    for (size_t d = rank; d-- > 0;) {
      strides[d] = reduced[d] ? 0 : stride;
      stride *= kept_dims[d];
    }
    Dims index(rank, 0);
    int64_t out = 0;
    for (size_t i = 0; i < px.size(); ++i) {
      const double v = double(px[i]);
      double& a = acc[size_t(out)];
      switch (kind) {
        case Reduce::mean:
        case Reduce::sum:
          a += v;
          break;
        case Reduce::max:
          a = std::max(a, v);
          break;
        case Reduce::min:
          a = std::min(a, v);
          break;
        case Reduce::prod:
          a *= v;
          break;
        case Reduce::l1:
          a += std::abs(v);
          break;
        case Reduce::l2:
        case Reduce::sum_square:
          a += v * v;
          break;
        case Reduce::log_sum:
          a += v;
          break;
        case Reduce::log_sum_exp:
          a += std::exp(v);
          break;
      }
      for (size_t d = rank; d-- > 0;) {
        out += strides[d];
        if (++index[d] < x.dim(d)) break;
        out -= strides[d] * x.dim(d);
        index[d] = 0;
      }
    }
    for (size_t i = 0; i < acc.size(); ++i) {
      double v = acc[i];
      if (kind == Reduce::mean) v /= double(count);
      if (kind == Reduce::l2) v = std::sqrt(v);
      if (kind == Reduce::log_sum || kind == Reduce::log_sum_exp) v = std::log(v);
      if constexpr (std::is_integral_v<T>)
        py[i] = saturate<T>(v);
      else
        py[i] = static_cast<T>(v);
    }
  });
}

void arg_extreme(const KernelArgs& args, bool max) {
  const Tensor& x = args.in(0);
  const size_t axis =
      size_t(normalize_axis(args.node.attr_int("axis", 0), int64_t(x.rank()), "axis"));
  const bool last = args.node.attr_int("select_last_index", 0) != 0;
  const int64_t outer = product(x.dims(), 0, axis), extent = x.dim(axis),
                inner = product(x.dims(), axis + 1);
  if (extent == 0) args.fail("cannot take ArgMax/ArgMin over an empty axis");
  auto py = args.out(0).data<int64_t>();
  dispatch_numeric(x.dtype(), args, [&](auto tag) {
    using T = decltype(tag);
    auto px = x.data<T>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        int64_t best = 0;
        for (int64_t k = 1; k < extent; ++k) {
          const T v = px[size_t((o * extent + k) * inner + i)],
                  b = px[size_t((o * extent + best) * inner + i)];
          if ((max ? v > b : v < b) || (last && v == b)) best = k;
        }
        py[size_t(o * inner + i)] = best;
      }
  });
}

// y = (x - mean) / sqrt(var + epsilon) * scale + bias over the axes from `axis` on.
void layer_norm(const KernelArgs& args) {
  const Tensor& x = args.in(0);
  const size_t axis =
      size_t(normalize_axis(args.node.attr_int("axis", -1), int64_t(x.rank()), "axis"));
  const double epsilon = args.node.attr_float("epsilon", 1e-5f);
  const int64_t outer = product(x.dims(), 0, axis), inner = product(x.dims(), axis);
  const auto xs = x.to_doubles();
  const Tensor& scale_t = args.in(1);
  const Dims norm_dims(x.dims().begin() + int64_t(axis), x.dims().end());
  const std::vector<double> scale = scale_t.to_doubles();
  const std::vector<double> bias = args.has(2) ? args.in(2).to_doubles() : std::vector<double>{};
  // Scale and bias broadcast over the normalised dims.
  const Dims scale_strides = broadcast_strides(scale_t.dims(), norm_dims);
  const Dims bias_strides =
      args.has(2) ? broadcast_strides(args.in(2).dims(), norm_dims) : Dims(norm_dims.size(), 0);
  std::vector<double> y(xs.size()), means(static_cast<size_t>(outer)),
      inv_std(static_cast<size_t>(outer));
  for (int64_t o = 0; o < outer; ++o) {
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < inner; ++i) sum += xs[size_t(o * inner + i)];
    const double mean = sum / double(inner);
    for (int64_t i = 0; i < inner; ++i)
      sq += (xs[size_t(o * inner + i)] - mean) * (xs[size_t(o * inner + i)] - mean);
    const double inv = 1.0 / std::sqrt(sq / double(inner) + epsilon);
    means[size_t(o)] = mean, inv_std[size_t(o)] = inv;
    Dims index(norm_dims.size(), 0);
    for (int64_t i = 0; i < inner; ++i) {
      int64_t s = 0, b = 0;
      for (size_t d = 0; d < index.size(); ++d)
        s += index[d] * scale_strides[d], b += index[d] * bias_strides[d];
      y[size_t(o * inner + i)] = (xs[size_t(o * inner + i)] - mean) * inv * scale[size_t(s)] +
                                 (bias.empty() ? 0.0 : bias[size_t(b)]);
      for (size_t d = index.size(); d-- > 0;) {
        if (++index[d] < norm_dims[d]) break;
        index[d] = 0;
      }
    }
  }
  args.outputs[0] = Tensor::from_values<double>(x.dims(), std::span<const double>(y))
                        .cast(args.output_types[0].dtype);
  for (size_t k = 1; k < 3 && k < args.outputs.size(); ++k)
    if (!args.node.outputs[k].empty()) {
      const auto& stats = k == 1 ? means : inv_std;
      args.outputs[k] =
          Tensor::from_values<double>(args.output_types[k].dims, std::span<const double>(stats))
              .cast(args.output_types[k].dtype);
    }
}

void cumsum(const KernelArgs& args) {
  const Tensor& x = args.in(0);
  Tensor& y = args.out(0);
  const size_t axis =
      size_t(normalize_axis(args.in(1).to_int64s().at(0), int64_t(x.rank()), "axis"));
  const bool exclusive = args.node.attr_int("exclusive", 0) != 0,
             reverse = args.node.attr_int("reverse", 0) != 0;
  const int64_t outer = product(x.dims(), 0, axis), extent = x.dim(axis),
                inner = product(x.dims(), axis + 1);
  dispatch_numeric(x.dtype(), args, [&](auto tag) {
    using T = decltype(tag);
    auto px = x.data<T>();
    auto py = y.data<T>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        T running{0};
        for (int64_t step = 0; step < extent; ++step) {
          const int64_t k = reverse ? extent - 1 - step : step;
          const size_t at = size_t((o * extent + k) * inner + i);
          if (exclusive)
            py[at] = running, running = static_cast<T>(running + px[at]);
          else
            running = static_cast<T>(running + px[at]), py[at] = running;
        }
      }
  });
}

}  // namespace

void register_normalization(KernelRegistry& r) {
  r.add("LayerNormalization", layer_norm);
  r.add("CumSum", cumsum);
  r.add("ArgMax", [](const KernelArgs& a) { arg_extreme(a, true); });
  r.add("ArgMin", [](const KernelArgs& a) { arg_extreme(a, false); });
  r.add("ReduceL1", [](const KernelArgs& a) { reduce(a, Reduce::l1); });
  r.add("ReduceL2", [](const KernelArgs& a) { reduce(a, Reduce::l2); });
  r.add("ReduceLogSum", [](const KernelArgs& a) { reduce(a, Reduce::log_sum); });
  r.add("ReduceLogSumExp", [](const KernelArgs& a) { reduce(a, Reduce::log_sum_exp); });
  r.add("ReduceSumSquare", [](const KernelArgs& a) { reduce(a, Reduce::sum_square); });
  r.add("BatchNormalization", batch_norm);
  r.add("ReduceMean", [](const KernelArgs& a) { reduce(a, Reduce::mean); });
  r.add("ReduceSum", [](const KernelArgs& a) { reduce(a, Reduce::sum); });
  r.add("ReduceMax", [](const KernelArgs& a) { reduce(a, Reduce::max); });
  r.add("ReduceMin", [](const KernelArgs& a) { reduce(a, Reduce::min); });
  r.add("ReduceProd", [](const KernelArgs& a) { reduce(a, Reduce::prod); });
}

}  // namespace edgeco::kernels::ref
