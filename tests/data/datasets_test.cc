// Data set readers on files the tests write in each format's exact layout (gzip'd IDX, CIFAR-100
// binary records, UCI HAR text files), and on the real Fashion-MNIST test set Debian ships.
#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>
#include <map>

#include "../test_util.h"
#include "edgeco/data.h"

namespace edgeco {
namespace {

namespace fs = std::filesystem;

fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("edgeco_data_test_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string idx(uint8_t rank, std::vector<uint32_t> dims, const std::string& data) {
  std::string out{'\0', '\0', '\x08', char(rank)};
  for (uint32_t d : dims)
    for (int shift : {24, 16, 8, 0}) out += char((d >> shift) & 0xff);
  return out + data;
}

void write_gzip(const fs::path& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
  gzclose(f);
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

TEST(Idx, ReadsGzipAndPlainFilesAlike) {
  const fs::path dir = scratch("idx");
  const std::string file =
      idx(3, {2, 2, 3}, std::string("\x00\x01\x02\x03\x04\x05\xff\xfe\xfd\xfc\xfb\xfa", 12));
  write_gzip(dir / "a.gz", file);
  write_file(dir / "a", file);
  for (const char* name : {"a.gz", "a"}) {
    const Tensor t = load_idx(dir / name);
    EXPECT_EQ(t.dims(), (Dims{2, 2, 3}));
    EXPECT_EQ(t.to_int64s(),
              (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 255, 254, 253, 252, 251, 250}));
  }
}

TEST(Idx, MalformedFilesAreErrorsThatSayWhere) {
  auto error_of = [](const std::string& bytes) {
    return std::string(testing::capture_error([&] {
                         parse_idx(std::as_bytes(std::span(bytes)), "f.idx");
                       }).what());
  };
  EXPECT_NE(error_of(std::string("\x01\x00\x08\x01", 4)).find("f.idx at byte 0"),
            std::string::npos);
  EXPECT_NE(error_of(idx(1, {5}, "abc")).find("holds 3"), std::string::npos);  // truncated data
  EXPECT_NE(error_of(std::string("\x00\x00\x0d\x01\x00\x00\x00\x01", 8) + "abcd").find("0x"),
            std::string::npos);  // float IDX: unsupported
  EXPECT_NE(error_of(std::string("\x00\x00\x08\x02\x00\x00", 6)).find("truncated"),
            std::string::npos);
  const fs::path dir = scratch("idx_bad_gzip");
  write_file(dir / "x.gz", std::string("\x1f\x8b\x08\x00garbage-not-deflate", 24));
  EXPECT_THROW(load_idx(dir / "x.gz"), Error);
  EXPECT_THROW(load_idx(dir / "missing.gz"), Error);
}

TEST(FashionMnist, PairsImagesAndLabelsAndScalesPixels) {
  const fs::path dir = scratch("fmnist");
  write_gzip(dir / "t10k-images-idx3-ubyte.gz",
             idx(3, {2, 2, 2}, std::string("\x00\xff\x33\x66\x99\xcc\x01\x02", 8)));
  write_gzip(dir / "t10k-labels-idx1-ubyte.gz", idx(1, {2}, std::string("\x09\x00", 2)));
  const Dataset d = load_fashion_mnist(dir, "test");
  EXPECT_EQ(d.samples.dims(), (Dims{2, 1, 2, 2}));
  EXPECT_EQ(d.labels.to_int64s(), (std::vector<int64_t>{9, 0}));
  EXPECT_EQ(d.classes[9], "Ankle boot");
  testing::expect_near(d.samples, {2, 1, 2, 2}, {0, 1, 0.2, 0.4, 0.6, 0.8, 1 / 255.0, 2 / 255.0},
                       1e-6);
  EXPECT_THROW(load_fashion_mnist(dir, "train"), Error);  // no train files here
  EXPECT_THROW(load_fashion_mnist(dir, "validation"), Error);
  write_gzip(dir / "t10k-labels-idx1-ubyte.gz", idx(1, {3}, std::string("\x01\x02\x03", 3)));
  EXPECT_THROW(load_fashion_mnist(dir, "test"), Error);  // 2 images, 3 labels
}

TEST(FashionMnist, RealTestSetHasTenThousandBalancedImages) {
  if (!fs::exists(kFashionMnistDir / "t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed (scripts/install-deps.sh installs it)";
  const Dataset d = load_fashion_mnist(kFashionMnistDir, "test");
  EXPECT_EQ(d.samples.dims(), (Dims{10000, 1, 28, 28}));
  std::map<int64_t, int> per_class;
  for (int64_t v : d.labels.to_int64s()) ++per_class[v];
  ASSERT_EQ(per_class.size(), 10u);
  for (const auto& [label, count] : per_class) EXPECT_EQ(count, 1000) << "class " << label;
  EXPECT_EQ(d.labels.to_int64s()[0], 9);  // the first test image is an ankle boot
  const double mean = channel_means(d.samples)[0];
  EXPECT_NEAR(mean, 0.2868, 0.001);  // Fashion-MNIST's published test-set mean pixel
}

TEST(Cifar100, ReadsFineOrCoarseLabelsAndPlanarPixels) {
  const fs::path dir = scratch("cifar");
  std::string bytes;
  for (int record = 0; record < 3; ++record) {
    bytes += char(record + 1);                                              // coarse
    bytes += char(record + 50);                                             // fine
    for (int k = 0; k < 3072; ++k) bytes += char(k / 1024 == 1 ? 255 : 0);  // green plane
  }
  write_file(dir / "test.bin", bytes);
  const Dataset fine = load_cifar100(dir / "test.bin");
  EXPECT_EQ(fine.samples.dims(), (Dims{3, 3, 32, 32}));
  EXPECT_EQ(fine.labels.to_int64s(), (std::vector<int64_t>{50, 51, 52}));
  EXPECT_EQ(load_cifar100(dir / "test.bin", false).labels.to_int64s(),
            (std::vector<int64_t>{1, 2, 3}));
  const auto means = channel_means(fine.samples);  // green plane 255, red and blue 0
  EXPECT_NEAR(means[0], 0.0, 1e-9);
  EXPECT_NEAR(means[1], 1.0, 1e-9);
  EXPECT_NEAR(means[2], 0.0, 1e-9);
  write_file(dir / "bad.bin", bytes.substr(0, 5000));
  EXPECT_NE(std::string(testing::capture_error([&] { load_cifar100(dir / "bad.bin"); }).what())
                .find("not a whole number"),
            std::string::npos);
}

TEST(UciHar, ReadsNineSignalsPerWindowAndShiftsLabels) {
  const fs::path dir = scratch("har");
  fs::create_directories(dir / "test" / "Inertial Signals");
  write_file(dir / "test" / "y_test.txt", "5\n1\n");
  const char* signals[] = {"body_acc_x",  "body_acc_y",  "body_acc_z",
                           "body_gyro_x", "body_gyro_y", "body_gyro_z",
                           "total_acc_x", "total_acc_y", "total_acc_z"};
  for (int c = 0; c < 9; ++c) {
    std::string text;
    for (int window = 0; window < 2; ++window) {
      for (int t = 0; t < 128; ++t)
        text += "  " + std::to_string(c * 1000 + window * 200 + t) + "e-3";
      text += "\n";
    }
    write_file(dir / "test" / "Inertial Signals" / (std::string(signals[c]) + "_test.txt"), text);
  }
  const Dataset d = load_uci_har(dir, "test");
  EXPECT_EQ(d.samples.dims(), (Dims{2, 9, 128}));
  EXPECT_EQ(d.labels.to_int64s(), (std::vector<int64_t>{4, 0}));
  const auto v = d.samples.to_doubles();
  EXPECT_NEAR(v[(1 * 9 + 3) * 128 + 7], (3000 + 200 + 7) * 1e-3, 1e-4);  // window 1, gyro x, t 7
  write_file(dir / "test" / "y_test.txt", "5\n9\n");
  EXPECT_NE(std::string(testing::capture_error([&] { load_uci_har(dir, "test"); }).what())
                .find("y_test.txt line 2"),
            std::string::npos);
  write_file(dir / "test" / "y_test.txt", "5\n1\n");
  write_file(dir / "test" / "Inertial Signals" / "body_acc_y_test.txt", "1 2 3\n4 5 6\n");
  EXPECT_NE(std::string(testing::capture_error([&] { load_uci_har(dir, "test"); }).what())
                .find("has 3 values, expected 128"),
            std::string::npos);
}

TEST(Preprocessing, NormalizeResizeShuffleAndBatch) {
  Dataset d;
  d.name = "toy";
  d.samples = Tensor::from_values<float>({2, 1, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  d.labels = Tensor::from_values<int64_t>({2}, {3, 7});
  const float mean[] = {2}, sd[] = {4};
  normalize(d, mean, sd);
  testing::expect_near(d.samples, {2, 1, 2, 2}, {-0.5, -0.25, 0, 0.25, 0.5, 0.75, 1, 1.25});
  EXPECT_THROW(normalize(d, mean, std::vector<float>{0}), Error);
  // 2x2 -> 4x4, half-pixel centres: corners keep their values, the rest interpolate.
  const Tensor up = resize_bilinear(Tensor::from_values<float>({1, 1, 2, 2}, {0, 1, 2, 3}), 4, 4);
  testing::expect_near(
      up, {1, 1, 4, 4},
      {0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3});
  const auto order = shuffled_indices(10, 42);
  EXPECT_EQ(order, shuffled_indices(10, 42));
  EXPECT_NE(order, shuffled_indices(10, 43));
  std::vector<int64_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  const int64_t pick[] = {1, 0};
  const Batch b = gather_batch(d, pick);
  EXPECT_EQ(b.labels.to_int64s(), (std::vector<int64_t>{7, 3}));
  EXPECT_EQ(b.samples.to_doubles()[0], 0.5);
  const int64_t out_of_range[] = {2};
  EXPECT_THROW(gather_batch(d, out_of_range), Error);
}

}  // namespace
}  // namespace edgeco
