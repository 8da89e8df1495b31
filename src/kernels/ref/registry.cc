#include <array>
#include <vector>

#include "common.h"

namespace edgeco::kernels {

const Tensor& KernelArgs::in(size_t i) const {
  if (!has(i)) fail("input " + std::to_string(i) + " is required", ErrorKind::invalid_model);
  return *inputs[i];
}

Tensor& KernelArgs::out(size_t i) const {
  if (i >= outputs.size())
    fail("output " + std::to_string(i) + " does not exist", ErrorKind::internal);
  if (outputs[i].empty_handle()) outputs[i] = Tensor(output_types[i].dtype, output_types[i].dims);
  return outputs[i];
}

void KernelArgs::fail(const std::string& message, ErrorKind kind) const {
  throw Error(kind, message, node.label());
}

const KernelRegistry& KernelRegistry::reference() {
  static const KernelRegistry registry = [] {
    KernelRegistry r;
    ref::register_elementwise(r);
    ref::register_conv(r);
    ref::register_pool(r);
    ref::register_matmul(r);
    ref::register_normalization(r);
    ref::register_shape_ops(r);
    ref::register_resize(r);
    ref::register_quant(r);
    return r;
  }();
  return registry;
}

void KernelRegistry::add(std::string op_type, KernelFn run, bool f16_via_f32) {
  kernels_.insert_or_assign(std::move(op_type), KernelEntry{std::move(run), f16_via_f32});
}

const KernelEntry* KernelRegistry::find(std::string_view domain, std::string_view op_type) const {
  if (domain == "ai.onnx") domain = "";
  auto it = kernels_.find(domain.empty() ? std::string(op_type)
                                         : std::string(domain) + "." + std::string(op_type));
  return it == kernels_.end() ? nullptr : &it->second;
}

void KernelRegistry::run(const KernelArgs& args) const {
  const KernelEntry* entry = find(args.node.domain, args.node.op_type);
  if (!entry)
    args.fail("no kernel for operator '" + args.node.op_type + "'", ErrorKind::unsupported);
  bool any_f16 = false;
  for (const Tensor* t : args.inputs) any_f16 = any_f16 || (t && t->dtype() == DType::f16);
  for (const TensorType& t : args.output_types) any_f16 = any_f16 || t.dtype == DType::f16;
  if (!entry->f16_via_f32 || !any_f16) return entry->run(args);

  // Compute in float32 and store the float16 results.
  std::vector<Tensor> promoted;
  std::vector<const Tensor*> inputs(args.inputs.begin(), args.inputs.end());
  promoted.reserve(inputs.size());
  for (auto& t : inputs)
    if (t && t->dtype() == DType::f16) t = &promoted.emplace_back(t->cast(DType::f32));
  std::vector<TensorType> types(args.output_types.begin(), args.output_types.end());
  for (auto& t : types)
    if (t.dtype == DType::f16) t.dtype = DType::f32;
  std::vector<Tensor> outputs(types.size());
  entry->run(KernelArgs{args.node, args.opset, inputs, types, outputs, args.threads});
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (outputs[i].empty_handle()) continue;
    args.outputs[i] =
        args.output_types[i].dtype == DType::f16 ? outputs[i].cast(DType::f16) : outputs[i];
  }
}

}  // namespace edgeco::kernels
