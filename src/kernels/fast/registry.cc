#include "core/omp_limit.h"
#include "kernels/fast/fast_kernels.h"
#include "kernels/kernel.h"

namespace edgeco::kernels {

void fast::OneDnnKernel::run(const KernelArgs& args) {
  // oneDNN fixes a primitive's thread count when it is created, from the OpenMP thread limit: the
  // limit is the node's around (re)preparing only. A primitive made for one thread then runs
  // without a parallel region. A session sets the limit to its thread count for a whole run
  // (Session::run), so the one here costs a query, not a change: lowering and raising it around
  // every node would cost each later region ~5 us in libomp (it shrinks and regrows its team).
  const int threads = macs(args) < kParallelMinMacs ? 1 : args.threads;
  if (args.in(0).dims() != prepared_for_ || threads != prepared_threads_) {
    const OmpThreadLimit limit(threads);
    prepare(args);
    prepared_for_ = args.in(0).dims();
    prepared_threads_ = threads;
  }
  const OmpThreadLimit limit(args.threads);
  dnnl::stream& stream = thread_stream();
  execute(args, stream);
  stream.wait();
}

fast::dt fast::onednn_type(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return dt::f32;
    case DType::u8:
      return dt::u8;
    case DType::i8:
      return dt::s8;
    case DType::i32:
      return dt::s32;
    default:
      throw Error(ErrorKind::internal, "no oneDNN type for " + std::string(to_string(dtype)));
  }
}

dnnl::engine& fast::cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& fast::thread_stream() {
  thread_local dnnl::stream stream(cpu_engine());
  return stream;
}

const FastKernelRegistry& FastKernelRegistry::instance() {
  static const FastKernelRegistry registry = [] {
    FastKernelRegistry r;
    // Where two claim an op, the first that takes the node wins: the 8-bit image transpose
    // before oneDNN's reorders, oneDNN's layout transposes before the generic copy loops.
    fast::register_simd_quant(r);
    fast::register_onednn_conv(r);
    fast::register_onednn_gemm(r);
    fast::register_onednn_transpose(r);
    fast::register_onednn_pool(r);
    fast::register_simd_elementwise(r);
    return r;
  }();
  return registry;
}

void FastKernelRegistry::add(std::string key, KernelFactory factory) {
  factories_[std::move(key)].push_back(std::move(factory));
}

std::unique_ptr<PreparedKernel> FastKernelRegistry::prepare(const PrepareArgs& args) const {
  const std::string key =
      args.node.domain.empty() ? args.node.op_type : args.node.domain + "." + args.node.op_type;
  auto it = factories_.find(key);
  if (it == factories_.end()) return nullptr;
  for (const auto& factory : it->second)
    if (auto kernel = factory(args)) return kernel;
  return nullptr;
}

}  // namespace edgeco::kernels
