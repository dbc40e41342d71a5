#pragma once
// Strict HTTP/1.x head parsers (request from a client, response from an upstream).
//
// Hand-written and zero-copy in the picohttpparser style: the caller owns the receive buffer and
// passes a view of it; the parser never allocates beyond filling the caller's reusable
// Request/Response (whose strings keep their capacity across requests, so the steady state does
// not allocate). Every framing ambiguity of security.md section 2.4 (rows 1-15, 21-38) is decided
// here and nowhere else: the parser either returns a canonical message or an error status.
//
// Threading: pure functions over caller-owned data; call from the worker that owns the buffer.
//
// What the request parser leaves to its callers (in this order, see design.md "One HTTP request"):
//   1. normalize_path (http/path.h) on Request::path, which holds the raw path;
//   2. strip_hop_by_hop, then apply_forwarded_headers (http/forwarded.h);
//   3. de-chunking the body with ChunkedDecoder (http/chunked.h) when Request::chunked.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/strings.h"
#include "http/message.h"

namespace turnpike::http {

// What to do with header fields whose name contains '_' (Traefik
// `entryPoints.<ep>.http.underscoreHeadersStrategy`). Such names are legal tokens, but some
// back ends (CGI, PHP, Django) map '_' and '-' to the same variable, so `X_Forwarded_For` can
// impersonate `X-Forwarded-For`. apply_forwarded_headers deletes the underscore variants of the
// gateway-owned fields whatever this says.
enum class UnderscoreHeaders {
  kKeep,   // forward unchanged (Traefik default)
  kDelete, // drop the field silently
  kReject, // answer 400
};

// Limits of one message head. Values are per entrypoint and immutable once configured.
struct ParseLimits {
  // Longest request line (status line for responses) without its CRLF; longer -> 414.
  // Values below 8000 are treated as 8000 (RFC 9112 section 3 minimum).
  size_t max_request_line = 16 * 1024;
  // The whole head: request line, fields, the final empty line and any CRLFs before the request
  // line; larger -> 431. Default = Traefik's `http.maxHeaderBytes`.
  size_t max_header_bytes = 1024 * 1024;
  // Field lines in the head; more -> 431.
  size_t max_header_fields = 100;
  // One field line (name, colon, value) without its CRLF; longer -> 431.
  size_t max_field_bytes = 16 * 1024;
  // Requests only: upstream responses always keep such fields.
  UnderscoreHeaders underscore_headers = UnderscoreHeaders::kKeep;
};

struct ParseResult {
  enum class State {
    kIncomplete, // no complete head yet and no limit exceeded: read more, call again
    kComplete,   // `out` holds the message; `consumed` bytes of the buffer are the head
    kError,      // reject: answer `status` with Connection: close, then close
  };
  State state = State::kIncomplete;
  // kComplete: bytes of the buffer that belong to the head (the body, if any, starts there).
  size_t consumed = 0;
  // kError: the status to answer. Requests: 400, 405 (CONNECT), 414, 417 (unknown Expect),
  // 431, 501 (unknown transfer coding), 505. Responses: always 502 (upstream protocol error).
  int status = 0;
  // kError: short static description for the log line ("bare LF line ending"). Never owns
  // memory; valid for the life of the program.
  std::string_view reason;

  bool complete() const { return state == State::kComplete; }
  bool incomplete() const { return state == State::kIncomplete; }
  bool error() const { return state == State::kError; }
};

// Parses a request head from the start of `buf`.
//
// Incremental use: pass scan_hint = 0 for a new message. After kIncomplete, call again with the
// same bytes at the start of `buf` (more appended) and the scan_hint the previous call wrote back;
// the parser then resumes scanning for line ends where it stopped instead of rescanning the whole
// buffer. When the buffer holds more than a limit allows without a complete head, the error is
// returned at once (never kIncomplete for ever).
//
// On kComplete `out` is cleared and filled:
//   method (token, case kept), version (1.0 or 1.1; HTTP/1.2-1.9 are handled as 1.1),
//   path: the raw path of the target, NOT normalised ("*" for `OPTIONS *`; "/" when an
//     absolute-form target has no path), query/has_query,
//   authority: from an absolute-form target, else the Host field, as sent (`GET http://@/` and
//     `http:///` fall back to the Host field, as Traefik does),
//   host: the routing host: authority lower-cased, port and one trailing dot removed; an IPv6
//     literal is stored WITHOUT brackets ("[::1]:8080" -> "::1"), matching Traefik's Host matcher,
//   headers: every field in order, names validated (case kept), values trimmed of SP/HTAB. The
//     Host field is kept (rewritten to the target's authority for absolute-form targets, so
//     the Host forwarded upstream matches what was routed on); Expect is removed; duplicate or
//     listed identical Content-Length fields become one `Content-Length: N`; Transfer-Encoding
//     is `chunked` (case normalised); hop-by-hop fields are still present (strip them next),
//   content_length (-1 if absent) / chunked, expect_continue (HTTP/1.1 `100-continue`),
//   upgrade_websocket (GET, HTTP/1.1, Connection: upgrade, Upgrade: websocket, one valid
//     Sec-WebSocket-Key, Sec-WebSocket-Version: 13), keep_alive.
// Connection facts (client_addr, scheme, entrypoint) are not touched. On kIncomplete or kError
// `out` is unspecified.
ParseResult parse_request_head(std::string_view buf, const ParseLimits& limits, Request& out,
                               size_t& scan_hint);

// Parses an upstream response head from the start of `buf`; same incremental contract and the
// same field strictness as parse_request_head (bare LF, obs-fold, bad names/values, CL+TE,
// conflicting CL, bad TE are errors, all reported as 502). `request_was_head` says the request
// was HEAD, so no body follows whatever the head says.
//
// On kComplete `out` is cleared and filled: status, reason (as sent, may be empty), version,
// headers (Content-Length normalised as for requests), content_length/chunked, no_body (HEAD,
// 1xx, 204, 304), keep_alive (false for HTTP/1.0 without keep-alive, `Connection: close`, or a
// close-delimited body: no Content-Length and not chunked). Interim 1xx heads come back like any
// other head; the caller loops for the final one.
ParseResult parse_response_head(std::string_view buf, const ParseLimits& limits,
                                bool request_was_head, Response& out, size_t& scan_hint);

// Validates an authority (host [":" port], no userinfo: RFC 3986 3.2) and writes the routing host
// to `host`: lower-cased, port removed, one trailing dot removed, IPv6 literal without brackets.
// An empty authority is valid (empty host). Used for the Host field and absolute-form targets of
// HTTP/1.1 and for :authority of HTTP/2.
bool normalize_authority(std::string_view authority, std::string& host);

// Syntax helpers shared by the HTTP/1 code (RFC 9110 section 5.6.2 / 5.5).
bool is_token_char(char c);
// A non-empty token.
bool is_token(std::string_view s);
// A byte allowed inside a field value: HTAB, SP, VCHAR, obs-text (no CTL, no DEL).
bool is_field_value_char(char c);

// Value of a hexadecimal digit (either case), or -1.
constexpr int hex_digit_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

// Appends "%XX" (upper-case hex, RFC 3986 2.1) for the byte `c`.
void append_percent_escape(std::string& out, unsigned char c);

// Calls fn(element) for each element of a comma-separated field value (RFC 9110 5.6.1),
// trimmed of SP/HTAB; empty elements are passed too. Does not allocate.
template <class Fn> void for_each_list_element(std::string_view value, Fn&& fn) {
  size_t pos = 0;
  for (;;) {
    size_t comma = value.find(',', pos);
    fn(trim(value.substr(pos, comma == std::string_view::npos ? comma : comma - pos)));
    if (comma == std::string_view::npos)
      return;
    pos = comma + 1;
  }
}

// True when the comma-separated `value` has an element equal to `token` (case-insensitive).
bool list_contains_token(std::string_view value, std::string_view token);

} // namespace turnpike::http
