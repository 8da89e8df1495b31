#include <cmath>
#include <cstdio>

#include "commands.h"

namespace edgeco::cli {

std::string human(double value) {
  const char* units[] = {"", " K", " M", " G", " T"};
  int u = 0;
  while (std::abs(value) >= 1000 && u < 4) value /= 1000, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.2f%s", value, units[u]);
  return buf;
}

}  // namespace edgeco::cli
