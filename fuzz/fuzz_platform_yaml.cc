// libFuzzer target: arbitrary bytes as a platform YAML file; parse_platform must return a platform
// or throw edgeco::Error (never crash, hang or throw anything else), and what it returns must be
// usable by the cost model.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "edgeco/hw.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgeco::hw;
  try {
    const Platform p =
        parse_platform(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.yaml");
    for (const Device& d : p.devices) {
      if (d.opps.empty()) std::abort();
      for (const auto& [type, classes] : d.macs_per_cycle)
        for (const auto& [cls, rate] : classes) {
          const Cost c = node_cost(d, d.opps.back(), {"Conv", cls, type, 1000, 100, 100, 10});
          if (!(c.latency_ms >= 0) || !(c.energy_mj >= 0)) std::abort();
        }
    }
  } catch (const edgeco::Error&) {
  }
  return 0;
}
