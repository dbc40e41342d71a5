#pragma once
// Chunked transfer coding (RFC 9112 section 7.1): an incremental, zero-copy decoder and the
// encoder helpers the proxy uses when it re-frames a body.
//
// Threading: a ChunkedDecoder is confined to the worker that owns the connection; one decoder
// per body direction, reset() between messages (it keeps its buffers' capacity).

#include <cstdint>
#include <string>
#include <string_view>

#include "http/message.h"

namespace turnpike::http {

struct ChunkedLimits {
  size_t max_ext_per_chunk = 4 * 1024;    // chunk-ext bytes after one chunk-size
  size_t max_ext_per_message = 16 * 1024; // chunk-ext bytes over the whole body
  size_t max_trailer_bytes = 64 * 1024;   // the trailer section, CRLFs included
  size_t max_trailer_fields = 100;
};

// One result of ChunkedDecoder::decode. Exactly one of these holds:
//   error            malformed framing: requests answer 400 and close; responses are an upstream
//                    protocol error. The decoder stays in the error state.
//   done             the last chunk and the trailer section are complete; bytes of the input
//                    after `consumed` belong to the next message.
//   !data.empty()    body bytes.
//   otherwise        every byte of the input was framing (consumed == input size): feed more.
struct ChunkedStep {
  // Bytes of the input this step used (framing plus `data`). The caller drops them and calls
  // decode again with the rest.
  size_t consumed = 0;
  // Body bytes: a view INTO the input given to decode (zero-copy; valid as long as the caller's
  // buffer is).
  std::string_view data;
  bool done = false;
  bool error = false;
  std::string_view error_reason; // when error: static description for the log line
};

// Decodes a chunked body fed in arbitrary pieces. Strict (security.md 2.4 rows 16-20):
// chunk-size is 1-16 hex digits with no prefix, sign or underscore; chunk extensions must follow
// the RFC grammar (BWS ";" name [BWS "=" BWS (token / quoted-string)]) and are bounded by
// ChunkedLimits; every line ends with CRLF (no bare CR or LF); chunk data must be followed by
// CRLF. Trailer fields are validated like header fields; Content-Length, Transfer-Encoding, Host
// and hop-by-hop fields are dropped from them (never merged into the header section), the others
// are collected in trailers().
class ChunkedDecoder {
public:
  explicit ChunkedDecoder(const ChunkedLimits& limits = {}) : limits_(limits) {}

  // Consumes framing bytes from `in` until it reaches body data, the end of the body, the end of
  // `in` or an error, and says which (see ChunkedStep). Typical loop:
  //   while (!in.empty()) {
  //     auto s = dec.decode(in);
  //     in.remove_prefix(s.consumed);
  //     if (s.error) ...; if (s.done) break; if (!s.data.empty()) forward(s.data);
  //   }
  // Calling decode after done or error returns the same outcome with consumed == 0.
  ChunkedStep decode(std::string_view in);

  // Trailer fields of the finished message (valid after kDone, until reset()).
  const HeaderMap& trailers() const { return trailers_; }
  bool done() const { return state_ == State::kDone; }
  // Body bytes handed out so far.
  uint64_t body_bytes() const { return body_bytes_; }
  // Prepares for a new body; keeps buffers' capacity.
  void reset();

private:
  enum class State : uint8_t {
    kSize,             // chunk-size hex digits
    kExtBwsBeforeSemi, // BWS after the size or a value, before ';'
    kExtBwsAfterSemi,  // BWS after ';', before the extension name
    kExtName,
    kExtBwsBeforeEq, // BWS after a name: '=' or the next ';' must follow
    kExtBwsAfterEq,
    kExtToken,      // token value
    kExtQuoted,     // inside a quoted-string value
    kExtQuotedPair, // after '\' inside a quoted-string
    kExtAfterValue, // after a closing '"'
    kSizeLf,        // CR seen at the end of the chunk-size line
    kData,
    kDataCr, // chunk data complete: CRLF must follow
    kDataLf,
    kTrailerLineStart,
    kTrailerName,
    kTrailerValue,
    kTrailerLf,
    kTrailerEndLf, // CR of the empty line ending the trailer section seen
    kDone,
    kError,
  };
  ChunkedStep fail(size_t consumed, std::string_view why);
  bool commit_trailer();

  ChunkedLimits limits_;
  State state_ = State::kSize;
  uint64_t chunk_left_ = 0; // size being parsed, then data bytes still to come
  unsigned size_digits_ = 0;
  size_t ext_chunk_ = 0;   // chunk-ext bytes for the current chunk
  size_t ext_message_ = 0; // chunk-ext bytes for the whole body
  size_t trailer_bytes_ = 0;
  size_t trailer_fields_ = 0;
  uint64_t body_bytes_ = 0;
  std::string_view error_reason_;
  std::string trailer_name_;
  std::string trailer_value_;
  HeaderMap trailers_;
};

// Encoder helpers; each appends to `out` (no allocation once `out` has capacity).
// "<size in lower-case hex>\r\n". `size` must be > 0 (0 is the last chunk).
void append_chunk_header(std::string& out, uint64_t size);
// The CRLF that closes a chunk's data.
void append_chunk_end(std::string& out);
// A whole chunk: header, data, CRLF. Appends nothing when `data` is empty.
void append_chunk(std::string& out, std::string_view data);
// "0\r\n", the trailer fields (if any; the caller has already filtered them), "\r\n".
void append_last_chunk(std::string& out, const HeaderMap* trailers = nullptr);

} // namespace turnpike::http
