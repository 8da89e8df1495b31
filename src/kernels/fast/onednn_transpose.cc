// The layout Transposes the channels-last pass inserts (NCHW <-> NHWC, 4-D float32) as oneDNN
// reorders; other permutations stay on the reference kernel.
#include <omp.h>

#include <unordered_map>

#include "kernels/fast/onednn.h"

namespace edgeco::kernels::fast {
namespace {

class OneDnnLayoutTranspose final : public PreparedKernel {
 public:
  explicit OneDnnLayoutTranspose(bool to_channels_last) : to_channels_last_(to_channels_last) {}
  std::string_view name() const override { return "onednn"; }

  void run(const KernelArgs& args) override {
    const Tensor& x = args.in(0);
    if (x.dims() != prepared_for_) prepare(x.dims());
    omp_set_num_threads(args.threads);
    Tensor& y = args.out(0);
    dnnl::stream stream(cpu_engine());
    memory src(src_md_, cpu_engine(), const_cast<float*>(x.data<float>().data()));
    memory dst(dst_md_, cpu_engine(), y.data<float>().data());
    reorder_.execute(stream, src, dst);
    stream.wait();
  }

 private:
  void prepare(const Dims& x) {
    // Both sides describe the same logical NCHW tensor in two physical layouts.
    const memory::dims logical = to_channels_last_ ? memory::dims{x[0], x[1], x[2], x[3]}
                                                   : memory::dims{x[0], x[3], x[1], x[2]};
    src_md_ = memory::desc(logical, dt::f32, to_channels_last_ ? tag::nchw : tag::nhwc);
    dst_md_ = memory::desc(logical, dt::f32, to_channels_last_ ? tag::nhwc : tag::nchw);
    reorder_ =
        dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), src_md_, cpu_engine(), dst_md_));
    prepared_for_ = x;
  }

  bool to_channels_last_;
  Dims prepared_for_;
  memory::desc src_md_, dst_md_;
  dnnl::reorder reorder_;
};

std::unique_ptr<PreparedKernel> make_transpose(const PrepareArgs& a) {
  const TensorType* x = a.input_types.empty() ? nullptr : a.input_types[0];
  if (!x || x->dtype != DType::f32 || !x->rank_known || x->dims.size() != 4 ||
      !a.node.has_attr("perm"))
    return nullptr;
  const Dims perm = a.node.attr_ints("perm");
  if (perm == Dims{0, 2, 3, 1}) return std::make_unique<OneDnnLayoutTranspose>(true);
  if (perm == Dims{0, 3, 1, 2}) return std::make_unique<OneDnnLayoutTranspose>(false);
  return nullptr;
}

}  // namespace

void register_onednn_transpose(FastKernelRegistry& registry) {
  registry.add("Transpose", make_transpose);
}

}  // namespace edgeco::kernels::fast
