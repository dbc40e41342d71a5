#pragma once
// Server health: the one table every worker reads without locks, written by the active health
// checker (its own thread, service/health_check.h) and by workers on failed attempts (passive
// health checks).
//
// Threading: a ServiceHealth is created on the control thread by the HealthRegistry while a
// snapshot is built, then shared (shared_ptr) by the snapshot's services, the health checker
// and later snapshots whose service has the same servers. Its per-server states are atomics
// with relaxed ordering: a reader may see a transition a moment late, which only means one more
// request to a server that just went down (or one fewer to one that just came back). The
// HealthRegistry itself is control-thread only.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/deadline.h"
#include "common/duration.h"

namespace turnpike::service {

// `passiveHealthCheck` (Traefik 3.6): `maxFailedAttempts` failed attempts within
// `failureWindow` mark the server unhealthy for `failureWindow`.
struct PassiveHealthOptions {
  Duration failure_window = std::chrono::seconds(10);
  int max_failed_attempts = 1;
};

// Nanoseconds on the steady clock: the time unit stored in the health atomics.
inline int64_t steady_ns(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

class ServiceHealth {
 public:
  // One state per server, in the order of `urls` (the service's servers as configured).
  explicit ServiceHealth(std::vector<std::string> urls);

  size_t size() const { return urls_.size(); }
  const std::vector<std::string>& urls() const { return urls_; }

  // Whether server i may receive requests at `now_ns` (steady_ns): the active check says up (or
  // there is none) and no passive ejection is running. Any thread.
  bool up(size_t i, int64_t now_ns) const {
    const auto& s = states_[i];
    return s.active_up.load(std::memory_order_relaxed) &&
           s.passive_down_until.load(std::memory_order_relaxed) <= now_ns;
  }
  // True when at least one server is up (a parent's view of this service).
  bool any_up(int64_t now_ns) const;

  // Active health checker (its thread): the last check's verdict. Returns true on a change.
  bool set_active(size_t i, bool up);
  bool active_up(size_t i) const { return states_[i].active_up.load(std::memory_order_relaxed); }

  // Workers: an attempt on server i failed (could not connect, or the connection broke before a
  // response). Returns true when this failure ejected the server. Concurrent failures from
  // several workers may be counted approximately; an ejection is never lost.
  bool record_failure(size_t i, int64_t now_ns, const PassiveHealthOptions& options);

  // Copies the states of the servers `other` has too (same URL), so a reload that changes a
  // service's server list keeps what is known about the servers that stay.
  void inherit(const ServiceHealth& other);

 private:
  struct State {
    std::atomic<bool> active_up{true};
    std::atomic<int64_t> passive_down_until{0};
    std::atomic<int64_t> window_start{0};
    std::atomic<int32_t> failures{0};
  };
  std::vector<std::string> urls_;
  std::unique_ptr<State[]> states_;
};

using ServiceHealthPtr = std::shared_ptr<ServiceHealth>;

// Keeps health tables across snapshots (Traefik keeps a service's health while its
// configuration does not change). Control thread only.
class HealthRegistry {
 public:
  // The table for `service` with these servers: the one from the previous build when the server
  // list is the same; otherwise a new one inheriting the states of the servers that stay.
  ServiceHealthPtr get(const std::string& service, const std::vector<std::string>& urls);
  // Ends a build: tables not asked for since the previous end_build are forgotten.
  void end_build();

 private:
  std::map<std::string, ServiceHealthPtr> current_;
  std::map<std::string, ServiceHealthPtr> next_;
};

}  // namespace turnpike::service
