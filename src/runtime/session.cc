#include <chrono>
#include <set>

#include "edgeco/compiler.h"
#include "edgeco/runtime.h"
#include "kernels/kernel.h"

namespace edgeco {

namespace {

// Infers the node's output types from its actual inputs, then runs the prepared fast kernel if
// there is one, else the reference kernel.
std::vector<Tensor> execute_node(const Node& node, int64_t opset,
                                 std::span<const Tensor* const> inputs, int threads,
                                 kernels::PreparedKernel* prepared) {
  const OpSchema* schema = OpRegistry::builtin().find(node.domain, node.op_type);
  if (!schema)
    throw Error(ErrorKind::unsupported, "operator '" + node.op_type + "' is not supported",
                node.label());
  std::vector<TensorType> in_types;
  in_types.reserve(inputs.size());
  for (const Tensor* t : inputs)
    in_types.push_back(t ? TensorType{t->dtype(), t->dims()} : TensorType{});
  std::vector<const TensorType*> type_ptrs;
  for (size_t i = 0; i < inputs.size(); ++i)
    type_ptrs.push_back(inputs[i] ? &in_types[i] : nullptr);
  InferContext ctx(node, opset, type_ptrs, {inputs.begin(), inputs.end()});
  schema->infer(ctx);
  std::vector<TensorType> out_types;
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    const auto& t = ctx.output_types()[i];
    if (!t || !t->fully_known()) {
      if (node.outputs[i].empty()) {
        out_types.push_back(TensorType{});
        continue;
      }
      throw Error(ErrorKind::internal,
                  "output " + std::to_string(i) + " has no known shape at run time", node.label());
    }
    out_types.push_back(*t);
  }
  std::vector<Tensor> outputs(node.outputs.size());
  const kernels::KernelArgs args{node, opset, inputs, out_types, outputs, threads};
  if (prepared) {
    // Fast kernels write every output element: no need to zero the buffers first.
    for (size_t i = 0; i < outputs.size(); ++i)
      if (!node.outputs[i].empty())
        outputs[i] = Tensor::uninitialized(out_types[i].dtype, out_types[i].dims);
    prepared->run(args);
  } else {
    kernels::KernelRegistry::reference().run(args);
  }
  for (size_t i = 0; i < outputs.size(); ++i)
    if (outputs[i].empty_handle() && !node.outputs[i].empty())
      outputs[i] = Tensor(out_types[i].dtype, out_types[i].dims);
  return outputs;
}

}  // namespace

std::vector<Tensor> run_node(const Node& node, int64_t opset, std::span<const Tensor* const> inputs,
                             int threads) {
  return execute_node(node, opset, inputs, threads, nullptr);
}

Session::Session(Graph graph, SessionOptions options)
    : graph_(std::move(graph)), options_(options) {
  graph_.sort_topologically();
  graph_.validate(OpRegistry::builtin());
  for (const Node& node : graph_.nodes)
    if (!kernels::KernelRegistry::reference().find(node.domain, node.op_type))
      throw Error(ErrorKind::unsupported, "no kernel for operator '" + node.op_type + "'",
                  node.label());
  auto evaluate = [](const Node& node, int64_t opset, std::span<const Tensor* const> inputs) {
    return run_node(node, opset, inputs);
  };
  // Channels-last pays off only where kernels run NHWC natively: with the fast kernels.
  if (options_.optimize) pass_log_ = optimize(graph_, evaluate, options_.fast_kernels).lines;
  InferenceResult inferred = infer_types(graph_, OpRegistry::builtin(), evaluate);
  constants_ = std::move(inferred.constants);
  // Nodes whose outputs are all known constants need not run again.
  for (const Node& node : graph_.nodes) {
    bool folded = true;
    for (const auto& out : node.outputs) folded = folded && (out.empty() || constants_.count(out));
    if (!folded) schedule_.push_back(&node);
  }
  prepared_.resize(schedule_.size());
  if (options_.fast_kernels)
    for (size_t i = 0; i < schedule_.size(); ++i) {
      const Node& node = *schedule_[i];
      std::vector<const TensorType*> types;
      std::vector<const Tensor*> constant_inputs;
      for (const auto& in : node.inputs) {
        const Value* v = in.empty() ? nullptr : graph_.find_value(in);
        types.push_back(v && v->type ? &*v->type : nullptr);
        auto c = in.empty() ? constants_.end() : constants_.find(in);
        constant_inputs.push_back(c == constants_.end() ? nullptr : &c->second);
      }
      prepared_[i] = kernels::FastKernelRegistry::instance().prepare(
          {node, graph_.opset, types, constant_inputs});
    }
  std::set<std::string> graph_outputs(graph_.outputs.begin(), graph_.outputs.end());
  for (size_t i = 0; i < schedule_.size(); ++i)
    for (const auto& in : schedule_[i]->inputs)
      if (!in.empty() && !graph_outputs.count(in)) last_use_[in] = i;
}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

void Session::check_input(const std::string& name, const Tensor& t) const {
  const Value& v = graph_.value(name);
  const TensorType& declared = *v.type;
  const std::string where = "input '" + name + "'";
  if (t.dtype() != declared.dtype)
    throw Error(ErrorKind::invalid_argument,
                "has type " + std::string(to_string(t.dtype())) + ", the model expects " +
                    std::string(to_string(declared.dtype)),
                where);
  if (!declared.rank_known) return;
  bool ok = t.rank() == declared.dims.size();
  for (size_t i = 0; ok && i < t.rank(); ++i)
    ok = declared.dims[i] < 0 || declared.dims[i] == t.dim(i);
  if (!ok)
    throw Error(ErrorKind::invalid_argument,
                "has shape " + dims_to_string(t.dims()) + ", the model expects " +
                    dims_to_string(declared.dims),
                where);
}

TensorMap Session::run(const TensorMap& inputs) {
  TensorMap env;
  for (const auto& [name, tensor] : inputs)
    if (std::find(graph_.inputs.begin(), graph_.inputs.end(), name) == graph_.inputs.end())
      throw Error(ErrorKind::invalid_argument, "the model has no input named '" + name + "'",
                  "input '" + name + "'");
  for (const auto& name : graph_.inputs) {
    auto it = inputs.find(name);
    if (it == inputs.end())
      throw Error(ErrorKind::invalid_argument, "is missing", "input '" + name + "'");
    check_input(name, it->second);
    env[name] = it->second;
  }
  auto lookup = [&](const std::string& name) -> const Tensor* {
    if (auto it = env.find(name); it != env.end()) return &it->second;
    if (auto it = constants_.find(name); it != constants_.end()) return &it->second;
    return nullptr;
  };
  timings_.clear();
  for (size_t step = 0; step < schedule_.size(); ++step) {
    const Node& node = *schedule_[step];
    std::vector<const Tensor*> args;
    for (const auto& in : node.inputs) {
      if (in.empty()) {
        args.push_back(nullptr);
        continue;
      }
      const Tensor* t = lookup(in);
      if (!t) throw Error(ErrorKind::internal, "value '" + in + "' is not available", node.label());
      args.push_back(t);
    }
    const auto start = std::chrono::steady_clock::now();
    std::vector<Tensor> outs;
    try {
      outs = execute_node(node, graph_.opset, args, options_.threads, prepared_[step].get());
    } catch (const Error& e) {
      if (e.where().find(node.label()) == std::string::npos) throw e.within(node.label());
      throw;
    } catch (const std::bad_alloc&) {
      throw Error(ErrorKind::out_of_memory, "ran out of memory", node.label());
    }
    const auto stop = std::chrono::steady_clock::now();
    const kernels::PreparedKernel* fast = prepared_[step].get();
    timings_.push_back({node.name, node.op_type, fast ? std::string(fast->name()) : "reference",
                        std::chrono::duration<double, std::milli>(stop - start).count()});
    for (size_t i = 0; i < outs.size(); ++i)
      if (!node.outputs[i].empty()) env[node.outputs[i]] = std::move(outs[i]);
    // Free what no later node reads.
    for (const auto& in : node.inputs)
      if (auto it = last_use_.find(in); it != last_use_.end() && it->second == step) env.erase(in);
  }
  TensorMap result;
  for (const auto& name : graph_.outputs) {
    const Tensor* t = lookup(name);
    if (!t) throw Error(ErrorKind::internal, "graph output '" + name + "' was not computed");
    result[name] = *t;
  }
  return result;
}

}  // namespace edgeco
