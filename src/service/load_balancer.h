#pragma once
// HTTP services: the load balancer over upstream servers (Traefik's `loadBalancer`) and the
// `weighted` / `highestRandomWeight` composites (failover.h and mirroring.h hold the others).
// All are http::Handlers built by the snapshot builder on the control thread, then immutable and
// shared by every worker. Per-worker state (balancer counters, requests in flight, retry
// budgets) lives in per-worker slots indexed by Exchange::worker_id, so workers never share a
// written cache line; server health lives in the shared lock-free table of health.h.

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "common/duration.h"
#include "common/result.h"
#include "common/wrr.h"
#include "http/exchange.h"
#include "service/balancer.h"
#include "service/health.h"
#include "service/sticky.h"
#include "service/upstream_tls.h"

namespace turnpike::service {

using HandlerPtr = std::shared_ptr<const http::Handler>;

// Runtime form of an HTTP serversTransport. Immutable once built; shared by the services using it.
struct TransportOptions {
  std::string name = "default@internal";
  Duration dial_timeout = std::chrono::seconds(30);
  Duration response_header_timeout = Duration::zero();  // 0 = none
  Duration idle_conn_timeout = std::chrono::seconds(90);
  Duration read_idle_timeout = Duration::zero();  // HTTP/2: PING after this much silence; 0 = off
  Duration ping_timeout = std::chrono::seconds(15);  // HTTP/2: PING ack deadline
  size_t max_idle_conns_per_host = 200;
  bool disable_http2 = false;  // https:// servers: offer only http/1.1 in ALPN
  std::shared_ptr<const UpstreamTls> tls;  // for https:// servers (null: they fail to dial)
};

enum class Scheme {
  kHttp,   // http://: HTTP/1.1 over TCP
  kHttps,  // https://: TLS, then HTTP/2 or HTTP/1.1 as ALPN decides
  kH2c,    // h2c://: HTTP/2 over TCP with prior knowledge
};

struct Server {
  std::string url;        // as configured
  Scheme scheme = Scheme::kHttp;
  std::string host;       // host part (no brackets)
  uint16_t port = 80;
  std::string authority;  // "host:port" as sent in Host when passHostHeader is false
  std::string base_path;  // path of the URL (used when preservePath is set)
  bool preserve_path = false;
  int weight = 1;
  // Pools and TLS sessions are keyed by it: transport name (+ TLS fingerprint for https),
  // scheme and address. Set by LoadBalancerService.
  std::string pool_key;
  // Pre-resolved when the URL host is an IP literal; otherwise resolved when dialling.
  std::optional<boost::asio::ip::tcp::endpoint> endpoint;

  // The request target under preservePath (the URL's path, then the request's path and query);
  // empty when the request's own path and query are sent.
  std::string preserved_target(const http::Request& req) const;

  // Parses "http://host[:port][/path]", "https://..." (default port 443) and "h2c://..."
  // (default port 80).
  static Result<Server> parse(std::string_view url, int weight);
};

// Base of every HTTP service: an http::Handler that can say whether it has somewhere to send a
// request. Parents that declare `healthCheck: {}` (weighted, highestRandomWeight, failover,
// mirroring) ask their children; that is how health propagates up (Traefik's rule: only to
// parents that ask). Any thread; reads the health tables only.
class Service : public http::Handler {
 public:
  // `now_ns`: steady_ns(Clock::now()), read once per request by the caller.
  virtual bool healthy(int64_t now_ns) const {
    (void)now_ns;
    return true;
  }
};
using ServicePtr = std::shared_ptr<const Service>;

// Retries to another server (a Turnpike extension, `loadBalancer.retry`). A failed attempt is
// tried again on a server not yet tried when nothing reached the upstream application (the
// connection could not be made) or, for idempotent methods without a body, when the connection
// broke before any response. A request body that was sent is never sent again.
struct RetryOptions {
  int attempts = 2;                // further servers after the first; 0 turns retries off
  double budget_ratio = 0.2;       // retries may add at most this share of the requests...
  double min_retries_per_second = 3;  // ...plus this many per second (per worker)
};

struct LoadBalancerOptions {
  Strategy strategy = Strategy::kWrr;
  bool pass_host_header = true;
  std::shared_ptr<const TransportOptions> transport;
  std::optional<StickyCookieOptions> sticky;
  std::optional<PassiveHealthOptions> passive;
  // The servers' health (active and/or passive checks); null when neither is configured, then
  // every server is always eligible.
  ServiceHealthPtr health;
  RetryOptions retry;
};

class LoadBalancerService : public Service {
 public:
  // `workers` sizes the per-worker state. An empty server list answers 503. Servers with a weight
  // <= 0 never receive requests; `options.health`, when set, has one entry per remaining server
  // (see health_keys()).
  LoadBalancerService(std::string name, std::vector<Server> servers, LoadBalancerOptions options,
                      unsigned workers);
  LoadBalancerService(std::string name, std::vector<Server> servers, bool pass_host_header,
                      std::shared_ptr<const TransportOptions> transport, unsigned workers);

  http::Task<void> handle(http::Exchange& ex) const override;
  bool healthy(int64_t now_ns) const override;
  const std::string& name() const { return name_; }
  const std::vector<Server>& servers() const { return servers_; }
  const Balancer& balancer() const { return balancer_; }

  // The servers that receive requests (weight > 0), in order: the keys of the health table.
  static std::vector<std::string> health_keys(const std::vector<Server>& servers);

 private:
  struct alignas(64) BudgetSlot {
    double tokens = 0;
    Clock::time_point refilled{};
  };
  bool take_retry_token(unsigned worker) const;
  void deposit_retry_credit(unsigned worker) const;

  std::string name_;
  std::vector<Server> servers_;
  LoadBalancerOptions options_;
  Balancer balancer_;
  std::optional<StickyCookie> sticky_;
  mutable std::vector<BudgetSlot> budgets_;  // slot i touched only by worker i
};

// `weighted` (smooth WRR) and `highestRandomWeight` (rendezvous hash on the client IP) over
// named services.
class WeightedService : public Service {
 public:
  struct Child {
    std::string name;
    ServicePtr handler;
    int weight = 1;
  };
  struct Options {
    Strategy strategy = Strategy::kWrr;  // kWrr (weighted) or kHrw (highestRandomWeight)
    std::optional<StickyCookieOptions> sticky;
    bool check_health = false;  // `healthCheck: {}`: skip children with no healthy server
  };
  WeightedService(std::string name, std::vector<Child> children, Options options,
                  unsigned workers);
  http::Task<void> handle(http::Exchange& ex) const override;
  bool healthy(int64_t now_ns) const override;

 private:
  std::string name_;
  std::vector<Child> children_;
  Options options_;
  Balancer balancer_;
  std::optional<StickyCookie> sticky_;
};

// Answers 503 "no available server" (Traefik's answer when a service has nowhere to send).
http::Task<void> send_unavailable(http::Exchange& ex);

// hash64 of the client's IP address bytes (the key of hrw).
uint64_t client_hash(const http::Request& req);

}  // namespace turnpike::service
