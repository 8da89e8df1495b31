// Data set readers: IDX (Fashion-MNIST, gzip'd as Debian ships it), CIFAR-100 binary, UCI HAR
// text files; and the preprocessing training and evaluation share.
#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>

#include "edgeco/data.h"

namespace edgeco {
namespace {

std::string at_offset(std::string_view source, size_t offset) {
  return std::string(source) + " at byte " + std::to_string(offset);
}

uint32_t big_endian_u32(std::span<const std::byte> b, size_t at) {
  return uint32_t(std::to_integer<uint8_t>(b[at])) << 24 |
         uint32_t(std::to_integer<uint8_t>(b[at + 1])) << 16 |
         uint32_t(std::to_integer<uint8_t>(b[at + 2])) << 8 |
         uint32_t(std::to_integer<uint8_t>(b[at + 3]));
}

Tensor floats_from_bytes(const Tensor& bytes, Dims dims) {
  Tensor out(DType::f32, std::move(dims));
  auto dst = out.data<float>();
  const auto src = bytes.data<uint8_t>();
  for (size_t i = 0; i < dst.size(); ++i) dst[i] = float(src[i]) / 255.0f;
  return out;
}

// Whitespace-separated floats of one text line; `expected` values or an error naming the line.
std::vector<float> parse_floats(std::string_view line, size_t expected, const std::string& where) {
  std::vector<float> values;
  values.reserve(expected);
  const char* p = line.data();
  const char* end = p + line.size();
  while (p < end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) ++p;
    if (p == end) break;
    float v = 0;
    const auto [next, ec] = std::from_chars(p, end, v);
    if (ec != std::errc() || !std::isfinite(v))
      throw Error(ErrorKind::invalid_argument,
                  "not a number: '" + std::string(p, std::min<size_t>(20, size_t(end - p))) + "'",
                  where);
    values.push_back(v);
    p = next;
  }
  if (values.size() != expected)
    throw Error(
        ErrorKind::invalid_argument,
        "has " + std::to_string(values.size()) + " values, expected " + std::to_string(expected),
        where);
  return values;
}

// The non-blank lines of a text.
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t end = std::min(text.find('\n'), text.size());
    const std::string_view line = text.substr(0, end);
    if (line.find_first_not_of(" \t\r") != std::string_view::npos) lines.push_back(line);
    text.remove_prefix(std::min(end + 1, text.size()));
  }
  return lines;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::io, "cannot open file", path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::string read_maybe_gzip(const std::filesystem::path& path) {
  // gzread reads plain files as they are, so one path serves both.
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) throw Error(ErrorKind::io, "cannot open file", path.string());
  std::string out;
  char buffer[1 << 16];
  for (;;) {
    const int n = gzread(file, buffer, sizeof buffer);
    if (n < 0) {
      int code = 0;
      const std::string message = gzerror(file, &code);
      gzclose(file);
      throw Error(ErrorKind::invalid_argument, "corrupt gzip data (" + message + ")",
                  path.string());
    }
    if (n == 0) break;
    if (out.size() + size_t(n) > max_tensor_bytes()) {
      gzclose(file);
      throw Error(ErrorKind::out_of_memory, "decompresses to more than the memory limit",
                  path.string());
    }
    out.append(buffer, size_t(n));
  }
  gzclose(file);
  return out;
}

Tensor parse_idx(std::span<const std::byte> bytes, std::string_view source) {
  if (bytes.size() < 4)
    throw Error(ErrorKind::invalid_argument, "too short for an IDX header", std::string(source));
  if (std::to_integer<uint8_t>(bytes[0]) != 0 || std::to_integer<uint8_t>(bytes[1]) != 0)
    throw Error(ErrorKind::invalid_argument, "not an IDX file (magic must start with two zeros)",
                at_offset(source, 0));
  const uint8_t type = std::to_integer<uint8_t>(bytes[2]);
  const size_t rank = std::to_integer<uint8_t>(bytes[3]);
  if (type != 0x08)
    throw Error(ErrorKind::unsupported,
                "IDX element type 0x" + std::to_string(type) + " (only unsigned bytes, 0x08)",
                at_offset(source, 2));
  if (rank == 0 || rank > 4)
    throw Error(ErrorKind::invalid_argument, "IDX rank " + std::to_string(rank) + " (1 to 4)",
                at_offset(source, 3));
  const size_t header = 4 + 4 * rank;
  if (bytes.size() < header)
    throw Error(ErrorKind::invalid_argument, "truncated IDX header", std::string(source));
  Dims dims;
  for (size_t d = 0; d < rank; ++d) {
    const uint32_t extent = big_endian_u32(bytes, 4 + 4 * d);
    if (extent > uint32_t(INT32_MAX))
      throw Error(ErrorKind::invalid_argument, "dimension too large", at_offset(source, 4 + 4 * d));
    dims.push_back(int64_t(extent));
  }
  const int64_t count = checked_numel(dims);
  if (bytes.size() - header != size_t(count))
    throw Error(ErrorKind::invalid_argument,
                "header says " + dims_to_string(dims) + " (" + std::to_string(count) +
                    " bytes of data) but the file holds " + std::to_string(bytes.size() - header),
                at_offset(source, header));
  Tensor t(DType::u8, dims);
  std::memcpy(t.bytes().data(), bytes.data() + header, size_t(count));
  return t;
}

Tensor load_idx(const std::filesystem::path& path) {
  const std::string bytes = read_maybe_gzip(path);
  return parse_idx(std::as_bytes(std::span(bytes)), path.string());
}

// One of the four Fashion-MNIST files: .gz as Debian ships them, or unpacked.
std::filesystem::path fashion_mnist_file(const std::filesystem::path& dir, std::string_view split,
                                         const std::string& stem) {
  if (split != "train" && split != "test")
    throw Error(ErrorKind::invalid_argument,
                "split must be 'train' or 'test', got '" + std::string(split) + "'");
  const std::string prefix = split == "train" ? "train" : "t10k";
  for (const char* ext : {".gz", ""}) {
    auto p = dir / (prefix + "-" + stem + "-ubyte" + ext);
    if (std::filesystem::exists(p)) return p;
  }
  throw Error(ErrorKind::io,
              "no " + prefix + "-" + stem + "-ubyte[.gz] (install Debian's dataset-fashion-mnist)",
              dir.string());
}

Tensor load_fashion_mnist_images(const std::filesystem::path& dir, std::string_view split) {
  const auto path = fashion_mnist_file(dir, split, "images-idx3");
  const Tensor images = load_idx(path);
  if (images.rank() != 3)
    throw Error(ErrorKind::invalid_argument,
                "images must be [N, H, W], got " + dims_to_string(images.dims()), path.string());
  return images.reshaped({images.dim(0), 1, images.dim(1), images.dim(2)});
}

Dataset load_fashion_mnist(const std::filesystem::path& dir, std::string_view split) {
  const Tensor images = load_fashion_mnist_images(dir, split);
  const auto labels_path = fashion_mnist_file(dir, split, "labels-idx1");
  const Tensor labels = load_idx(labels_path);
  if (labels.rank() != 1 || images.dim(0) != labels.dim(0))
    throw Error(ErrorKind::invalid_argument,
                "images " + dims_to_string(images.dims()) + " and labels " +
                    dims_to_string(labels.dims()) + " do not pair up",
                labels_path.string());
  Dataset d;
  d.name = "fashion-mnist/" + std::string(split);
  d.samples = floats_from_bytes(images, images.dims());
  d.labels = labels.cast(DType::i64);
  d.classes = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  for (int64_t v : d.labels.to_int64s())
    if (v >= int64_t(d.classes.size()))
      throw Error(ErrorKind::invalid_argument, "label " + std::to_string(v) + " out of range",
                  labels_path.string());
  return d;
}

Dataset parse_cifar100(std::span<const std::byte> bytes, std::string_view where, bool fine_labels) {
  // Each record: coarse label, fine label, then 3072 bytes: 1024 red, 1024 green, 1024 blue.
  constexpr size_t kRecord = 2 + 3 * 32 * 32;
  if (bytes.empty() || bytes.size() % kRecord != 0)
    throw Error(ErrorKind::invalid_argument,
                std::to_string(bytes.size()) + " bytes is not a whole number of " +
                    std::to_string(kRecord) + "-byte CIFAR-100 records",
                std::string(where));
  const int64_t n = int64_t(bytes.size() / kRecord);
  Dataset d;
  d.name = "cifar-100/" + std::filesystem::path(where).stem().string();
  d.samples = Tensor(DType::f32, {n, 3, 32, 32});
  d.labels = Tensor(DType::i64, {n});
  auto px = d.samples.data<float>();
  auto lab = d.labels.data<int64_t>();
  const int64_t classes = fine_labels ? 100 : 20;
  for (int64_t i = 0; i < n; ++i) {
    const auto* rec = reinterpret_cast<const uint8_t*>(bytes.data()) + size_t(i) * kRecord;
    lab[size_t(i)] = rec[fine_labels ? 1 : 0];
    if (lab[size_t(i)] >= classes)
      throw Error(ErrorKind::invalid_argument,
                  "label " + std::to_string(lab[size_t(i)]) + " out of range",
                  at_offset(where, size_t(i) * kRecord + (fine_labels ? 1 : 0)));
    for (size_t k = 0; k < 3 * 32 * 32; ++k)
      px[size_t(i) * 3 * 32 * 32 + k] = float(rec[2 + k]) / 255.0f;
  }
  for (int64_t c = 0; c < classes; ++c) d.classes.push_back(std::to_string(c));
  return d;
}

Dataset load_cifar100(const std::filesystem::path& file, bool fine_labels) {
  const std::string bytes = read_maybe_gzip(file);
  return parse_cifar100(std::as_bytes(std::span(bytes.data(), bytes.size())), file.string(),
                        fine_labels);
}

Dataset parse_uci_har(std::string_view labels, std::span<const std::string_view> signals,
                      const std::filesystem::path& dir, std::string_view split) {
  const std::string s(split);
  const auto base = dir / s;
  if (signals.size() != kUciHarSignals.size())
    throw Error(ErrorKind::invalid_argument,
                std::to_string(signals.size()) + " signal files, UCI HAR has 9", base.string());
  const auto label_lines = split_lines(labels);
  const int64_t n = int64_t(label_lines.size());
  const std::string labels_where = (base / ("y_" + s + ".txt")).string();
  if (n == 0) throw Error(ErrorKind::invalid_argument, "no labels", labels_where);
  Dataset d;
  d.name = "uci-har/" + s;
  d.samples = Tensor(DType::f32, {n, 9, 128});
  d.labels = Tensor(DType::i64, {n});
  d.classes = {"walking", "walking upstairs", "walking downstairs",
               "sitting", "standing",         "laying"};
  auto lab = d.labels.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const std::string at = labels_where + " line " + std::to_string(i + 1);
    const auto v = parse_floats(label_lines[size_t(i)], 1, at)[0];
    if (v < 1 || v > 6 || v != std::floor(v))
      throw Error(ErrorKind::invalid_argument, "label must be 1 to 6", at);
    lab[size_t(i)] = int64_t(v) - 1;
  }
  auto px = d.samples.data<float>();
  for (size_t c = 0; c < 9; ++c) {
    const std::string at =
        (base / "Inertial Signals" / (std::string(kUciHarSignals[c]) + "_" + s + ".txt")).string();
    const auto lines = split_lines(signals[c]);
    if (int64_t(lines.size()) != n)
      throw Error(ErrorKind::invalid_argument,
                  std::to_string(lines.size()) + " windows but " + std::to_string(n) + " labels",
                  at);
    for (int64_t i = 0; i < n; ++i) {
      const auto values =
          parse_floats(lines[size_t(i)], 128, at + " line " + std::to_string(i + 1));
      std::copy(values.begin(), values.end(), px.begin() + (i * 9 + int64_t(c)) * 128);
    }
  }
  return d;
}

Dataset load_uci_har(const std::filesystem::path& dir, std::string_view split) {
  if (split != "train" && split != "test")
    throw Error(ErrorKind::invalid_argument,
                "split must be 'train' or 'test', got '" + std::string(split) + "'");
  const std::string s(split);
  const auto base = dir / s;
  const std::string labels = read_text(base / ("y_" + s + ".txt"));
  std::vector<std::string> texts;
  texts.reserve(kUciHarSignals.size());
  for (const char* signal : kUciHarSignals)
    texts.push_back(
        read_text(base / "Inertial Signals" / (std::string(signal) + "_" + s + ".txt")));
  const std::vector<std::string_view> views(texts.begin(), texts.end());
  return parse_uci_har(labels, views, dir, split);
}

Dataset load_dataset(std::string_view name, const std::filesystem::path& path,
                     std::string_view split) {
  if (name == "fashion-mnist")
    return load_fashion_mnist(path.empty() ? kFashionMnistDir : path, split);
  if (name != "cifar100" && name != "uci-har")
    throw Error(ErrorKind::invalid_argument,
                "unknown data set (fashion-mnist, cifar100 or uci-har)", std::string(name));
  if (path.empty())
    throw Error(ErrorKind::invalid_argument,
                "has no copy on this machine: give its path (" +
                    std::string(name == "cifar100" ? "the train.bin or test.bin file"
                                                   : "the data set's folder") +
                    ")",
                std::string(name));
  if (name == "cifar100")
    return load_cifar100(std::filesystem::is_directory(path) ? path / (std::string(split) + ".bin")
                                                             : path);
  return load_uci_har(path, split);
}

std::vector<double> channel_means(const Tensor& samples) {
  const int64_t n = samples.dim(0), c = samples.dim(1), inner = samples.numel() / (n * c);
  std::vector<double> mean(size_t(c), 0.0);
  const auto px = samples.data<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < c; ++k)
      for (int64_t j = 0; j < inner; ++j) mean[size_t(k)] += px[size_t((i * c + k) * inner + j)];
  for (auto& m : mean) m /= double(n * inner);
  return mean;
}

void normalize(Dataset& d, std::span<const float> mean, std::span<const float> std_dev) {
  const int64_t n = d.samples.dim(0), c = d.samples.dim(1), inner = d.samples.numel() / (n * c);
  if (int64_t(mean.size()) != c || int64_t(std_dev.size()) != c)
    throw Error(ErrorKind::invalid_argument,
                "normalization needs one mean and one std per channel (" + std::to_string(c) + ")",
                d.name);
  for (float s : std_dev)
    if (!(s > 0)) throw Error(ErrorKind::invalid_argument, "std must be positive", d.name);
  d.samples = d.samples.clone();
  auto px = d.samples.data<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < c; ++k)
      for (int64_t j = 0; j < inner; ++j) {
        float& v = px[size_t((i * c + k) * inner + j)];
        v = (v - mean[size_t(k)]) / std_dev[size_t(k)];
      }
}

Tensor resize_bilinear(const Tensor& images, int64_t height, int64_t width) {
  if (images.rank() != 4 || images.dtype() != DType::f32)
    throw Error(ErrorKind::invalid_argument,
                "resize takes float32 [N, C, H, W], got " + dims_to_string(images.dims()));
  if (height <= 0 || width <= 0)
    throw Error(ErrorKind::invalid_argument, "resize to a non-positive size");
  const int64_t planes = images.dim(0) * images.dim(1), h = images.dim(2), w = images.dim(3);
  Tensor out(DType::f32, {images.dim(0), images.dim(1), height, width});
  const auto src = images.data<float>();
  auto dst = out.data<float>();
  // Half-pixel centres (as ONNX Resize and torchvision do without align_corners), clamped.
  auto coord = [](int64_t o, int64_t in, int64_t outn, int64_t& i0, int64_t& i1, float& t) {
    const float x = std::max(0.0f, (float(o) + 0.5f) * float(in) / float(outn) - 0.5f);
    i0 = std::min<int64_t>(int64_t(x), in - 1);
    i1 = std::min<int64_t>(i0 + 1, in - 1);
    t = x - float(i0);
  };
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t y = 0; y < height; ++y) {
      int64_t y0, y1;
      float ty;
      coord(y, h, height, y0, y1, ty);
      for (int64_t x = 0; x < width; ++x) {
        int64_t x0, x1;
        float tx;
        coord(x, w, width, x0, x1, tx);
        const float* plane = src.data() + p * h * w;
        const float top = plane[y0 * w + x0] * (1 - tx) + plane[y0 * w + x1] * tx;
        const float bottom = plane[y1 * w + x0] * (1 - tx) + plane[y1 * w + x1] * tx;
        dst[size_t((p * height + y) * width + x)] = top * (1 - ty) + bottom * ty;
      }
    }
  return out;
}

Tensor fit_images(const Tensor& images, int64_t channels, int64_t height, int64_t width) {
  if (images.rank() != 4)
    throw Error(ErrorKind::invalid_argument,
                "images must be [N, C, H, W], got " + dims_to_string(images.dims()));
  const int64_t c0 = images.dim(1);
  if (c0 != channels && c0 != 1)
    throw Error(ErrorKind::invalid_argument, "images have " + std::to_string(c0) +
                                                 " channels, the model takes " +
                                                 std::to_string(channels));
  Tensor sized = images.dim(2) == height && images.dim(3) == width
                     ? images
                     : resize_bilinear(images, height, width);
  if (c0 == channels) return sized;
  const int64_t n = images.dim(0), plane = height * width;
  Tensor out(DType::f32, {n, channels, height, width});
  const auto src = sized.data<float>();
  auto dst = out.data<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < channels; ++k)
      std::copy_n(src.begin() + i * plane, plane, dst.begin() + (i * channels + k) * plane);
  return out;
}

std::vector<int64_t> shuffled_indices(int64_t n, uint64_t seed) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  // Fisher-Yates with an explicit draw, so the order is the same on every standard library.
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j = int64_t(rng() % uint64_t(i + 1));
    std::swap(order[size_t(i)], order[size_t(j)]);
  }
  return order;
}

Batch gather_batch(const Dataset& d, std::span<const int64_t> indices) {
  const int64_t n = d.samples.dim(0);
  Dims dims = d.samples.dims();
  dims[0] = int64_t(indices.size());
  Batch b{Tensor(DType::f32, dims), Tensor(DType::i64, {int64_t(indices.size())})};
  const size_t row = size_t(d.samples.numel() / std::max<int64_t>(1, n));
  const auto src = d.samples.data<float>();
  auto dst = b.samples.data<float>();
  const auto labels = d.labels.data<int64_t>();
  auto out_labels = b.labels.data<int64_t>();
  for (size_t i = 0; i < indices.size(); ++i) {
    const int64_t k = indices[i];
    if (k < 0 || k >= n)
      throw Error(ErrorKind::invalid_argument,
                  "sample index " + std::to_string(k) + " outside 0.." + std::to_string(n - 1),
                  d.name);
    std::copy_n(src.begin() + ptrdiff_t(size_t(k) * row), row, dst.begin() + ptrdiff_t(i * row));
    out_labels[i] = labels[size_t(k)];
  }
  return b;
}

}  // namespace edgeco
