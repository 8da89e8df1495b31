// Timing sessions side by side on a noisy, shared machine.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "edgeco/session.h"

namespace edgeco {

// Sessions timed in rounds: each round runs every session twice and times the second run (the
// others' runs in between would leave its weights cold). A burst of load from elsewhere on a
// shared machine then spoils one round of each, which a median over rounds drops, and all of them
// see the machine over the same window.
class RoundTimer {
 public:
  explicit RoundTimer(int threads) : threads_(threads) {}
  // A session (optimized, fast kernels, Winograd where the compiler chooses it unless
  // `winograd` is false) of `graph` fed `inputs`; returns its id.
  size_t add(const Graph& graph, TensorMap inputs, bool winograd = true);
  void run(int rounds, int warmup_rounds,
           const std::function<void(size_t done, size_t total)>& progress = nullptr);
  // Per timed round: the timed run's wall time, and its per-node times.
  const std::vector<double>& run_ms(size_t id) const { return jobs_.at(id).run_ms; }
  const std::vector<std::vector<NodeTiming>>& node_timings(size_t id) const {
    return jobs_.at(id).node_timings;
  }
  const Session& session(size_t id) const { return *jobs_.at(id).session; }

 private:
  struct Job {
    std::unique_ptr<Session> session;
    TensorMap inputs;
    std::vector<double> run_ms;
    std::vector<std::vector<NodeTiming>> node_timings;
  };
  int threads_;
  std::vector<Job> jobs_;
};

}  // namespace edgeco
