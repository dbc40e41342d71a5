#pragma once
// Smooth weighted round robin (nginx's algorithm: deterministic, spreads picks evenly) with one
// cursor per worker, for load balancers shared by every worker (HTTP, TCP and UDP services).
//
// Threading: a WeightedRoundRobin is built on the control plane and then shared; pick(worker)
// touches only that worker's slot (cache-line aligned), so workers never write a shared line and
// need no synchronisation. Each worker's sequence is the full smooth sequence on its own.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace turnpike {

// One smooth WRR step over `weights` (all > 0, summing to `total`), updating `current`.
size_t smooth_wrr_pick(std::vector<int64_t>& current, const std::vector<int>& weights,
                       int64_t total);

// The `weight` members of `items`, in order (the constructor argument below).
template <class T> std::vector<int> weights_of(const std::vector<T>& items) {
  std::vector<int> out;
  out.reserve(items.size());
  for (const auto& item : items)
    out.push_back(item.weight);
  return out;
}

class WeightedRoundRobin {
public:
  // `weights`: one per target; a weight <= 0 never gets picked. `workers` sizes the slots.
  WeightedRoundRobin(const std::vector<int>& weights, unsigned workers);

  // True when no target has a positive weight.
  bool empty() const { return targets_.empty(); }
  // The index (into the constructor's weights) of the next target for this worker. Requires
  // !empty().
  size_t pick(unsigned worker) const;

private:
  struct alignas(64) Slot {
    std::vector<int64_t> current;
  };
  std::vector<size_t> targets_; // indices of the targets with a positive weight
  std::vector<int> weights_;    // their weights
  int64_t total_ = 0;
  mutable std::vector<Slot> slots_; // slot i is touched only by worker i
};

} // namespace turnpike
