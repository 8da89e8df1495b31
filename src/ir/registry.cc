#include "edgeco/ir.h"
#include "op_helpers.h"

namespace edgeco {

const OpRegistry& OpRegistry::builtin() {
  static const OpRegistry registry = [] {
    OpRegistry r;
    ops::register_elementwise_ops(r);
    ops::register_nn_ops(r);
    ops::register_shape_ops(r);
    ops::register_quant_ops(r);
    return r;
  }();
  return registry;
}

void OpRegistry::add(OpSchema schema) {
  std::string key = schema.domain + "::" + schema.name;
  schemas_.insert_or_assign(std::move(key), std::move(schema));
}

const OpSchema* OpRegistry::find(std::string_view domain, std::string_view op_type) const {
  // "ai.onnx" is the default domain under its explicit name.
  if (domain == "ai.onnx") domain = "";
  std::string key = std::string(domain) + "::" + std::string(op_type);
  auto it = schemas_.find(key);
  return it == schemas_.end() ? nullptr : &it->second;
}

OpSchema& OpRegistry::at(std::string_view domain, std::string_view op_type) {
  auto it = schemas_.find(std::string(domain) + "::" + std::string(op_type));
  if (it == schemas_.end())
    throw Error(ErrorKind::internal, "no schema to set traits on", std::string(op_type));
  return it->second;
}

std::vector<std::string> OpRegistry::op_names() const {
  std::vector<std::string> names;
  for (const auto& [k, s] : schemas_)
    names.push_back(s.domain.empty() ? s.name : s.domain + "." + s.name);
  return names;
}

}  // namespace edgeco
