// libFuzzer target: arbitrary bytes as a CIFAR-100 binary file and as UCI HAR text files (the
// first byte picks which; for HAR the rest is split into the label file and nine signal files at
// form feeds). The parsers must return a data set or throw edgeco::Error, and what they return
// must hold one label per sample, each within the classes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include "edgeco/data.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  setenv("EDGECO_MAX_TENSOR_BYTES", "16777216", 1);
  if (size == 0) return 0;
  try {
    edgeco::Dataset d;
    if (data[0] % 2 == 0) {
      d = edgeco::parse_cifar100(std::as_bytes(std::span(data + 1, size - 1)), "fuzz.bin",
                                 data[0] % 4 == 0);
    } else {
      std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
      std::vector<std::string_view> files;
      for (size_t at; (at = text.find('\f')) != std::string_view::npos; text.remove_prefix(at + 1))
        files.push_back(text.substr(0, at));
      files.push_back(text);
      const std::span<const std::string_view> signals(files.data() + 1, files.size() - 1);
      d = edgeco::parse_uci_har(files[0], signals, "fuzz", "test");
    }
    if (d.labels.numel() != d.size()) std::abort();
    for (int64_t label : d.labels.data<int64_t>())
      if (label < 0 || label >= int64_t(d.classes.size())) std::abort();
  } catch (const edgeco::Error&) {
  }
  return 0;
}
