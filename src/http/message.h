#pragma once
// HTTP message heads as the gateway sees them after parsing and normalisation. Protocol-neutral:
// HTTP/1.1 fills them today, HTTP/2 later. Worker-confined: a Request/Response belongs to one
// exchange on one worker. Objects are reused across requests on a connection (clear() keeps
// capacity) so the steady state allocates nothing.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>

namespace turnpike::http {

struct Header {
  std::string name;   // as received/set (case preserved); compared case-insensitively
  std::string value;  // trimmed of leading/trailing SP/HTAB
  // The name is a token and the value holds no CR, LF or NUL, so the serialisers copy the field
  // without checking it again. Only add_wire_safe() sets it: a parser has just validated both.
  bool wire_safe = false;
};

// Ordered multimap of header fields. Lookups are linear (header counts are small and this beats
// hashing at these sizes); names compare case-insensitively.
class HeaderMap {
 public:
  using const_iterator = std::vector<Header>::const_iterator;

  void add(std::string_view name, std::string_view value);
  // add() for a field known to be valid on the wire: a token name and no CR, LF or NUL in the
  // value (a parser has just checked it, or the gateway built it from checked parts).
  void add_wire_safe(std::string_view name, std::string_view value);
  // Replaces every field named `name` with one field (adds it when absent).
  void set(std::string_view name, std::string_view value);
  // Removes every field named `name`; returns how many were removed.
  size_t remove(std::string_view name);
  // First value of `name`, or nullopt.
  std::optional<std::string_view> get(std::string_view name) const;
  bool has(std::string_view name) const { return get(name).has_value(); }
  // Number of fields named `name`.
  size_t count(std::string_view name) const;
  // Every value of `name`, in order (each field counted once; no comma splitting).
  std::vector<std::string_view> values(std::string_view name) const;

  const_iterator begin() const { return entries_.begin(); }
  const_iterator end() const { return entries_.begin() + static_cast<std::ptrdiff_t>(size_); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Drops all fields but keeps the strings' capacity for reuse.
  void clear() { size_ = 0; }
  // Removes fields for which pred(header) is true.
  template <class Pred>
  size_t remove_if(Pred pred) {
    size_t w = 0, removed = 0;
    for (size_t r = 0; r < size_; ++r) {
      if (pred(entries_[r])) {
        ++removed;
        continue;
      }
      if (w != r) std::swap(entries_[w], entries_[r]);
      ++w;
    }
    size_ = w;
    return removed;
  }

 private:
  std::vector<Header> entries_;  // [0, size_) live; the rest are spare capacity
  size_t size_ = 0;
};

enum class Version { kHttp10, kHttp11, kHttp2 };
std::string_view to_string(Version v);  // "HTTP/1.0" ...

// RFC 9110 section 9.2.2: GET, HEAD, OPTIONS, TRACE, PUT, DELETE (the methods a client may repeat
// without changing the outcome; what decides whether a request may be sent twice).
bool idempotent_method(std::string_view method);

struct Request {
  std::string method;         // a valid token, case preserved ("GET")
  Version version = Version::kHttp11;
  // Normalised path (dot segments removed, slashes merged, unreserved %XX decoded, reserved
  // %XX kept encoded in upper case). Routers match it, middlewares change it, it is forwarded.
  // parse_request_head (http/parser.h) stores the raw path; the entrypoint normalises it with
  // normalize_path (http/path.h) before routing.
  std::string path;
  std::string query;          // raw query without '?', empty when none
  bool has_query = false;     // "?" present (even if empty)
  // Authority the request is for: from the absolute-form target or the Host header, as sent.
  std::string authority;
  // Routing host: authority lower-cased, port and trailing dot removed.
  std::string host;
  HeaderMap headers;          // hop-by-hop fields already removed by the entrypoint
  // Framing of the request body as received: content_length >= 0, or chunked, or neither (no body).
  int64_t content_length = -1;
  bool chunked = false;
  bool expect_continue = false;  // "Expect: 100-continue" (removed from headers)
  bool upgrade_websocket = false;  // a valid WebSocket upgrade request (Upgrade kept)
  // The client allows another request on this connection after the response (HTTP/1.1 without
  // "Connection: close", or HTTP/1.0 with "Connection: keep-alive"). Set by the parser before
  // the Connection field is stripped as hop-by-hop.
  bool keep_alive = true;
  // Set by apply_forwarded_headers (http/forwarded.h) unless the entrypoint has
  // notAppendXForwardedFor: the upstream request serialiser appends client_addr to
  // X-Forwarded-For, per attempt, without changing `headers` (Traefik appends in its proxy, so
  // middlewares see the list as the trusted hop sent it).
  bool append_x_forwarded_for = false;

  // Connection facts needed by matchers and middlewares.
  boost::asio::ip::address client_addr;  // TCP peer (after PROXY protocol when trusted)
  uint16_t client_port = 0;
  std::string scheme = "http";           // "http" or "https"
  std::string entrypoint;                // entrypoint name

  bool has_body() const { return chunked || content_length > 0; }
  // "path?query" as it goes upstream.
  std::string target() const;
  void clear();
};

struct Response {
  int status = 200;
  std::string reason;  // empty = standard phrase for status
  Version version = Version::kHttp11;
  HeaderMap headers;
  int64_t content_length = -1;  // -1 = unknown (chunked or until close)
  bool chunked = false;
  // No body follows the head whatever the framing fields say (HEAD request, 1xx, 204, 304);
  // content_length is still reported (a HEAD response's Content-Length is forwarded as is).
  bool no_body = false;
  // The upstream connection can carry another request after this response: HTTP/1.1 without
  // "Connection: close" (HTTP/1.0 needs "keep-alive") and a body that is not close-delimited.
  bool keep_alive = true;
  void clear();
};

std::string_view reason_phrase(int status);

// Fields that are hop-by-hop by definition (RFC 9110 7.6.1), plus legacy ones.
bool is_hop_by_hop(std::string_view name);

}  // namespace turnpike::http
