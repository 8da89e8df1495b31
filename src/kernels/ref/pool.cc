// MaxPool, AveragePool and their global forms, over 1-3 spatial dims.
#include <limits>

#include "conv_core.h"

namespace edgeco::kernels::ref {
namespace {

template <class T, class Visit>
void for_each_window(const Conv3d& g, Visit visit) {
  for (int64_t nc = 0; nc < g.n * g.c; ++nc)
    for (int64_t od = 0; od < g.out[0]; ++od)
      for (int64_t oh = 0; oh < g.out[1]; ++oh)
        for (int64_t ow = 0; ow < g.out[2]; ++ow)
          visit(nc,
                std::array<int64_t, 3>{od * g.stride[0] - g.pad[0], oh * g.stride[1] - g.pad[1],
                                       ow * g.stride[2] - g.pad[2]},
                ((nc * g.out[0] + od) * g.out[1] + oh) * g.out[2] + ow);
}

void max_pool(const KernelArgs& args) {
  const Tensor& x = args.in(0);
  const Conv3d g =
      window3d_geometry(args, x.dims(), args.node.attr_ints("kernel_shape"), WindowKind::pool);
  Tensor& y = args.out(0);
  const bool column_major = args.node.attr_int("storage_order", 0) != 0;
  int64_t* indices = args.outputs.size() > 1 && !args.node.outputs[1].empty()
                         ? args.out(1).data<int64_t>().data()
                         : nullptr;
  auto run = [&](auto tag) {
    using T = decltype(tag);
    auto px = x.data<T>();
    auto py = y.data<T>();
    const int64_t plane = g.in[0] * g.in[1] * g.in[2];
    for_each_window<T>(g, [&](int64_t nc, std::array<int64_t, 3> start, int64_t out_index) {
      T best = std::numeric_limits<T>::lowest();
      int64_t best_index = -1;
      for (int64_t kd = 0; kd < g.kernel[0]; ++kd) {
        const int64_t id = start[0] + kd * g.dilation[0];
        if (id < 0 || id >= g.in[0]) continue;
        for (int64_t kh = 0; kh < g.kernel[1]; ++kh) {
          const int64_t ih = start[1] + kh * g.dilation[1];
          if (ih < 0 || ih >= g.in[1]) continue;
          for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
            const int64_t iw = start[2] + kw * g.dilation[2];
            if (iw < 0 || iw >= g.in[2]) continue;
            const int64_t index = nc * plane + (id * g.in[1] + ih) * g.in[2] + iw;
            if (best_index < 0 || px[size_t(index)] > best) {
              best = px[size_t(index)];
              // storage_order=1 reports the index in column-major order of the spatial dims.
              best_index = column_major ? nc * plane + (iw * g.in[1] + ih) * g.in[0] + id : index;
            }
          }
        }
      }
      py[size_t(out_index)] = best;
      if (indices) indices[out_index] = best_index;
    });
  };
  switch (x.dtype()) {
    case DType::i8:
      run(int8_t{});
      break;
    case DType::u8:
      run(uint8_t{});
      break;
    default:
      dispatch_float(x.dtype(), args, run);
  }
}

void average_pool(const KernelArgs& args) {
  const Tensor& x = args.in(0);
  const Conv3d g =
      window3d_geometry(args, x.dims(), args.node.attr_ints("kernel_shape"), WindowKind::pool);
  const bool include_pad = args.node.attr_int("count_include_pad", 0) != 0;
  Tensor& y = args.out(0);
  dispatch_float(x.dtype(), args, [&](auto tag) {
    using T = decltype(tag);
    auto px = x.data<T>();
    auto py = y.data<T>();
    const int64_t plane = g.in[0] * g.in[1] * g.in[2];
    for_each_window<T>(g, [&](int64_t nc, std::array<int64_t, 3> start, int64_t out_index) {
      double sum = 0;
      int64_t count = 0, padded_count = 0;
      for (int64_t kd = 0; kd < g.kernel[0]; ++kd) {
        const int64_t id = start[0] + kd * g.dilation[0];
        if (id >= g.in[0] + g.pad_end[0]) continue;
        for (int64_t kh = 0; kh < g.kernel[1]; ++kh) {
          const int64_t ih = start[1] + kh * g.dilation[1];
          if (ih >= g.in[1] + g.pad_end[1]) continue;
          for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
            const int64_t iw = start[2] + kw * g.dilation[2];
            if (iw >= g.in[2] + g.pad_end[2]) continue;
            ++padded_count;  // inside the padded input (ceil_mode windows may reach past it)
            if (id < 0 || id >= g.in[0] || ih < 0 || ih >= g.in[1] || iw < 0 || iw >= g.in[2])
              continue;
            sum += double(px[size_t(nc * plane + (id * g.in[1] + ih) * g.in[2] + iw)]);
            ++count;
          }
        }
      }
      const int64_t divisor = include_pad ? padded_count : count;
      py[size_t(out_index)] = static_cast<T>(divisor ? sum / double(divisor) : 0.0);
    });
  });
}

void global_pool(const KernelArgs& args, bool max) {
  const Tensor& x = args.in(0);
  Tensor& y = args.out(0);
  const int64_t plane = product(x.dims(), 2);
  const int64_t count = x.dim(0) * x.dim(1);
  dispatch_float(x.dtype(), args, [&](auto tag) {
    using T = decltype(tag);
    auto px = x.data<T>();
    auto py = y.data<T>();
    for (int64_t i = 0; i < count; ++i) {
      double acc = max ? -INFINITY : 0.0;
      for (int64_t k = 0; k < plane; ++k) {
        const double v = double(px[size_t(i * plane + k)]);
        acc = max ? std::max(acc, v) : acc + v;
      }
      py[size_t(i)] = static_cast<T>(max ? acc : acc / double(plane));
    }
  });
}

}  // namespace

void register_pool(KernelRegistry& r) {
  // The layout pass's NHWC pools (single output, no Indices).
  r.add("edgeco.MaxPool", [](const KernelArgs& a) { run_channels_last(a, max_pool, {0}); });
  r.add("edgeco.AveragePool", [](const KernelArgs& a) { run_channels_last(a, average_pool, {0}); });
  r.add("MaxPool", max_pool);
  r.add("AveragePool", average_pool);
  r.add("GlobalAveragePool", [](const KernelArgs& a) { global_pool(a, false); });
  r.add("GlobalMaxPool", [](const KernelArgs& a) { global_pool(a, true); });
}

}  // namespace edgeco::kernels::ref
