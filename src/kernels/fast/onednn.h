// Kernels on oneDNN 2.6 (Debian libdnnl-dev): the fast CPU path where oneDNN covers the node.
#pragma once

#include "kernels/kernel.h"

namespace edgeco::kernels::fast {

void register_onednn(FastKernelRegistry& registry);
void register_onednn_gemm(FastKernelRegistry& registry);
void register_onednn_transpose(FastKernelRegistry& registry);

}  // namespace edgeco::kernels::fast
