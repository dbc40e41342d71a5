#include "service/balancer.h"

#include "common/fnv.h"

namespace turnpike::service {

Strategy parse_strategy(std::string_view name) {
  if (name == "p2c") return Strategy::kP2c;
  if (name == "hrw") return Strategy::kHrw;
  if (name == "leasttime") return Strategy::kLeastTime;
  return Strategy::kWrr;
}

std::string_view strategy_name(Strategy s) {
  switch (s) {
    case Strategy::kWrr: return "wrr";
    case Strategy::kP2c: return "p2c";
    case Strategy::kHrw: return "hrw";
    case Strategy::kLeastTime: return "leasttime";
  }
  return "wrr";
}

uint64_t hash64(std::string_view data, uint64_t seed) {
  return mix64(fnv1a64(data, kFnv1aOffset ^ seed));
}

Balancer::Balancer(Strategy strategy, std::vector<int> weights,
                   const std::vector<std::string>& keys, unsigned workers)
    : strategy_(strategy), weights_(std::move(weights)), slots_(workers) {
  for (int w : weights_) {
    equal_weights_ = equal_weights_ && w == weights_.front();
    total_ += w;
    cumulative_.push_back(total_);
  }
  for (size_t i = 0; i < weights_.size(); ++i)
    keys_.push_back(hash64(i < keys.size() ? std::string_view(keys[i]) : std::string_view(),
                           i < keys.size() ? 0 : i + 1));
  tracks_load_ = strategy_ == Strategy::kP2c || strategy_ == Strategy::kLeastTime;
  uint64_t seed = 0x9E3779B97F4A7C15ull;
  slots_.for_each([&](Slot& s) {
    s.current.assign(weights_.size(), 0);
    if (tracks_load_) s.in_flight.assign(weights_.size(), 0);
    if (strategy_ == Strategy::kLeastTime) s.ttfb_ns.assign(weights_.size(), 0.0);
    seed = hash64("slot", seed);
    s.rng = seed | 1;
  });
}

void Balancer::first_byte(unsigned worker, size_t i, Clock::duration ttfb) const {
  if (strategy_ != Strategy::kLeastTime) return;
  auto& avg = slot(worker).ttfb_ns[i];
  double sample = static_cast<double>(std::chrono::nanoseconds(ttfb).count());
  if (sample <= 0) sample = 1;
  // Exponential moving average: recent responses count most, one outlier does not dominate.
  avg = avg == 0 ? sample : 0.8 * avg + 0.2 * sample;
}

}  // namespace turnpike::service
