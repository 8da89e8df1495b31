// The channels-last layout pass: kernels that run NHWC natively (oneDNN's convolutions) should not
// pay an NCHW <-> NHWC reorder per node. Regions that start at a 2-D convolution and continue
// through layout-agnostic nodes switch to NHWC; Transposes sit only at the region's edges.
#include <algorithm>
#include <map>
#include <set>

#include "edgeco/compiler.h"

namespace edgeco {
namespace {

constexpr int64_t kToNhwc[] = {0, 2, 3, 1};
constexpr int64_t kToNchw[] = {0, 3, 1, 2};

const std::set<std::string, std::less<>> kUnary = {
    "Relu",     "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh",     "LeakyRelu", "Elu",
    "Identity", "Neg",  "Abs",     "Exp",         "Sqrt",      "Softplus", "Selu"};
const std::set<std::string, std::less<>> kBinary = {"Add", "Sub", "Mul", "Div",
                                                    "Max", "Min", "Sum"};

std::string twin(const std::string& name) {
  return name + ".nhwc";
}

bool is_4d(const Graph& g, const std::string& name) {
  const Value* v = g.find_value(name);
  return v && v->type && v->type->rank_known && v->type->dims.size() == 4;
}

bool is_4d_float(const Graph& g, const std::string& name) {
  return is_4d(g, name) && g.find_value(name)->type->dtype == DType::f32;
}

bool is_4d_8bit(const Graph& g, const std::string& name) {
  if (!is_4d(g, name)) return false;
  const DType d = g.find_value(name)->type->dtype;
  return d == DType::u8 || d == DType::i8;
}

// A QuantizeLinear/DequantizeLinear with one scale: element-wise, so layout-agnostic.
bool is_per_tensor_qdq(const Graph& g, const Node& n) {
  if (!n.domain.empty() || (n.op_type != "QuantizeLinear" && n.op_type != "DequantizeLinear"))
    return false;
  const Value* scale = n.inputs.size() > 1 ? g.find_value(n.inputs[1]) : nullptr;
  return scale && scale->initializer && scale->initializer->numel() == 1;
}

// A constant that broadcasts against NCHW, lifted to rank 4 and permuted to broadcast against NHWC.
Tensor permute_constant(const Tensor& c) {
  Dims dims(4 - std::min<size_t>(4, c.rank()), 1);
  dims.insert(dims.end(), c.dims().begin(), c.dims().end());
  return c.reshaped(dims).permuted(kToNhwc);
}

class ChannelsLast {
 public:
  explicit ChannelsLast(Graph& g) : g_(g) {}

  int run(PassLog* log) {
    std::vector<Node> nodes = std::move(g_.nodes);
    g_.nodes.clear();
    int converted = 0;
    for (Node& node : nodes) {
      if (convert(node)) {
        ++converted;
        note(log, "channels-last " + node.op_type + " '" + node.name + "'");
      } else {
        for (const auto& in : node.inputs)
          if (!in.empty()) ensure_nchw(in);
      }
      g_.nodes.push_back(std::move(node));
    }
    for (const auto& out : g_.outputs) ensure_nchw(out);
    if (transposes_)
      note(log,
           "channels-last: " + std::to_string(transposes_) + " layout transposes at region edges");
    return converted;
  }

 private:
  static void note(PassLog* log, std::string line) {
    if (log) log->lines.push_back(std::move(line));
  }

  bool nhwc(const std::string& v) const { return produced_nhwc_.count(v) > 0; }

  // Rewrites `node` to NHWC if it should run there; false leaves it untouched.
  bool convert(Node& node) {
    const bool conv = node.op_type == "Conv" && node.domain.empty();
    const bool fused = node.op_type == "FusedConv" && node.domain == "edgeco";
    if (conv || fused) {
      const Value* w = node.inputs.size() > 1 ? g_.find_value(node.inputs[1]) : nullptr;
      if (!is_4d_float(g_, node.inputs[0]) || !w || !w->initializer || w->initializer->rank() != 4)
        return false;
      if (fused && node.attr_int("channels_last", 0) != 0) return false;
      node.op_type = "FusedConv";
      node.domain = "edgeco";
      node.attributes["channels_last"] = Attribute{int64_t{1}};
      node.inputs[0] = as_nhwc(node.inputs[0]);
      if (node.inputs.size() > 3 && !node.inputs[3].empty())
        node.inputs[3] = as_nhwc(node.inputs[3]);
      return rename_outputs(node);
    }
    const bool qconv = node.op_type == "QFusedConv" && node.domain == "edgeco";
    if (qconv) {
      const Value* w = node.inputs.size() > 3 ? g_.find_value(node.inputs[3]) : nullptr;
      if (!is_4d_8bit(g_, node.inputs[0]) || !w || !w->initializer || w->initializer->rank() != 4 ||
          node.attr_int("channels_last", 0) != 0)
        return false;
      node.attributes["channels_last"] = Attribute{int64_t{1}};
      node.inputs[0] = as_nhwc(node.inputs[0]);
      return rename_outputs(node);
    }
    if (node.op_type == "QAdd" && node.domain == "edgeco") {
      // Same-shaped operands (0 and 3); the rest are scalar parameters.
      if (!(nhwc(node.inputs[0]) || nhwc(node.inputs[3])) || !is_4d(g_, node.inputs[0]) ||
          !is_4d(g_, node.inputs[3]))
        return false;
      node.inputs[0] = as_nhwc(node.inputs[0]);
      node.inputs[3] = as_nhwc(node.inputs[3]);
      return rename_outputs(node);
    }
    if (node.op_type == "QGlobalAveragePool" && node.domain == "edgeco") {
      if (!nhwc(node.inputs[0]) || node.attr_int("channels_last", 0) != 0) return false;
      node.attributes["channels_last"] = Attribute{int64_t{1}};
      node.inputs[0] = twin(node.inputs[0]);
      return true;  // its [N, C, 1, 1] output is the same bytes in NHWC: it stays as it is
    }
    if (node.op_type == "ReduceMean" && node.domain.empty() && node.inputs.size() == 1 &&
        nhwc(node.inputs[0]) && is_4d_float(g_, node.inputs[0]) &&
        node.attr_int("keepdims", 1) == 0 && reduces_spatial_axes(node)) {
      // `x.mean([2, 3])` before a classifier: [N, C] from NCHW or NHWC alike, so the output stays
      // as it is (no Transpose out of the region, and the fast kernel takes NHWC).
      node.attributes["axes"] = Attribute{std::vector<int64_t>{1, 2}};
      node.inputs[0] = twin(node.inputs[0]);
      return true;
    }
    if (node.outputs.size() != 1 || !is_4d(g_, node.outputs[0])) return false;
    const bool lookup = node.op_type == "QLookup" && node.domain == "edgeco";
    if (is_per_tensor_qdq(g_, node) || lookup) {
      if (!nhwc(node.inputs[0])) return false;
      node.inputs[0] = twin(node.inputs[0]);
      return rename_outputs(node);
    }
    if (!node.domain.empty()) return false;
    // Concat and MaxPool also move 8-bit codes (the int8 pass leaves them on codes).
    const bool codes =
        is_4d_8bit(g_, node.outputs[0]) && (node.op_type == "Concat" || node.op_type == "MaxPool");
    if (!codes && !is_4d_float(g_, node.outputs[0])) return false;
    if (kUnary.count(node.op_type)) {
      if (!nhwc(node.inputs[0])) return false;
      node.inputs[0] = twin(node.inputs[0]);
      return rename_outputs(node);
    }
    if (kBinary.count(node.op_type) || node.op_type == "Concat") {
      bool any = false, convertible = true;
      for (const auto& in : node.inputs) {
        any = any || nhwc(in);
        const Value* v = g_.find_value(in);
        // Other operands: NHWC already, a constant (permuted), or a 4-D activation (transposed).
        convertible = convertible && (nhwc(in) || (v && v->initializer) ||
                                      (codes ? is_4d_8bit(g_, in) : is_4d_float(g_, in)));
      }
      if (!any || !convertible) return false;
      for (auto& in : node.inputs) in = as_nhwc(in);
      if (node.op_type == "Concat") {
        const int64_t axis = normalize_axis(node.attr_int("axis"), 4, "axis");
        const int64_t to_nhwc_axis[] = {0, 3, 1, 2};
        node.attributes["axis"] = Attribute{to_nhwc_axis[axis]};
      }
      return rename_outputs(node);
    }
    if ((node.op_type == "MaxPool" || node.op_type == "AveragePool") && node.outputs.size() == 1 &&
        nhwc(node.inputs[0])) {
      node.domain = "edgeco";
      node.attributes["channels_last"] = Attribute{int64_t{1}};
      node.inputs[0] = twin(node.inputs[0]);
      return rename_outputs(node);
    }
    if ((node.op_type == "GlobalAveragePool" || node.op_type == "GlobalMaxPool") &&
        nhwc(node.inputs[0])) {
      // [N, H, W, C] -> [N, 1, 1, C], which is the NHWC form of [N, C, 1, 1].
      node.op_type = node.op_type == "GlobalAveragePool" ? "ReduceMean" : "ReduceMax";
      node.attributes = {{"axes", Attribute{std::vector<int64_t>{1, 2}}},
                         {"keepdims", Attribute{int64_t{1}}}};
      node.inputs[0] = twin(node.inputs[0]);
      return rename_outputs(node);
    }
    return false;
  }

  // A 4-D reduction's axes (the attribute, as before opset 18) are H and W of NCHW.
  static bool reduces_spatial_axes(const Node& node) {
    if (!node.has_attr("axes")) return false;
    Dims axes;
    for (int64_t a : node.attr_ints("axes")) axes.push_back(a < 0 ? a + 4 : a);
    std::sort(axes.begin(), axes.end());
    return axes == Dims{2, 3};
  }

  bool rename_outputs(Node& node) {
    for (auto& out : node.outputs) {
      produced_nhwc_.insert(out);
      out = twin(out);
    }
    return true;
  }

  // The NHWC name of an input: its twin, a permuted constant, or a Transpose at the region's entry.
  std::string as_nhwc(const std::string& v) {
    if (v.empty() || nhwc(v)) return v.empty() ? v : twin(v);
    if (auto it = entries_.find(v); it != entries_.end()) return it->second;
    const Value& value = g_.value(v);
    std::string t = twin(v);
    if (value.initializer) {
      g_.value(t).initializer = value.initializer->numel() == 1
                                    ? *value.initializer
                                    : permute_constant(*value.initializer);
    } else {
      g_.nodes.push_back(Node{
          v + ".to_nhwc",
          "Transpose",
          "",
          {v},
          {t},
          {{"perm", Attribute{std::vector<int64_t>(std::begin(kToNhwc), std::end(kToNhwc))}}}});
      ++transposes_;
    }
    entries_[v] = t;
    return t;
  }

  // An NCHW reader of a value produced in NHWC gets it through one Transpose at the region's exit.
  void ensure_nchw(const std::string& v) {
    if (!nhwc(v) || exited_.count(v)) return;
    g_.nodes.push_back(
        Node{v + ".to_nchw",
             "Transpose",
             "",
             {twin(v)},
             {v},
             {{"perm", Attribute{std::vector<int64_t>(std::begin(kToNchw), std::end(kToNchw))}}}});
    ++transposes_;
    exited_.insert(v);
  }

  Graph& g_;
  std::set<std::string> produced_nhwc_;         // values whose producer now writes their NHWC twin
  std::map<std::string, std::string> entries_;  // NCHW value -> its NHWC twin made at an entry
  std::set<std::string> exited_;
  int transposes_ = 0;
};

}  // namespace

int to_channels_last(Graph& graph, PassLog* log) {
  return ChannelsLast(graph).run(log);
}

}  // namespace edgeco
