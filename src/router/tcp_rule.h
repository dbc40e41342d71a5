#pragma once
// TCP routing (Traefik's pkg/muxer/tcp): the TCP matchers, compiled TCP rules and the per
// entrypoint tables of TCP routes.
//
// Matchers (one argument each; spellings and operators as for HTTP rules, see rule_syntax.h):
//   HostSNI(`example.com`)    the TLS server name, case-insensitive; a trailing dot on the
//                             argument is ignored; no SNI never matches
//   HostSNI(`*.example.com`)  one label under example.com (not example.com, not a.b.example.com)
//   HostSNI(`*`)              every connection, with or without TLS (the only HostSNI allowed on
//                             routers without TLS)
//   HostSNIRegexp(`re`)       RE2 on the lower-cased server name, unanchored
//   ClientIP(`10.0.0.0/8`)    the client address (after the PROXY protocol), IP or CIDR
//   ALPN(`h2`)                one of the protocols the client offers; `acme-tls/1` is refused
//
// Priority (TcpRouteTable): the configured one, else the rule's length in bytes, except that a
// rule that is exactly HostSNI(`*`) defaults to -1 so that it comes after every other route.
// Routes are tried by priority, highest first, then by name; the first match wins.
//
// Threading: parsing and table building run on the control plane; rules and tables are
// immutable afterwards, shared by every worker, and match() never throws nor allocates.

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "common/ipnet.h"
#include "common/result.h"
#include "router/matcher.h"
#include "router/rule_syntax.h"
#include "tcp/handler.h"

namespace turnpike::router {

// What TCP rules look at, known before any byte is forwarded.
struct ConnectionFacts {
  std::string_view server_name; // SNI, lower case; empty without TLS or without SNI
  boost::asio::ip::address client_ip;
  std::span<const std::string> alpn; // protocols offered in the ClientHello
};

enum class TcpMatcherKind : uint8_t { kHostSNI, kHostSNIRegexp, kClientIP, kALPN };

class TcpMatcher {
public:
  TcpMatcher(TcpMatcher&&) noexcept;
  TcpMatcher& operator=(TcpMatcher&&) noexcept;
  ~TcpMatcher();

  TcpMatcherKind kind() const { return kind_; }
  std::string_view name() const; // canonical spelling
  const std::vector<std::string>& args() const { return args_; }
  // HostSNI: the host pattern (kAny for `*`); nullopt for other matchers.
  std::optional<HostPattern> host_pattern() const;

  bool matches(const ConnectionFacts& facts) const;

private:
  friend class TcpMatchers;
  TcpMatcher() = default;

  TcpMatcherKind kind_ = TcpMatcherKind::kHostSNI;
  HostPattern::Kind host_kind_ = HostPattern::Kind::kExact;
  std::string value_; // HostSNI: pattern name; ALPN: protocol
  std::unique_ptr<const re2::RE2> regex_;
  std::unique_ptr<const IpNet> net_;
  std::vector<std::string> args_;
};

class TcpRule {
public:
  bool matches(const ConnectionFacts& facts) const;
  // Canonical text (same printing rules as Rule::to_string).
  std::string to_string() const;
  // True when the rule is exactly HostSNI(`*`) (Traefik's "catch-all": default priority -1, and
  // HTTPS routers for a specific host take precedence over it).
  bool catch_all() const;
  // The HostSNI arguments other than `*`, lower-cased: a router using them needs TLS.
  std::vector<std::string> sni_domains() const;

  std::span<const RuleNode> nodes() const { return nodes_; }
  std::span<const TcpMatcher> matchers() const { return matchers_; }

private:
  friend Result<std::shared_ptr<const TcpRule>> parse_tcp_rule(std::string_view text);
  TcpRule() = default;

  std::vector<RuleNode> nodes_;
  std::vector<TcpMatcher> matchers_;
};

// Parses and compiles a TCP rule; errors name the 1-based byte position as for HTTP rules.
Result<std::shared_ptr<const TcpRule>> parse_tcp_rule(std::string_view text);

// The priority a TCP router runs with: the configured one, or the default when it is 0.
int64_t tcp_route_priority(int64_t configured, std::string_view rule_text, const TcpRule& rule);

struct TcpRoute {
  std::string name; // qualified router name
  std::string rule_text;
  std::shared_ptr<const TcpRule> rule; // must not be null
  int64_t priority = 0;                // effective (tcp_route_priority)
  tcp::HandlerPtr handler;             // middlewares + service; null for the HTTPS table
  bool passthrough = false;            // tls.passthrough: forward the raw TLS bytes
  // TLS routers without passthrough: the gateway terminates TLS with these options (an index
  // into the snapshot's tls::ServerTls options; -1 = unknown or broken options, the handshake
  // fails) and the handler gets the decrypted bytes.
  bool terminate = false;
  int tls_options = -1;
};

// The routes of one kind on one entrypoint, in match order.
class TcpRouteTable {
public:
  TcpRouteTable() = default;
  // Sorts by priority (desc), then name (asc), then input order.
  static TcpRouteTable build(std::vector<TcpRoute> routes);

  // The winning route, or nullptr.
  const TcpRoute* match(const ConnectionFacts& facts) const;
  bool empty() const { return routes_.empty(); }
  const std::vector<TcpRoute>& routes() const { return routes_; }

private:
  std::vector<TcpRoute> routes_;
};

} // namespace turnpike::router
