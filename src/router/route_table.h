#pragma once
// The routers of one entrypoint, compiled for lookup.
//
// Order: routes are tried by priority, highest first; equal priorities are ordered by name
// (ascending byte order), then by their position in the vector given to build(), so the result
// never depends on hashing or sort stability. The first route whose rule matches wins; no match
// means 404 (the caller's default handler).
//
// Lookup does not scan every route. build() asks each rule which hosts it can match at all
// (Rule::host_constraint) and files it under
//   - exact[host] for each exact host (`Host(`a.example.com`)`, or each alternative of an OR),
//   - wildcard[parent] for each `Host(`*.parent`)`,
//   - the catch-all list when the rule can match any host (no Host on some path of the rule,
//     Host(`*`), only negated Hosts, HostRegexp...).
// match() merges the candidate lists of exact[host], wildcard[parent(host)] and catch-all (each
// already in priority order) and stops at the first candidate that fully matches. The cost is
// therefore proportional to the candidates for the request's host plus the catch-all routes
// ahead of the winner, independent of how many other hosts the table serves.
//
// Threading: built on the control plane; immutable afterwards and shared read-only by every
// worker (match() is const, lock-free, never throws, and allocates nothing for requests whose
// host is canonical and whose candidate rules need no decoded path/query). A table is a shared
// pointer to its immutable data: copying one costs a reference count, and patched() makes a new
// table from an old one without touching the old one (snapshots in use keep theirs).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "http/exchange.h"
#include "http/message.h"
#include "router/host_index.h"
#include "router/rule.h"

namespace turnpike::router {

// Highest priority a user may configure (Traefik: MaxInt64 - 1000); above it is reserved for
// internal routers (ACME HTTP-01 challenge, entrypoint redirections). Enforced by the config
// builder, not here.
inline constexpr int64_t kMaxUserPriority = INT64_MAX - 1000;

struct Route {
  std::string name;                 // qualified router name ("api@file"); tie-breaker, annotations
  std::string rule_text;            // the rule as configured
  std::shared_ptr<const Rule> rule; // parse_rule(rule_text); must not be null
  int64_t priority = 0; // effective priority (see default_priority / effective_priority)
  std::shared_ptr<const http::Handler> handler; // middlewares + service of the router
};

// Traefik's default priority: the length of the rule text in bytes.
inline int64_t default_priority(std::string_view rule_text) {
  return static_cast<int64_t>(rule_text.size());
}
// The priority a router runs with: the configured one, or the default when it is 0 (unset).
inline int64_t effective_priority(int64_t configured, std::string_view rule_text) {
  return configured != 0 ? configured : default_priority(rule_text);
}

// Parses `rule_text` and assembles a Route with effective_priority(configured_priority). The error
// is the parser's ("rule position 6: ...").
Result<Route> make_route(std::string name, std::string rule_text, int64_t configured_priority,
                         std::shared_ptr<const http::Handler> handler);

using RoutePtr = std::shared_ptr<const Route>;

class RouteTable {
public:
  RouteTable() = default; // empty: matches nothing

  // Sorts and indexes the routes. Routes with a null rule are dropped (a caller bug; asserted in
  // debug builds).
  static RouteTable build(std::vector<Route> routes);
  static RouteTable build(std::vector<RoutePtr> routes);

  // This table without the routes `removed` (the same objects as in routes(); others are
  // ignored) and with the routes `added`: it routes exactly like build() of that set, where
  // routes with the same priority and name keep their relative order and added ones come after
  // kept ones. Costs a pass over the routes (reference counts) and one over the host index (a
  // copy renumbered), no sort: only the changed routes' hosts are filed again (one changed
  // router among 10,000: issue 6).
  RouteTable patched(const std::vector<RoutePtr>& removed, std::vector<RoutePtr> added) const;

  // The winning route for the request, or nullptr (404). The pointer stays valid as long as the
  // table.
  const Route* match(const http::Request& request) const;
  const Route* match(RequestFacts& facts) const;

  // The routes in match order (priority desc, name asc).
  const std::vector<RoutePtr>& routes() const;
  size_t size() const { return data_ ? data_->routes.size() : 0; }
  // Index statistics, for logs and tests.
  size_t exact_host_count() const { return data_ ? data_->exact.size() : 0; }
  size_t wildcard_parent_count() const { return data_ ? data_->wildcard.size() : 0; }
  size_t catch_all_count() const { return data_ ? data_->catch_all.size() : 0; }

private:
  struct Data {
    std::vector<RoutePtr> routes;     // match order
    HostIndex exact;                  // canonical host -> candidates
    HostIndex wildcard;               // parent domain -> candidates
    std::vector<Candidate> catch_all; // ascending route order
  };
  // Indexes `routes`, already in match order.
  static RouteTable index(std::vector<RoutePtr> routes);

  std::shared_ptr<const Data> data_; // null: empty
};

} // namespace turnpike::router
