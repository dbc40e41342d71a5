#pragma once
// HTTP/1.1 head serialisation: the request sent upstream and the response sent to the client.
// The gateway never forwards raw client bytes; it parses, then re-emits a canonical head here
// (security.md section 0.1).
//
// Every function APPENDS to `out` and reserves what it needs once, so a caller that clears and
// reuses one string per connection does not allocate in steady state.
// Threading: pure functions; any thread. http_date() caches per thread.

#include <cstdint>
#include <string>
#include <string_view>

#include "http/message.h"

namespace turnpike::http {

// How the body that follows the head is delimited. The framing fields of `headers`
// (Content-Length, Transfer-Encoding) are always ignored: the proxy chooses the framing.
enum class BodyFraming {
  kNone,          // no body (requests: POST/PUT/PATCH still get `Content-Length: 0`, as Go does)
  kContentLength, // `Content-Length: <content_length>`
  kChunked,       // `Transfer-Encoding: chunked` (HTTP/1.1 peers only)
  kUntilClose,    // responses only: no framing field, body ends when the connection closes;
                  // implies `Connection: close`
};

struct RequestHeadOptions {
  // Request target; empty = req.path, plus "?" req.query when req.has_query.
  std::string_view target;
  // Host field value; empty = the request's Host field (or req.authority when it has none).
  // Set it to the server's authority when passHostHeader is false.
  std::string_view host;
  BodyFraming framing = BodyFraming::kNone;
  uint64_t content_length = 0; // with kContentLength
  // Ask the upstream to close after this exchange: writes `Connection: close` and drops the
  // request's own Connection fields. Otherwise nothing is written (HTTP/1.1 is persistent by
  // default; a WebSocket upgrade's `Connection: Upgrade` left by strip_hop_by_hop is written
  // as a normal field).
  bool connection_close = false;
};

// Appends `METHOD target HTTP/1.1`, Host first, the request's fields in order (except Host and
// the framing fields), the framing field and Connection: close when asked, and the final CRLF.
// When req.append_x_forwarded_for, the peer's IP (ip_text(req.client_addr)) is appended to the
// X-Forwarded-For list (all such fields are emitted as one) or the field is added; `req` itself
// is not changed, so each upstream attempt appends exactly once.
// Defensive: a field whose name is not a token is dropped, and CR, LF and NUL in a value are
// written as SP (middlewares may set values from configuration). Returns the number of fields
// dropped or repaired (0 for anything that came from the parser).
size_t serialize_request_head(const Request& req, const RequestHeadOptions& options,
                              std::string& out);

struct ResponseHeadOptions {
  BodyFraming framing = BodyFraming::kNone;
  uint64_t content_length = 0; // with kContentLength
  // Close the client connection after this response: writes `Connection: close` and drops the
  // response's own Connection fields (kUntilClose implies it).
  bool connection_close = false;
  // Version of the status line: HTTP/1.0 for an HTTP/1.0 client, which then also gets
  // `Connection: keep-alive` when the connection stays open (its default is to close).
  Version version = Version::kHttp11;
  // Add `Date` (http_date()) when the response has none, as Go's server (hence Traefik) does.
  bool add_date = true;
};

// Appends the status line (`HTTP/1.1 <status> <reason>`, reason = resp.reason or the standard
// phrase), the response's fields except the framing fields, the framing field, Date and
// Connection as configured, and the final CRLF. Same defensive rules and return value as
// serialize_request_head. For 1xx/204/304 and HEAD answers the caller picks the framing
// (kNone, or kContentLength to forward a HEAD response's length).
size_t serialize_response_head(const Response& resp, const ResponseHeadOptions& options,
                               std::string& out);

// Appends a request target, percent-encoding the bytes that may not appear in one (CTL, SP,
// DEL, non-ASCII). Returns true if it had to. (HTTP/2 upstreams get their :path from it.)
bool append_request_target(std::string& out, std::string_view target);

// Appends the X-Forwarded-For value sent upstream when req.append_x_forwarded_for: every value
// the request carries, ", "-joined, then the peer's IP (Go's ReverseProxy). CR, LF and NUL in
// values are written as SP; returns how many values had to be repaired.
size_t append_forwarded_for(std::string& out, const Request& req);

// The current time as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), formatted at most once
// per second per thread. The view is valid until the next call on the same thread.
std::string_view http_date();

} // namespace turnpike::http
