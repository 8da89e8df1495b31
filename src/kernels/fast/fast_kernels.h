// The fast CPU kernels: oneDNN 2.6 (Debian libdnnl-dev) where it covers a node, and own loops for
// the memory-bound element-wise nodes between convolutions.
#pragma once

#include <dnnl.hpp>
#include <limits>

#include "kernels/kernel.h"

namespace edgeco::kernels::fast {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

// oneDNN's name for an edgeco element type (f32, u8, s8, s32); throws for others.
dt onednn_type(DType dtype);

// The one CPU engine every oneDNN kernel uses.
dnnl::engine& cpu_engine();
// A stream on it for the calling thread, made once (not per node and run).
dnnl::stream& thread_stream();

// Below this many multiply-accumulates a oneDNN kernel runs on one thread: the fork and join of a
// parallel region (~5 us at 2 threads on this VM) costs more than the split saves. Measured with
// the squeeze-and-excitation convolutions ([1, C, 1, 1], up to 55 K MACs in EfficientNet-B0):
// MobileNetV3-small 1.18-1.25 -> 1.11-1.13 ms, EfficientNet-B0 6.04-6.16 -> 5.77-6.09 ms at 2
// threads (alternating runs).
constexpr int64_t kParallelMinMacs = 1 << 17;

// A oneDNN kernel: its primitives are (re)built for each new shape of input 0 (a dynamic batch
// changes it), then executed on a stream with the session's thread count, or one thread when
// the node's work is below kParallelMinMacs.
class OneDnnKernel : public PreparedKernel {
 public:
  std::string_view name() const override { return "onednn"; }
  void run(const KernelArgs& args) final;

 protected:
  virtual void prepare(const KernelArgs& args) = 0;
  virtual void execute(const KernelArgs& args, dnnl::stream& stream) = 0;
  // Multiply-accumulates of one run (for the thread count); kernels without a count go parallel.
  virtual int64_t macs(const KernelArgs&) const { return std::numeric_limits<int64_t>::max(); }
  // A oneDNN view of a tensor's storage (no copy).
  static memory view(const memory::desc& md, const Tensor& t) {
    return memory(md, cpu_engine(), const_cast<std::byte*>(t.bytes().data()));
  }
  // Points a memory object made at prepare at this run's tensor: kernels keep their memory
  // objects and argument maps, as making them on every run cost MobileNetV2 INT8 3% of its time
  // at 1 thread, 8% at 2.
  static void point(memory& m, const Tensor& t) {
    m.set_data_handle(const_cast<std::byte*>(t.bytes().data()));
  }

 private:
  Dims prepared_for_;
  int prepared_threads_ = 0;
};

// True when this CPU runs AVX-512F and BW (checked once); the own loops' wide paths need it.
bool has_avx512();

// The exp-based activations a float convolution applies to its output in place, on own vector
// loops rather than as oneDNN post-ops: oneDNN 2.6's swish post-op costs a 1x1 convolution about
// 0.34 ns per output element on this machine, these loops about 0.2 (rcp14 + a Newton step instead
// of a division). Within 3e-7 relative of x / (1 + exp(-x)).
enum class ExpActivation { sigmoid, swish };
void apply_exp_activation(ExpActivation kind, std::span<float> values, int threads);

void register_onednn_conv(FastKernelRegistry& registry);
void register_onednn_gemm(FastKernelRegistry& registry);
void register_onednn_transpose(FastKernelRegistry& registry);
void register_onednn_pool(FastKernelRegistry& registry);
void register_simd_elementwise(FastKernelRegistry& registry);
void register_simd_quant(FastKernelRegistry& registry);

}  // namespace edgeco::kernels::fast
