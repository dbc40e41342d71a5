#pragma once
// Builds the protocol-neutral Request (http/message.h) from an HTTP/2 request header block, and
// decides what the HTTP/2 rules (RFC 9113 8.1-8.5) and the entrypoint's limits say about it
// (security.md section 2.4, rows 41-48). nghttp2 already enforces most of these rules; this is
// the same decision made once more on the decoded fields, so the gateway's behaviour does not
// depend on one library's leniencies, and so it can be tested without a connection.
//
// Threading: a builder belongs to one stream of one connection (worker-confined). No allocation
// in steady state: the Request's strings keep their capacity across streams.

#include <cstdint>
#include <string>
#include <string_view>

#include "http/message.h"
#include "http/parser.h"
#include "http/path.h"

namespace turnpike::http {

// What to do with a request once its header block is complete.
struct Http2Verdict {
  enum class Action {
    kServe,   // route it
    kReset,   // malformed (RFC 9113 8.1.1): RST_STREAM PROTOCOL_ERROR; nothing goes upstream
    kRespond, // answer `status` locally (400, 405, 417, 431); nothing goes upstream
  };
  Action action = Action::kServe;
  int status = 0;
  std::string_view reason; // static text for the log line

  static Http2Verdict serve() { return {}; }
  static Http2Verdict reset(std::string_view why) { return {Action::kReset, 0, why}; }
  static Http2Verdict respond(int status, std::string_view why) {
    return {Action::kRespond, status, why};
  }
};

class Http2RequestBuilder {
public:
  // Starts a header block that fills `out` (cleared). `limits` stays referenced until finish():
  //   max_header_bytes  -> decoded size (RFC 7541 4.1: name + value + 32 per field), else 431
  //   max_header_fields -> regular fields, else 431
  //   max_field_bytes   -> name + value + 2 of one field, else 431
  //   underscore_headers as for HTTP/1.1.
  void start(Request& out, const ParseLimits& limits);

  // One decoded field of the block, in order. Problems are remembered (the first one wins) and
  // reported by finish(); after one, fields are only counted.
  void add(std::string_view name, std::string_view value);

  // End of the header block; `end_stream` = the HEADERS frame also ended the stream (no body).
  // On kServe `out` holds: method, version kHttp2, the normalised path and the query, authority
  // (`:authority`, else the host field) and the routing host, headers (a `host` field carrying
  // the authority when the client sent none; cookie fields joined with "; " as RFC 9113 8.2.3
  // asks for HTTP/1.1; Expect removed), content_length (-1 when unknown), chunked = a body of
  // unknown length follows, expect_continue. scheme and connection facts are not touched.
  Http2Verdict finish(bool end_stream, const PathOptions& path);

  // RFC 7541 4.1 size of the fields decoded so far, and their number (pseudo-headers included):
  // the connection compares them with larger caps to tell an HPACK bomb from a large request.
  uint64_t decoded_bytes() const { return decoded_; }
  size_t field_count() const { return count_; }

private:
  void fail(Http2Verdict v) {
    if (verdict_.action == Http2Verdict::Action::kServe)
      verdict_ = v;
  }

  Request* out_ = nullptr;
  const ParseLimits* limits_ = nullptr;
  Http2Verdict verdict_;
  uint64_t decoded_ = 0;
  size_t count_ = 0;
  size_t regular_ = 0;
  bool seen_regular_ = false;
  bool have_method_ = false, have_scheme_ = false, have_path_ = false, have_authority_ = false;
  int host_fields_ = 0;
  bool have_cl_ = false;
  uint64_t cl_ = 0;
  std::string raw_path_;  // :path as sent (normalised into out_->path by finish)
  std::string authority_; // :authority as sent
  std::string host_;      // host field as sent
  std::string cookie_;    // cookie crumbs joined with "; "
};

// Decision about one field of a trailer section (a HEADERS frame after the body).
enum class TrailerField {
  kKeep,
  kDrop,      // framing or routing fields (Content-Length, Transfer-Encoding, Host...): never
              // merged into a message (security.md row 20)
  kMalformed, // pseudo-header, or a name/value HTTP/2 forbids: RST_STREAM PROTOCOL_ERROR
};
TrailerField check_http2_trailer(std::string_view name, std::string_view value);

// True for a field name HTTP/2 allows: a token without upper-case letters.
bool is_http2_field_name(std::string_view name);
// True for a field value HTTP/2 allows (strict profile): field-value bytes only (no CTL but HTAB,
// no DEL; so no NUL, CR, LF) and no leading or trailing SP/HTAB.
bool is_http2_field_value(std::string_view value);
// Connection-specific fields that make an HTTP/2 message malformed (RFC 9113 8.2.2); `te` is
// allowed only as "trailers" and is checked separately.
bool is_http2_connection_specific(std::string_view name);
// A content-length value in HTTP/2: one decimal number that fits int64 (no list, no sign).
bool parse_http2_content_length(std::string_view value, uint64_t& out);

} // namespace turnpike::http
