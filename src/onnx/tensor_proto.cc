#include <cstring>
#include <fstream>
#include <sstream>

#include "edgeco/onnx.h"
#include "proto_convert.h"

namespace edgeco {
namespace onnx_proto {
namespace {

// Copies typed repeated fields into the tensor, checking the element count.
template <class T, class Field>
void copy_field(const Field& field, Tensor& t, const std::string& where) {
  if (static_cast<int64_t>(field.size()) != t.numel())
    throw Error(
        ErrorKind::invalid_model,
        "holds " + std::to_string(field.size()) + " values for shape " + dims_to_string(t.dims()),
        where);
  auto out = t.data<T>();
  for (int i = 0; i < field.size(); ++i) {
    if constexpr (std::is_same_v<T, Half>)
      out[size_t(i)] = Half{static_cast<uint16_t>(field.Get(i))};
    else
      out[size_t(i)] = static_cast<T>(field.Get(i));
  }
}

std::string read_external(const ::onnx::TensorProto& proto, const std::filesystem::path& base_dir,
                          const std::string& where, size_t expected) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& entry : proto.external_data()) {
    try {
      if (entry.key() == "location")
        location = entry.value();
      else if (entry.key() == "offset")
        offset = std::stoll(entry.value());
      else if (entry.key() == "length")
        length = std::stoll(entry.value());
    } catch (const std::exception&) {
      throw Error(ErrorKind::invalid_model,
                  "external data field '" + entry.key() + "' is not a number", where);
    }
  }
  if (location.empty())
    throw Error(ErrorKind::invalid_model, "external data has no location", where);
  if (base_dir.empty())
    throw Error(ErrorKind::invalid_model,
                "external data '" + location + "' needs the model's directory", where);
  // The location is relative to the model and may not escape its directory.
  const std::filesystem::path rel(location);
  if (rel.is_absolute() || location.find("..") != std::string::npos)
    throw Error(ErrorKind::invalid_model,
                "external data location '" + location + "' leaves the model's directory", where);
  if (offset < 0 || (length >= 0 && size_t(length) != expected))
    throw Error(ErrorKind::invalid_model,
                "external data offset/length do not match the tensor's " +
                    std::to_string(expected) + " bytes",
                where);
  const auto path = base_dir / rel;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::io, "cannot open external data file " + path.string(), where);
  in.seekg(0, std::ios::end);
  const auto size = static_cast<int64_t>(in.tellg());
  if (offset + int64_t(expected) > size)
    throw Error(ErrorKind::invalid_model,
                "external data file " + path.string() + " has " + std::to_string(size) +
                    " bytes, needs " + std::to_string(offset + int64_t(expected)),
                where);
  std::string bytes(expected, '\0');
  in.seekg(offset);
  in.read(bytes.data(), std::streamsize(expected));
  return bytes;
}

}  // namespace

Tensor to_tensor(const ::onnx::TensorProto& proto, const std::filesystem::path& base_dir,
                 const std::string& where) {
  const auto dtype = dtype_from_code(proto.data_type());
  if (!dtype)
    throw Error(ErrorKind::unsupported,
                "element type code " + std::to_string(proto.data_type()) + " is not supported",
                where);
  if (proto.has_segment())
    throw Error(ErrorKind::unsupported, "segmented tensors are not supported", where);
  Dims dims(proto.dims().begin(), proto.dims().end());
  for (int64_t d : dims)
    if (d < 0)
      throw Error(ErrorKind::invalid_model, "negative dimension in " + dims_to_string(dims), where);
  Tensor t;
  try {
    t = Tensor(*dtype, dims);
  } catch (const Error& e) {
    throw e.within(where);
  }
  const size_t nbytes = t.nbytes();
  const bool external = proto.data_location() == ::onnx::TensorProto::EXTERNAL;
  if (external || proto.has_raw_data()) {
    const std::string bytes =
        external ? read_external(proto, base_dir, where, nbytes) : proto.raw_data();
    if (bytes.size() != nbytes)
      throw Error(ErrorKind::invalid_model,
                  "raw data has " + std::to_string(bytes.size()) + " bytes, shape " +
                      dims_to_string(dims) + " of " + std::string(to_string(*dtype)) + " needs " +
                      std::to_string(nbytes),
                  where);
    if (nbytes)
      std::memcpy(t.bytes().data(), bytes.data(),
                  nbytes);  // ONNX raw data is little-endian, as is the host
    return t;
  }
  switch (*dtype) {
    case DType::f32:
      copy_field<float>(proto.float_data(), t, where);
      break;
    case DType::f64:
      copy_field<double>(proto.double_data(), t, where);
      break;
    case DType::i64:
      copy_field<int64_t>(proto.int64_data(), t, where);
      break;
    case DType::u32:
      copy_field<uint32_t>(proto.uint64_data(), t, where);
      break;
    case DType::u64:
      copy_field<uint64_t>(proto.uint64_data(), t, where);
      break;
    case DType::i32:
      copy_field<int32_t>(proto.int32_data(), t, where);
      break;
    case DType::i16:
      copy_field<int16_t>(proto.int32_data(), t, where);
      break;
    case DType::u16:
      copy_field<uint16_t>(proto.int32_data(), t, where);
      break;
    case DType::i8:
      copy_field<int8_t>(proto.int32_data(), t, where);
      break;
    case DType::u8:
      copy_field<uint8_t>(proto.int32_data(), t, where);
      break;
    case DType::boolean:
      copy_field<bool>(proto.int32_data(), t, where);
      break;
    case DType::f16:
      copy_field<Half>(proto.int32_data(), t, where);
      break;
  }
  return t;
}

void from_tensor(const Tensor& tensor, const std::string& name, ::onnx::TensorProto& proto) {
  proto.set_name(name);
  proto.set_data_type(static_cast<int32_t>(dtype_code(tensor.dtype())));
  for (int64_t d : tensor.dims()) proto.add_dims(d);
  const auto bytes = tensor.bytes();
  proto.set_raw_data(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::io, "cannot open file", path.string());
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return std::move(buffer).str();
}

}  // namespace onnx_proto

NamedTensor parse_tensor_proto(std::span<const std::byte> bytes, std::string_view source) {
  ::onnx::TensorProto proto;
  if (bytes.size() > size_t(INT32_MAX) || !proto.ParseFromArray(bytes.data(), int(bytes.size())))
    throw Error(ErrorKind::invalid_argument, "not a valid ONNX TensorProto", std::string(source));
  return {proto.name(), onnx_proto::to_tensor(proto, {}, std::string(source))};
}

NamedTensor load_tensor_proto(const std::filesystem::path& path) {
  const std::string bytes = onnx_proto::read_file(path);
  return parse_tensor_proto(std::as_bytes(std::span(bytes)), path.string());
}

std::string serialize_tensor_proto(const Tensor& tensor, std::string_view name) {
  ::onnx::TensorProto proto;
  onnx_proto::from_tensor(tensor, std::string(name), proto);
  return proto.SerializeAsString();
}

}  // namespace edgeco
