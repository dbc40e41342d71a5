#pragma once
// TCP services (Traefik's `tcp.services`): the load balancer over backend addresses and the
// `weighted` composite, plus the TCP servers transport they dial with.
//
//   loadBalancer: one server per connection by smooth weighted round robin (one cursor per
//     worker), dialled with the transport's dialTimeout and keep-alive, optionally announced with
//     a PROXY protocol header, for `tls: true` servers wrapped in TLS (the transport's `tls`
//     section: verification on unless insecureSkipVerify, rootCAs, serverName, client
//     certificates, peerCertURI; the PROXY header goes before the handshake, where backends read
//     it), then piped to the client (byte_pipe.h) with the transport's terminationDelay. A
//     backend that cannot be reached, or whose TLS handshake fails, closes the client connection
//     (Traefik) and is logged with the reason.
//   weighted: picks a child service by weight, per worker.
//
// Built on the control plane with the configuration snapshot; immutable and shared by every
// worker afterwards (per-worker cursors in WeightedRoundRobin).

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "common/asio_types.h"
#include "common/duration.h"
#include "common/ipnet.h"
#include "common/result.h"
#include "common/wrr.h"
#include "tcp/handler.h"

namespace turnpike::service {
class UpstreamTls;
}

namespace turnpike::tcp {

// Runtime form of a TCP serversTransport (static `tcpServersTransport` = default@internal).
struct Transport {
  std::string name = "default@internal";
  Duration dial_timeout = std::chrono::seconds(30);    // 0 = none
  Duration dial_keep_alive = std::chrono::seconds(15); // 0 = 15s, negative = off (Go's rule)
  Duration termination_delay = std::chrono::milliseconds(100); // negative = no limit
  Duration idle_timeout = Duration::zero(); // Turnpike addition; 0 = none (Traefik)
  int proxy_protocol_version = 0;           // 0 = none, 1 or 2
  // Client TLS for `tls: true` servers (the transport's `tls` section, else Go's defaults:
  // system roots, verification on). Null only when no server of the transport uses TLS.
  std::shared_ptr<const service::UpstreamTls> tls;
};

struct Server : ServerAddress {
  bool tls = false; // dial TLS to this server (servers[].tls)
};

class LoadBalancer final : public Handler {
public:
  // `proxy_protocol_version` is the deprecated loadBalancer.proxyProtocol (0 = use the
  // transport's). An empty server list closes every connection.
  LoadBalancer(std::string name, std::vector<Server> servers,
               std::shared_ptr<const Transport> transport, int proxy_protocol_version,
               unsigned workers);
  Task<void> serve(Connection& conn) const override;

  const std::vector<Server>& servers() const { return servers_; }

private:
  std::string name_;
  std::vector<Server> servers_;
  std::shared_ptr<const Transport> transport_;
  int proxy_protocol_version_;
  WeightedRoundRobin wrr_;
};

class Weighted final : public Handler {
public:
  struct Child {
    std::string name;
    HandlerPtr handler;
    int weight = 1;
  };
  Weighted(std::string name, std::vector<Child> children, unsigned workers);
  Task<void> serve(Connection& conn) const override;

private:
  std::string name_;
  std::vector<Child> children_;
  WeightedRoundRobin wrr_;
};

// Connects to `server` within `timeout` (0 = none): resolves a host name first. On failure the
// error says what failed ("dial 10.0.0.1:5432: Connection refused", "... timeout").
Task<Result<turnpike::TcpSocket>> dial(turnpike::Executor executor,
                                                DeadlineScanner& deadlines, const Server& server,
                                                Duration timeout);

// Enables TCP keep-alive probes every `period` (0 = 15s; negative = leaves them off).
void set_keep_alive(turnpike::TcpSocket& socket, Duration period);

} // namespace turnpike::tcp
