#pragma once
// Active health checks (Traefik's `loadBalancer.healthCheck`): each server of a service that
// declares one is probed every `interval` (every `unhealthyInterval` while it is down); a probe
// that fails (no connection, timeout, unexpected status, gRPC status other than SERVING) marks it
// down in the service's health table (health.h) and the first one that succeeds marks it up
// again, as Traefik does. Workers stop picking a down server at once (they read the table).
//
// Probes reuse the data-plane proxy code (plain HTTP/1.1, TLS with the service's
// serversTransport, HTTP/2 and h2c, gRPC health protocol) on a WorkerContext of their own.
//
// Threading: the HealthChecker owns one thread with its own io_context: probes never run on, nor
// wait for, a worker. update() is called on the control thread after each snapshot build and
// posts the new set of checks to that thread; a check whose target and options did not change
// keeps its schedule across reloads.

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/asio_types.h"
#include "service/health.h"
#include "service/load_balancer.h"

namespace turnpike {
struct WorkerContext;
}

namespace turnpike::service {

struct ActiveHealthOptions {
  std::string path;    // required
  std::string query;   // from a `path` with '?'
  std::string scheme;  // "", "http", "https", "h2c": replaces the server URL's scheme
  bool grpc = false;   // mode: grpc (grpc.health.v1.Health/Check) instead of http
  std::string hostname;  // Host of the probe; default: the server's host:port
  int port = 0;          // 0: the server's port
  Duration interval = std::chrono::seconds(30);
  Duration unhealthy_interval = Duration::zero();  // 0: interval
  Duration timeout = std::chrono::seconds(5);
  std::vector<std::pair<std::string, std::string>> headers;
  bool follow_redirects = true;
  std::string method = "GET";
  int status = 0;  // expected status; 0: any 2xx or 3xx

  // Identity of the options (a reload that does not change them keeps the schedule).
  std::string fingerprint() const;
};

struct HealthCheckTarget {
  std::string service;     // qualified name, for logs
  ServiceHealthPtr health;  // the service's table
  size_t index = 0;         // the server's entry in it
  Server server;            // as configured (pool_key set by the builder)
  std::shared_ptr<const TransportOptions> transport;
  std::shared_ptr<const ActiveHealthOptions> options;
};

class HealthChecker {
 public:
  HealthChecker();
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Control thread: the complete set of checks of the new snapshot.
  void update(std::vector<HealthCheckTarget> targets);

  // One probe, as the checker runs it; true when the server is healthy. Runs on `ctx`'s thread.
  static http::Task<bool> probe(WorkerContext& ctx, const HealthCheckTarget& target,
                                std::string* why);

 private:
  void apply(std::vector<HealthCheckTarget> targets);  // checker thread
  http::Task<void> run(HealthCheckTarget target, std::string key, uint64_t generation,
                       std::shared_ptr<turnpike::SteadyTimer> timer);

  boost::asio::io_context io_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::unique_ptr<WorkerContext> ctx_;
  // Checker thread only:
  uint64_t generation_ = 0;
  std::vector<std::shared_ptr<turnpike::SteadyTimer>> timers_;
  std::map<std::string, Clock::time_point> next_due_;  // by check key
  std::thread thread_;
};

}  // namespace turnpike::service
