// Kernels on oneDNN 2.6 (Debian libdnnl-dev): the fast CPU path where oneDNN covers the node.
#pragma once

#include "kernels/kernel.h"

namespace edgeco::kernels::fast {

void register_onednn(FastKernelRegistry& registry);
void register_onednn_gemm(FastKernelRegistry& registry);
void register_onednn_transpose(FastKernelRegistry& registry);
void register_onednn_pool(FastKernelRegistry& registry);
// Own loops for the memory-bound element-wise nodes (not oneDNN; declared here with the rest).
void register_simd_elementwise(FastKernelRegistry& registry);

}  // namespace edgeco::kernels::fast
