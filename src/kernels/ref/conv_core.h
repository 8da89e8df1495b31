// The convolution loop nest shared by Conv, ConvInteger and QLinearConv. 1-D and 2-D convolutions
// run as 3-D ones with leading unit dims, so one loop nest serves all three.
#pragma once

#include <vector>

#include "common.h"

namespace edgeco::kernels::ref {

// Geometry lifted to exactly three spatial dims.
struct Conv3d {
  int64_t n = 1, c = 1, m = 1, group = 1;
  std::array<int64_t, 3> in{1, 1, 1}, out{1, 1, 1}, kernel{1, 1, 1}, stride{1, 1, 1},
      dilation{1, 1, 1}, pad{0, 0, 0}, pad_end{0, 0, 0};
};

// `kernel`: the spatial kernel dims (from W for convolutions, kernel_shape for pools).
inline Conv3d window3d_geometry(const KernelArgs& args, const Dims& x_dims,
                                std::span<const int64_t> kernel, WindowKind kind) {
  const size_t spatial = x_dims.size() - 2;
  if (spatial > 3)
    args.fail("windows over more than 3 spatial dims are not supported", ErrorKind::unsupported);
  const WindowGeometry g = window_geometry(args.node, kind, std::span(x_dims).subspan(2), kernel);
  Conv3d c;
  c.n = x_dims[0];
  c.c = c.m = x_dims[1];
  const size_t lead = 3 - spatial;
  for (size_t i = 0; i < spatial; ++i) {
    c.in[lead + i] = x_dims[2 + i];
    c.out[lead + i] = g.output[i];
    c.kernel[lead + i] = g.kernel[i];
    c.stride[lead + i] = g.strides[i];
    c.dilation[lead + i] = g.dilations[i];
    c.pad[lead + i] = g.pads_begin[i];
    c.pad_end[lead + i] = g.pads_end[i];
  }
  return c;
}

inline Conv3d conv3d_geometry(const KernelArgs& args, const Dims& x_dims, const Dims& w_dims,
                              WindowKind kind) {
  Conv3d c = window3d_geometry(args, x_dims, std::span(w_dims).subspan(2), kind);
  c.group = args.node.attr_int("group", 1);
  c.m = kind == WindowKind::conv_transpose ? w_dims[1] * c.group : w_dims[0];
  return c;
}

// acc[n][m][od][oh][ow] = sum over (c in group, kd, kh, kw) of (x - x_zero) * (w - w_zero[m]).
// Acc is double for float data (exact enough to be an oracle) and int32 for integer data.
template <class Acc, class TX, class TW>
std::vector<Acc> conv3d_accumulate(const Conv3d& g, std::span<const TX> x, std::span<const TW> w,
                                   Acc x_zero, std::span<const Acc> w_zero, int threads = 1) {
  const int64_t out_plane = g.out[0] * g.out[1] * g.out[2];
  const int64_t in_plane = g.in[0] * g.in[1] * g.in[2];
  const int64_t kernel_size = g.kernel[0] * g.kernel[1] * g.kernel[2];
  const int64_t c_per_group = g.c / g.group, m_per_group = g.m / g.group;
  std::vector<Acc> acc(size_t(g.n * g.m * out_plane), Acc{0});
  // Each (image, output channel) plane is independent: split them across threads.
  parallel_for(g.n * g.m, threads, [&](int64_t first_plane, int64_t end_plane) {
    for (int64_t plane = first_plane; plane < end_plane; ++plane) {
      const int64_t n = plane / g.m, m = plane % g.m;
      const int64_t group = m / m_per_group;
      Acc* out = acc.data() + (n * g.m + m) * out_plane;
      const Acc wz = w_zero.size() == 1 ? w_zero[0] : w_zero[size_t(m)];
      for (int64_t cg = 0; cg < c_per_group; ++cg) {
        const int64_t c = group * c_per_group + cg;
        const TX* xp = x.data() + (n * g.c + c) * in_plane;
        const TW* wp = w.data() + (m * c_per_group + cg) * kernel_size;
        for (int64_t kd = 0; kd < g.kernel[0]; ++kd)
          for (int64_t kh = 0; kh < g.kernel[1]; ++kh)
            for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
              const Acc wv = Acc(wp[(kd * g.kernel[1] + kh) * g.kernel[2] + kw]) - wz;
              // Output columns whose input column lies inside the image.
              const int64_t off_w = kw * g.dilation[2] - g.pad[2];
              int64_t ow_lo = off_w >= 0 ? 0 : (-off_w + g.stride[2] - 1) / g.stride[2];
              int64_t ow_hi =
                  g.in[2] - off_w <= 0 ? 0 : (g.in[2] - off_w + g.stride[2] - 1) / g.stride[2];
              ow_hi = std::min(ow_hi, g.out[2]);
              for (int64_t od = 0; od < g.out[0]; ++od) {
                const int64_t id = od * g.stride[0] + kd * g.dilation[0] - g.pad[0];
                if (id < 0 || id >= g.in[0]) continue;
                for (int64_t oh = 0; oh < g.out[1]; ++oh) {
                  const int64_t ih = oh * g.stride[1] + kh * g.dilation[1] - g.pad[1];
                  if (ih < 0 || ih >= g.in[1]) continue;
                  const TX* row = xp + (id * g.in[1] + ih) * g.in[2] + off_w;
                  Acc* orow = out + (od * g.out[1] + oh) * g.out[2];
                  for (int64_t ow = ow_lo; ow < ow_hi; ++ow)
                    orow[ow] += (Acc(row[ow * g.stride[2]]) - x_zero) * wv;
                }
              }
            }
      }
    }
  });
  return acc;
}

}  // namespace edgeco::kernels::ref
