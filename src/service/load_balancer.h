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

namespace turnpike::service {

using HandlerPtr = std::shared_ptr<const http::Handler>;

// Runtime form of an HTTP serversTransport.
struct TransportOptions {
  std::string name = "default@internal";
  Duration dial_timeout = std::chrono::seconds(30);
  Duration response_header_timeout = Duration::zero();  // 0 = none
  Duration idle_conn_timeout = std::chrono::seconds(90);
  size_t max_idle_conns_per_host = 200;
};

struct Server {
  std::string url;        // as configured
  std::string host;       // host part (no brackets)
  uint16_t port = 80;
  std::string authority;  // "host:port" as sent in Host when passHostHeader is false
  std::string base_path;  // path of the URL (used when preservePath is set)
  bool preserve_path = false;
  int weight = 1;
  std::string pool_key;   // transport + address
  // Pre-resolved when the URL host is an IP literal; otherwise resolved when dialling.
  std::optional<boost::asio::ip::tcp::endpoint> endpoint;

  // Parses "http://host[:port][/path]". https:// and h2c:// come with TLS support.
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
