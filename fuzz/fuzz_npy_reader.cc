// libFuzzer target: arbitrary bytes as a .npy file; parse_npy must succeed or throw edgeco::Error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "edgeco/data.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  setenv("EDGECO_MAX_TENSOR_BYTES", "16777216", 1);
  try {
    const edgeco::Tensor t = edgeco::parse_npy(std::as_bytes(std::span(data, size)));
    // Round trip what was read.
    const std::string bytes = edgeco::serialize_npy(t);
    const edgeco::Tensor back = edgeco::parse_npy(std::as_bytes(std::span(bytes)));
    if (back.nbytes() != t.nbytes()) std::abort();
  } catch (const edgeco::Error&) {
  }
  return 0;
}
