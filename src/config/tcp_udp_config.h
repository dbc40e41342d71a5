#pragma once
// The dynamic configuration's `tcp` and `udp` sections (Traefik v3 schema) decoded into structs,
// with the same rules as the `http` section (dynamic_config.h): names qualified `name@provider`,
// references qualified with the referencing provider, errors kept per object (the builder
// disables a broken object and what depends on it), unknown keys are errors.
//
//   tcp:
//     routers:     <name>: {entryPoints, rule, ruleSyntax, priority, middlewares, service,
//                           tls: {passthrough, options, certResolver, domains}}
//     services:    <name>: loadBalancer: {servers: [{address, tls, weight}], serversTransport,
//                                         proxyProtocol: {version}, terminationDelay, healthCheck}
//                        | weighted: {services: [{name, weight}]}
//     middlewares: <name>: {ipAllowList | ipWhiteList | inFlightConn: {...}}
//     serversTransports: <name>: {dialKeepAlive, dialTimeout, terminationDelay, proxyProtocol,
//                                 tls: {serverName, insecureSkipVerify, rootCAs, certificates,
//                                       peerCertURI, spiffe}, idleTimeout (Turnpike)}
//   udp:
//     routers:  <name>: {entryPoints, service}
//     services: <name>: loadBalancer: {servers: [{address, weight}]} | weighted: {services}
//
// Plain values produced on the control thread.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/duration.h"
#include "config/tree/decoder.h"
#include "config/tree/node.h"

namespace turnpike::config {

// A certificate and its key (`certFile`/`keyFile`): file paths or inline PEM. Used by
// tls.certificates, mTLS client certificates of serversTransports, and the like.
struct CertificateFiles {
  std::string cert_file; // path or inline PEM
  std::string key_file;
};

// A certificate resolver's domain list entry (HTTP and TCP router tls.domains, entrypoint
// http.tls.domains, tls.stores.default.defaultGeneratedCert.domain).
struct TlsDomain {
  std::string main;
  std::vector<std::string> sans;
};

// ---- tcp ---------------------------------------------------------------------------------------

struct TcpRouterTls {
  bool passthrough = false;
  std::string options; // TLS options name (termination)
  std::string cert_resolver;   // for certificate resolvers (ACME)
  std::vector<TlsDomain> domains;
};

struct TcpRouter {
  std::string name; // qualified
  std::string provider;
  Location location;
  std::vector<std::string> entry_points; // empty = default entry points
  std::string rule;
  std::string rule_syntax;              // "", "v2" or "v3"
  int64_t priority = 0;                 // 0 = unset
  std::vector<std::string> middlewares; // qualified, in order
  std::string service;                  // qualified
  std::optional<TcpRouterTls> tls;      // present (even empty) = TLS router
  std::vector<std::string> errors;
};

struct TcpServer {
  std::string address; // "host:port"
  bool tls = false;    // TLS to the backend
  int weight = 1;      // Turnpike accepts a weight per server, as for HTTP servers
  Location location;
};

struct TcpLoadBalancerConfig {
  std::vector<TcpServer> servers;
  std::string servers_transport;             // qualified; empty = default@internal
  int proxy_protocol_version = 0;            // deprecated here (use the transport); 0 = unset
  std::optional<Duration> termination_delay; // deprecated (milliseconds); unset = transport's
  std::optional<Node> health_check;          // raw, not supported yet
};

struct TcpWeightedChild {
  std::string name; // qualified
  int weight = 1;
};

enum class TcpServiceKind { kNone, kLoadBalancer, kWeighted };

struct TcpService {
  std::string name; // qualified
  std::string provider;
  Location location;
  TcpServiceKind kind = TcpServiceKind::kNone; // kNone only together with errors
  std::optional<TcpLoadBalancerConfig> load_balancer;
  std::vector<TcpWeightedChild> weighted; // kWeighted
  std::vector<std::string> errors;
};

struct TcpMiddleware {
  std::string name; // qualified
  std::string provider;
  Location location;
  std::string type; // the one type key as written; empty only with errors
  Node options;     // decoded by the middleware's factory (tcp/middleware.h)
  std::vector<std::string> errors;
};

// A TCP serversTransport's `tls` section (Traefik's TLSClientConfig), used for the servers
// marked `tls: true`. The static tcpServersTransport only has insecureSkipVerify and rootCAs.
struct TcpTransportTls {
  std::string server_name; // empty = the server address's host
  bool insecure_skip_verify = false;
  std::vector<std::string> root_cas;          // files or inline PEM; empty = system roots
  std::vector<CertificateFiles> certificates; // client certificates (mTLS to the backend)
  std::string peer_cert_uri;
  bool spiffe = false; // a `spiffe` section was given (not supported: ignored with a warning)
};

struct TcpServersTransport {
  std::string name; // qualified; "default@internal" for the static tcpServersTransport
  Location location;
  Duration dial_keep_alive = std::chrono::seconds(15);
  Duration dial_timeout = std::chrono::seconds(30);
  Duration termination_delay = std::chrono::milliseconds(100); // negative = no limit
  Duration idle_timeout = Duration::zero(); // Turnpike addition; 0 = none (Traefik)
  int proxy_protocol_version = 0;           // 0 = none
  std::optional<TcpTransportTls> tls;
  std::vector<std::string> errors;
};

struct TcpConfig {
  std::map<std::string, TcpRouter> routers; // by qualified name
  std::map<std::string, TcpService> services;
  std::map<std::string, TcpMiddleware> middlewares;
  std::map<std::string, TcpServersTransport> servers_transports;
};

// ---- udp ---------------------------------------------------------------------------------------

struct UdpRouter {
  std::string name; // qualified
  std::string provider;
  Location location;
  std::vector<std::string> entry_points; // empty = every UDP entry point
  std::string service;                   // qualified
  std::vector<std::string> errors;
};

struct UdpServer {
  std::string address; // "host:port"
  int weight = 1;
  Location location;
};

struct UdpService {
  std::string name; // qualified
  std::string provider;
  Location location;
  TcpServiceKind kind = TcpServiceKind::kNone; // same two kinds as TCP services
  std::vector<UdpServer> servers;              // kLoadBalancer
  std::vector<TcpWeightedChild> weighted;      // kWeighted
  std::vector<std::string> errors;
};

struct UdpConfig {
  std::map<std::string, UdpRouter> routers;
  std::map<std::string, UdpService> services;
};

// Decode one provider's `tcp` / `udp` section into `out`; problems of the section itself (not a
// map, unknown key) go to `errors`, problems of an object onto the object.
void decode_tcp(const Node& node, std::string_view provider, TcpConfig& out, Errors& errors);
void decode_udp(const Node& node, std::string_view provider, UdpConfig& out, Errors& errors);

// Decodes a TCP servers transport's options. `static_defaults` restricts the keys to the static
// `tcpServersTransport` ones. The caller calls finish().
void decode_tcp_servers_transport(Decoder& dec, TcpServersTransport& out, bool static_defaults);

// Unions `from` into `into` (same-name objects keep the first and add an error).
void merge(TcpConfig& into, TcpConfig& from, std::vector<std::string>& errors);
void merge(UdpConfig& into, UdpConfig& from, std::vector<std::string>& errors);

} // namespace turnpike::config
