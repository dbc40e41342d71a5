#pragma once
// Traefik's `mirroring` service: every request goes to the main `service`, and a share of them
// (`percent` per mirror) is also sent to each mirror. Mirror responses are discarded. A mirrored
// request runs on its own coroutine on the same worker, started before the main request and
// never awaited, so a slow or failing mirror cannot delay or fail the main request.
//
// Bodies: with `mirrorBody` (the default) a body up to `maxBodySize` (-1: no limit) is buffered
// once and replayed to the main service and to each mirror; a larger body goes to the main
// service only (streamed on from the client) and that request is not mirrored. Without
// `mirrorBody` mirrors get the request without its body.
//
// Threading: immutable configuration, shared by every worker; the per-mirror counters that make
// the shares exact are per worker (slots indexed by worker id).

#include <memory>
#include <vector>

#include "common/per_worker.h"
#include "service/load_balancer.h"

namespace turnpike::service {

struct MirroringOptions {
  bool mirror_body = true;
  int64_t max_body_size = -1;
  bool check_health = false;  // `healthCheck: {}`: parents see the main service's health
  // Mirrored requests in flight per worker beyond which further ones are skipped (a stalled
  // mirror must not pile up memory).
  size_t max_in_flight = 1024;
};

class MirroringService : public Service, public std::enable_shared_from_this<MirroringService> {
 public:
  struct Mirror {
    std::string name;
    ServicePtr handler;
    int percent = 0;
  };
  MirroringService(std::string name, ServicePtr main, std::vector<Mirror> mirrors,
                   MirroringOptions options, unsigned workers);
  http::Task<void> handle(http::Exchange& ex) const override;
  bool healthy(int64_t now_ns) const override;

 private:
  struct Slot {
    uint64_t requests = 0;
    std::vector<uint64_t> sent;  // per mirror
    size_t in_flight = 0;
  };
  void spawn_mirror(const http::Exchange& ex, size_t m,
                    std::shared_ptr<const std::string> body) const;

  std::string name_;
  ServicePtr main_;
  std::vector<Mirror> mirrors_;
  MirroringOptions options_;
  mutable PerWorker<Slot> slots_;
};

}  // namespace turnpike::service
