// libFuzzer target: arbitrary bytes as an inference request, as the fog server reads them from the
// network: a REST JSON body and a serialized gRPC ModelInferRequest. Each decoder returns or throws
// edgeco::Error; a request it returns holds only tensors within the element limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "edgeco/offload.h"

namespace {
constexpr int64_t kMaxElements = 1 << 16;

void check(const edgeco::offload::InferRequest& r, int64_t max_elements) {
  for (const auto& [name, t] : r.inputs)
    if (t.numel() < 0 || t.numel() > max_elements) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    check(edgeco::offload::parse_rest_request(bytes, kMaxElements), kMaxElements);
  } catch (const edgeco::Error&) {
  }
  try {
    // max_bytes bounds the elements too (an element is at least one byte).
    check(edgeco::offload::parse_grpc_request(bytes, kMaxElements), kMaxElements);
  } catch (const edgeco::Error&) {
  }
  return 0;
}
