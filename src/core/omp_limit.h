// The calling thread's OpenMP thread limit, set for a scope and given back on exit. oneDNN takes a
// primitive's thread count from this limit when it is created and a region's when it runs, so
// edgeco sets it around its own work; it never leaves its setting behind for the caller's
// OpenMP code.
#pragma once

#include <omp.h>

namespace edgeco {

class OmpThreadLimit {
 public:
  explicit OmpThreadLimit(int threads) : previous_(omp_get_max_threads()) {
    if (threads != previous_) omp_set_num_threads(threads);
  }
  ~OmpThreadLimit() {
    if (omp_get_max_threads() != previous_) omp_set_num_threads(previous_);
  }
  OmpThreadLimit(const OmpThreadLimit&) = delete;
  OmpThreadLimit& operator=(const OmpThreadLimit&) = delete;

 private:
  int previous_;
};

}  // namespace edgeco
