// libFuzzer target: arbitrary bytes as a scenario file, as an arrival trace (CSV) and as an
// injected event (--event), the user's inputs to `edgeco simulate`. Each parser returns or throws
// edgeco::Error naming the file; a trace it returns is non-empty, non-negative and ascending; an
// event it returns has a time >= 0 and a duration > 0.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "edgeco/sim.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    edgeco::sim::parse_scenario(text, "/nonexistent/fuzz.yaml");
  } catch (const edgeco::Error&) {
  }
  try {
    const auto times = edgeco::sim::parse_trace_csv(text, "fuzz.csv");
    if (times.empty() || times.front() < 0) std::abort();
    for (size_t i = 1; i < times.size(); ++i)
      if (times[i] < times[i - 1]) std::abort();
  } catch (const edgeco::Error&) {
  }
  try {
    const edgeco::sim::Event e = edgeco::sim::parse_event(text);
    if (!(e.time_s >= 0) || !(e.duration_s > 0)) std::abort();
  } catch (const edgeco::Error&) {
  }
  return 0;
}
