// MatMul and Gemm (float and integer element types).
#include "matmul_core.h"

namespace edgeco::kernels::ref {
namespace {

void matmul(const KernelArgs& args) {
  const Tensor& a = args.in(0);
  const Tensor& b = args.in(1);
  Tensor& y = args.out(0);
  dispatch_numeric(a.dtype(), args, [&](auto tag) {
    using T = decltype(tag);
    using Acc = std::conditional_t<std::is_floating_point_v<T>, double, T>;
    const Acc zero{0};
    auto acc = matmul_accumulate<Acc, T, T>(a, b, y.dims(), Acc{0}, std::span(&zero, 1));
    auto py = y.data<T>();
    for (size_t i = 0; i < acc.size(); ++i) py[i] = static_cast<T>(acc[i]);
  });
}

void gemm(const KernelArgs& args) {
  const Tensor& a = args.in(0);
  const Tensor& b = args.in(1);
  Tensor& y = args.out(0);
  const bool ta = args.node.attr_int("transA", 0) != 0, tb = args.node.attr_int("transB", 0) != 0;
  const double alpha = args.node.attr_float("alpha", 1.0f),
               beta = args.node.attr_float("beta", 1.0f);
  const int64_t m = y.dim(0), n = y.dim(1), k = a.dim(ta ? 0 : 1);
  dispatch_numeric(a.dtype(), args, [&](auto tag) {
    using T = decltype(tag);
    auto pa = a.data<T>();
    auto pb = b.data<T>();
    auto py = y.data<T>();
    std::vector<double> acc(size_t(m * n), 0.0);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t p = 0; p < k; ++p) {
        const double av = double(pa[size_t(ta ? p * m + i : i * k + p)]);
        for (int64_t j = 0; j < n; ++j)
          acc[size_t(i * n + j)] += av * double(pb[size_t(tb ? j * k + p : p * n + j)]);
      }
    if (args.has(2)) {
      const Tensor& c = args.in(2);
      auto pc = c.data<T>();
      for_each_broadcast<1>(y.dims(), {c.dims()}, [&](int64_t i, const auto& off) {
        acc[size_t(i)] = alpha * acc[size_t(i)] + beta * double(pc[size_t(off[0])]);
      });
    } else {
      for (auto& v : acc) v *= alpha;
    }
    for (size_t i = 0; i < acc.size(); ++i) py[i] = static_cast<T>(acc[i]);
  });
}

}  // namespace

void register_matmul(KernelRegistry& r) {
  r.add("MatMul", matmul);
  r.add("Gemm", gemm);
}

}  // namespace edgeco::kernels::ref
