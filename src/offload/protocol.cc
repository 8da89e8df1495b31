// Tensors as the Open Inference Protocol carries them: REST JSON ("data" flat or nested,
// row-major) and gRPC raw bytes. Everything here reads what a hostile peer sends: sizes are
// checked before anything is allocated, nesting is bounded, and every error says what and where.
#include <cstring>
#include <nlohmann/json.hpp>

#include "edgeco/offload.h"

namespace edgeco::offload {

namespace {

using nlohmann::json;

constexpr int kMaxRank = 16;

struct DatatypeName {
  DType dtype;
  std::string_view name;
};
constexpr DatatypeName kDatatypes[] = {
    {DType::boolean, "BOOL"}, {DType::u8, "UINT8"}, {DType::u16, "UINT16"}, {DType::u32, "UINT32"},
    {DType::u64, "UINT64"},   {DType::i8, "INT8"},  {DType::i16, "INT16"},  {DType::i32, "INT32"},
    {DType::i64, "INT64"},    {DType::f16, "FP16"}, {DType::f32, "FP32"},   {DType::f64, "FP64"},
};

[[noreturn]] void bad(const std::string& message, const std::string& where) {
  throw Error(ErrorKind::invalid_argument, message, where);
}

int64_t element_count(const Dims& shape, int64_t max_elements, const std::string& where) {
  if (shape.size() > size_t(kMaxRank)) bad("more than 16 dimensions", where);
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) bad("a negative dimension", where);
    if (d > 0 && n > max_elements / d)
      bad("more than " + std::to_string(max_elements) + " elements", where);
    n *= d;
  }
  return n;
}

// Appends the numbers of `data` (flat or nested arrays) in row-major order.
void flatten(const json& data, std::vector<const json*>& out, int depth, int64_t limit,
             const std::string& where) {
  if (depth > kMaxRank) bad("\"data\" is nested deeper than any tensor", where);
  if (!data.is_array()) {
    if (int64_t(out.size()) >= limit) bad("\"data\" has more values than \"shape\" holds", where);
    out.push_back(&data);
    return;
  }
  for (const json& item : data) flatten(item, out, depth + 1, limit, where);
}

template <class T>
void fill(Tensor& t, const std::vector<const json*>& values, const std::string& where) {
  auto out = t.data<T>();
  for (size_t i = 0; i < values.size(); ++i) {
    const json& v = *values[i];
    if constexpr (std::is_same_v<T, bool>) {
      if (!v.is_boolean()) bad("value " + std::to_string(i) + " is not a boolean", where);
      out[i] = v.get<bool>();
    } else {
      if (!v.is_number()) bad("value " + std::to_string(i) + " is not a number", where);
      if constexpr (std::is_integral_v<T>) {
        if (!v.is_number_integer()) bad("value " + std::to_string(i) + " is not an integer", where);
        if constexpr (std::is_signed_v<T>) {
          const auto x = v.get<int64_t>();
          if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX))
            bad("value " + std::to_string(i) + " is out of range", where);
          if (x < int64_t(std::numeric_limits<T>::min()) ||
              x > int64_t(std::numeric_limits<T>::max()))
            bad("value " + std::to_string(i) + " is out of range", where);
          out[i] = T(x);
        } else {
          if (!v.is_number_unsigned() ||
              v.get<uint64_t>() > uint64_t(std::numeric_limits<T>::max()))
            bad("value " + std::to_string(i) + " is out of range", where);
          out[i] = T(v.get<uint64_t>());
        }
      } else {
        out[i] = T(v.get<double>());
      }
    }
  }
}

// Each element as its own type; f16 (no JSON form in the protocol) as f32.
json data_of(const Tensor& t) {
  json data = json::array();
  visit_dtype(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, Half>) {
      const Tensor wide = t.cast(DType::f32);  // kept alive for the loop over its span
      for (float v : wide.data<float>()) data.push_back(v);
    } else {
      for (T v : t.data<T>()) data.push_back(v);
    }
  });
  return data;
}

}  // namespace

std::string_view protocol_datatype(DType dtype) {
  for (const DatatypeName& d : kDatatypes)
    if (d.dtype == dtype) return d.name;
  throw Error(ErrorKind::unsupported, "no protocol datatype for " + std::string(to_string(dtype)));
}

DType parse_protocol_datatype(std::string_view name) {
  for (const DatatypeName& d : kDatatypes)
    if (d.name == name) return d.dtype;
  throw Error(ErrorKind::invalid_argument,
              "unknown datatype '" + std::string(name) +
                  "' (BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, FP64; BYTES is not served)");
}

InferRequest parse_rest_request(std::string_view body, int64_t max_elements) {
  json doc = json::parse(body.begin(), body.end(), nullptr, false);
  if (doc.is_discarded()) bad("the body is not JSON", "request");
  if (!doc.is_object()) bad("the body is not a JSON object", "request");
  InferRequest request;
  if (doc.contains("id")) {
    if (!doc["id"].is_string()) bad("\"id\" is not a string", "request");
    request.id = doc["id"].get<std::string>();
  }
  if (!doc.contains("inputs") || !doc["inputs"].is_array() || doc["inputs"].empty())
    bad("\"inputs\" must be a non-empty array", "request");
  int64_t budget = max_elements;
  for (size_t k = 0; k < doc["inputs"].size(); ++k) {
    const json& in = doc["inputs"][k];
    std::string where = "inputs[" + std::to_string(k) + "]";
    if (!in.is_object()) bad("not an object", where);
    if (!in.contains("name") || !in["name"].is_string()) bad("\"name\" must be a string", where);
    const std::string name = in["name"].get<std::string>();
    where += " ('" + name + "')";
    if (request.inputs.count(name) != 0) bad("given twice", where);
    if (!in.contains("datatype") || !in["datatype"].is_string())
      bad("\"datatype\" must be a string", where);
    const DType dtype = parse_protocol_datatype(in["datatype"].get<std::string>());
    if (dtype == DType::f16) bad("FP16 travels only as raw bytes (gRPC)", where);
    if (!in.contains("shape") || !in["shape"].is_array()) bad("\"shape\" must be an array", where);
    Dims shape;
    for (const json& d : in["shape"]) {
      if (!d.is_number_integer()) bad("\"shape\" holds a non-integer", where);
      shape.push_back(d.get<int64_t>());
      if (shape.size() > size_t(kMaxRank)) bad("more than 16 dimensions", where);
    }
    const int64_t n = element_count(shape, budget, where);
    budget -= n;
    if (!in.contains("data")) bad("\"data\" is missing", where);
    std::vector<const json*> values;
    flatten(in["data"], values, 0, n, where);
    if (int64_t(values.size()) != n)
      bad("\"data\" has " + std::to_string(values.size()) + " values, \"shape\" holds " +
              std::to_string(n),
          where);
    Tensor t(dtype, shape);
    // FP16 was refused above: JSON carries it only as raw bytes.
    visit_dtype(dtype, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (!std::is_same_v<T, Half>) fill<T>(t, values, where);
    });
    request.inputs.emplace(name, std::move(t));
  }
  if (doc.contains("outputs")) {
    if (!doc["outputs"].is_array()) bad("\"outputs\" must be an array", "request");
    for (const json& o : doc["outputs"]) {
      if (!o.is_object() || !o.contains("name") || !o["name"].is_string())
        bad("each of \"outputs\" needs a \"name\"", "request");
      request.outputs.push_back(o["name"].get<std::string>());
    }
  }
  return request;
}

std::string rest_response(std::string_view model, const std::string& id, const TensorMap& outputs) {
  json doc;
  doc["model_name"] = std::string(model);
  doc["model_version"] = "1";
  if (!id.empty()) doc["id"] = id;
  doc["outputs"] = json::array();
  for (const auto& [name, t] : outputs) {
    json o;
    o["name"] = name;
    o["datatype"] = t.dtype() == DType::f16 ? "FP32" : std::string(protocol_datatype(t.dtype()));
    o["shape"] = t.dims();
    o["data"] = data_of(t);
    doc["outputs"].push_back(std::move(o));
  }
  return doc.dump();
}

Tensor tensor_from_raw(DType dtype, const Dims& shape, std::string_view raw, int64_t max_elements) {
  const int64_t n = element_count(shape, max_elements, "raw tensor");
  if (dtype == DType::boolean && raw.size() == size_t(n)) {
    Tensor t(dtype, shape);
    for (int64_t i = 0; i < n; ++i) t.data<bool>()[size_t(i)] = raw[size_t(i)] != 0;
    return t;
  }
  if (raw.size() != size_t(n) * dtype_size(dtype))
    bad(std::to_string(raw.size()) + " bytes for " + std::to_string(n) + " " +
            std::string(to_string(dtype)) + " values",
        "raw tensor");
  Tensor t = Tensor::uninitialized(dtype, shape);
  if (!raw.empty()) std::memcpy(t.bytes().data(), raw.data(), raw.size());
  return t;
}

}  // namespace edgeco::offload
