#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>

#include "core/omp_limit.h"
#include "edgeco/compiler.h"
#include "edgeco/runtime.h"
#include "kernels/kernel.h"

namespace edgeco {

// A node left after constant folding, with what run() needs resolved once at prepare.
struct Session::Step {
  const Node* node = nullptr;
  std::vector<int> inputs;                        // slot of each input, -1 where omitted
  std::vector<int> outputs;                       // slot of each output, -1 where omitted
  std::vector<int> release;                       // slots no later step reads: freed after this one
  std::unique_ptr<kernels::PreparedKernel> fast;  // null: the reference kernel runs it
  // A fast kernel's output shapes depend only on input dims and attributes: kept per input dims.
  std::vector<Dims> cached_dims;
  std::vector<TensorType> cached_types;
  // Types of constant inputs the fast kernel owns (the session freed them), by input index.
  std::vector<std::optional<TensorType>> released_types;
  // Per output, for the static memory plan: whether it may live in the arena (a fast kernel's
  // activation, not a graph output), the last step that reads it or an alias of it, and its
  // planned offset (-1: none yet) and type.
  std::vector<bool> arena_eligible;
  std::vector<size_t> last_use;
  std::vector<int64_t> arena_offset;
  std::vector<TensorType> arena_type;
  // Whether the fast kernel runs by row bands for the cached input dims and arena plan (asked
  // once per both), and its arguments then: pointers to its input slots, its outputs' views.
  enum class Bands : uint8_t { unknown, yes, no } bands = Bands::unknown;
  std::vector<const Tensor*> band_inputs;
  std::vector<Tensor> band_outputs;
};

namespace {

// Output types of the node for these actual inputs; an absent input with a `known_types` entry
// (a constant a kernel owns) has that type.
std::vector<TensorType> infer_outputs(
    const Node& node, int64_t opset, std::span<const Tensor* const> inputs,
    const std::vector<std::optional<TensorType>>& known_types = {}) {
  const OpSchema* schema = OpRegistry::builtin().find(node.domain, node.op_type);
  if (!schema)
    throw Error(ErrorKind::unsupported, "operator '" + node.op_type + "' is not supported",
                node.label());
  std::vector<TensorType> in_types;
  in_types.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const bool known = !inputs[i] && i < known_types.size() && known_types[i];
    in_types.push_back(inputs[i] ? TensorType{inputs[i]->dtype(), inputs[i]->dims()}
                       : known   ? *known_types[i]
                                 : TensorType{});
  }
  std::vector<const TensorType*> type_ptrs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const bool known = !inputs[i] && i < known_types.size() && known_types[i];
    type_ptrs.push_back(inputs[i] || known ? &in_types[i] : nullptr);
  }
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
  return out_types;
}

// Runs the prepared fast kernel if there is one, else the reference kernel.
// A fast kernel writes into `outputs` where given (the arena's views), else into new tensors.
std::vector<Tensor> run_kernel(const Node& node, int64_t opset,
                               std::span<const Tensor* const> inputs,
                               std::span<const TensorType> out_types, int threads,
                               kernels::PreparedKernel* prepared,
                               std::vector<Tensor> outputs = {}) {
  outputs.resize(node.outputs.size());
  const kernels::KernelArgs args{node, opset, inputs, out_types, outputs, threads};
  if (prepared) {
    // Fast kernels write every output element: no need to zero the buffers first.
    for (size_t i = 0; i < outputs.size(); ++i)
      if (!node.outputs[i].empty() && outputs[i].empty_handle())
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

// The barrier between the nodes of a banded chain: spinning, as the threads of a chain have
// nothing else to do. libomp's barrier takes ~0.9 us for 2 threads on this VM, a region's fork
// and join ~1.4 us; this one 0.3-0.47 us (a cache line handed between the two cores and back).
class SpinBarrier {
 public:
  void arrive_and_wait(int team) {
    const unsigned generation = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) == team - 1) {
      arrived_.store(0, std::memory_order_relaxed);
      generation_.store(generation + 1, std::memory_order_release);
      return;
    }
    while (generation_.load(std::memory_order_acquire) == generation) pause();
  }

 private:
  static void pause() {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
  }
  alignas(64) std::atomic<int> arrived_{0};
  alignas(64) std::atomic<unsigned> generation_{0};
};

}  // namespace

std::vector<Tensor> run_node(const Node& node, int64_t opset, std::span<const Tensor* const> inputs,
                             int threads) {
  return run_kernel(node, opset, inputs, infer_outputs(node, opset, inputs), threads, nullptr);
}

ConstantEvaluator reference_evaluator() {
  return [](const Node& node, int64_t opset, std::span<const Tensor* const> inputs) {
    return run_node(node, opset, inputs);
  };
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
  if (options_.optimize)
    pass_log_ = optimize(graph_, evaluate, options_.fast_kernels, true,
                         options_.fast_kernels && options_.winograd)
                    .lines;
  InferenceResult inferred = infer_types(graph_, OpRegistry::builtin(), evaluate);
  constants_ = std::move(inferred.constants);
  for (const auto& [name, value] : constants_) {
    const int s = slot(name);  // may grow slots_: index it only afterwards
    slots_[size_t(s)] = value;
  }
  for (const auto& name : graph_.inputs) slot(name);
  // Nodes whose outputs are all known constants need not run again.
  for (const Node& node : graph_.nodes) {
    bool folded = true;
    for (const auto& out : node.outputs) folded = folded && (out.empty() || constants_.count(out));
    if (folded) continue;
    Step step;
    step.node = &node;
    for (const auto& in : node.inputs) step.inputs.push_back(in.empty() ? -1 : slot(in));
    for (const auto& out : node.outputs) step.outputs.push_back(out.empty() ? -1 : slot(out));
    if (options_.fast_kernels) {
      std::vector<const TensorType*> types;
      std::vector<const Tensor*> constant_inputs;
      for (const auto& in : node.inputs) {
        const Value* v = in.empty() ? nullptr : graph_.find_value(in);
        types.push_back(v && v->type ? &*v->type : nullptr);
        auto c = in.empty() ? constants_.end() : constants_.find(in);
        constant_inputs.push_back(c == constants_.end() ? nullptr : &c->second);
      }
      step.fast = kernels::FastKernelRegistry::instance().prepare(
          {node, graph_.opset, types, constant_inputs});
    }
    timings_.push_back(
        {node.name, node.op_type, step.fast ? std::string(step.fast->name()) : "reference", 0.0});
    steps_.push_back(std::move(step));
  }
  // Constants that only fast kernels read, each keeping its own packed copy, are freed: the
  // session then holds weights once.
  std::map<int, bool> needed;
  for (const Step& step : steps_)
    for (size_t k = 0; k < step.inputs.size(); ++k) {
      const int s = step.inputs[k];
      if (s < 0) continue;
      std::vector<size_t> owned;
      if (step.fast) owned = step.fast->owned_inputs();
      const bool keeps_own = std::find(owned.begin(), owned.end(), k) != owned.end();
      needed[s] = needed[s] || !keeps_own;
    }
  for (const auto& name : graph_.outputs) needed[slot(name)] = true;
  std::set<int> released;
  for (const auto& [name, s] : slot_of_) {
    auto it = needed.find(s);
    if (it == needed.end() || it->second || !constants_.count(name)) continue;
    slots_[size_t(s)] = Tensor();
    constants_.erase(name);
    if (!options_.keep_constants) graph_.value(name).initializer.reset();
    released.insert(s);
  }
  // Steps reading a freed constant get nullptr for it (their kernels own it) and its type for
  // inferring output shapes.
  for (Step& step : steps_)
    for (size_t k = 0; k < step.inputs.size(); ++k)
      if (step.inputs[k] >= 0 && released.count(step.inputs[k])) {
        step.released_types.resize(step.inputs.size());
        step.released_types[k] = *graph_.value(step.node->inputs[k]).type;
        step.inputs[k] = -1;
      }
  // Each activation is freed after its last reader; constants and graph outputs are kept.
  std::set<int> kept;
  for (const auto& [name, value] : constants_) kept.insert(slot(name));
  for (const auto& name : graph_.outputs) kept.insert(slot(name));
  std::map<int, size_t> last_reader;
  for (size_t i = 0; i < steps_.size(); ++i)
    for (int s : steps_[i].inputs)
      if (s >= 0 && !kept.count(s)) last_reader[s] = i;
  for (const auto& [s, i] : last_reader) steps_[i].release.push_back(s);
  is_constant_.assign(slots_.size(), false);
  for (const auto& [name, s] : slot_of_)
    is_constant_[size_t(s)] = !slots_[size_t(s)].empty_handle();
  // Lifetimes for the arena. A reference kernel's outputs may share storage with its inputs
  // (Reshape returns a view), so an input lives as long as such outputs do: walked backwards,
  // this follows chains of views too.
  std::vector<size_t> last(slots_.size(), 0);
  for (const auto& name : graph_.outputs) last[size_t(slot(name))] = steps_.size();
  for (size_t i = steps_.size(); i-- > 0;) {
    Step& step = steps_[i];
    size_t outputs_last = i;
    for (int o : step.outputs)
      if (o >= 0) outputs_last = std::max(outputs_last, last[size_t(o)]);
    for (int s : step.inputs)
      if (s >= 0) last[size_t(s)] = std::max({last[size_t(s)], i, step.fast ? i : outputs_last});
    for (int o : step.outputs) {
      const bool eligible =
          options_.memory_plan && step.fast && o >= 0 && !kept.count(o) && !is_constant_[size_t(o)];
      step.arena_eligible.push_back(eligible);
      step.last_use.push_back(o >= 0 ? std::max(i, last[size_t(o)]) : i);
    }
    step.arena_offset.assign(step.outputs.size(), -1);
    step.arena_type.assign(step.outputs.size(), TensorType{});
  }
}

// Places every output that may live in the arena, with the type the last run gave it, in one new
// arena. Planned after a run, not at prepare: the first run's kernels pack their weights while
// the originals still exist, and the arena is not held on top of that.
void Session::plan_arena() {
  std::vector<ArenaBuffer> buffers;
  std::vector<std::pair<size_t, size_t>> owner;  // (step, output) of each buffer
  for (size_t i = 0; i < steps_.size(); ++i) {
    Step& step = steps_[i];
    for (size_t k = 0; k < step.outputs.size(); ++k) {
      step.arena_offset[k] = -1;
      if (!step.arena_eligible[k]) continue;
      if (k >= step.cached_types.size()) continue;  // did not run
      const TensorType& t = step.cached_types[k];
      const int64_t bytes = checked_numel(t.dims) * int64_t(dtype_size(t.dtype));
      buffers.push_back(ArenaBuffer{i, step.last_use[k], (bytes + 63) / 64 * 64});
      owner.emplace_back(i, k);
    }
  }
  for (Step& step : steps_) {  // band outputs are views of the old arena
    step.bands = Step::Bands::unknown;
    step.band_outputs.clear();
  }
  arena_ = Tensor();  // the old arena goes first: the two are never held at once
  if (buffers.empty()) return;
  arena_ = Tensor::uninitialized(DType::u8, {place_in_arena(buffers)});
  for (size_t b = 0; b < buffers.size(); ++b) {
    Step& step = steps_[owner[b].first];
    step.arena_offset[owner[b].second] = buffers[b].offset;
    step.arena_type[owner[b].second] = step.cached_types[owner[b].second];
  }
}

int Session::slot(const std::string& name) {
  auto [it, inserted] = slot_of_.try_emplace(name, int(slots_.size()));
  if (inserted) slots_.emplace_back();
  return it->second;
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

// Called after a step wrote its outputs and before it frees its inputs' last uses: the moment the
// most activations are live.
void Session::track_memory(const std::vector<Tensor>& env, bool first_step) {
  if (first_step) memory_ = {};
  size_t live = 0, first = 0, second = 0;
  for (size_t s = 0; s < env.size(); ++s) {
    if (env[s].empty_handle() || is_constant_[s]) continue;
    const size_t bytes = env[s].nbytes();
    live += bytes;
    if (bytes > first)
      second = first, first = bytes;
    else if (bytes > second)
      second = bytes;
  }
  memory_.peak_live_bytes = std::max(memory_.peak_live_bytes, live);
  memory_.largest_two_live_bytes = std::max(memory_.largest_two_live_bytes, first + second);
}

TensorMap Session::run(const TensorMap& inputs) {
  return run(inputs, nullptr);
}

TensorMap Session::run(const TensorMap& inputs, const ValueObserver& observe) {
  // The session's thread count for the whole run, the caller's given back at its end.
  const OmpThreadLimit thread_limit(options_.threads);
  for (const auto& [name, tensor] : inputs)
    if (std::find(graph_.inputs.begin(), graph_.inputs.end(), name) == graph_.inputs.end())
      throw Error(ErrorKind::invalid_argument, "the model has no input named '" + name + "'",
                  "input '" + name + "'");
  // The run works in the slots themselves (a copy of every constant's handle cost MobileNetV2
  // ~40 us a run); what it adds is cleared when it ends, normally or by an exception.
  std::vector<Tensor>& env = slots_;
  const auto clear_activations = [this] {
    for (size_t s = 0; s < slots_.size(); ++s)
      if (!is_constant_[s]) slots_[s] = Tensor();
  };
  struct ClearOnExit {
    const decltype(clear_activations)& clear;
    ~ClearOnExit() { clear(); }
  } clear_on_exit{clear_activations};
  for (const auto& name : graph_.inputs) {
    auto it = inputs.find(name);
    if (it == inputs.end())
      throw Error(ErrorKind::invalid_argument, "is missing", "input '" + name + "'");
    check_input(name, it->second);
    env[size_t(slot_of_.at(name))] = it->second;
    if (observe) observe(name, it->second);
  }
  std::vector<const Tensor*> args;
  // Values an observer sees may be kept past their last reader: no arena then.
  const bool use_arena = options_.memory_plan && !observe;
  bool replan = false;  // an eligible output had no place in the arena for its type
  std::vector<Tensor> preset;
  // Row bands: not while measuring memory (a chain's inputs are freed after the whole chain).
  const bool bands = use_arena && options_.row_bands && options_.threads > 1 && !measure_memory_;
  for (size_t i = 0; i < steps_.size(); ++i) {
    if (bands) {
      const size_t end = banded_chain_end(i);
      if (end > i) {
        run_banded(i, end);
        i = end - 1;
        continue;
      }
    }
    Step& step = steps_[i];
    const Node& node = *step.node;
    args.clear();
    for (int s : step.inputs) {
      if (s >= 0 && env[size_t(s)].empty_handle())
        throw Error(ErrorKind::internal, "an input is not available", node.label());
      args.push_back(s < 0 ? nullptr : &env[size_t(s)]);
    }
    const auto start = std::chrono::steady_clock::now();
    std::vector<Tensor> outs;
    try {
      // Fast kernels' output shapes follow from input dims alone: infer once per dims.
      bool cached = step.fast && step.cached_dims.size() == args.size();
      for (size_t k = 0; cached && k < args.size(); ++k)
        cached = args[k] ? args[k]->dims() == step.cached_dims[k] : step.cached_dims[k].empty();
      if (!cached) {
        step.bands = Step::Bands::unknown;
        step.cached_types = infer_outputs(node, graph_.opset, args, step.released_types);
        step.cached_dims.clear();
        for (const Tensor* t : args) step.cached_dims.push_back(t ? t->dims() : Dims{});
      }
      preset.assign(step.outputs.size(), Tensor());
      for (size_t k = 0; use_arena && k < step.outputs.size(); ++k) {
        if (!step.arena_eligible[k]) continue;
        const TensorType& t = step.cached_types[k];
        if (step.arena_offset[k] >= 0 && step.arena_type[k] == t)
          preset[k] = arena_.view(size_t(step.arena_offset[k]), t.dtype, t.dims);
        else
          replan = true;
      }
      outs = run_kernel(node, graph_.opset, args, step.cached_types, options_.threads,
                        step.fast.get(), std::move(preset));
    } catch (const Error& e) {
      if (e.where().find(node.label()) == std::string::npos) throw e.within(node.label());
      throw;
    } catch (const std::bad_alloc&) {
      throw Error(ErrorKind::out_of_memory, "ran out of memory", node.label());
    }
    timings_[i].ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    timings_[i].row_bands = false;
    for (size_t k = 0; k < outs.size(); ++k) {
      if (step.outputs[k] < 0) continue;
      if (observe) observe(node.outputs[k], outs[k]);
      env[size_t(step.outputs[k])] = std::move(outs[k]);
    }
    if (measure_memory_) track_memory(env, i == 0);
    for (int s : step.release) env[size_t(s)] = Tensor();
  }
  TensorMap result;
  const std::byte* arena_begin = arena_.empty_handle() ? nullptr : arena_.bytes().data();
  for (const auto& name : graph_.outputs) {
    const Tensor& t = env[size_t(slot_of_.at(name))];
    if (t.empty_handle())
      throw Error(ErrorKind::internal, "graph output '" + name + "' was not computed");
    // An output that is a view of the arena (through a reference kernel's alias) is copied out:
    // the next run overwrites the arena.
    const std::byte* p = t.bytes().data();
    const bool in_arena = arena_begin && p >= arena_begin && p < arena_begin + arena_.nbytes();
    result[name] = in_arena ? t.clone() : t;
  }
  clear_activations();  // before a new arena is planned: no view of the old one is left
  if (replan) plan_arena();
  return result;
}

size_t Session::banded_chain_end(size_t first) {
  size_t i = first;
  for (; i < steps_.size(); ++i) {
    Step& step = steps_[i];
    if (!step.fast || step.bands == Step::Bands::no) break;
    // Only a step a previous run has prepared for these dims, with every output in the arena.
    bool ready = step.cached_dims.size() == step.inputs.size();
    for (size_t k = 0; ready && k < step.inputs.size(); ++k) {
      const int s = step.inputs[k];
      ready = s < 0 ? step.cached_dims[k].empty()
                    : !slots_[size_t(s)].empty_handle() &&
                          slots_[size_t(s)].dims() == step.cached_dims[k];
    }
    for (size_t k = 0; ready && k < step.outputs.size(); ++k)
      ready = step.outputs[k] >= 0 && step.arena_eligible[k] && step.arena_offset[k] >= 0 &&
              step.arena_type[k] == step.cached_types[k];
    if (!ready) break;
    if (step.bands == Step::Bands::unknown) {
      step.band_inputs.clear();
      for (int s : step.inputs) step.band_inputs.push_back(s < 0 ? nullptr : &slots_[size_t(s)]);
      step.band_outputs.clear();
      for (size_t k = 0; k < step.outputs.size(); ++k) {
        const TensorType& t = step.arena_type[k];
        step.band_outputs.push_back(arena_.view(size_t(step.arena_offset[k]), t.dtype, t.dims));
      }
      const kernels::KernelArgs args{*step.node,        graph_.opset,      step.band_inputs,
                                     step.cached_types, step.band_outputs, options_.threads};
      const bool splits = step.fast->prepare_bands(args, options_.threads);
      step.bands = splits ? Step::Bands::yes : Step::Bands::no;
      if (!splits) {
        step.band_outputs.clear();
        break;
      }
    }
    for (size_t k = 0; k < step.outputs.size(); ++k)
      slots_[size_t(step.outputs[k])] = step.band_outputs[k];
  }
  return i;
}

void Session::run_banded(size_t first, size_t end) {
  const int bands = options_.threads;
  // The first failure of each band, and its step: exceptions must not leave the parallel region.
  std::vector<std::pair<size_t, std::exception_ptr>> failures(static_cast<size_t>(bands));
  SpinBarrier barrier;
  auto start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(bands)
  {
    // A smaller team than asked for (nested, or a limit) runs several bands per thread.
    const int team = omp_get_num_threads(), me = omp_get_thread_num();
    for (size_t i = first; i < end; ++i) {
      Step& step = steps_[i];
      const kernels::KernelArgs args{*step.node,        graph_.opset,      step.band_inputs,
                                     step.cached_types, step.band_outputs, 1};
      for (int band = me; band < bands; band += team) {
        if (failures[size_t(band)].second) continue;
        try {
          step.fast->run_band(args, band);
        } catch (...) {
          failures[size_t(band)] = {i, std::current_exception()};
        }
      }
      barrier.arrive_and_wait(team);
      if (me == 0) {
        const auto now = std::chrono::steady_clock::now();
        timings_[i].ms = std::chrono::duration<double, std::milli>(now - start).count();
        timings_[i].row_bands = true;
        start = now;
      }
    }
  }
  for (const auto& [i, failure] : failures) {
    if (!failure) continue;
    const std::string label = steps_[i].node->label();
    try {
      std::rethrow_exception(failure);
    } catch (const Error& e) {
      if (e.where().find(label) == std::string::npos) throw e.within(label);
      throw;
    } catch (const std::bad_alloc&) {
      throw Error(ErrorKind::out_of_memory, "ran out of memory", label);
    } catch (const std::exception& e) {
      throw Error(ErrorKind::internal, e.what(), label);
    }
  }
  for (size_t i = first; i < end; ++i)
    for (int s : steps_[i].release) slots_[size_t(s)] = Tensor();
}

}  // namespace edgeco
