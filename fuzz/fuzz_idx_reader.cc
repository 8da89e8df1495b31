// libFuzzer target: arbitrary bytes as an IDX file; parse_idx must succeed or throw edgeco::Error,
// and what it reads must hold exactly the data bytes after the header.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "edgeco/data.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  setenv("EDGECO_MAX_TENSOR_BYTES", "16777216", 1);
  try {
    const edgeco::Tensor t = edgeco::parse_idx(std::as_bytes(std::span(data, size)));
    if (t.nbytes() + 4 + 4 * t.rank() != size) std::abort();
  } catch (const edgeco::Error&) {
  }
  return 0;
}
