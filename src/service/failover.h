#pragma once
// Traefik's `failover` service: requests go to `service` while it is healthy and to `fallback`
// when it is not (the main service's health comes from its own health checks; see
// Service::healthy). With `errors` (Traefik 3.7) a response from the main service whose status
// is listed is not sent to the client: the request, its body replayed from a buffer, goes to the
// fallback instead. Failovers chain (a fallback may itself be a failover).
//
// Threading: immutable after construction (control thread); shared by every worker.

#include <optional>
#include <utility>
#include <vector>

#include "service/load_balancer.h"

namespace turnpike::service {

struct FailoverOptions {
  // Statuses that send the request on to the fallback (`errors.status`, inclusive ranges);
  // empty: fail over on health only.
  std::vector<std::pair<int, int>> error_statuses;
  // `errors.maxRequestBodyBytes`: bodies up to this size are buffered for the replay; a larger
  // body streams to the main service and cannot fail over on its status. -1: no limit.
  int64_t max_request_body_bytes = -1;
  bool check_health = false;  // `healthCheck: {}`: parents see this service's health
};

class FailoverService : public Service {
 public:
  FailoverService(std::string name, ServicePtr main, ServicePtr fallback,
                  FailoverOptions options);
  http::Task<void> handle(http::Exchange& ex) const override;
  bool healthy(int64_t now_ns) const override;

 private:
  bool diverts(int status) const;

  std::string name_;
  ServicePtr main_;
  ServicePtr fallback_;
  FailoverOptions options_;
};

// An exchange that shares everything with `ex` except its body reader (a replay of a buffered
// body), and carries its annotations back when done. For services that send one request twice.
class SubExchange {
 public:
  SubExchange(http::Exchange& ex, http::BodyReader& body);
  ~SubExchange();
  http::Exchange& get() { return sub_; }

 private:
  http::Exchange& ex_;
  http::Exchange sub_;
};

// Parses Traefik's status list ("500-504", "503") into inclusive ranges; false on a bad item.
bool parse_status_ranges(const std::vector<std::string>& items,
                         std::vector<std::pair<int, int>>& out, std::string& error);

}  // namespace turnpike::service
