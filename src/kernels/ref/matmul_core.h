// Batched numpy-style matrix product shared by MatMul, MatMulInteger and QLinearMatMul.
#pragma once

#include <vector>

#include "common.h"

namespace edgeco::kernels::ref {

// acc[batch][i][j] = sum_k (a[i][k] - a_zero) * (b[k][j] - b_zero[j]), with numpy broadcasting of
// the batch dims and 1-D promotion. `out_dims` is the inferred output shape.
template <class Acc, class TA, class TB>
std::vector<Acc> matmul_accumulate(const Tensor& a, const Tensor& b, const Dims& out_dims,
                                   Acc a_zero, std::span<const Acc> b_zero) {
  Dims ad = a.dims(), bd = b.dims();
  if (ad.size() == 1) ad.insert(ad.begin(), 1);
  if (bd.size() == 1) bd.push_back(1);
  const int64_t m = ad[ad.size() - 2], k = ad.back(), n = bd.back();
  const Dims a_batch(ad.begin(), ad.end() - 2), b_batch(bd.begin(), bd.end() - 2);
  const Dims batch = broadcast_dims(a_batch, b_batch);
  std::vector<Acc> acc(size_t(product(batch) * m * n), Acc{0});
  auto pa = a.data<TA>();
  auto pb = b.data<TB>();
  Dims batch_dims = batch;
  for_each_broadcast<2>(batch_dims, {a_batch, b_batch}, [&](int64_t bi, const auto& off) {
    const TA* am = pa.data() + off[0] * m * k;
    const TB* bm = pb.data() + off[1] * k * n;
    Acc* out = acc.data() + bi * m * n;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t p = 0; p < k; ++p) {
        const Acc av = Acc(am[i * k + p]) - a_zero;
        for (int64_t j = 0; j < n; ++j)
          out[i * n + j] +=
              av * (Acc(bm[p * n + j]) - (b_zero.size() == 1 ? b_zero[0] : b_zero[size_t(j)]));
      }
  });
  (void)out_dims;
  return acc;
}

}  // namespace edgeco::kernels::ref
