#include <cstring>
#include <fstream>
#include <sstream>

#include "edgeco/data.h"

namespace edgeco {
namespace {

constexpr char kMagic[] = "\x93NUMPY";

std::string_view descr_of(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return "<f4";
    case DType::f16:
      return "<f2";
    case DType::f64:
      return "<f8";
    case DType::i8:
      return "|i1";
    case DType::u8:
      return "|u1";
    case DType::i16:
      return "<i2";
    case DType::u16:
      return "<u2";
    case DType::i32:
      return "<i4";
    case DType::u32:
      return "<u4";
    case DType::i64:
      return "<i8";
    case DType::u64:
      return "<u8";
    case DType::boolean:
      return "|b1";
  }
  return "";
}

// A tiny parser for the header dict, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3),
// }
class HeaderParser {
 public:
  HeaderParser(std::string_view text, std::string where) : text_(text), where_(std::move(where)) {}

  void parse(std::string& descr, bool& fortran, Dims& shape) {
    bool has_descr = false, has_order = false, has_shape = false;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = quoted();
      expect(':');
      if (key == "descr")
        descr = quoted(), has_descr = true;
      else if (key == "fortran_order")
        fortran = boolean(), has_order = true;
      else if (key == "shape")
        shape = tuple(), has_shape = true;
      else
        fail("unknown header key '" + key + "'");
      skip_space();
      if (peek() == ',') ++pos_;
    }
    if (!has_descr || !has_order || !has_shape) fail("header lacks descr, fortran_order or shape");
  }

 private:
  [[noreturn]] void fail(const std::string& message) const {
    throw Error(ErrorKind::invalid_argument,
                "bad .npy header: " + message + " (at byte " + std::to_string(pos_) + ")", where_);
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n')) ++pos_;
  }
  char peek() {
    if (pos_ >= text_.size()) fail("unexpected end");
    return text_[pos_];
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  std::string quoted() {
    skip_space();
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a string");
    const size_t end = text_.find(q, pos_ + 1);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string s(text_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return s;
  }
  bool boolean() {
    skip_space();
    if (text_.substr(pos_, 4) == "True") return pos_ += 4, true;
    if (text_.substr(pos_, 5) == "False") return pos_ += 5, false;
    fail("expected True or False");
  }
  Dims tuple() {
    expect('(');
    Dims dims;
    while (true) {
      skip_space();
      if (peek() == ')') break;
      int64_t v = 0;
      size_t digits = 0;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
        if (v > (INT64_MAX - 9) / 10) fail("dimension too large");
        v = v * 10 + (text_[pos_++] - '0');
        ++digits;
      }
      if (!digits) fail("expected a non-negative dimension");
      dims.push_back(v);
      skip_space();
      if (peek() == ',')
        ++pos_;
      else if (peek() != ')')
        fail("expected ',' or ')'");
    }
    ++pos_;
    return dims;
  }

  std::string_view text_;
  std::string where_;
  size_t pos_ = 0;
};

}  // namespace

Tensor parse_npy(std::span<const std::byte> bytes, std::string_view source) {
  const std::string where(source);
  auto bad = [&](const std::string& m) { return Error(ErrorKind::invalid_argument, m, where); };
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic, 6) != 0)
    throw bad("not a .npy file (bad magic)");
  const auto major = static_cast<uint8_t>(bytes[6]);
  size_t header_len, offset;
  if (major == 1) {
    header_len = size_t(uint8_t(bytes[8])) | size_t(uint8_t(bytes[9])) << 8;
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw bad("truncated .npy header");
    header_len = 0;
    for (int i = 0; i < 4; ++i) header_len |= size_t(uint8_t(bytes[8 + size_t(i)])) << (8 * i);
    offset = 12;
  } else {
    throw bad(".npy format version " + std::to_string(major) + " is not supported");
  }
  if (header_len > bytes.size() - offset) throw bad("truncated .npy header");
  const std::string_view header(reinterpret_cast<const char*>(bytes.data()) + offset, header_len);
  std::string descr;
  bool fortran = false;
  Dims shape;
  HeaderParser(header, where).parse(descr, fortran, shape);
  if (fortran)
    throw Error(ErrorKind::unsupported, "Fortran-ordered arrays are not supported", where);
  std::optional<DType> dtype;
  for (DType d : {DType::f32, DType::f16, DType::f64, DType::i8, DType::u8, DType::i16, DType::u16,
                  DType::i32, DType::u32, DType::i64, DType::u64, DType::boolean}) {
    const std::string_view want = descr_of(d);
    // '<' and '=' (native, little-endian here) are equivalent; '|' marks single bytes.
    if (descr == want ||
        (descr.size() == 3 && descr[0] == '=' && want[0] == '<' &&
         descr.substr(1) == want.substr(1)) ||
        (descr.size() == 3 && descr[0] == '<' && want[0] == '|' &&
         descr.substr(1) == want.substr(1)))
      dtype = d;
  }
  if (!dtype)
    throw Error(ErrorKind::unsupported, "array type '" + descr + "' is not supported", where);
  Tensor t;
  try {
    t = Tensor(*dtype, shape);
  } catch (const Error& e) {
    throw e.within(where);
  }
  const size_t data_offset = offset + header_len;
  if (bytes.size() - data_offset != t.nbytes())
    throw bad("data has " + std::to_string(bytes.size() - data_offset) + " bytes, shape " +
              dims_to_string(shape) + " of " + std::string(to_string(*dtype)) + " needs " +
              std::to_string(t.nbytes()));
  if (t.nbytes()) std::memcpy(t.bytes().data(), bytes.data() + data_offset, t.nbytes());
  return t;
}

Tensor load_npy(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::io, "cannot open file", path.string());
  std::ostringstream buffer;
  buffer << in.rdbuf();
  const std::string bytes = std::move(buffer).str();
  return parse_npy(std::as_bytes(std::span(bytes)), path.string());
}

std::string serialize_npy(const Tensor& tensor) {
  std::string shape = "(";
  for (size_t i = 0; i < tensor.rank(); ++i)
    shape += std::to_string(tensor.dim(i)) + (tensor.rank() == 1      ? ","
                                              : i + 1 < tensor.rank() ? ", "
                                                                      : "");
  shape += ")";
  std::string header = "{'descr': '" + std::string(descr_of(tensor.dtype())) +
                       "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad so the data starts at a multiple of 64 bytes, ending the header with a newline.
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out(kMagic, 6);
  out += '\x01';
  out += '\x00';
  out += char(header.size() & 0xff);
  out += char(header.size() >> 8);
  out += header;
  const auto data = tensor.bytes();
  out.append(reinterpret_cast<const char*>(data.data()), data.size());
  return out;
}

void save_npy(const Tensor& tensor, const std::filesystem::path& path) {
  const std::string bytes = serialize_npy(tensor);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(ErrorKind::io, "cannot write file", path.string());
  out.write(bytes.data(), std::streamsize(bytes.size()));
  if (!out) throw Error(ErrorKind::io, "write failed", path.string());
}

}  // namespace edgeco
