// libFuzzer target: arbitrary bytes as an ONNX model. Loading, validating and preparing a session
// must either succeed or throw edgeco::Error; anything else (a crash, a sanitizer report, another
// exception type) is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "edgeco/onnx.h"
#include "edgeco/runtime.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    edgeco::Graph graph = edgeco::parse_onnx(std::as_bytes(std::span(data, size)));
    // Keep allocations small so the fuzzer explores structure, not memory limits.
    setenv("EDGECO_MAX_TENSOR_BYTES", "16777216", 1);
    edgeco::Session session(std::move(graph));
  } catch (const edgeco::Error&) {
  }
  return 0;
}
