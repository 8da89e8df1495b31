#include <gtest/gtest.h>

#include "../test_util.h"
#include "edgeco/data.h"

namespace edgeco {
namespace {

std::string npy(const std::string& header, const std::string& data) {
  std::string h = header;
  while ((10 + h.size() + 1) % 64) h += ' ';
  h += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += char(h.size() & 0xff);
  out += char(h.size() >> 8);
  return out + h + data;
}

Tensor parse(const std::string& bytes) {
  return parse_npy(std::as_bytes(std::span(bytes)), "t.npy");
}

TEST(Npy, ReadsWhatNumpyWrites) {
  // numpy.save of np.array([[1, -2, 3]], dtype=np.int16)
  const std::string data("\x01\x00\xfe\xff\x03\x00", 6);
  const Tensor t = parse(npy("{'descr': '<i2', 'fortran_order': False, 'shape': (1, 3), }", data));
  EXPECT_EQ(t.dtype(), DType::i16);
  EXPECT_EQ(t.dims(), (Dims{1, 3}));
  EXPECT_EQ(t.to_int64s(), (std::vector<int64_t>{1, -2, 3}));
  const Tensor scalar =
      parse(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", std::string(8, '\0')));
  EXPECT_EQ(scalar.rank(), 0u);
}

TEST(Npy, RoundTripsEveryElementType) {
  for (DType d : {DType::f32, DType::f16, DType::f64, DType::i8, DType::u8, DType::i32, DType::i64,
                  DType::boolean}) {
    const Tensor t = testing::arange({2, 3}).cast(d);
    const std::string bytes = serialize_npy(t);
    EXPECT_EQ(bytes.size() % 64, t.nbytes() % 64) << "header not padded to 64 bytes";
    const Tensor back = parse(bytes);
    EXPECT_EQ(back.dtype(), d);
    EXPECT_EQ(back.dims(), t.dims());
    EXPECT_EQ(back.to_doubles(), t.to_doubles());
  }
}

struct BadCase {
  std::string name, bytes, message;
};

TEST(Npy, BadFilesGiveClearErrors) {
  const std::vector<BadCase> cases = {
      {"not npy", "hello world", "bad magic"},
      {"truncated header", std::string("\x93NUMPY\x01\x00\xff\x00{", 11), "truncated"},
      {"unknown dtype",
       npy("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", std::string(8, '\0')),
       "'<c8'"},
      {"fortran order",
       npy("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", std::string(4, '\0')),
       "Fortran"},
      {"short data",
       npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", std::string(12, '\0')),
       "needs 16"},
      {"negative dim", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", ""),
       "non-negative"},
      {"missing shape", npy("{'descr': '<f4', 'fortran_order': False, }", ""), "lacks"},
      {"huge shape", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999,), }", ""),
       "GB"},
      {"version 9", std::string("\x93NUMPY\x09\x00\x00\x00", 10), "version 9"},
  };
  for (const auto& c : cases) {
    try {
      parse(c.bytes);
      ADD_FAILURE() << c.name << ": no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos)
          << c.name << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find("t.npy"), std::string::npos) << c.name;
    }
  }
}

}  // namespace
}  // namespace edgeco
