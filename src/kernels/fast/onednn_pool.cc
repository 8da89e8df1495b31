// edgeco.MaxPool / edgeco.AveragePool (NHWC, 2-D; float32, and 8-bit codes for max pooling) on
// oneDNN's pooling_v2.
#include <unordered_map>

#include "kernels/fast/fast_kernels.h"

namespace edgeco::kernels::fast {
namespace {

class OneDnnPool final : public OneDnnKernel {
 public:
  explicit OneDnnPool(const Node& node) : node_(node) {}

 private:
  void execute(const KernelArgs& args, dnnl::stream& stream) override {
    point(src_, args.in(0));
    point(dst_, args.out(0));
    pool_.execute(stream, exec_args_);
  }

  void prepare(const KernelArgs& args) override {
    const Dims& x = args.in(0).dims();
    const Dims& y = args.output_types[0].dims;
    // Logical NCHW dims for oneDNN; the tensors are NHWC.
    const Dims in{x[0], x[3], x[1], x[2]}, out{y[0], y[3], y[1], y[2]};
    const WindowGeometry g = window_geometry(node_, WindowKind::pool, std::span(in).subspan(2),
                                             node_.attr_ints("kernel_shape"));
    const dt type = onednn_type(args.in(0).dtype());
    src_md_ = memory::desc({in[0], in[1], in[2], in[3]}, type, tag::nhwc);
    dst_md_ = memory::desc({out[0], out[1], out[2], out[3]}, type, tag::nhwc);
    // Ceil mode lengthens the output: oneDNN takes that as extra right padding, which max pooling
    // ignores and average pooling without count_include_pad excludes.
    memory::dims pad_r(2);
    for (size_t i = 0; i < 2; ++i)
      pad_r[i] = (out[2 + i] - 1) * g.strides[i] + (g.kernel[i] - 1) * g.dilations[i] + 1 -
                 in[2 + i] - g.pads_begin[i];
    const bool max = node_.op_type == "MaxPool";
    const auto alg = max ? dnnl::algorithm::pooling_max
                         : (node_.attr_int("count_include_pad", 0)
                                ? dnnl::algorithm::pooling_avg_include_padding
                                : dnnl::algorithm::pooling_avg_exclude_padding);
    const dnnl::pooling_v2_forward::desc desc(
        dnnl::prop_kind::forward_inference, alg, src_md_, dst_md_, {g.strides[0], g.strides[1]},
        {g.kernel[0], g.kernel[1]}, {g.dilations[0] - 1, g.dilations[1] - 1},
        {g.pads_begin[0], g.pads_begin[1]}, pad_r);
    pool_ = dnnl::pooling_v2_forward(dnnl::pooling_v2_forward::primitive_desc(desc, cpu_engine()));
    src_ = memory(src_md_, cpu_engine(), nullptr);
    dst_ = memory(dst_md_, cpu_engine(), nullptr);
    exec_args_ = {{DNNL_ARG_SRC, src_}, {DNNL_ARG_DST, dst_}};
  }

  Node node_;
  memory::desc src_md_, dst_md_;
  memory src_, dst_;
  std::unordered_map<int, memory> exec_args_;
  dnnl::pooling_v2_forward pool_;
};

std::unique_ptr<PreparedKernel> make_pool(const PrepareArgs& p) {
  const TensorType* x = p.input_types.empty() ? nullptr : p.input_types[0];
  if (!x || !x->rank_known || x->dims.size() != 4) return nullptr;
  const bool codes = x->dtype == DType::u8 || x->dtype == DType::i8;
  if (x->dtype != DType::f32 && !(codes && p.node.op_type == "MaxPool")) return nullptr;
  if (p.node.attr_int("channels_last", 0) == 0 || p.node.outputs.size() != 1) return nullptr;
  // With ceil mode, ONNX's include-padding divisor counts only the declared pads; oneDNN would
  // count the extra right padding too, so that case stays on the reference kernel.
  if (p.node.op_type == "AveragePool" && p.node.attr_int("count_include_pad", 0) &&
      p.node.attr_int("ceil_mode", 0))
    return nullptr;
  return std::make_unique<OneDnnPool>(p.node);
}

}  // namespace

void register_onednn_pool(FastKernelRegistry& registry) {
  registry.add("edgeco.MaxPool", make_pool);
  registry.add("edgeco.AveragePool", make_pool);
}

}  // namespace edgeco::kernels::fast
