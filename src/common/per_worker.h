#pragma once
// One T per worker inside an object every worker shares (a service's balancer state, a
// middleware's caches): each worker touches only its own slot, so no lock is needed, and slots sit
// on separate cache lines so neighbouring workers do not false-share.

#include <algorithm>
#include <vector>

namespace turnpike {

template <class T>
class PerWorker {
 public:
  // `workers` slots (at least one).
  explicit PerWorker(unsigned workers) : slots_(std::max(1u, workers)) {}

  // Worker `worker_id`'s slot (Exchange::worker_id); ids past the count wrap around.
  T& operator[](unsigned worker_id) { return slots_[worker_id % slots_.size()].value; }
  const T& operator[](unsigned worker_id) const { return slots_[worker_id % slots_.size()].value; }

  // Every slot, for set-up before any worker uses them.
  template <class F>
  void for_each(F&& f) {
    for (auto& s : slots_) f(s.value);
  }

 private:
  struct alignas(64) Slot {
    T value{};
  };
  std::vector<Slot> slots_;
};

}  // namespace turnpike
