#pragma once
// The snapshot builder: turns the merged dynamic configuration into the immutable Snapshot the
// workers run on. Control thread only.
//
// Traefik's degradation rules: a broken object disables itself and what depends on it, never
// the whole configuration. A router with a bad rule, an unknown entrypoint, a missing or broken
// service or middleware is left out of the route tables and carries its errors in the
// snapshot's status maps; everything else serves.

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/dynamic_config.h"
#include "config/snapshot.h"
#include "config/static_config.h"
#include "middleware/state_store.h"
#include "router/rule.h"
#include "tls/tls_manager.h"
#include "service/health_check.h"
#include "service/load_balancer.h"

namespace turnpike::config {

// Compiled rules by rule text, carried from one build to the next so that a reload re-parses
// only the rules that changed. Control thread only.
using RuleCache = std::unordered_map<std::string, std::shared_ptr<const router::Rule>>;

// What one build leaves for the next, so that a change to one object among 10,000 rebuilds that
// object and what depends on it, not everything (issue 6: a change applies in milliseconds, and
// unchanged services keep their balancer and health state). It also keeps the last snapshot, so
// that a build told that only some HTTP routers changed (BuildOptions::changes) patches it.
//
// Each service, middleware, serversTransport and router built is kept with the revision of the
// decoded configuration it came from (DynamicConfig's `revision`) and what it looked up while it
// was built: a router's service, middlewares and TLS options, a weighted service's children, a
// middleware's service, a load balancer's transport. The next build reuses the object (the same
// ServicePtr, Wrap or Route, its status and its errors, not logged again) when its revision is
// the same and every lookup gives the same object again; otherwise it builds it anew. So a
// changed service rebuilds the routers (and the weighted services, middlewares) that use it, a
// changed middleware the chains that use it, and nothing else. Objects the build did not use
// are dropped. Route tables are still built from all their routes each time.
//
// Control thread only. Owned by whoever calls build_snapshot repeatedly (the gateway); --validate
// and tests that build once need none.
class BuildCache {
 public:
  BuildCache();
  ~BuildCache();
  BuildCache(const BuildCache&) = delete;
  BuildCache& operator=(const BuildCache&) = delete;

  // What the last build did (tests, the gateway's debug log).
  struct Stats {
    size_t routers_reused = 0, routers_built = 0;
    size_t services_reused = 0, services_built = 0;
    size_t middlewares_reused = 0, middlewares_built = 0;
    bool patched = false; // the last snapshot was patched (BuildOptions::changes)
  };
  const Stats& last_build() const { return stats_; }

  struct Entries;  // builder.cc

 private:
  friend struct BuildCacheAccess;
  std::unique_ptr<Entries> entries_;
  Stats stats_;
};

// A router the gateway adds itself, outside any provider (acme-http@internal for HTTP-01
// challenges). Its handler answers on its own: no middlewares, no service.
struct InternalRoute {
  std::string entrypoint;  // static entrypoint name
  std::string name;        // qualified, "@internal"
  std::string rule;
  int64_t priority = 0;
  std::shared_ptr<const http::Handler> handler;
};

struct BuildOptions {
  // Static entrypoints in snapshot order (index i = Snapshot::entrypoints[i]).
  std::vector<const EntryPoint*> entrypoints;
  unsigned workers = 1;
  ServersTransport default_transport;  // static `serversTransport` (default@internal)
  // Static UDP entrypoints (index i = Snapshot::udp_entrypoints[i]).
  std::vector<const EntryPoint*> udp_entrypoints;
  TcpServersTransport default_tcp_transport;  // static `tcpServersTransport`
  // Optional: read for reuse and replaced by the rules of this build (unused ones dropped).
  RuleCache* rule_cache = nullptr;
  // Added to every snapshot (unknown entrypoints are reported on the route's status).
  std::vector<InternalRoute> internal_routes;
  // Services the gateway provides itself, by qualified name ("rest@internal"): routers of any
  // provider may use them (`service: rest@internal`), as Traefik's api@internal and rest@internal.
  std::map<std::string, service::ServicePtr> internal_services;
  // Builds the TLS contexts (certificates, options). Without it the snapshot has no TLS state
  // (entrypoints' `tls` is null: TLS connections are refused), which some unit tests want.
  tls::TlsManager* tls = nullptr;
  // Optional: health tables kept across builds (without it each build starts all servers
  // healthy, as --validate needs). Its end_build() is called by build_snapshot.
  service::HealthRegistry* health = nullptr;
  // Optional: middleware state (rate-limit buckets, in-flight counts) kept across builds; without
  // it every build starts fresh. Its end_build() is called by build_snapshot.
  middleware::StateStore* middleware_state = nullptr;
  // Optional: read for reuse and replaced by what this build made (see BuildCache).
  BuildCache* cache = nullptr;
  // Optional, with `cache`: what changed in the configuration since the build that filled the
  // cache, when the caller knows it exactly. When only HTTP routers changed (the usual KV or
  // Kubernetes edit), the build patches the cache's last snapshot: it builds the changed routers
  // and patches their route tables and statuses, and does no work for the other routers (issue
  // 6). It falls back to the full build when a changed router (before or after) has TLS, stateful
  // middlewares, or depends on something the last build did not leave reusable. Without it, or
  // when the caller cannot tell, every object is walked (and reused when unchanged).
  const ChangeSet* changes = nullptr;
  // Optional: receives the active health checks of the services built.
  std::vector<service::HealthCheckTarget>* health_checks = nullptr;
};

std::shared_ptr<const Snapshot> build_snapshot(const DynamicConfig& config,
                                               const BuildOptions& options, uint64_t generation);

// The entrypoints (indexes in options.entrypoints) of a router that names none: those marked
// asDefault, else every one.
std::vector<size_t> default_entrypoints(const BuildOptions& options);

// Builds the TCP and UDP parts of `snapshot` (TCP route tables per entrypoint, UDP routers per
// UDP entrypoint, their statuses) from `config`. Called by build_snapshot after the HTTP part,
// whose router statuses it reads (HTTPS routers' domains take precedence over TCP TLS routers).
void build_tcp_udp(const DynamicConfig& config, const BuildOptions& options, Snapshot& snapshot);

// Every error in a snapshot's status maps and the config's document-level errors, one line each
// ("router api@file: ..."), for logs and --validate.
std::vector<std::string> collect_errors(const DynamicConfig& config, const Snapshot& snapshot);

}  // namespace turnpike::config
