// The integer-execution pass: QDQ patterns (as ONNX Runtime's quantizer and edgeco's emit them)
// become nodes that compute in int8 with int32 accumulation, so activations stay quantized from
// one convolution to the next instead of being dequantized, computed in float and requantized.
#include <algorithm>
#include <cmath>

#include "compiler/rewrite.h"

namespace edgeco {
namespace {

bool is_op(const Node& n, std::string_view op) {
  return n.domain.empty() && n.op_type == op;
}

// A DequantizeLinear or QuantizeLinear with constant parameters.
struct QuantStep {
  size_t node;
  std::string data;        // the quantized (DQ) or float (Q) input
  std::string scale;       // constant
  std::string zero_point;  // constant, or "" for zero
};

// Element-wise float ops a lookup table can stand for between a DequantizeLinear and a
// QuantizeLinear (single data input; any other inputs constant).
const std::set<std::string, std::less<>> kTabulable = {
    "Relu", "Clip", "Sigmoid", "Tanh",     "HardSigmoid", "HardSwish", "LeakyRelu",
    "Elu",  "Selu", "Exp",     "Softplus", "Neg",         "Abs"};

// Every 8-bit code of `type` in byte order, so a table computed from them is indexed by the raw
// byte.
Tensor every_code(DType type) {
  Tensor codes(type, {256});
  for (size_t b = 0; b < 256; ++b) codes.bytes()[b] = std::byte(b);
  return codes;
}

class QuantizedFusion {
 public:
  QuantizedFusion(Graph& g, PassLog* log, const ConstantEvaluator& evaluate)
      : g_(g), log_(log), evaluate_(evaluate), uses_(g), removed_(g.nodes.size()) {
    for (size_t i = 0; i < g.nodes.size(); ++i)
      for (const auto& out : g.nodes[i].outputs) producer_[out] = i;
  }

  int run() {
    int fused = 0;
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (removed_[i]) continue;
      if (is_plain_conv(g_.nodes[i]))
        fused += fuse_conv(i);
      else if (is_op(g_.nodes[i], "Add"))
        fused += fuse_add(i);
      else if (is_op(g_.nodes[i], "Gemm") || is_op(g_.nodes[i], "MatMul"))
        fused += fuse_matmul(i);
      else if (is_op(g_.nodes[i], "QLinearConv") || is_op(g_.nodes[i], "QLinearMatMul"))
        fused += from_qlinear(i);
      else if (is_op(g_.nodes[i], "GlobalAveragePool"))
        fused += fuse_global_pool(i);
    }
    // Concats and max pools between DQs and a Q, then element-wise chains between a DQ and a Q,
    // once the convolutions have claimed theirs.
    for (size_t i = 0, n = g_.nodes.size(); evaluate_ && i < n; ++i) {
      if (!removed_[i] && is_op(g_.nodes[i], "QuantizeLinear")) fused += fuse_code_region(i);
    }
    for (size_t i = 0; evaluate_ && i < g_.nodes.size(); ++i) {
      if (!removed_[i] && is_op(g_.nodes[i], "DequantizeLinear")) fused += fuse_lookup(i);
    }
    erase_marked(g_, removed_);
    g_.sort_topologically();
    return fused;
  }

 private:
  // The DequantizeLinear producing `value` with per-tensor (or, with `per_axis_extent`, per-axis
  // on `axis`) constant parameters, reading an 8-bit (or `data_types`) input.
  std::optional<QuantStep> dequantize_of(
      const std::string& value, bool constant_data, int64_t per_axis_extent = 1,
      std::initializer_list<DType> data_types = {DType::u8, DType::i8}, int64_t axis = 0) {
    auto it = producer_.find(value);
    if (it == producer_.end() || removed_[it->second]) return std::nullopt;
    const Node& dq = g_.nodes[it->second];
    if (!is_op(dq, "DequantizeLinear") || dq.outputs.size() != 1) return std::nullopt;
    const Value* data = g_.find_value(dq.inputs[0]);
    if (!data || !data->type ||
        std::find(data_types.begin(), data_types.end(), data->type->dtype) == data_types.end())
      return std::nullopt;
    if (constant_data && !data->initializer) return std::nullopt;
    if (!parameters_fit(dq, per_axis_extent, data->type->rank_known ? data->type->dims.size() : 0,
                        axis))
      return std::nullopt;
    return QuantStep{it->second, dq.inputs[0], dq.inputs[1], dq.has_input(2) ? dq.inputs[2] : ""};
  }

  // The QuantizeLinear that is the only reader of `value`, per tensor, to an 8-bit type.
  std::optional<QuantStep> quantize_after(const std::string& value) {
    const auto r = uses_.sole_reader(value);
    if (!r || removed_[*r]) return std::nullopt;
    const Node& q = g_.nodes[*r];
    if (!is_op(q, "QuantizeLinear") || q.inputs[0] != value || !parameters_fit(q, 1, 0, 0))
      return std::nullopt;
    return QuantStep{*r, q.inputs[0], q.inputs[1], q.has_input(2) ? q.inputs[2] : ""};
  }

  // The sole reader of `value` when it is an `op` node whose output a QuantizeLinear takes.
  std::optional<size_t> sole_reader_before_quantize(const std::string& value, std::string_view op) {
    const auto r = uses_.sole_reader(value);
    if (!r || removed_[*r] || !is_op(g_.nodes[*r], op) || g_.nodes[*r].inputs[0] != value ||
        !quantize_after(g_.nodes[*r].outputs[0]))
      return std::nullopt;
    return r;
  }

  // Scale (and zero point) constant, with one value or `extent` values along `axis`.
  bool parameters_fit(const Node& n, int64_t extent, size_t data_rank, int64_t axis) const {
    const Tensor* scale = constant(g_, n, 1);
    if (!scale || !is_float(scale->dtype())) return false;
    if (n.has_input(2) && !constant(g_, n, 2)) return false;
    if (scale->numel() == 1) return true;
    if (extent <= 1 || scale->numel() != extent || scale->rank() != 1 || data_rank == 0)
      return false;
    return normalize_axis(n.attr_int("axis", 1), int64_t(data_rank), "axis") == axis;
  }

  // The zero point input of a Q/DQ step for a fused node: its constant, or a new zero constant of
  // `dtype` where the step had none.
  std::string zero_point_or_new(const QuantStep& step, const std::string& name, DType dtype) {
    if (!step.zero_point.empty()) return step.zero_point;
    g_.value(name).initializer = Tensor(dtype, {});
    return name;
  }

  int fuse_conv(size_t i) {
    const Node& conv = g_.nodes[i];
    const Value* w_value = g_.find_value(conv.inputs[1]);
    const auto x = dequantize_of(conv.inputs[0], false);
    if (!x || !w_value || !w_value->type || !w_value->type->rank_known ||
        w_value->type->dims.size() != 4)
      return 0;
    const int64_t m = w_value->type->dims[0];
    const auto w = dequantize_of(conv.inputs[1], true, m);
    if (!w) return 0;
    // Bias: DequantizeLinear of a constant int32 vector, or a float constant, in real units.
    std::optional<Tensor> bias;
    if (conv.has_input(2)) {
      if (auto b = dequantize_of(conv.inputs[2], true, m, {DType::i32})) {
        // Its DequantizeLinear goes when nothing else reads it (dead-node removal).
        bias = dequantized(g_.nodes[b->node]);
      } else if (const Tensor* c = constant(g_, conv, 2); c && c->dtype() == DType::f32) {
        bias = *c;
      } else {
        return 0;
      }
    }
    std::string tail = conv.outputs[0];
    std::optional<size_t> activation;
    std::map<std::string, Attribute> activation_attrs;
    if (auto r = uses_.sole_reader(tail); r && !removed_[*r]) {
      if (auto attrs = activation_of(g_, g_.nodes[*r]);
          attrs && g_.nodes[*r].inputs[0] == tail && quantize_after(g_.nodes[*r].outputs[0])) {
        activation = *r;
        activation_attrs = *attrs;
        tail = g_.nodes[*r].outputs[0];
      }
    }
    const auto y = quantize_after(tail);
    if (!y) return 0;
    const Node& q = g_.nodes[y->node];
    Node fused = conv;
    fused.domain = "edgeco";
    fused.op_type = "QFusedConv";
    for (auto& [k, v] : activation_attrs) fused.attributes[k] = v;
    const DType w_type = g_.find_value(w->data)->type->dtype;
    fused.inputs = {x->data,       x->scale,
                    x->zero_point, w->data,
                    w->scale,      zero_point_or_new(*w, conv.name + ".w_zero_point", w_type),
                    y->scale,      zero_point_or_new(*y, conv.name + ".y_zero_point", DType::u8)};
    if (bias) {
      const std::string b_name = conv.name + ".bias_real";
      g_.value(b_name).initializer = std::move(*bias);
      fused.inputs.push_back(b_name);
    }
    fused.outputs = {q.outputs[0]};
    std::string what = "Conv '" + conv.name + "'";
    if (activation) what += " + " + g_.nodes[*activation].op_type;
    // The fused node takes the QuantizeLinear's place: every input exists there.
    removed_[i] = true;
    if (activation) removed_[*activation] = true;
    g_.nodes[y->node] = std::move(fused);
    note(log_, "int8 " + what + " with its QuantizeLinear/DequantizeLinear");
    return 1;
  }

  // DQ(a) -> Gemm(B = DQ(constant int8), C = DQ(int32) or float)/MatMul [-> Q]: one QMatMul with
  // B stored [K, N]; a float output unless a QuantizeLinear follows.
  int fuse_matmul(size_t i) {
    const Node& mm = g_.nodes[i];
    const bool gemm = mm.op_type == "Gemm";
    if (gemm && (mm.attr_int("transA", 0) != 0 || mm.attr_float("alpha", 1.0f) != 1.0f ||
                 mm.attr_float("beta", 1.0f) != 1.0f))
      return 0;
    const bool trans_b = gemm && mm.attr_int("transB", 0) != 0;
    const Value* b_value = g_.find_value(mm.inputs[1]);
    const Value* a_value = g_.find_value(mm.inputs[0]);
    if (!b_value || !b_value->type || !b_value->type->rank_known ||
        b_value->type->dims.size() != 2 || !a_value || !a_value->type ||
        !a_value->type->rank_known || a_value->type->dims.size() < 2 ||
        (gemm && a_value->type->dims.size() != 2))
      return 0;
    const int64_t n = b_value->type->dims[trans_b ? 0 : 1];
    const auto a = dequantize_of(mm.inputs[0], false);
    const auto b = dequantize_of(mm.inputs[1], true, n, {DType::i8, DType::u8}, trans_b ? 0 : 1);
    if (!a || !b) return 0;
    std::optional<Tensor> bias;
    if (gemm && mm.has_input(2)) {
      if (auto c = dequantize_of(mm.inputs[2], true, n, {DType::i32}))
        bias = dequantized(g_.nodes[c->node]);
      else if (const Tensor* f = constant(g_, mm, 2); f && f->dtype() == DType::f32)
        bias = *f;
      if (!bias || bias->numel() != n) return 0;
      bias = bias->reshaped({n});
    }
    const Tensor& b_data = *g_.find_value(b->data)->initializer;
    const std::string b_name = mm.name + ".b_kn";
    g_.value(b_name).initializer = trans_b ? b_data.permuted(std::vector<int64_t>{1, 0}) : b_data;
    Node fused{mm.name,
               "QMatMul",
               "edgeco",
               {a->data, a->scale, a->zero_point, b_name, b->scale, b->zero_point, ""},
               mm.outputs};
    if (bias) {
      g_.value(mm.name + ".bias_real").initializer = std::move(*bias);
      fused.inputs[6] = mm.name + ".bias_real";
    }
    std::string what = mm.op_type + " '" + mm.name + "'";
    size_t place = i;
    if (const auto y = quantize_after(mm.outputs[0])) {
      fused.inputs.push_back(y->scale);
      fused.inputs.push_back(zero_point_or_new(*y, mm.name + ".y_zero_point", DType::u8));
      fused.outputs = g_.nodes[y->node].outputs;
      removed_[i] = true;
      place = y->node;
      what += " with its QuantizeLinear";
    }
    g_.nodes[place] = std::move(fused);
    note(log_, "int8 " + what + " and DequantizeLinear inputs");
    return 1;
  }

  // A unary op of kTabulable reading `value` (its only reader), with constant other inputs.
  std::optional<size_t> tabulable_reader(const std::string& value) {
    const auto r = uses_.sole_reader(value);
    if (!r || removed_[*r]) return std::nullopt;
    const Node& n = g_.nodes[*r];
    if (!n.domain.empty() || !kTabulable.count(n.op_type) || n.inputs.empty() ||
        n.inputs[0] != value || n.outputs.size() != 1)
      return std::nullopt;
    for (size_t k = 1; k < n.inputs.size(); ++k)
      if (n.has_input(k) && !constant(g_, n, k)) return std::nullopt;
    return r;
  }

  // DQ(x) -> f [-> Q], f element-wise (a chain of kTabulable ops, or x * gate(x) then such a
  // chain): the output depends on the 8-bit code alone, so the whole of it is a 256-entry table
  // (8-bit with the Q, float without), computed here by running DQ, f and Q on every code with
  // the reference kernels (bit-exact by construction).
  int fuse_lookup(size_t i) {
    const Node& dq = g_.nodes[i];
    const auto x = dequantize_of(dq.outputs[0], false);
    if (!x || x->node != i) return 0;
    std::vector<size_t> region;
    std::string tail = dq.outputs[0];
    // x * gate(x): the DQ output read by exactly a unary gate and the Mul of both.
    if (auto it = uses_.readers.find(tail);
        it != uses_.readers.end() && it->second.size() == 2 && !uses_.graph_outputs.count(tail)) {
      for (int first = 0; first < 2 && region.empty(); ++first) {
        const size_t gate = it->second[size_t(first)], mul = it->second[size_t(1 - first)];
        const Node& gn = g_.nodes[gate];
        const Node& mn = g_.nodes[mul];
        if (removed_[gate] || removed_[mul] || !is_op(mn, "Mul") || !gn.domain.empty() ||
            !kTabulable.count(gn.op_type) || gn.inputs.size() != 1)
          continue;
        const auto gate_reader = uses_.sole_reader(gn.outputs[0]);
        const bool pairs = (mn.inputs[0] == tail && mn.inputs[1] == gn.outputs[0]) ||
                           (mn.inputs[1] == tail && mn.inputs[0] == gn.outputs[0]);
        if (gate_reader && *gate_reader == mul && pairs) {
          region = {gate, mul};
          tail = mn.outputs[0];
        }
      }
    }
    while (auto r = tabulable_reader(tail)) {
      region.push_back(*r);
      tail = g_.nodes[*r].outputs[0];
    }
    // Without a QuantizeLinear after it, the table holds the float results.
    const auto y = quantize_after(tail);
    if (region.empty()) return 0;
    const Value* x_value = g_.find_value(x->data);
    std::map<std::string, Tensor> values{{x->data, every_code(x_value->type->dtype)}};
    std::vector<size_t> steps{i};
    steps.insert(steps.end(), region.begin(), region.end());
    if (y) steps.push_back(y->node);
    for (size_t step : steps) {
      const Node& n = g_.nodes[step];
      std::vector<const Tensor*> inputs;
      for (size_t k = 0; k < n.inputs.size(); ++k) {
        if (!n.has_input(k)) {
          inputs.push_back(nullptr);
          continue;
        }
        auto it = values.find(n.inputs[k]);
        inputs.push_back(it != values.end() ? &it->second : constant(g_, n, k));
        if (!inputs.back()) return 0;
      }
      std::vector<Tensor> out = evaluate_(n, g_.opset, inputs);
      if (out.empty()) return 0;
      values[n.outputs[0]] = std::move(out[0]);
    }
    const size_t last = y ? y->node : region.back();
    const std::string out = g_.nodes[last].outputs[0];
    const std::string table = out + ".table";
    g_.value(table).initializer = values.at(out);
    std::string what;
    for (size_t r : region) {
      what += (what.empty() ? "" : " + ") + g_.nodes[r].op_type;
      if (r != last) removed_[r] = true;
    }
    const std::string name = g_.nodes[region.front()].name + ".lookup";
    // The table node takes the last node's place: every input exists there.
    g_.nodes[last] = Node{name, "QLookup", "edgeco", {x->data, table}, {out}};
    note(log_, "int8 lookup table for " + what + " after DequantizeLinear '" + dq.name + "'" +
                   (y ? " and its QuantizeLinear" : ", float results"));
    return 1;
  }

  // Collects the Concat/MaxPool nodes that compute `value` (read only by `reader`) from
  // DequantizeLinear outputs, the region's leaves. False when anything else is on the way.
  bool collect_code_region(const std::string& value, size_t reader, std::vector<size_t>& region,
                           std::vector<QuantStep>& leaves) {
    if (!uses_.read_only_by(value, reader) || region.size() > 64) return false;
    if (auto dq = dequantize_of(value, false)) {
      leaves.push_back(*dq);
      return true;
    }
    auto it = producer_.find(value);
    if (it == producer_.end() || removed_[it->second]) return false;
    const Node& n = g_.nodes[it->second];
    const bool pool = is_op(n, "MaxPool") && n.inputs.size() == 1;
    if (!(pool || is_op(n, "Concat")) || n.outputs.size() != 1) return false;
    region.push_back(it->second);
    for (const auto& in : n.inputs)
      if (in.empty() || !collect_code_region(in, it->second, region, leaves)) return false;
    return true;
  }

  // Concat and MaxPool move data and select maxima, so they commute with Q(DQ(.)) of each input,
  // which is monotonic: Q(region(DQ(x1), DQ(x2), ...)) = region(Q(DQ(x1)), Q(DQ(x2)), ...). The
  // region then runs on 8-bit codes, each input first mapped to the output's codes by a 256-entry
  // table (computed by the reference DQ and Q: bit-exact) or as it is where the parameters agree.
  // SqueezeNet's QDQ fire modules joined float tensors 4x the size of their codes.
  int fuse_code_region(size_t i) {
    const auto y = quantize_after(g_.nodes[i].inputs[0]);
    if (!y || y->node != i) return 0;
    std::vector<size_t> region;
    std::vector<QuantStep> leaves;
    if (!collect_code_region(g_.nodes[i].inputs[0], i, region, leaves) || region.empty()) return 0;
    const Value* y_value = g_.find_value(g_.nodes[i].outputs[0]);
    if (!y_value || !y_value->type) return 0;
    const DType code_type = y_value->type->dtype;
    // Each leaf's codes in the output's terms.
    std::map<std::string, std::string> mapped;  // DQ output -> codes the region reads
    std::vector<Node> lookups;
    for (const QuantStep& leaf : leaves) {
      const Node& dq = g_.nodes[leaf.node];
      if (mapped.count(dq.outputs[0])) continue;
      const Value* x_value = g_.find_value(leaf.data);
      if (!x_value || !x_value->type) return 0;
      if (x_value->type->dtype == code_type && same_parameters(leaf, *y)) {
        mapped[dq.outputs[0]] = leaf.data;
        continue;
      }
      auto table = requantize_table(dq, g_.nodes[i], x_value->type->dtype);
      if (!table) return 0;
      const std::string codes = dq.outputs[0] + ".codes";
      g_.value(codes + ".table").initializer = std::move(*table);
      lookups.push_back(Node{
          dq.name + ".requantize", "QLookup", "edgeco", {leaf.data, codes + ".table"}, {codes}});
      mapped[dq.outputs[0]] = codes;
    }
    // The region's own values change type: fresh names, the last one taking the Q's output.
    for (size_t r : region) {
      Node& n = g_.nodes[r];
      const std::string codes =
          r == region.front() ? g_.nodes[i].outputs[0] : n.outputs[0] + ".codes";
      mapped[n.outputs[0]] = codes;
      n.outputs[0] = codes;
    }
    for (size_t r : region)
      for (auto& in : g_.nodes[r].inputs)
        if (auto m = mapped.find(in); m != mapped.end()) in = m->second;
    removed_[i] = true;
    std::string what;
    for (auto r = region.rbegin(); r != region.rend(); ++r)
      what += (what.empty() ? "" : " + ") + g_.nodes[*r].op_type;
    note(log_,
         "int8 " + what + " on 8-bit codes (" + std::to_string(lookups.size()) +
             " requantizing table(s)) instead of between DequantizeLinear and QuantizeLinear");
    for (Node& n : lookups) {
      g_.nodes.push_back(std::move(n));
      removed_.push_back(false);
    }
    return 1;
  }

  bool same_parameters(const QuantStep& a, const QuantStep& b) const {
    const auto number = [&](const std::string& name) {
      if (name.empty()) return 0.0;
      return g_.find_value(name)->initializer->to_doubles().at(0);
    };
    const auto zero_type = [&](const std::string& name) {
      return name.empty() ? DType::u8 : g_.find_value(name)->initializer->dtype();
    };
    return number(a.scale) == number(b.scale) && number(a.zero_point) == number(b.zero_point) &&
           zero_type(a.zero_point) == zero_type(b.zero_point);
  }

  // Q(DQ(code)) for every 8-bit code in byte order, by the reference kernels.
  std::optional<Tensor> requantize_table(const Node& dq, const Node& q, DType code_type) {
    const Tensor codes = every_code(code_type);
    // A step's inputs: `data`, then its constant parameters.
    const auto inputs = [&](const Node& n, const Tensor& data) {
      std::vector<const Tensor*> in{&data};
      for (size_t k = 1; k < n.inputs.size(); ++k)
        in.push_back(n.has_input(k) ? constant(g_, n, k) : nullptr);
      return in;
    };
    std::vector<Tensor> real = evaluate_(dq, g_.opset, inputs(dq, codes));
    if (real.empty()) return std::nullopt;
    std::vector<Tensor> out = evaluate_(q, g_.opset, inputs(q, real[0]));
    if (out.empty()) return std::nullopt;
    return std::move(out[0]);
  }

  // The QOperator forms (QLinearConv, QLinearMatMul) with constant parameters take the same
  // kernels: QLinearConv's int32 bias becomes real units (B * x_scale * w_scale[m]).
  int from_qlinear(size_t i) {
    Node& n = g_.nodes[i];
    for (size_t k : {1, 2, 4, 5, 6, 7})
      if (n.has_input(k) && !constant(g_, n, k)) return 0;
    const Tensor* w = constant(g_, n, 3);
    if (!w || !constant(g_, n, 1) || !constant(g_, n, 4) || !constant(g_, n, 6)) return 0;
    const auto x_scale = constant(g_, n, 1)->to_doubles();
    const auto w_scales = constant(g_, n, 4)->to_doubles();
    if (x_scale.size() != 1 || constant(g_, n, 6)->numel() != 1) return 0;
    if (n.op_type == "QLinearConv") {
      if (w->rank() != 4 || (w_scales.size() != 1 && int64_t(w_scales.size()) != w->dim(0)))
        return 0;
      if (n.has_input(8)) {
        const Tensor* b = constant(g_, n, 8);
        if (!b) return 0;
        const auto bq = b->to_doubles();
        std::vector<float> real(bq.size());
        for (size_t m = 0; m < bq.size(); ++m)
          real[m] = float(bq[m] * x_scale[0] * w_scales[w_scales.size() == 1 ? 0 : m]);
        g_.value(n.name + ".bias_real").initializer =
            Tensor::from_values<float>({int64_t(real.size())}, std::span<const float>(real));
        n.inputs[8] = n.name + ".bias_real";
      }
      n.op_type = "QFusedConv";
    } else {
      if (w->rank() != 2 || (w_scales.size() != 1 && int64_t(w_scales.size()) != w->dim(1)))
        return 0;
      // QMatMul's inputs 6-8: no bias, then y_scale and y_zero_point.
      n.inputs = {n.inputs[0], n.inputs[1], n.inputs[2], n.inputs[3], n.inputs[4],
                  n.inputs[5], "",          n.inputs[6], n.inputs[7]};
      n.op_type = "QMatMul";
    }
    n.domain = "edgeco";
    note(log_, "int8 " + n.op_type + " for QLinear node '" + n.name + "'");
    return 1;
  }

  // Add(DQ(a), DQ(b)) [-> Relu] -> Q, same-shaped 8-bit a and b: one QAdd.
  int fuse_add(size_t i) {
    const Node& add = g_.nodes[i];
    if (add.inputs.size() != 2) return 0;
    const auto a = dequantize_of(add.inputs[0], false), b = dequantize_of(add.inputs[1], false);
    if (!a || !b) return 0;
    const Value* av = g_.find_value(a->data);
    const Value* bv = g_.find_value(b->data);
    // Symbolic (batch) dims must match by name as the float residual fusion asks; QAdd checks the
    // actual shapes when it runs.
    if (!av->type->rank_known || !bv->type->rank_known || av->type->dims != bv->type->dims)
      return 0;
    const std::optional<size_t> relu = sole_reader_before_quantize(add.outputs[0], "Relu");
    const auto y = quantize_after(relu ? g_.nodes[*relu].outputs[0] : add.outputs[0]);
    if (!y) return 0;
    Node fused{add.name,
               "QAdd",
               "edgeco",
               {a->data, a->scale, a->zero_point, b->data, b->scale, b->zero_point, y->scale,
                zero_point_or_new(*y, add.name + ".y_zero_point", DType::u8)},
               {g_.nodes[y->node].outputs[0]}};
    if (relu) fused.attributes["activation"] = Attribute{std::string("Relu")};
    removed_[i] = true;
    if (relu) removed_[*relu] = true;
    note(log_, "int8 Add '" + add.name + "'" + (relu ? " + Relu" : "") +
                   " with its QuantizeLinear/DequantizeLinear");
    g_.nodes[y->node] = std::move(fused);
    return 1;
  }

  // DQ(x) -> GlobalAveragePool [-> Flatten] -> Q, x 4-D: one QGlobalAveragePool, then the Flatten
  // on its codes (Q(Flatten(v)) = Flatten(Q(v))). MobileNet-style heads dequantized the last
  // feature map (63 K elements) only to average it.
  int fuse_global_pool(size_t i) {
    const Node& gap = g_.nodes[i];
    const auto x = dequantize_of(gap.inputs[0], false);
    const Value* x_value = x ? g_.find_value(x->data) : nullptr;
    if (!x || !x_value->type->rank_known || x_value->type->dims.size() != 4 ||
        gap.outputs.size() != 1)
      return 0;
    const std::optional<size_t> flatten = sole_reader_before_quantize(gap.outputs[0], "Flatten");
    const auto y = quantize_after(flatten ? g_.nodes[*flatten].outputs[0] : gap.outputs[0]);
    if (!y) return 0;
    const DType x_type = x_value->type->dtype;
    Node pooled{gap.name,
                "QGlobalAveragePool",
                "edgeco",
                {x->data, x->scale, zero_point_or_new(*x, gap.name + ".x_zero_point", x_type),
                 y->scale, zero_point_or_new(*y, gap.name + ".y_zero_point", DType::u8)},
                {g_.nodes[y->node].outputs[0]}};
    if (flatten) {
      // The pool keeps its place; the Flatten reads its codes and writes the Q's output.
      pooled.outputs = {gap.outputs[0] + ".codes"};
      g_.nodes[*flatten].inputs[0] = pooled.outputs[0];
      g_.nodes[*flatten].outputs[0] = g_.nodes[y->node].outputs[0];
      removed_[y->node] = true;
      g_.nodes[i] = std::move(pooled);
    } else {
      removed_[i] = true;
      g_.nodes[y->node] = std::move(pooled);
    }
    note(log_, "int8 GlobalAveragePool '" + g_.nodes[flatten ? i : y->node].name + "'" +
                   (flatten ? " (+ Flatten on codes)" : "") +
                   " with its QuantizeLinear/DequantizeLinear");
    return 1;
  }

  // The float value of a DequantizeLinear of constants, computed as the operator does.
  Tensor dequantized(const Node& dq) const {
    const Tensor& data = *constant(g_, dq, 0);
    const auto scales = constant(g_, dq, 1)->to_doubles();
    const auto zeros = dq.has_input(2) ? constant(g_, dq, 2)->to_int64s() : std::vector<int64_t>{0};
    const auto values = data.to_int64s();
    std::vector<float> out(values.size());
    const size_t per_entry = scales.size() == 1 ? values.size() : values.size() / scales.size();
    for (size_t k = 0; k < values.size(); ++k) {
      const size_t c = scales.size() == 1 ? 0 : k / per_entry;
      out[k] = float(values[k] - zeros[zeros.size() == 1 ? 0 : c]) * float(scales[c]);
    }
    return Tensor::from_values<float>(data.dims(), std::span<const float>(out));
  }

  Graph& g_;
  PassLog* log_;
  const ConstantEvaluator& evaluate_;
  Uses uses_;
  std::vector<bool> removed_;
  std::map<std::string, size_t> producer_;
};

}  // namespace

int fuse_quantized(Graph& graph, PassLog* log, const ConstantEvaluator& evaluate) {
  return QuantizedFusion(graph, log, evaluate).run();
}

}  // namespace edgeco
