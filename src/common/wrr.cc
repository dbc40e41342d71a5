#include "common/wrr.h"

namespace turnpike {

size_t smooth_wrr_pick(std::vector<int64_t>& current, const std::vector<int>& weights,
                       int64_t total) {
  size_t best = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    current[i] += weights[i];
    if (current[i] > current[best])
      best = i;
  }
  current[best] -= total;
  return best;
}

WeightedRoundRobin::WeightedRoundRobin(const std::vector<int>& weights, unsigned workers)
    : slots_(workers == 0 ? 1 : workers) {
  for (size_t i = 0; i < weights.size(); ++i) {
    if (weights[i] <= 0)
      continue;
    targets_.push_back(i);
    weights_.push_back(weights[i]);
    total_ += weights[i];
  }
  for (auto& slot : slots_)
    slot.current.assign(targets_.size(), 0);
}

size_t WeightedRoundRobin::pick(unsigned worker) const {
  if (targets_.size() == 1)
    return targets_[0];
  auto& slot = slots_[worker % slots_.size()];
  return targets_[smooth_wrr_pick(slot.current, weights_, total_)];
}

} // namespace turnpike
