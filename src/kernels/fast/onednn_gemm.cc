// Gemm on oneDNN's matmul: float32 A [M, K] (or transposed) times constant B, plus a constant C
// that is a row vector (a bias, as classifiers have) or absent.
#include <optional>
#include <unordered_map>

#include "kernels/fast/fast_kernels.h"

namespace edgeco::kernels::fast {
namespace {

class OneDnnGemm final : public OneDnnKernel {
 public:
  OneDnnGemm(const Node& node, const Tensor& b, std::optional<Tensor> bias)
      : trans_a_(node.attr_int("transA", 0) != 0),
        trans_b_(node.attr_int("transB", 0) != 0),
        alpha_(node.attr_float("alpha", 1.0f)),
        beta_(node.attr_float("beta", 1.0f)),
        b_(b),
        bias_(std::move(bias)) {}

 private:
  void execute(const KernelArgs& args, dnnl::stream& stream) override {
    std::unordered_map<int, memory> exec{{DNNL_ARG_SRC, view(a_md_, args.in(0))},
                                         {DNNL_ARG_WEIGHTS, b_mem_},
                                         {DNNL_ARG_DST, view(y_md_, args.out(0))}};
    if (bias_) exec[DNNL_ARG_BIAS] = bias_mem_;
    matmul_.execute(stream, exec);
  }

  void prepare(const KernelArgs& args) override {
    const Dims& a = args.in(0).dims();
    const int64_t m = trans_a_ ? a[1] : a[0], k = trans_a_ ? a[0] : a[1];
    const int64_t n = trans_b_ ? b_.dim(0) : b_.dim(1);
    // Transposes are strides, not copies: A^T is A read with swapped strides.
    a_md_ = memory::desc({m, k}, dt::f32, trans_a_ ? memory::dims{1, m} : memory::dims{k, 1});
    const memory::desc b_user({k, n}, dt::f32, trans_b_ ? memory::dims{1, k} : memory::dims{n, 1});
    y_md_ = memory::desc({m, n}, dt::f32, tag::ab);
    // Y = A (alpha B) + (beta C): both factors are folded into the constants once. (oneDNN's output
    // scale would also scale the bias.)
    memory::desc bias_md;
    if (bias_) {
      bias_md = memory::desc({1, n}, dt::f32, tag::ab);
      scaled_bias_ = bias_->cast(DType::f32).clone();
      for (float& v : scaled_bias_.data<float>()) v *= beta_;
    }
    const dnnl::matmul::primitive_desc pd(
        dnnl::matmul::desc(a_md_, memory::desc({k, n}, dt::f32, tag::any), bias_md, y_md_),
        cpu_engine());
    dnnl::stream stream(cpu_engine());
    Tensor scaled_b = b_.clone();
    for (float& v : scaled_b.data<float>()) v *= alpha_;
    memory b_user_mem(b_user, cpu_engine(), scaled_b.data<float>().data());
    b_mem_ = memory(pd.weights_desc(), cpu_engine());
    dnnl::reorder(b_user_mem, b_mem_).execute(stream, b_user_mem, b_mem_);
    stream.wait();
    if (bias_) bias_mem_ = memory(bias_md, cpu_engine(), scaled_bias_.data<float>().data());
    matmul_ = dnnl::matmul(pd);
  }

  bool trans_a_, trans_b_;
  float alpha_, beta_;
  Tensor b_;
  std::optional<Tensor> bias_;
  Tensor scaled_bias_;
  memory::desc a_md_, y_md_;
  memory b_mem_, bias_mem_;
  dnnl::matmul matmul_;
};

std::unique_ptr<PreparedKernel> make_gemm(const PrepareArgs& a) {
  const auto& t = a.input_types;
  if (t.size() < 2 || !t[0] || t[0]->dtype != DType::f32 || !t[0]->rank_known ||
      t[0]->dims.size() != 2)
    return nullptr;
  const Tensor* b = a.constants[1];
  if (!b || b->dtype() != DType::f32 || b->rank() != 2) return nullptr;
  std::optional<Tensor> bias;
  if (a.node.has_input(2)) {
    const Tensor* c = a.constants[2];
    const int64_t n = a.node.attr_int("transB", 0) ? b->dim(0) : b->dim(1);
    // Only a per-column bias ([N] or [1, N]) maps onto matmul's bias; other C shapes stay
    // reference.
    if (!c || c->dtype() != DType::f32 || c->numel() != n || (c->rank() == 2 && c->dim(0) != 1) ||
        c->rank() > 2)
      return nullptr;
    bias = c->reshaped({1, n});
  }
  return std::make_unique<OneDnnGemm>(a.node, *b, std::move(bias));
}

}  // namespace

void register_onednn_gemm(FastKernelRegistry& registry) {
  registry.add("Gemm", make_gemm);
}

}  // namespace edgeco::kernels::fast
