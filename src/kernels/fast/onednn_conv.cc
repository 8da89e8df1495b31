// 2-D convolutions on oneDNN: float32 Conv and edgeco.FusedConv, whose bias, residual (sum
// post-op) and activation (eltwise post-ops) run inside the convolution, and the int8
// edgeco.QFusedConv (u8/s8 activations, s8 weights, int32 accumulation, per-channel output scales,
// activation and requantization as post-ops). NCHW tensors are reordered to oneDNN's layout at
// entry and exit; channels_last (NHWC) ones are used as they are.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "core/omp_limit.h"
#include "kernels/fast/fast_kernels.h"

namespace edgeco::kernels::fast {
namespace {

// Adds the node's activation as eltwise post-ops; false if oneDNN 2.6 cannot express it.
bool append_activation(const Node& node, dnnl::post_ops& ops) {
  const std::string a = node.attr_string("activation", "");
  const float alpha = node.attr_float("activation_alpha", 0.0f),
              beta = node.attr_float("activation_beta", 0.0f);
  using alg = dnnl::algorithm;
  if (a.empty()) return true;
  if (a == "Relu")
    ops.append_eltwise(1.0f, alg::eltwise_relu, 0.0f, 0.0f);
  else if (a == "LeakyRelu")
    ops.append_eltwise(1.0f, alg::eltwise_relu, alpha, 0.0f);
  else if (a == "Clip")
    ops.append_eltwise(1.0f, alg::eltwise_clip_v2, alpha, beta);
  else if (a == "Sigmoid")
    ops.append_eltwise(1.0f, alg::eltwise_logistic, 0.0f, 0.0f);
  else if (a == "Tanh")
    ops.append_eltwise(1.0f, alg::eltwise_tanh, 0.0f, 0.0f);
  else if (a == "Swish")  // x * sigmoid(alpha x), alpha = 1
    ops.append_eltwise(1.0f, alg::eltwise_swish, 1.0f, 0.0f);
  else if (a == "HardSwish")
    ops.append_eltwise(1.0f, alg::eltwise_hardswish, 0.0f, 0.0f);
  else if (a == "HardSigmoid") {  // clip(alpha * x + beta, 0, 1)
    ops.append_eltwise(1.0f, alg::eltwise_linear, alpha, beta);
    ops.append_eltwise(1.0f, alg::eltwise_clip_v2, 0.0f, 1.0f);
  } else {
    return false;
  }
  return true;
}

// The activations a float convolution applies itself after oneDNN's convolution, because its
// own loops are faster than oneDNN's post-ops for them (fast_kernels.h). An int8 convolution
// keeps them as post-ops: they act on the real value before requantization.
std::optional<ExpActivation> own_exp_activation(const Node& node) {
  const std::string a = node.attr_string("activation", "");
  if (a == "Swish") return ExpActivation::swish;
  if (a == "Sigmoid") return ExpActivation::sigmoid;
  return std::nullopt;
}

// What the int8 convolution needs beyond the float one: the scales and zero points that map its
// integers to real values.
struct Requantization {
  float x_scale = 1;
  int32_t x_zero = 0;
  std::vector<float> w_scales;  // one, or one per output channel
  float y_scale = 1;
  int32_t y_zero = 0;
  DType x_type = DType::u8, y_type = DType::u8;
};

constexpr size_t kBandWeightsPerActivationByte = 4;

class OneDnnConv final : public OneDnnKernel {
 public:
  OneDnnConv(const Node& node, bool static_shape, Tensor weights, std::optional<Tensor> bias,
             std::optional<Requantization> quant = std::nullopt)
      : node_(node),
        static_shape_(static_shape),
        weights_(std::move(weights)),
        weight_dims_(weights_.dims()),
        weight_type_(weights_.dtype()),
        bias_(std::move(bias)),
        quant_(std::move(quant)),
        winograd_(!quant_ && is_winograd(node_)) {
    // oneDNN adds the bias to the int32 accumulator before the output scale: bias / scale[m].
    if (quant_ && bias_) {
      auto b = bias_->data<float>();
      for (size_t m = 0; m < b.size(); ++m)
        b[m] /= quant_->x_scale * quant_->w_scales[quant_->w_scales.size() == 1 ? 0 : m];
    }
  }

  // The packed copy is the only one the kernel needs when shapes are fixed or weights are float.
  std::vector<size_t> owned_inputs() const override {
    // Float weights repack from the packed copy for a new shape; int8 ones (with oneDNN's
    // compensation terms in the packed form) and Winograd-transformed ones (oneDNN has no reorder
    // between two of those) keep the original unless shapes are fixed.
    if (!static_shape_ && (quant_ || winograd_)) return {};
    return {quant_ ? size_t{3} : size_t{1}};
  }

 private:
  int64_t macs(const KernelArgs& args) const override {
    return args.out(0).numel() * weight_dims_[1] * weight_dims_[2] * weight_dims_[3];
  }

  void execute(const KernelArgs& args, dnnl::stream& stream) override {
    const Tensor& x = args.in(0);
    Tensor& y = args.out(0);
    // The memory objects and arguments are made once per shape; a run points them at its tensors.
    point(src_user_, x);
    point(dst_user_, y);
    if (src_reorder_) src_reorder_->execute(stream, src_user_, src_mem_);
    if (has_residual_) {
      // The sum post-op adds to what the destination holds: start it with the residual.
      const Tensor& z = args.in(3);
      if (dst_reorder_) {
        memory z_user = view(dst_user_md_, z);
        residual_reorder_->execute(stream, z_user, dst_mem_);
      } else
        std::memcpy(y.data<float>().data(), z.data<float>().data(), z.nbytes());
    }
    conv_.execute(stream, exec_args_);
    if (dst_reorder_) dst_reorder_->execute(stream, dst_mem_, dst_user_);
    if (own_activation_) {
      stream.wait();
      apply_exp_activation(*own_activation_, y.data<float>(), args.threads);
    }
  }

  // Builds the primitive for the input's dims (once per shape; a dynamic batch rebuilds on change).
  void prepare(const KernelArgs& args) override {
    const Dims& x_dims = args.in(0).dims();
    // oneDNN speaks logical NCHW dims; channels_last only changes the physical tag.
    const bool channels_last = node_.attr_int("channels_last", 0) != 0;
    const Dims x = channels_last ? Dims{x_dims[0], x_dims[3], x_dims[1], x_dims[2]} : x_dims;
    const tag user_tag = channels_last ? tag::nhwc : tag::nchw;
    // NHWC is a layout oneDNN's direct convolutions run natively: no reorder at entry or exit.
    // Its Winograd kernels need their blocked layout: reorders in and out, which the compiler's
    // choice (algorithm="winograd") has counted on.
    const Dims& w = weight_dims_;
    const WindowGeometry g =
        window_geometry(node_, WindowKind::conv, std::span(x).subspan(2), std::span(w).subspan(2));
    geometry_ = g;
    bands_.clear();
    const int64_t group = node_.attr_int("group", 1);
    const memory::dims src_dims{x[0], x[1], x[2], x[3]};
    const memory::dims dst_dims{x[0], w[0], g.output[0], g.output[1]};
    const memory::dims w_dims = group == 1 ? memory::dims{w[0], w[1], w[2], w[3]}
                                           : memory::dims{group, w[0] / group, w[1], w[2], w[3]};
    const dt src_type = quant_ ? onednn_type(quant_->x_type) : dt::f32;
    const dt dst_type = quant_ ? onednn_type(quant_->y_type) : dt::f32;
    const dt w_type = onednn_type(weight_type_);
    src_user_md_ = memory::desc(src_dims, src_type, user_tag);
    dst_user_md_ = memory::desc(dst_dims, dst_type, user_tag);
    const memory::desc w_user_md(w_dims, w_type, group == 1 ? tag::oihw : tag::goihw);
    w_md_ = memory::desc(w_dims, w_type, tag::any);
    bias_md_ = bias_ ? memory::desc({w[0]}, dt::f32, tag::x) : memory::desc();
    const memory::desc& bias_md = bias_md_;
    auto make_desc = [&](bool as_winograd) {
      const tag compute_tag = channels_last && !as_winograd ? tag::nhwc : tag::any;
      return conv_desc(memory::desc(src_dims, src_type, compute_tag),
                       memory::desc(dst_dims, dst_type, compute_tag), g.pads_begin[0],
                       g.pads_end[0], as_winograd);
    };
    dnnl::post_ops ops;
    has_residual_ = node_.op_type == "FusedConv" && node_.has_input(3);
    if (has_residual_) ops.append_sum(1.0f);
    own_activation_ = quant_ ? std::nullopt : own_exp_activation(node_);
    if (!own_activation_) append_activation(node_, ops);
    dnnl::primitive_attr attr;
    if (quant_) {
      // Real value = x_scale * w_scale[m] * (acc + bias'); activation; then onto y's grid.
      std::vector<float> scales;
      for (float ws : quant_->w_scales) scales.push_back(quant_->x_scale * ws);
      attr.set_output_scales(scales.size() == 1 ? 0 : 1 << 1, scales);
      if (quant_->x_zero != 0) attr.set_zero_points(DNNL_ARG_SRC, 0, {quant_->x_zero});
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_linear, 1.0f / quant_->y_scale,
                         float(quant_->y_zero));
    }
    attr.set_post_ops(ops);
    attr_ = attr;
    // A CPU without oneDNN's Winograd kernels (they need AVX-512) runs the direct algorithm.
    auto make_pd = [&]() {
      if (winograd_) try {
          return dnnl::convolution_forward::primitive_desc(make_desc(true), attr, cpu_engine());
        } catch (const dnnl::error&) {
        }
      return dnnl::convolution_forward::primitive_desc(make_desc(false), attr, cpu_engine());
    };
    const dnnl::convolution_forward::primitive_desc pd = make_pd();
    dnnl::stream stream(cpu_engine());
    // Weights are packed into oneDNN's layout once.
    // A new shape may keep the packed layout; otherwise the weights are repacked from the original
    // or, once that is gone, from the previous packed copy.
    if (!weights_mem_ || pd.weights_desc() != weights_mem_.get_desc()) {
      memory from =
          weights_.empty_handle()
              ? weights_mem_
              : memory(w_user_md, cpu_engine(), const_cast<std::byte*>(weights_.bytes().data()));
      Tensor packed = Tensor::uninitialized(DType::u8, {int64_t(pd.weights_desc().get_size())});
      memory to(pd.weights_desc(), cpu_engine(), packed.bytes().data());
      dnnl::reorder(from, to).execute(stream, from, to);
      stream.wait();
      packed_weights_ = std::move(packed);
      weights_mem_ = to;
    }
    if (bias_)
      bias_mem_ = memory(bias_md, cpu_engine(), const_cast<float*>(bias_->data<float>().data()));
    src_reorder_.reset();
    dst_reorder_.reset();
    residual_reorder_.reset();
    auto make_reorder = [](const memory::desc& from, const memory::desc& to) {
      return dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), from, cpu_engine(), to));
    };
    if (pd.src_desc() != src_user_md_) {
      src_mem_ = memory(pd.src_desc(), cpu_engine());
      src_reorder_ = make_reorder(src_user_md_, pd.src_desc());
    }
    if (pd.dst_desc() != dst_user_md_) {
      dst_mem_ = memory(pd.dst_desc(), cpu_engine());
      dst_reorder_ = make_reorder(pd.dst_desc(), dst_user_md_);
      if (has_residual_) residual_reorder_ = make_reorder(dst_user_md_, pd.dst_desc());
    }
    stream.wait();
    if (!owned_inputs().empty()) weights_ = Tensor();
    conv_ = dnnl::convolution_forward(pd);
    src_user_ = memory(src_user_md_, cpu_engine(), nullptr);
    dst_user_ = memory(dst_user_md_, cpu_engine(), nullptr);
    exec_args_ = {{DNNL_ARG_SRC, src_reorder_ ? src_mem_ : src_user_},
                  {DNNL_ARG_WEIGHTS, weights_mem_},
                  {DNNL_ARG_DST, dst_reorder_ ? dst_mem_ : dst_user_}};
    if (bias_) exec_args_[DNNL_ARG_BIAS] = bias_mem_;
    channels_last_direct_ = channels_last && !src_reorder_ && !dst_reorder_;
  }

  // The convolution for these logical NCHW src/dst descs, with the node's strides and dilations,
  // `pad_top`/`pad_bottom` rows of padding and its column padding.
  dnnl::convolution_forward::desc conv_desc(const memory::desc& src, const memory::desc& dst,
                                            int64_t pad_top, int64_t pad_bottom,
                                            bool as_winograd) const {
    const WindowGeometry& g = geometry_;
    return dnnl::convolution_forward::desc(
        dnnl::prop_kind::forward_inference,
        as_winograd ? dnnl::algorithm::convolution_winograd : dnnl::algorithm::convolution_direct,
        src, w_md_, bias_md_, dst, memory::dims{g.strides[0], g.strides[1]},
        memory::dims{g.dilations[0] - 1, g.dilations[1] - 1},
        memory::dims{pad_top, g.pads_begin[1]}, memory::dims{pad_bottom, g.pads_end[1]});
  }

 public:
  // A band of output rows is a convolution of its own: the input rows it reads (a halo of
  // kernel - stride rows shared with the neighbouring band), with the image's padding only where
  // the band touches the image's edge. NHWC rows of a batch-1 tensor are contiguous, so each band
  // is a dense tensor at an offset: one single-threaded primitive per band, sharing the packed
  // weights.
  bool prepare_bands(const KernelArgs& args, int bands) override {
    const Tensor& x = args.in(0);
    const Tensor& y = args.out(0);
    if (!channels_last_direct_ || x.rank() != 4 || x.dim(0) != 1 || y.dim(1) < bands) return false;
    // Every band reads all the weights: where they outweigh the activations, a split by output
    // channels (oneDNN's own, each thread half the weights) reads less. ResNet-18's 7 x 7 layers
    // (2.4 MB of weights, 50 KB of activations) ran 17-32% slower by bands, its 28 x 28 ones
    // (0.15 MB, 0.2 MB) 5-9% faster. At 2x, ResNet-18 INT8 gained 1% and MobileNetV2 2% (its
    // 7 x 7 layers, 2.8x, then ran whole); at 4x, 3% and 3-5% (alternating runs, 2 threads).
    if (weights_mem_.get_desc().get_size() >
        kBandWeightsPerActivationByte * (x.nbytes() + y.nbytes()))
      return false;
    const WindowGeometry& g = geometry_;
    const int64_t in_rows = x.dim(1), width = x.dim(2), channels = x.dim(3);
    const int64_t out_rows = y.dim(1), out_width = y.dim(2), out_channels = y.dim(3);
    const int64_t extent = (g.kernel[0] - 1) * g.dilations[0] + 1;
    // A dense 1x1 stride-1 unpadded layer reads only the pixels it writes: its bands are equal runs
    // of pixels rather than whole rows (a 7 x 7 layer splits 24 / 25 pixels, not 3 / 4 rows).
    // Not a grouped one: oneDNN's depthwise kernel on one long row of pixels ran `calibrate`'s
    // 1x1 depthwise L2 pass at 5.8 GB/s instead of ~69 (the 2-thread host model was then off by
    // up to 256%).
    const bool pointwise = node_.attr_int("group", 1) == 1 && g.kernel[0] == 1 &&
                           g.kernel[1] == 1 && g.strides[0] == 1 && g.strides[1] == 1 &&
                           g.pads_begin[0] == 0 && g.pads_begin[1] == 0 && g.pads_end[0] == 0 &&
                           g.pads_end[1] == 0;
    const dt src_type = quant_ ? onednn_type(quant_->x_type) : dt::f32;
    const dt dst_type = quant_ ? onednn_type(quant_->y_type) : dt::f32;
    dnnl::primitive_attr attr = attr_;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // one per band: threads never share
    // oneDNN takes a primitive's thread count from the OpenMP limit when it is created.
    const OmpThreadLimit one_thread(1);
    std::vector<Band> made;
    try {
      for (int b = 0; b < bands; ++b) {
        // Pointwise: one row of all the pixels.
        const int64_t rows_of = pointwise ? out_rows * out_width : out_rows;
        const int64_t row_width = pointwise ? 1 : width, out_row_width = pointwise ? 1 : out_width;
        const RowBand rows = row_band(rows_of, b, bands);
        const int64_t first = rows.begin * g.strides[0] - g.pads_begin[0];
        const int64_t last = (rows.end - 1) * g.strides[0] - g.pads_begin[0] + extent;
        const int64_t from = std::max<int64_t>(first, 0),
                      to = std::min(last, pointwise ? rows_of : in_rows);
        Band band;
        band.src_md = memory::desc({1, channels, to - from, row_width}, src_type, tag::nhwc);
        band.dst_md = memory::desc({1, out_channels, rows.end - rows.begin, out_row_width},
                                   dst_type, tag::nhwc);
        const auto band_desc = conv_desc(band.src_md, band.dst_md, from - first, last - to, false);
        dnnl::convolution_forward::primitive_desc pd(band_desc, attr, cpu_engine());
        // One thread may block the weights otherwise than the node's threads did: MobileNetV2's
        // 96 -> 576 layers at 14 x 14 take output-channel blocks of 48 on 2 threads, 64 on one
        // (and oneDNN's 2-thread kernel will not read 64). Such a node runs whole.
        if (pd.weights_desc() != weights_mem_.get_desc()) break;
        band.conv = dnnl::convolution_forward(pd);
        band.src = memory(band.src_md, cpu_engine(), nullptr);
        band.dst = memory(band.dst_md, cpu_engine(), nullptr);
        band.exec_args = {{DNNL_ARG_SRC, band.src},
                          {DNNL_ARG_WEIGHTS, weights_mem_},
                          {DNNL_ARG_DST, band.dst},
                          {DNNL_ARG_SCRATCHPAD, memory(pd.scratchpad_desc(), cpu_engine())}};
        if (bias_) band.exec_args[DNNL_ARG_BIAS] = bias_mem_;
        band.src_offset = size_t(from * row_width * channels) * dtype_size(x.dtype());
        band.dst_first = rows.begin * out_row_width * out_channels;
        band.dst_count = (rows.end - rows.begin) * out_row_width * out_channels;
        made.push_back(std::move(band));
      }
    } catch (const dnnl::error&) {
      made.clear();
    }
    if (int(made.size()) != bands) return false;
    bands_ = std::move(made);
    return true;
  }

  void run_band(const KernelArgs& args, int band) override {
    if (band < 0 || size_t(band) >= bands_.size())
      args.fail("band " + std::to_string(band) + " was not prepared", ErrorKind::internal);
    Band& b = bands_[size_t(band)];
    const Tensor& x = args.in(0);
    Tensor& y = args.out(0);
    const size_t dst_offset = size_t(b.dst_first) * dtype_size(y.dtype());
    std::byte* dst = y.bytes().data() + dst_offset;
    if (has_residual_)
      std::memcpy(dst, args.in(3).bytes().data() + dst_offset,
                  size_t(b.dst_count) * dtype_size(y.dtype()));
    b.src.set_data_handle(const_cast<std::byte*>(x.bytes().data()) + b.src_offset);
    b.dst.set_data_handle(dst);
    dnnl::stream& stream = thread_stream();
    b.conv.execute(stream, b.exec_args);
    stream.wait();
    if (own_activation_)
      apply_exp_activation(*own_activation_,
                           y.data<float>().subspan(size_t(b.dst_first), size_t(b.dst_count)), 1);
  }

 private:
  struct Band {
    dnnl::convolution_forward conv;
    memory::desc src_md, dst_md;
    memory src, dst;                            // pointed at the tensors on each run
    std::unordered_map<int, memory> exec_args;  // its own scratchpad: threads never share one
    size_t src_offset = 0;                      // bytes into the input
    int64_t dst_first = 0, dst_count = 0;       // elements of the output
  };

  Node node_;
  bool static_shape_;
  Tensor weights_;  // as given; dropped once packed when shapes cannot change
  Dims weight_dims_;
  DType weight_type_;
  Tensor packed_weights_;  // oneDNN's layout
  std::optional<Tensor> bias_;
  std::optional<Requantization> quant_;
  bool winograd_;  // the compiler chose Winograd (float only); oneDNN may still fall back to direct
  bool has_residual_ = false;
  std::optional<ExpActivation> own_activation_;  // applied after the convolution, not a post-op
  memory::desc src_user_md_, dst_user_md_;
  memory weights_mem_, bias_mem_, src_mem_, dst_mem_;
  memory src_user_, dst_user_;  // the tensors' storage, pointed at on each run
  std::unordered_map<int, memory> exec_args_;
  std::optional<dnnl::reorder> src_reorder_, dst_reorder_, residual_reorder_;
  dnnl::convolution_forward conv_;
  // What the band primitives are built from (set by prepare()).
  WindowGeometry geometry_;
  memory::desc w_md_, bias_md_;
  dnnl::primitive_attr attr_;
  bool channels_last_direct_ = false;  // NHWC in and out, no reorders: rows are contiguous bands
  std::vector<Band> bands_;
};

// edgeco.QFusedConv with constant per-tensor activation parameters and zero weight zero points
// (oneDNN's int8 convolutions take symmetric weights).
std::unique_ptr<PreparedKernel> make_qconv(const PrepareArgs& a) {
  const auto& types = a.input_types;
  if (types.size() < 8 || !types[0] || !types[0]->rank_known || types[0]->dims.size() != 4)
    return nullptr;
  for (size_t i : {1, 3, 4, 6, 7})
    if (!a.constants[i]) return nullptr;
  if ((a.node.has_input(2) && !a.constants[2]) || (a.node.has_input(5) && !a.constants[5]) ||
      (a.node.has_input(8) && !a.constants[8]))
    return nullptr;
  const Tensor& w = *a.constants[3];
  if (w.dtype() != DType::i8 || w.rank() != 4) return nullptr;
  if (a.node.has_input(5))
    for (int64_t z : a.constants[5]->to_int64s())
      if (z != 0) return nullptr;
  dnnl::post_ops probe;
  if (!append_activation(a.node, probe) || a.node.attr_int("group", 1) < 1) return nullptr;
  Requantization q;
  q.x_type = types[0]->dtype;
  q.y_type = a.constants[7]->dtype();
  q.x_scale = float(a.constants[1]->to_doubles()[0]);
  q.x_zero = a.node.has_input(2) ? int32_t(a.constants[2]->to_int64s()[0]) : 0;
  for (double s : a.constants[4]->to_doubles()) q.w_scales.push_back(float(s));
  q.y_scale = float(a.constants[6]->to_doubles()[0]);
  q.y_zero = int32_t(a.constants[7]->to_int64s()[0]);
  if (q.w_scales.size() != 1 && int64_t(q.w_scales.size()) != w.dim(0)) return nullptr;
  std::optional<Tensor> bias;
  if (a.node.has_input(8)) bias = a.constants[8]->clone();
  return std::make_unique<OneDnnConv>(a.node, types[0]->fully_known(), w, std::move(bias),
                                      std::move(q));
}

std::unique_ptr<PreparedKernel> make_conv(const PrepareArgs& a) {
  const auto& types = a.input_types;
  if (types.size() < 2 || !types[0] || types[0]->dtype != DType::f32 || !types[0]->rank_known ||
      types[0]->dims.size() != 4)
    return nullptr;
  if (!a.constants[1] || a.constants[1]->dtype() != DType::f32)
    return nullptr;  // weights must be constant
  if (a.node.has_input(2) && !a.constants[2]) return nullptr;
  dnnl::post_ops probe;
  if (!append_activation(a.node, probe)) return nullptr;
  if (a.node.attr_int("group", 1) < 1) return nullptr;
  return std::make_unique<OneDnnConv>(
      a.node, types[0]->fully_known(), *a.constants[1],
      a.node.has_input(2) ? std::optional<Tensor>(*a.constants[2]) : std::nullopt);
}

}  // namespace

void register_onednn_conv(FastKernelRegistry& registry) {
  registry.add("Conv", make_conv);
  registry.add("edgeco.FusedConv", make_conv);
  registry.add("edgeco.QFusedConv", make_qconv);
}

}  // namespace edgeco::kernels::fast
