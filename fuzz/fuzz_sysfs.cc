// libFuzzer target: arbitrary bytes as the text of a sysfs or procfs file. Every parser behind
// `edgeco telemetry` must return a value or nullopt with a reason (never crash or throw), and a
// value it returns must lie in the range asked for.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "edgeco/power.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string why;
  if (const auto v = edgeco::power::parse_sysfs_number(text, -273000, 200000, &why))
    if (*v < -273000 || *v > 200000) std::abort();
  if (const auto list = edgeco::power::parse_sysfs_list(text, &why))
    for (size_t i = 0; i < list->size(); ++i)
      if ((*list)[i] <= 0 || (i > 0 && (*list)[i] <= (*list)[i - 1])) std::abort();
  if (const auto stat = edgeco::power::parse_proc_stat(text, &why))
    if (stat->first < 0 || stat->first > stat->second) std::abort();
  return 0;
}
