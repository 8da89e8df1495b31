// Conv and ConvTranspose (float). The integer forms live in quant.cc.
#include "activation.h"
#include "conv_core.h"

namespace edgeco::kernels::ref {
namespace {

void conv(const KernelArgs& args) {
  const Tensor& x = args.in(0);
  const Tensor& w = args.in(1);
  Tensor& y = args.out(0);
  const Conv3d g = conv3d_geometry(args, x.dims(), w.dims(), WindowKind::conv);
  const bool fused = args.node.op_type == "FusedConv";
  const Activation activation = Activation::of(args);
  dispatch_float(x.dtype(), args, [&](auto tag) {
    using T = decltype(tag);
    const double zero = 0;
    auto acc = conv3d_accumulate<double, T, T>(g, x.data<T>(), w.data<T>(), 0.0,
                                               std::span(&zero, 1), args.threads);
    const int64_t plane = g.out[0] * g.out[1] * g.out[2];
    auto py = y.data<T>();
    const T* bias = args.has(2) ? args.in(2).data<T>().data() : nullptr;
    const T* residual = fused && args.has(3) ? args.in(3).data<T>().data() : nullptr;
    for (size_t i = 0; i < acc.size(); ++i) {
      const int64_t m = (int64_t(i) / plane) % g.m;
      double v = acc[i] + (bias ? double(bias[m]) : 0.0);
      if (residual) v += double(residual[i]);
      py[i] = static_cast<T>(activation(v));
    }
  });
}

void conv_transpose(const KernelArgs& args) {
  const Tensor& x = args.in(0);
  const Tensor& w = args.in(1);
  Tensor& y = args.out(0);
  const Conv3d g = conv3d_geometry(args, x.dims(), w.dims(), WindowKind::conv_transpose);
  dispatch_float(x.dtype(), args, [&](auto tag) {
    using T = decltype(tag);
    auto px = x.data<T>();
    auto pw = w.data<T>();
    const int64_t in_plane = g.in[0] * g.in[1] * g.in[2];
    const int64_t out_plane = g.out[0] * g.out[1] * g.out[2];
    const int64_t kernel_size = g.kernel[0] * g.kernel[1] * g.kernel[2];
    const int64_t c_per_group = g.c / g.group, m_per_group = g.m / g.group;
    std::vector<double> acc(size_t(g.n * g.m * out_plane), 0.0);
    // Scatter: each input element adds its weighted kernel into the output.
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t c = 0; c < g.c; ++c) {
        const int64_t group = c / c_per_group;
        for (int64_t mg = 0; mg < m_per_group; ++mg) {
          const int64_t m = group * m_per_group + mg;
          const T* wp = pw.data() + (c * m_per_group + mg) * kernel_size;
          double* out = acc.data() + (n * g.m + m) * out_plane;
          for (int64_t id = 0; id < g.in[0]; ++id)
            for (int64_t ih = 0; ih < g.in[1]; ++ih)
              for (int64_t iw = 0; iw < g.in[2]; ++iw) {
                const double xv = double(
                    px[size_t((n * g.c + c) * in_plane + (id * g.in[1] + ih) * g.in[2] + iw)]);
                for (int64_t kd = 0; kd < g.kernel[0]; ++kd) {
                  const int64_t od = id * g.stride[0] + kd * g.dilation[0] - g.pad[0];
                  if (od < 0 || od >= g.out[0]) continue;
                  for (int64_t kh = 0; kh < g.kernel[1]; ++kh) {
                    const int64_t oh = ih * g.stride[1] + kh * g.dilation[1] - g.pad[1];
                    if (oh < 0 || oh >= g.out[1]) continue;
                    for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
                      const int64_t ow = iw * g.stride[2] + kw * g.dilation[2] - g.pad[2];
                      if (ow < 0 || ow >= g.out[2]) continue;
                      out[(od * g.out[1] + oh) * g.out[2] + ow] +=
                          xv * double(wp[(kd * g.kernel[1] + kh) * g.kernel[2] + kw]);
                    }
                  }
                }
              }
        }
      }
    auto py = y.data<T>();
    const T* bias = args.has(2) ? args.in(2).data<T>().data() : nullptr;
    for (size_t i = 0; i < acc.size(); ++i)
      py[i] = static_cast<T>(acc[i] + (bias ? double(bias[(int64_t(i) / out_plane) % g.m]) : 0.0));
  });
}

// edgeco.FusedConv: with channels_last, the NCHW loop runs between two transposes (the reference
// is the oracle, not the fast path).
void fused_conv(const KernelArgs& args) {
  if (args.node.attr_int("channels_last", 0) == 0) return conv(args);
  run_channels_last(args, conv, {0, 3});
}

}  // namespace

void register_conv(KernelRegistry& r) {
  r.add("Conv", conv);
  r.add("edgeco.FusedConv", fused_conv);
  r.add("ConvTranspose", conv_transpose);
}

}  // namespace edgeco::kernels::ref
