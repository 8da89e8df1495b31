#include <algorithm>

#include "edgeco/core.h"

namespace edgeco {

void parallel_for(int64_t count, int threads, const std::function<void(int64_t, int64_t)>& body,
                  int64_t min_items_per_thread) {
  if (count <= 0) return;
  const int64_t useful = std::max<int64_t>(1, count / std::max<int64_t>(1, min_items_per_thread));
  const int workers = int(std::clamp<int64_t>(std::min<int64_t>(threads, useful), 1, count));
  if (workers == 1) return body(0, count);
  const int64_t chunk = (count + workers - 1) / workers;
#pragma omp parallel for num_threads(workers) schedule(static)
  for (int w = 0; w < workers; ++w) body(w * chunk, std::min(count, (w + 1) * chunk));
}

}  // namespace edgeco
