#pragma once
// HTTP services: the load balancer over upstream servers (Traefik's `loadBalancer`) and the
// `weighted` composite. Both are http::Handlers built by the snapshot builder on the control
// thread, then immutable and shared by every worker. Per-worker balancer state (smooth weighted
// round-robin counters) lives in per-worker slots indexed by Exchange::worker_id, so workers never
// share a written cache line.

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "common/duration.h"
#include "common/result.h"
#include "common/wrr.h"
#include "http/exchange.h"
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

class LoadBalancerService : public http::Handler {
 public:
  // `workers` sizes the per-worker state. An empty server list answers 503.
  LoadBalancerService(std::string name, std::vector<Server> servers, bool pass_host_header,
                      std::shared_ptr<const TransportOptions> transport, unsigned workers);

  http::Task<void> handle(http::Exchange& ex) const override;
  const std::string& name() const { return name_; }
  const std::vector<Server>& servers() const { return servers_; }

 private:
  const Server* pick(unsigned worker_id) const;

  struct alignas(64) Slot {
    std::vector<int64_t> current;  // smooth WRR current weights
  };

  std::string name_;
  std::vector<Server> servers_;
  std::vector<int> weights_;  // servers_[i].weight, laid out for smooth_wrr_pick
  int64_t total_weight_ = 0;
  bool pass_host_header_;
  std::shared_ptr<const TransportOptions> transport_;
  mutable std::vector<Slot> slots_;  // slot i touched only by worker i
};

class WeightedService : public http::Handler {
 public:
  struct Child {
    std::string name;
    HandlerPtr handler;
    int weight = 1;
  };
  WeightedService(std::string name, std::vector<Child> children, unsigned workers);
  http::Task<void> handle(http::Exchange& ex) const override;

 private:
  struct alignas(64) Slot {
    std::vector<int64_t> current;
  };
  std::string name_;
  std::vector<Child> children_;
  std::vector<int> weights_;  // children_[i].weight
  int64_t total_weight_ = 0;
  mutable std::vector<Slot> slots_;
};

}  // namespace turnpike::service
