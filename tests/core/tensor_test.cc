#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "../test_util.h"
#include "edgeco/core.h"

namespace edgeco {
namespace {

TEST(Half, ConvertsKnownValuesExactly) {
  EXPECT_EQ(float_to_half(1.0f).bits, 0x3c00);
  EXPECT_EQ(float_to_half(-2.0f).bits, 0xc000);
  EXPECT_EQ(float_to_half(65504.0f).bits, 0x7bff);                // largest finite half
  EXPECT_EQ(float_to_half(1e6f).bits, 0x7c00);                    // overflows to +inf
  EXPECT_EQ(float_to_half(5.960464477539063e-08f).bits, 0x0001);  // smallest subnormal
  EXPECT_EQ(half_to_float(Half{0x3555}), 0.333251953125f);
  EXPECT_EQ(half_to_float(Half{0x0001}), 5.960464477539063e-08f);
  EXPECT_TRUE(std::isnan(half_to_float(float_to_half(NAN))));
}

TEST(Half, RoundsToNearestEven) {
  // 1 + 2^-11 lies halfway between 1 and the next half (1 + 2^-10): ties go to even (1.0).
  EXPECT_EQ(float_to_half(1.0f + 0.00048828125f).bits, 0x3c00);
  // 1 + 3 * 2^-11 is halfway between 1 + 2^-10 (odd) and 1 + 2^-9 (even).
  EXPECT_EQ(float_to_half(1.0f + 3 * 0.00048828125f).bits, 0x3c02);
}

TEST(Half, TensorCastAgreesWithTheScalarConversionBitForBit) {
  // Tensor::cast converts whole vectors (F16C where the CPU has it) and the tail one by one: both
  // must round as float_to_half does, ties, subnormals, overflow and signed zero included.
  std::vector<float> values{
      0.0f,    -0.0f, 1.0f + 0.00048828125f,  1.0f + 3 * 0.00048828125f, 65504.0f, 65520.0f,
      1e6f,    -1e6f, 5.960464477539063e-08f, 2.9802322387695312e-08f,   1e-9f,    3.0e-5f,
      -3.0e-5f};
  uint32_t state = 12345;
  for (int i = 0; i < 1000; ++i) {  // random magnitudes from 2^-30 to 2^20, both signs
    state = state * 1664525u + 1013904223u;
    const float unit = float(state >> 8) / float(1u << 24);
    values.push_back((i % 2 ? -1.0f : 1.0f) * std::ldexp(1.0f + unit, int(state % 50) - 30));
  }
  values.resize(values.size() - values.size() % 8 + 5);  // a tail after whole vectors
  const auto n = int64_t(values.size());
  const Tensor halves = Tensor::from_values<float>({n}, values).cast(DType::f16);
  const Tensor back = halves.cast(DType::f32);
  for (size_t i = 0; i < values.size(); ++i) {
    const Half expected = float_to_half(values[i]);
    ASSERT_EQ(halves.data<Half>()[i].bits, expected.bits) << "value " << values[i];
    ASSERT_EQ(back.data<float>()[i], half_to_float(expected)) << "value " << values[i];
  }
}

TEST(Tensor, CastTruncatesFloatsAndSaturatesOutOfRange) {
  const Tensor t = Tensor::from_values<float>({4}, {1.9f, -1.9f, 300.0f, -300.0f});
  EXPECT_EQ(t.cast(DType::i32).to_int64s(), (std::vector<int64_t>{1, -1, 300, -300}));
  EXPECT_EQ(t.cast(DType::i8).to_int64s(), (std::vector<int64_t>{1, -1, 127, -128}));
  EXPECT_EQ(t.cast(DType::boolean).to_int64s(), (std::vector<int64_t>{1, 1, 1, 1}));
}

TEST(Tensor, ReshapeSharesStorageAndChecksCount) {
  Tensor t = Tensor::from_values<int32_t>({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor r = t.reshaped({3, 2});
  r.data<int32_t>()[0] = 42;
  EXPECT_EQ(t.data<int32_t>()[0], 42);
  const Error e = testing::capture_error([&] { t.reshaped({4, 2}); });
  EXPECT_EQ(e.kind(), ErrorKind::invalid_argument);
  EXPECT_NE(std::string(e.what()).find("[2, 3]"), std::string::npos);
}

TEST(Tensor, PermutedTransposesAnyElementType) {
  const Tensor t = Tensor::from_values<int16_t>({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor p = t.permuted(std::vector<int64_t>{1, 0});
  EXPECT_EQ(p.dims(), (Dims{3, 2}));
  EXPECT_EQ(p.to_int64s(), (std::vector<int64_t>{1, 4, 2, 5, 3, 6}));
  // NCHW [1, 2, 1, 2] -> NHWC [1, 1, 2, 2]: channels become the fastest axis.
  const Tensor nchw = Tensor::from_values<float>({1, 2, 1, 2}, {1, 2, 10, 20});
  EXPECT_EQ(nchw.permuted(std::vector<int64_t>{0, 2, 3, 1}).to_doubles(),
            (std::vector<double>{1, 10, 2, 20}));
  EXPECT_THROW(t.permuted(std::vector<int64_t>{0}), Error);
}

TEST(Tensor, WrongElementTypeAccessIsAnError) {
  Tensor t(DType::f32, {2});
  EXPECT_THROW(t.data<int32_t>(), Error);
}

TEST(Tensor, OverflowingShapeIsAnOutOfMemoryError) {
  const Error e = testing::capture_error([] {
    Tensor(DType::f32, {int64_t(1) << 40, int64_t(1) << 40});
  });
  EXPECT_EQ(e.kind(), ErrorKind::out_of_memory);
}

TEST(Tensor, TensorOverTheMemoryLimitIsRefused) {
  setenv("EDGECO_MAX_TENSOR_BYTES", "1000", 1);
  const Error e = testing::capture_error([] { Tensor(DType::f32, {251}); });
  unsetenv("EDGECO_MAX_TENSOR_BYTES");
  EXPECT_EQ(e.kind(), ErrorKind::out_of_memory);
  EXPECT_NE(std::string(e.what()).find("[251]"), std::string::npos);
  EXPECT_NO_THROW(Tensor(DType::f32, {251}));
}

TEST(Tensor, StorageIsCountedWhileAliveAndPeakIsKept) {
  reset_tensor_memory_peak();
  const size_t before = tensor_memory().live_bytes;
  {
    const Tensor a(DType::f32, {1 << 18});       // 1 MiB
    const Tensor view = a.reshaped({512, 512});  // shares the storage: not counted again
    EXPECT_EQ(tensor_memory().live_bytes - before, size_t{1} << 20);
    const Tensor b = Tensor::uninitialized(DType::u8, {1 << 20});
    EXPECT_EQ(tensor_memory().live_bytes - before, size_t{2} << 20);
  }
  EXPECT_EQ(tensor_memory().live_bytes, before);
  EXPECT_EQ(tensor_memory().peak_bytes - before, size_t{2} << 20);
  reset_tensor_memory_peak();
  EXPECT_EQ(tensor_memory().peak_bytes, before);
}

TEST(Error, WithinPrefixesTheOuterLocation) {
  const Error inner(ErrorKind::invalid_model, "bad", "node 'a' (Conv)");
  const Error outer = inner.within("model.onnx");
  EXPECT_EQ(std::string(outer.what()), "model.onnx: node 'a' (Conv): bad");
  EXPECT_EQ(outer.kind(), ErrorKind::invalid_model);
}

TEST(DType, OnnxCodesRoundTrip) {
  for (DType d : {DType::f32, DType::f16, DType::f64, DType::i8, DType::u8, DType::i16, DType::u16,
                  DType::i32, DType::u32, DType::i64, DType::u64, DType::boolean})
    EXPECT_EQ(dtype_from_code(dtype_code(d)), d);
  EXPECT_EQ(dtype_code(DType::f32), 1);
  EXPECT_EQ(dtype_code(DType::i64), 7);
  EXPECT_FALSE(dtype_from_code(8).has_value());  // string
}

}  // namespace
}  // namespace edgeco
