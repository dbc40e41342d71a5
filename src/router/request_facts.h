#pragma once
// The request facts that rule matchers look at, derived from an http::Request the way Traefik
// derives them from a Go *http.Request:
//   - host: the routing host (lower case, no port, no brackets, no trailing dot);
//   - routing path: the normalised path with every %XX decoded except the encodings whose decoding
//     would change the path's structure (%2F %5C %3B %25 %3F %23 %00);
//   - query: the raw query parsed like Go's url.ParseQuery.
//
// RequestFacts computes them lazily and caches them so that the candidate rules tried for one
// request share the work; only the host is computed up front (every lookup needs it). It borrows
// the Request, which must outlive it. Worker-confined: one instance per lookup, on the stack.
// Nothing here throws; the common case (already-canonical host, no '%' in the path, no query
// matcher) allocates nothing.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.h"

namespace turnpike::router {

struct QueryParam {
  std::string key;   // percent-decoded, '+' as space
  std::string value; // percent-decoded, '+' as space; empty for "?key" and "?key="
};

class RequestFacts {
public:
  explicit RequestFacts(const http::Request& request);
  RequestFacts(const RequestFacts&) = delete;
  RequestFacts& operator=(const RequestFacts&) = delete;

  const http::Request& request() const { return request_; }
  // Canonical routing host (see canonical_host); empty when the request has none.
  std::string_view host() const { return host_; }
  // Path as routers compare it (see routing_path); computed on first use.
  std::string_view routing_path();
  // Query parameters in order of appearance; parsed on first use.
  const std::vector<QueryParam>& query();

private:
  const http::Request& request_;
  std::string_view host_;
  std::string host_storage_; // used only when request.host is not already canonical
  std::optional<std::string_view> routing_path_;
  std::string routing_path_storage_;
  std::optional<std::vector<QueryParam>> query_;
};

// Lower-cases `host` and removes a port (`example.com:8080`, `[::1]:443`), IPv6 brackets and one
// trailing dot. A bare IPv6 address (several colons, no brackets) keeps its colons. Used for both
// rule hosts and request hosts so that the two always compare alike.
std::string canonical_host(std::string_view host);
// True when canonical_host(host) == host (no copy needed).
bool is_canonical_host(std::string_view host);

// Decodes every %XX of an (already normalised) path except %2F %5C %3B %25 %3F %23 %00, which stay
// encoded in upper case: `/foo%20bar` -> `/foo bar`, `/a%2fb` -> `/a%2Fb`. A '%' not followed by
// two hex digits is kept as is.
std::string routing_path(std::string_view path);

// Go's url.ParseQuery: '&'-separated `key=value` pairs, both percent-decoded with '+' as space.
// Like Go, empty segments, segments containing ';' and segments with a malformed escape are
// skipped.
std::vector<QueryParam> parse_query(std::string_view raw_query);

} // namespace turnpike::router
