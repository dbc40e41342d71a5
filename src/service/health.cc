#include "service/health.h"

#include <unordered_map>

namespace turnpike::service {

ServiceHealth::ServiceHealth(std::vector<std::string> urls)
    : urls_(std::move(urls)), states_(new State[urls_.size()]) {}

bool ServiceHealth::any_up(int64_t now_ns) const {
  for (size_t i = 0; i < urls_.size(); ++i)
    if (up(i, now_ns)) return true;
  return false;
}

bool ServiceHealth::set_active(size_t i, bool up) {
  return states_[i].active_up.exchange(up, std::memory_order_relaxed) != up;
}

bool ServiceHealth::record_failure(size_t i, int64_t now_ns, const PassiveHealthOptions& options) {
  auto& s = states_[i];
  int64_t window = options.failure_window.count();
  int64_t start = s.window_start.load(std::memory_order_relaxed);
  int32_t failures;
  if (now_ns - start > window) {
    // A new window starts with this failure. Two workers racing here both restart it; at worst
    // one failure is not counted, and the next one counts again.
    s.window_start.store(now_ns, std::memory_order_relaxed);
    s.failures.store(1, std::memory_order_relaxed);
    failures = 1;
  } else {
    failures = s.failures.fetch_add(1, std::memory_order_relaxed) + 1;
  }
  if (failures < options.max_failed_attempts) return false;
  s.failures.store(0, std::memory_order_relaxed);
  s.window_start.store(0, std::memory_order_relaxed);
  int64_t until = now_ns + window;
  int64_t prev = s.passive_down_until.load(std::memory_order_relaxed);
  while (prev < until &&
         !s.passive_down_until.compare_exchange_weak(prev, until, std::memory_order_relaxed)) {
  }
  return prev <= now_ns;
}

void ServiceHealth::inherit(const ServiceHealth& other) {
  std::unordered_map<std::string_view, size_t> index;
  for (size_t i = 0; i < other.urls_.size(); ++i) index.emplace(other.urls_[i], i);
  for (size_t i = 0; i < urls_.size(); ++i) {
    auto it = index.find(urls_[i]);
    if (it == index.end()) continue;
    const auto& from = other.states_[it->second];
    auto& to = states_[i];
    to.active_up.store(from.active_up.load(std::memory_order_relaxed), std::memory_order_relaxed);
    to.passive_down_until.store(from.passive_down_until.load(std::memory_order_relaxed),
                                std::memory_order_relaxed);
  }
}

ServiceHealthPtr HealthRegistry::get(const std::string& service,
                                     const std::vector<std::string>& urls) {
  if (auto it = next_.find(service); it != next_.end() && it->second->urls() == urls)
    return it->second;
  ServiceHealthPtr table;
  auto old = current_.find(service);
  if (old != current_.end() && old->second->urls() == urls) {
    table = old->second;
  } else {
    table = std::make_shared<ServiceHealth>(urls);
    if (old != current_.end()) table->inherit(*old->second);
  }
  next_[service] = table;
  return table;
}

void HealthRegistry::end_build() {
  current_ = std::move(next_);
  next_.clear();
}

}  // namespace turnpike::service
