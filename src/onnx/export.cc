#include <fstream>
#include <set>

#include "edgeco/onnx.h"
#include "proto_convert.h"

namespace edgeco {
namespace {

void set_value_info(const Value& value, ::onnx::ValueInfoProto& info) {
  info.set_name(value.name);
  if (!value.type) return;
  auto* tt = info.mutable_type()->mutable_tensor_type();
  tt->set_elem_type(static_cast<int32_t>(dtype_code(value.type->dtype)));
  if (!value.type->rank_known) return;
  auto* shape = tt->mutable_shape();
  for (size_t i = 0; i < value.type->dims.size(); ++i) {
    auto* dim = shape->add_dim();
    if (value.type->dims[i] >= 0)
      dim->set_dim_value(value.type->dims[i]);
    else if (i < value.dim_params.size() && !value.dim_params[i].empty())
      dim->set_dim_param(value.dim_params[i]);
  }
}

void set_attribute(const std::string& name, const Attribute& attr, ::onnx::AttributeProto& a) {
  using A = ::onnx::AttributeProto;
  a.set_name(name);
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, float>)
          a.set_type(A::FLOAT), a.set_f(v);
        else if constexpr (std::is_same_v<T, int64_t>)
          a.set_type(A::INT), a.set_i(v);
        else if constexpr (std::is_same_v<T, std::string>)
          a.set_type(A::STRING), a.set_s(v);
        else if constexpr (std::is_same_v<T, Tensor>)
          a.set_type(A::TENSOR), onnx_proto::from_tensor(v, "", *a.mutable_t());
        else if constexpr (std::is_same_v<T, std::vector<float>>) {
          a.set_type(A::FLOATS);
          for (float f : v) a.add_floats(f);
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          a.set_type(A::INTS);
          for (int64_t i : v) a.add_ints(i);
        } else {
          a.set_type(A::STRINGS);
          for (const auto& s : v) a.add_strings(s);
        }
      },
      attr.value);
}

}  // namespace

std::string serialize_onnx(const Graph& graph) {
  ::onnx::ModelProto model;
  model.set_ir_version(8);  // ONNX 1.10+; readable by every runtime that reads opset 17
  model.set_producer_name("edgeco");
  model.set_producer_version("0.1.0");
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(graph.opset);
  std::set<std::string> domains;
  for (const Node& n : graph.nodes)
    if (!n.domain.empty() && domains.insert(n.domain).second) {
      auto* extra = model.add_opset_import();
      extra->set_domain(n.domain);
      extra->set_version(1);
    }
  auto* g = model.mutable_graph();
  g->set_name(graph.name);
  for (const auto& [name, value] : graph.values)
    if (value.initializer) onnx_proto::from_tensor(*value.initializer, name, *g->add_initializer());
  for (const auto& in : graph.inputs) {
    const Value* v = graph.find_value(in);
    if (!v || !v->type)
      throw Error(ErrorKind::invalid_model, "graph input '" + in + "' has no type",
                  "graph " + graph.name);
    set_value_info(*v, *g->add_input());
  }
  for (const auto& out : graph.outputs) {
    // Outputs may not be typed yet (a graph built in code and never inferred): the name suffices.
    const Value* v = graph.find_value(out);
    if (v)
      set_value_info(*v, *g->add_output());
    else
      g->add_output()->set_name(out);
  }
  for (const Node& node : graph.nodes) {
    auto* n = g->add_node();
    n->set_name(node.name);
    n->set_op_type(node.op_type);
    n->set_domain(node.domain);
    for (const auto& in : node.inputs) n->add_input(in);
    for (const auto& out : node.outputs) n->add_output(out);
    for (const auto& [name, attr] : node.attributes) set_attribute(name, attr, *n->add_attribute());
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes))
    throw Error(ErrorKind::unsupported, "the model is too large to serialize without external data",
                "graph " + graph.name);
  return bytes;
}

void save_onnx(const Graph& graph, const std::filesystem::path& path) {
  const std::string bytes = serialize_onnx(graph);
  // Write to a temporary file and rename, so an interrupted save never leaves a truncated model.
  const auto tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(ErrorKind::io, "cannot write file", tmp);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    if (!out) throw Error(ErrorKind::io, "write failed (disk full?)", tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw Error(ErrorKind::io, "cannot rename " + tmp + ": " + ec.message(), path.string());
}

}  // namespace edgeco
