// 2-D float32 Conv and edgeco.FusedConv on oneDNN: bias, residual (sum post-op) and activation
// (eltwise post-ops) run inside the convolution. Activations stay NCHW at the boundary; oneDNN
// picks its own layout inside, with reorders at entry and exit.
#include <cstring>
#include <optional>
#include <unordered_map>

#include "kernels/fast/fast_kernels.h"

namespace edgeco::kernels::fast {
namespace {

// Adds the node's activation as eltwise post-ops; false if oneDNN 2.6 cannot express it.
bool append_activation(const Node& node, dnnl::post_ops& ops) {
  if (node.op_type != "FusedConv") return true;
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

class OneDnnConv final : public OneDnnKernel {
 public:
  OneDnnConv(const Node& node, Tensor weights, std::optional<Tensor> bias)
      : node_(node), weights_(std::move(weights)), bias_(std::move(bias)) {}

 private:
  void execute(const KernelArgs& args, dnnl::stream& stream) override {
    const Tensor& x = args.in(0);
    Tensor& y = args.out(0);
    memory src_user = view(src_user_md_, x);
    memory dst_user = view(dst_user_md_, y);
    memory src = src_user, dst = dst_user;
    if (src_reorder_) {
      src = src_mem_;
      src_reorder_->execute(stream, src_user, src_mem_);
    }
    if (dst_reorder_) dst = dst_mem_;
    if (has_residual_) {
      // The sum post-op adds to what the destination holds: start it with the residual.
      const Tensor& z = args.in(3);
      memory z_user = view(dst_user_md_, z);
      if (dst_reorder_)
        residual_reorder_->execute(stream, z_user, dst_mem_);
      else
        std::memcpy(y.data<float>().data(), z.data<float>().data(), z.nbytes());
    }
    std::unordered_map<int, memory> exec_args{
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights_mem_}, {DNNL_ARG_DST, dst}};
    if (bias_) exec_args[DNNL_ARG_BIAS] = bias_mem_;
    conv_.execute(stream, exec_args);
    if (dst_reorder_) dst_reorder_->execute(stream, dst_mem_, dst_user);
  }

  // Builds the primitive for the input's dims (once per shape; a dynamic batch rebuilds on change).
  void prepare(const KernelArgs& args) override {
    const Dims& x_dims = args.in(0).dims();
    // oneDNN speaks logical NCHW dims; channels_last only changes the physical tag.
    const bool channels_last = node_.attr_int("channels_last", 0) != 0;
    const Dims x = channels_last ? Dims{x_dims[0], x_dims[3], x_dims[1], x_dims[2]} : x_dims;
    const tag user_tag = channels_last ? tag::nhwc : tag::nchw;
    // NHWC is a layout oneDNN's convolutions run natively: no reorder at entry or exit.
    const tag compute_tag = channels_last ? tag::nhwc : tag::any;
    const Dims& w = weights_.dims();
    const WindowGeometry g =
        window_geometry(node_, WindowKind::conv, std::span(x).subspan(2), std::span(w).subspan(2));
    const int64_t group = node_.attr_int("group", 1);
    const memory::dims src_dims{x[0], x[1], x[2], x[3]};
    const memory::dims dst_dims{x[0], w[0], g.output[0], g.output[1]};
    const memory::dims w_dims = group == 1 ? memory::dims{w[0], w[1], w[2], w[3]}
                                           : memory::dims{group, w[0] / group, w[1], w[2], w[3]};
    src_user_md_ = memory::desc(src_dims, dt::f32, user_tag);
    dst_user_md_ = memory::desc(dst_dims, dt::f32, user_tag);
    const memory::desc w_user_md(w_dims, dt::f32, group == 1 ? tag::oihw : tag::goihw);
    const memory::desc bias_md = bias_ ? memory::desc({w[0]}, dt::f32, tag::x) : memory::desc();
    dnnl::convolution_forward::desc desc(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
        memory::desc(src_dims, dt::f32, compute_tag), memory::desc(w_dims, dt::f32, tag::any),
        bias_md, memory::desc(dst_dims, dt::f32, compute_tag), {g.strides[0], g.strides[1]},
        {g.dilations[0] - 1, g.dilations[1] - 1}, {g.pads_begin[0], g.pads_begin[1]},
        {g.pads_end[0], g.pads_end[1]});
    dnnl::post_ops ops;
    has_residual_ = node_.op_type == "FusedConv" && node_.has_input(3);
    if (has_residual_) ops.append_sum(1.0f);
    append_activation(node_, ops);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    const dnnl::convolution_forward::primitive_desc pd(desc, attr, cpu_engine());
    dnnl::stream stream(cpu_engine());
    // Weights are packed into oneDNN's layout once.
    memory w_user(w_user_md, cpu_engine(), const_cast<float*>(weights_.data<float>().data()));
    weights_mem_ = memory(pd.weights_desc(), cpu_engine());
    dnnl::reorder(w_user, weights_mem_).execute(stream, w_user, weights_mem_);
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
    conv_ = dnnl::convolution_forward(pd);
  }

  Node node_;
  Tensor weights_;
  std::optional<Tensor> bias_;
  bool has_residual_ = false;
  memory::desc src_user_md_, dst_user_md_;
  memory weights_mem_, bias_mem_, src_mem_, dst_mem_;
  std::optional<dnnl::reorder> src_reorder_, dst_reorder_, residual_reorder_;
  dnnl::convolution_forward conv_;
};

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
      a.node, *a.constants[1],
      a.node.has_input(2) ? std::optional<Tensor>(*a.constants[2]) : std::nullopt);
}

}  // namespace

void register_onednn_conv(FastKernelRegistry& registry) {
  registry.add("Conv", make_conv);
  registry.add("edgeco.FusedConv", make_conv);
}

}  // namespace edgeco::kernels::fast
