// Kernels on oneDNN 2.6 (Debian libdnnl-dev): the fast CPU path where oneDNN covers the node.
#pragma once

#include <dnnl.hpp>

#include "kernels/kernel.h"

namespace edgeco::kernels::fast {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

// The one CPU engine every oneDNN kernel uses.
dnnl::engine& cpu_engine();

void register_onednn(FastKernelRegistry& registry);
void register_onednn_gemm(FastKernelRegistry& registry);
void register_onednn_transpose(FastKernelRegistry& registry);
void register_onednn_pool(FastKernelRegistry& registry);
// Own loops for the memory-bound element-wise nodes (not oneDNN; registered with the rest).
void register_simd_elementwise(FastKernelRegistry& registry);

}  // namespace edgeco::kernels::fast
