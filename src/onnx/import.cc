#include <fcntl.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>

#include <set>
#include <unordered_map>

#include "edgeco/onnx.h"
#include "proto_convert.h"

namespace edgeco {
namespace {

TensorType to_tensor_type(const ::onnx::ValueInfoProto& info, std::vector<std::string>* dim_params,
                          const std::string& where) {
  if (!info.type().has_tensor_type())
    throw Error(
        ErrorKind::unsupported,
        "value '" + info.name() + "' is not a tensor (sequences and maps are not supported)",
        where);
  const auto& tt = info.type().tensor_type();
  const auto dtype = dtype_from_code(tt.elem_type());
  if (!dtype)
    throw Error(ErrorKind::unsupported,
                "value '" + info.name() + "' has element type code " +
                    std::to_string(tt.elem_type()) + ", which edgeco does not support",
                where);
  TensorType type{*dtype, {}, tt.has_shape()};
  for (const auto& dim : tt.shape().dim()) {
    if (dim.has_dim_value()) {
      if (dim.dim_value() < 0)
        throw Error(ErrorKind::invalid_model, "value '" + info.name() + "' has a negative dim",
                    where);
      type.dims.push_back(dim.dim_value());
      if (dim_params) dim_params->push_back("");
    } else {
      type.dims.push_back(-1);
      if (dim_params) dim_params->push_back(dim.dim_param());
    }
  }
  return type;
}

Attribute to_attribute(const ::onnx::AttributeProto& a, const std::filesystem::path& base_dir,
                       const std::string& where) {
  using A = ::onnx::AttributeProto;
  const std::string at = where + ": attribute '" + a.name() + "'";
  if (!a.ref_attr_name().empty())
    throw Error(ErrorKind::unsupported, "function attribute references are not supported", at);
  switch (a.type()) {
    case A::FLOAT:
      return {a.f()};
    case A::INT:
      return {a.i()};
    case A::STRING:
      return {a.s()};
    case A::TENSOR:
      return {onnx_proto::to_tensor(a.t(), base_dir, at)};
    case A::FLOATS:
      return {std::vector<float>(a.floats().begin(), a.floats().end())};
    case A::INTS:
      return {std::vector<int64_t>(a.ints().begin(), a.ints().end())};
    case A::STRINGS:
      return {std::vector<std::string>(a.strings().begin(), a.strings().end())};
    default:
      throw Error(ErrorKind::unsupported,
                  "attribute type " + A::AttributeType_Name(a.type()) +
                      " (subgraphs, sparse tensors, types) is not supported",
                  at);
  }
}

// The value of a Constant node as a tensor.
Tensor constant_value(const Node& node) {
  if (node.attributes.size() != 1)
    throw Error(ErrorKind::invalid_model, "Constant needs exactly one value attribute",
                node.label());
  const auto& [name, attr] = *node.attributes.begin();
  if (name == "value") return node.attr_tensor("value");
  if (name == "value_float") return Tensor::scalar(node.attr_float(name));
  if (name == "value_int") return Tensor::scalar(node.attr_int(name));
  if (name == "value_floats") {
    auto v = node.attr_floats(name);
    return Tensor::from_values<float>({int64_t(v.size())}, std::span<const float>(v));
  }
  if (name == "value_ints") {
    auto v = node.attr_ints(name);
    return Tensor::from_values<int64_t>({int64_t(v.size())}, std::span<const int64_t>(v));
  }
  throw Error(ErrorKind::unsupported, "Constant attribute '" + name + "' is not supported",
              node.label());
}

void remove_identities(Graph& graph) {
  std::set<std::string> outputs(graph.outputs.begin(), graph.outputs.end());
  std::set<std::string> inputs(graph.inputs.begin(), graph.inputs.end());
  std::unordered_map<std::string, std::string> rename;
  std::vector<Node> kept;
  for (Node& node : graph.nodes) {
    for (auto& in : node.inputs)
      if (auto it = rename.find(in); it != rename.end()) in = it->second;
    if (node.op_type == "Identity" && node.domain.empty() && node.inputs.size() == 1 &&
        node.outputs.size() == 1 && !outputs.count(node.outputs[0])) {
      rename[node.outputs[0]] = node.inputs[0];
      graph.values.erase(node.outputs[0]);
      continue;
    }
    kept.push_back(std::move(node));
  }
  graph.nodes = std::move(kept);
}

// Parses a ModelProto from `stream`, with the limits every model gets.
void parse_model(google::protobuf::io::CodedInputStream& stream, ::onnx::ModelProto& model,
                 const std::string& where) {
  stream.SetRecursionLimit(64);
  if (!model.ParseFromCodedStream(&stream) || !stream.ConsumedEntireMessage())
    throw Error(ErrorKind::invalid_model,
                "not a valid ONNX model (the protobuf does not parse; truncated or not ONNX?)",
                where);
}

Graph graph_from_model(::onnx::ModelProto& model, const std::filesystem::path& base_dir,
                       const std::string& where, const OnnxLoadOptions& options) {
  if (!model.has_graph()) throw Error(ErrorKind::invalid_model, "the model has no graph", where);

  Graph graph;
  graph.opset = -1;
  for (const auto& op : model.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") graph.opset = op.version();
  if (graph.opset < 0) {
    // Models of other domains only (e.g. training ops): their nodes decide what is supported.
    for (const auto& n : model.graph().node())
      if (n.domain().empty() || n.domain() == "ai.onnx")
        throw Error(ErrorKind::invalid_model,
                    "the model uses default-domain operators but imports no default opset", where);
    graph.opset = kMaxOpset;
  }
  if (graph.opset > kMaxOpset || graph.opset < 1)
    throw Error(ErrorKind::unsupported,
                "opset " + std::to_string(graph.opset) + " is outside the range edgeco reads (" +
                    std::to_string(kMinOpset) + "–" + std::to_string(kMaxOpset) + ")",
                where);

  const auto& g = model.graph();
  graph.name = g.name().empty() ? "main" : g.name();
  if (g.sparse_initializer_size() > 0)
    throw Error(ErrorKind::unsupported, "sparse initializers are not supported", where);

  // Each initializer's bytes are freed from the protobuf once converted, so a model is held about
  // once while it loads, not twice.
  for (auto& init : *model.mutable_graph()->mutable_initializer()) {
    if (init.name().empty())
      throw Error(ErrorKind::invalid_model, "an initializer has no name", where);
    graph.value(init.name()).initializer =
        onnx_proto::to_tensor(init, base_dir, where + ": initializer '" + init.name() + "'");
    std::string().swap(*init.mutable_raw_data());
  }
  for (const auto& in : g.input()) {
    Value& v = graph.value(in.name());
    if (v.initializer) continue;  // older exporters list initializers as inputs too
    v.type = to_tensor_type(in, &v.dim_params, where + ": input '" + in.name() + "'");
    graph.inputs.push_back(in.name());
  }
  for (const auto& out : g.output()) {
    if (out.name().empty())
      throw Error(ErrorKind::invalid_model, "a graph output has no name", where);
    graph.outputs.push_back(out.name());
    Value& v = graph.value(out.name());
    if (out.type().has_tensor_type() && !v.initializer) {
      TensorType declared = to_tensor_type(out, nullptr, where + ": output '" + out.name() + "'");
      if (declared.rank_known || out.type().tensor_type().elem_type() != 0) v.type = declared;
    }
  }

  std::set<std::string> node_names;
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& np = g.node(i);
    Node node;
    node.op_type = np.op_type();
    node.domain = np.domain() == "ai.onnx" ? "" : np.domain();
    node.name = np.name();
    // Names must be unique: they key per-node timings and plans.
    if (node.name.empty() || node_names.count(node.name)) {
      const std::string base = (node.name.empty() ? node.op_type : node.name);
      int k = i;
      do node.name = base + "_" + std::to_string(k++);
      while (node_names.count(node.name));
    }
    node_names.insert(node.name);
    node.inputs.assign(np.input().begin(), np.input().end());
    node.outputs.assign(np.output().begin(), np.output().end());
    for (const auto& a : np.attribute()) {
      const std::string at = where + ": " + node.label();
      if (a.name().empty()) throw Error(ErrorKind::invalid_model, "an attribute has no name", at);
      node.attributes[a.name()] = to_attribute(a, base_dir, at);
    }
    // Trailing omitted optional inputs carry no meaning.
    while (!node.inputs.empty() && node.inputs.back().empty()) node.inputs.pop_back();
    for (const auto& name : node.inputs)
      if (!name.empty()) graph.value(name);
    for (const auto& name : node.outputs)
      if (!name.empty()) graph.value(name);

    if (node.op_type == "Constant" && node.domain.empty()) {
      if (node.outputs.size() != 1)
        throw Error(ErrorKind::invalid_model, "Constant must have one output",
                    where + ": " + node.label());
      try {
        graph.value(node.outputs[0]).initializer = constant_value(node);
      } catch (const Error& e) {
        throw e.within(where);
      }
      continue;
    }
    graph.nodes.push_back(std::move(node));
  }

  try {
    graph.sort_topologically();
  } catch (const Error& e) {
    throw e.within(where);
  }
  if (options.remove_identity) remove_identities(graph);
  return graph;
}

}  // namespace

Graph parse_onnx(std::span<const std::byte> bytes, const std::filesystem::path& base_dir,
                 std::string_view source, const OnnxLoadOptions& options) {
  const std::string where(source);
  ::onnx::ModelProto model;
  if (bytes.size() > size_t(INT32_MAX))
    throw Error(ErrorKind::unsupported, "models over 2 GB must use external data", where);
  google::protobuf::io::CodedInputStream stream(reinterpret_cast<const uint8_t*>(bytes.data()),
                                                int(bytes.size()));
  parse_model(stream, model, where);
  return graph_from_model(model, base_dir, where, options);
}

Graph load_onnx(const std::filesystem::path& path, const OnnxLoadOptions& options) {
  // Parsed straight from the file, without a copy of its bytes in memory.
  const std::string where = path.string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorKind::io, "cannot open file", where);
  ::onnx::ModelProto model;
  {
    google::protobuf::io::FileInputStream file(fd);
    file.SetCloseOnDelete(true);
    google::protobuf::io::CodedInputStream stream(&file);
    stream.SetTotalBytesLimit(INT32_MAX);
    parse_model(stream, model, where);
    if (file.GetErrno() != 0) throw Error(ErrorKind::io, "cannot read file", where);
  }
  return graph_from_model(model, path.parent_path().empty() ? "." : path.parent_path(), where,
                          options);
}

}  // namespace edgeco
