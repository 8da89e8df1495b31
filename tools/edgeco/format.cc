#include <malloc.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"

namespace edgeco::cli {

void retain_freed_memory() {
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, INT_MAX);
}

void progress_bar(const std::string& label, double done, const std::string& detail, bool finished) {
  const int width = 30, filled = int(width * std::clamp(done, 0.0, 1.0));
  std::fprintf(stderr, "\r%s [%s%s] %s ", label.c_str(), std::string(size_t(filled), '#').c_str(),
               std::string(size_t(width - filled), ' ').c_str(), detail.c_str());
  if (finished) std::fprintf(stderr, "\n");
}

std::vector<std::string> comma_items(std::string_view text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = std::min(text.find(',', pos), text.size());
    out.emplace_back(text.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return out;
}

std::string human(double value) {
  const char* units[] = {"", " K", " M", " G", " T"};
  int u = 0;
  while (std::abs(value) >= 1000 && u < 4) value /= 1000, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.2f%s", value, units[u]);
  return buf;
}

std::function<void(const std::string&, size_t, size_t)> mixed_progress(bool shown) {
  if (!shown) return nullptr;
  return [](const std::string& what, size_t done, size_t total) {
    progress_bar("mixed precision", double(done) / double(total), what, done == total);
  };
}

}  // namespace edgeco::cli
