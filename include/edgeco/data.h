// Data set and array file readers.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "edgeco/core.h"

namespace edgeco {

// NumPy .npy files (format versions 1-3, little-endian, C order).
Tensor load_npy(const std::filesystem::path& path);
Tensor parse_npy(std::span<const std::byte> bytes, std::string_view source = "<memory>");
void save_npy(const Tensor& tensor, const std::filesystem::path& path);
std::string serialize_npy(const Tensor& tensor);

// A labelled data set in memory: float32 samples [N, C, ...] (images scaled to [0, 1]; signals as
// recorded) and int64 labels [N] in 0..classes.size()-1.
struct Dataset {
  std::string name;
  Tensor samples;
  Tensor labels;
  std::vector<std::string> classes;
  int64_t size() const { return samples.empty_handle() ? 0 : samples.dim(0); }
};

// Where Debian's dataset-fashion-mnist installs the gzip'd IDX files.
inline const std::filesystem::path kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// A file's bytes, decompressed when it is gzip (plain files are read as they are).
std::string read_maybe_gzip(const std::filesystem::path& path);

// IDX files (the MNIST family's format: big-endian dims after a magic of 0, 0, type, rank):
// unsigned-byte data as a uint8 tensor. Errors name the file and the byte offset.
Tensor parse_idx(std::span<const std::byte> bytes, std::string_view source = "<memory>");
Tensor load_idx(const std::filesystem::path& path);

// Fashion-MNIST from `dir` (files as Debian ships them, .gz or not), split "train" (60,000) or
// "test" (10,000): samples [N, 1, 28, 28].
Dataset load_fashion_mnist(const std::filesystem::path& dir, std::string_view split);
// Just the images of a Fashion-MNIST split, as stored: uint8 [N, 1, 28, 28] (a quarter of the
// float samples' memory, for callers that need a few).
Tensor load_fashion_mnist_images(const std::filesystem::path& dir, std::string_view split);
// CIFAR-100 binary (train.bin / test.bin): samples [N, 3, 32, 32], the 100 fine labels or the 20
// coarse ones.
Dataset load_cifar100(const std::filesystem::path& file, bool fine_labels = true);
// The same from the file's bytes; `where` names it in errors.
Dataset parse_cifar100(std::span<const std::byte> bytes, std::string_view where,
                       bool fine_labels = true);
// UCI HAR (the data set's folder, holding train/ and test/): the nine inertial signals of each
// 128-sample window, samples [N, 9, 128], labels 0..5 (the files' 1..6).
Dataset load_uci_har(const std::filesystem::path& dir, std::string_view split);
// The nine raw signals of the data set's "Inertial Signals" folder, in the order parse_uci_har
// takes their files' texts.
inline constexpr std::array<const char*, 9> kUciHarSignals = {
    "body_acc_x",  "body_acc_y",  "body_acc_z",  "body_gyro_x", "body_gyro_y",
    "body_gyro_z", "total_acc_x", "total_acc_y", "total_acc_z"};
// The same from the texts of y_<split>.txt and the nine signal files; errors name the files as
// they would be under `dir`.
Dataset parse_uci_har(std::string_view labels, std::span<const std::string_view> signals,
                      const std::filesystem::path& dir, std::string_view split);

// A data set by name: "fashion-mnist" (from `path`, or Debian's copy when empty), "cifar100"
// (`path`: the folder holding train.bin and test.bin, or one of the files) or "uci-har" (`path`:
// the data set's folder); `split` train or test.
Dataset load_dataset(std::string_view name, const std::filesystem::path& path,
                     std::string_view split);

// Per-channel mean of the samples (over N and the positions).
std::vector<double> channel_means(const Tensor& samples);
// samples = (samples - mean[c]) / std[c], per channel.
void normalize(Dataset& d, std::span<const float> mean, std::span<const float> std_dev);
// Bilinear resize of float32 [N, C, H, W] images (half-pixel centres, as ONNX Resize and
// torchvision), e.g. 28x28 Fashion-MNIST to a model's 32x32 or 224x224 input.
Tensor resize_bilinear(const Tensor& images, int64_t height, int64_t width);

// Images [N, C0, H0, W0] as a model's [N, C, H, W] input takes them: resized to H x W, and a
// single channel repeated over C (C0 must be 1 or C).
Tensor fit_images(const Tensor& images, int64_t channels, int64_t height, int64_t width);

// 0..n-1 in a seeded random order (the same on every platform).
std::vector<int64_t> shuffled_indices(int64_t n, uint64_t seed);
struct Batch {
  Tensor samples;
  Tensor labels;
};
// The samples and labels at `indices`, in that order.
Batch gather_batch(const Dataset& d, std::span<const int64_t> indices);

}  // namespace edgeco
