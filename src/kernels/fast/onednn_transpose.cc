// The layout Transposes the channels-last pass inserts (NCHW <-> NHWC, 4-D float32 or 8-bit) as
// oneDNN reorders; other permutations stay on the reference kernel.
#include <unordered_map>

#include "kernels/fast/fast_kernels.h"

namespace edgeco::kernels::fast {
namespace {

class OneDnnLayoutTranspose final : public OneDnnKernel {
 public:
  OneDnnLayoutTranspose(bool to_channels_last, DType dtype)
      : to_channels_last_(to_channels_last), type_(onednn_type(dtype)) {}

 private:
  void execute(const KernelArgs& args, dnnl::stream& stream) override {
    point(src_, args.in(0));
    point(dst_, args.out(0));
    reorder_.execute(stream, src_, dst_);
  }

  void prepare(const KernelArgs& args) override {
    const Dims& x = args.in(0).dims();
    // Both sides describe the same logical NCHW tensor in two physical layouts.
    const memory::dims logical = to_channels_last_ ? memory::dims{x[0], x[1], x[2], x[3]}
                                                   : memory::dims{x[0], x[3], x[1], x[2]};
    src_md_ = memory::desc(logical, type_, to_channels_last_ ? tag::nchw : tag::nhwc);
    dst_md_ = memory::desc(logical, type_, to_channels_last_ ? tag::nhwc : tag::nchw);
    reorder_ =
        dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), src_md_, cpu_engine(), dst_md_));
    src_ = memory(src_md_, cpu_engine(), nullptr);
    dst_ = memory(dst_md_, cpu_engine(), nullptr);
  }

  bool to_channels_last_;
  dt type_;
  memory::desc src_md_, dst_md_;
  memory src_, dst_;
  dnnl::reorder reorder_;
};

std::unique_ptr<PreparedKernel> make_transpose(const PrepareArgs& a) {
  const TensorType* x = a.input_types.empty() ? nullptr : a.input_types[0];
  const bool supported =
      x && (x->dtype == DType::f32 || x->dtype == DType::u8 || x->dtype == DType::i8);
  if (!supported || !x->rank_known || x->dims.size() != 4 || !a.node.has_attr("perm"))
    return nullptr;
  const Dims perm = a.node.attr_ints("perm");
  if (perm == Dims{0, 2, 3, 1}) return std::make_unique<OneDnnLayoutTranspose>(true, x->dtype);
  if (perm == Dims{0, 3, 1, 2}) return std::make_unique<OneDnnLayoutTranspose>(false, x->dtype);
  return nullptr;
}

}  // namespace

void register_onednn_transpose(FastKernelRegistry& registry) {
  registry.add("Transpose", make_transpose);
}

}  // namespace edgeco::kernels::fast
