// Matrix products on oneDNN's matmul: the float32 Gemm (A [M, K] or transposed, times constant B,
// plus a constant C that is a row vector, a bias as classifiers have, or absent), and the int8
// edgeco.QMatMul (u8/s8 A, s8 B, int32 accumulation, per-column output scales, float32 or
// requantized 8-bit output).
#include <optional>
#include <unordered_map>

#include "kernels/fast/fast_kernels.h"

namespace edgeco::kernels::fast {
namespace {

// A oneDNN matmul with constant weights (input `weight_input`) packed once; subclasses describe A,
// Y and the primitive.
class OneDnnMatMul : public OneDnnKernel {
 public:
  // `owns_weights`: the packed copy is the only one the kernel needs (fixed shapes, or weights
  // that can be repacked from it for a new shape).
  OneDnnMatMul(size_t weight_input, bool owns_weights)
      : weight_input_(weight_input), owns_weights_(owns_weights) {}
  std::vector<size_t> owned_inputs() const override {
    if (!owns_weights_) return {};
    return {weight_input_};
  }

 protected:
  int64_t macs(const KernelArgs& args) const final {  // A's M x K elements, each times N
    const Tensor& y = args.out(0);
    return args.in(0).numel() * (y.rank() ? y.dim(y.rank() - 1) : 1);
  }

  void execute(const KernelArgs& args, dnnl::stream& stream) final {
    point(a_, args.in(0));
    point(y_, args.out(0));
    matmul_.execute(stream, exec_args_);
  }

  // Packs `b_user` into the primitive's weight layout and makes the primitive; `bias` (or none)
  // must outlive it.
  void build(const dnnl::matmul::primitive_desc& pd, const memory& b_user,
             const memory::desc& bias_md, Tensor* bias) {
    dnnl::stream stream(cpu_engine());
    // A new shape may keep the packed layout; otherwise repack (from the original, or, when the
    // caller no longer has it, from the previous packed copy: b_user is then empty).
    if (!b_mem_ || pd.weights_desc() != b_mem_.get_desc()) {
      memory from = b_user ? b_user : b_mem_;
      Tensor packed = Tensor::uninitialized(DType::u8, {int64_t(pd.weights_desc().get_size())});
      memory to(pd.weights_desc(), cpu_engine(), packed.bytes().data());
      dnnl::reorder(from, to).execute(stream, from, to);
      stream.wait();
      packed_ = std::move(packed);
      b_mem_ = to;
    }
    bias_mem_ = bias ? memory(bias_md, cpu_engine(), bias->bytes().data()) : memory();
    matmul_ = dnnl::matmul(pd);
    a_ = memory(a_md_, cpu_engine(), nullptr);
    y_ = memory(y_md_, cpu_engine(), nullptr);
    exec_args_ = {{DNNL_ARG_SRC, a_}, {DNNL_ARG_WEIGHTS, b_mem_}, {DNNL_ARG_DST, y_}};
    if (bias_mem_) exec_args_[DNNL_ARG_BIAS] = bias_mem_;
  }

  memory::desc a_md_, y_md_;  // set before build()
  memory a_, y_;
  std::unordered_map<int, memory> exec_args_;
  size_t weight_input_;
  bool owns_weights_;

 private:
  Tensor packed_;
  memory b_mem_, bias_mem_;
  dnnl::matmul matmul_;
};

class OneDnnGemm final : public OneDnnMatMul {
 public:
  // Float weights repack from the packed copy for a new shape: the kernel always owns them.
  OneDnnGemm(const Node& node, const Tensor& b, std::optional<Tensor> bias)
      : OneDnnMatMul(1, true),
        b_dims_(b.dims()),
        trans_a_(node.attr_int("transA", 0) != 0),
        trans_b_(node.attr_int("transB", 0) != 0),
        alpha_(node.attr_float("alpha", 1.0f)),
        beta_(node.attr_float("beta", 1.0f)),
        b_(b),
        bias_(std::move(bias)) {}

 private:
  void prepare(const KernelArgs& args) override {
    const Dims& a = args.in(0).dims();
    const int64_t m = trans_a_ ? a[1] : a[0], k = trans_a_ ? a[0] : a[1];
    const int64_t n = trans_b_ ? b_dims_[0] : b_dims_[1];
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
    // A scaled copy only when alpha asks for one (a transient copy of a classifier is megabytes).
    if (b_.empty_handle()) {  // packed before: repack from that copy if the layout changes
      build(pd, memory(), bias_md, bias_ ? &scaled_bias_ : nullptr);
      return;
    }
    Tensor scaled_b = b_;
    if (alpha_ != 1.0f) {
      scaled_b = b_.clone();
      for (float& v : scaled_b.data<float>()) v *= alpha_;
    }
    build(pd, memory(b_user, cpu_engine(), const_cast<float*>(scaled_b.data<float>().data())),
          bias_md, bias_ ? &scaled_bias_ : nullptr);
    b_ = Tensor();
  }

  Dims b_dims_;
  bool trans_a_, trans_b_;
  float alpha_, beta_;
  Tensor b_;
  std::optional<Tensor> bias_;
  Tensor scaled_bias_;
};

class OneDnnQMatMul final : public OneDnnMatMul {
 public:
  explicit OneDnnQMatMul(const PrepareArgs& a)
      : OneDnnMatMul(3, a.input_types[0]->fully_known()),
        b_(*a.constants[3]),
        k_(b_.dim(0)),
        n_(b_.dim(1)) {
    a_type_ = onednn_type(a.input_types[0]->dtype);
    const float a_scale = float(a.constants[1]->to_doubles()[0]);
    a_zero_ = a.node.has_input(2) ? int32_t(a.constants[2]->to_int64s()[0]) : 0;
    const int64_t n = n_;
    for (double s : a.constants[4]->to_doubles()) scales_.push_back(a_scale * float(s));
    if (a.node.has_input(6)) {  // oneDNN adds the bias to the accumulator, before the scales
      bias_ = a.constants[6]->cast(DType::f32).clone().reshaped({1, n});
      auto b = bias_->data<float>();
      for (size_t j = 0; j < b.size(); ++j) b[j] /= scales_[scales_.size() == 1 ? 0 : j];
    }
    if (a.node.has_input(7)) {
      y_scale_ = float(a.constants[7]->to_doubles()[0]);
      y_zero_ = a.node.has_input(8) ? int32_t(a.constants[8]->to_int64s()[0]) : 0;
      y_type_ = a.node.has_input(8) ? onednn_type(a.constants[8]->dtype()) : dt::u8;
    }
  }

 private:
  void prepare(const KernelArgs& args) override {
    const int64_t k = k_, n = n_, m = args.in(0).numel() / k;
    a_md_ = memory::desc({m, k}, a_type_, tag::ab);
    y_md_ = memory::desc({m, n}, y_type_, tag::ab);
    const memory::desc bias_md = bias_ ? memory::desc({1, n}, dt::f32, tag::ab) : memory::desc();
    dnnl::primitive_attr attr;
    attr.set_output_scales(scales_.size() == 1 ? 0 : 1 << 1, scales_);
    if (a_zero_ != 0) attr.set_zero_points(DNNL_ARG_SRC, 0, {a_zero_});
    if (y_scale_) {
      dnnl::post_ops ops;
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_linear, 1.0f / *y_scale_, float(y_zero_));
      attr.set_post_ops(ops);
    }
    const dnnl::matmul::primitive_desc pd(
        dnnl::matmul::desc(a_md_, memory::desc({k, n}, dt::s8, tag::any), bias_md, y_md_), attr,
        cpu_engine());
    build(pd,
          memory(memory::desc({k, n}, dt::s8, tag::ab), cpu_engine(),
                 const_cast<std::byte*>(b_.bytes().data())),
          bias_md, bias_ ? &*bias_ : nullptr);
    if (owns_weights_) b_ = Tensor();
  }

  Tensor b_;  // dropped once packed when shapes cannot change
  int64_t k_, n_;
  dt a_type_;
  int32_t a_zero_ = 0;
  std::vector<float> scales_;
  std::optional<Tensor> bias_;
  std::optional<float> y_scale_;
  int32_t y_zero_ = 0;
  dt y_type_ = dt::f32;
};

// edgeco.QMatMul with constant parameters, int8 B and zero B zero points (oneDNN's int8 matmul
// takes symmetric weights).
std::unique_ptr<PreparedKernel> make_qmatmul(const PrepareArgs& a) {
  const auto& t = a.input_types;
  if (t.size() < 6 || !t[0] || !t[0]->rank_known) return nullptr;
  for (size_t i = 1; i < t.size(); ++i)
    if (a.node.has_input(i) && !a.constants[i]) return nullptr;
  const Tensor* b = a.constants[3];
  if (!b || b->dtype() != DType::i8 || b->rank() != 2) return nullptr;
  if (a.node.has_input(5))
    for (int64_t z : a.constants[5]->to_int64s())
      if (z != 0) return nullptr;
  const size_t scales = size_t(a.constants[4]->numel());
  if (scales != 1 && int64_t(scales) != b->dim(1)) return nullptr;
  return std::make_unique<OneDnnQMatMul>(a);
}

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
  registry.add("edgeco.QMatMul", make_qmatmul);
}

}  // namespace edgeco::kernels::fast
