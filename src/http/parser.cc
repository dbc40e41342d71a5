#include "http/parser.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

#include "common/strings.h"

namespace turnpike::http {
namespace {

// Byte classes, one table lookup per byte on the hot loops.
enum : uint8_t {
  kTok = 1,    // tchar (RFC 9110 5.6.2)
  kVal = 2,    // field-value byte: HTAB, SP, VCHAR, obs-text
  kTgt = 4,    // request-target byte: VCHAR except '#' and '\' (no CTL, SP, DEL, non-ASCII)
  kHostCh = 8, // reg-name byte: unreserved, sub-delims, '%' (RFC 3986 3.2.2)
  kHex = 16,
};

constexpr std::array<uint8_t, 256> make_table() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    uint8_t f = 0;
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    bool digit = c >= '0' && c <= '9';
    if (alpha || digit)
      f |= kTok | kHostCh;
    for (char s : std::string_view("!#$%&'*+-.^_`|~"))
      if (c == s)
        f |= kTok;
    for (char s : std::string_view("-._~!$&'()*+,;=%"))
      if (c == s)
        f |= kHostCh;
    if (c == '\t' || c == ' ' || (c >= 0x21 && c <= 0x7e) || c >= 0x80)
      f |= kVal;
    if (c >= 0x21 && c <= 0x7e && c != '#' && c != '\\')
      f |= kTgt;
    if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
      f |= kHex;
    t[static_cast<size_t>(c)] = f;
  }
  return t;
}
constexpr std::array<uint8_t, 256> kTable = make_table();

inline uint8_t cls(char c) {
  return kTable[static_cast<unsigned char>(c)];
}
inline bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

constexpr size_t kMinRequestLine = 8000;

// First position at or after `i` whose byte is not a field-value byte. Eight bytes at a time
// while no byte of the word is a CTL (< 0x20, which includes the CR ending the line) or DEL,
// then byte by byte (HTAB, also < 0x20, takes the slow step). Reads stop at `end`; a head
// always ends with CRLF CRLF, so the byte loop stops inside it.
inline size_t skip_field_value(const char* p, size_t i, size_t end) {
  constexpr uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
  while (i + 8 <= end) {
    uint64_t x;
    std::memcpy(&x, p + i, 8);
    uint64_t del = x ^ (kOnes * 0x7f);
    uint64_t hit = (((x - kOnes * 0x20) & ~x) | ((del - kOnes) & ~del)) & kHigh;
    if (hit == 0) {
      i += 8;
      continue;
    }
    // The lowest flagged byte is exact (a borrow only flags bytes above a real hit): it is
    // the line's CR, another CTL or DEL, or an HTAB inside the value, which is skipped.
    i += static_cast<size_t>(__builtin_ctzll(hit)) / 8;
    if (p[i] != '\t')
      return i;
    ++i;
  }
  while (cls(p[i]) & kVal)
    ++i;
  return i;
}

ParseResult fail(int status, std::string_view reason) {
  ParseResult r;
  r.state = ParseResult::State::kError;
  r.status = status;
  r.reason = reason;
  return r;
}

// Phase 1: find the end of the head, validating line endings and per-line limits as bytes
// arrive. `start` is where the start line begins (after tolerated leading CRLFs), `end` the
// offset just past the empty line. scan_hint is always the start of a line not yet complete.
ParseResult find_head(std::string_view buf, const ParseLimits& lim, bool skip_leading_crlf,
                      size_t& scan_hint, size_t& start) {
  const size_t max_line = std::max(lim.max_request_line, kMinRequestLine);
  const char* p = buf.data();
  start = 0;
  // RFC 9112 2.2: a server SHOULD ignore at least one empty line before the request line
  // (clients sometimes add CRLF after a POST body). They count against max_header_bytes.
  if (skip_leading_crlf)
    while (start + 1 < buf.size() && p[start] == '\r' && p[start + 1] == '\n')
      start += 2;
  // A hint beyond the buffer is a caller bug (e.g. a new message with the old hint): rescan.
  size_t line = std::max(scan_hint <= buf.size() ? scan_hint : 0, start);
  for (;;) {
    const void* hit = line < buf.size() ? std::memchr(p + line, '\n', buf.size() - line) : nullptr;
    if (hit == nullptr) {
      // +1: the partial line may end with the CR of its CRLF.
      size_t partial = buf.size() - line;
      if (line == start && partial > max_line + 1)
        return fail(414, "request line too long");
      if (line != start && partial > lim.max_field_bytes + 1)
        return fail(431, "header field too long");
      if (buf.size() > lim.max_header_bytes)
        return fail(431, "header section too large");
      scan_hint = line;
      return {};
    }
    size_t nl = static_cast<size_t>(static_cast<const char*>(hit) - p);
    if (nl == line || p[nl - 1] != '\r')
      return fail(400, "bare LF line ending");
    size_t len = nl - 1 - line;
    if (len == 0) {
      if (line == start)
        return fail(400, "empty start line");
      size_t end = nl + 1;
      if (end > lim.max_header_bytes)
        return fail(431, "header section too large");
      ParseResult r;
      r.state = ParseResult::State::kComplete;
      r.consumed = end;
      return r;
    }
    if (line == start) {
      if (len > max_line)
        return fail(414, "request line too long");
    } else if (len > lim.max_field_bytes) {
      return fail(431, "header field too long");
    }
    line = nl + 1;
  }
}

enum class ClParse { kOk, kInvalid, kConflict };

// Content-Length value: one or more comma-separated decimal numbers (RFC 9110 8.6), all equal
// to each other and to `have ? value : any`. No sign, no hex, no spaces inside a number,
// no empty element, must fit int64.
ClParse parse_content_length(std::string_view v, bool& have, uint64_t& value) {
  bool any = false;
  ClParse result = ClParse::kOk;
  for_each_list_element(v, [&](std::string_view e) {
    if (result != ClParse::kOk)
      return;
    if (e.empty() || e.size() > 19) {
      result = ClParse::kInvalid;
      return;
    }
    uint64_t n = 0;
    for (char c : e) {
      if (c < '0' || c > '9') {
        result = ClParse::kInvalid;
        return;
      }
      n = n * 10 + uint64_t(c - '0'); // 19 digits cannot overflow uint64
    }
    if (n > uint64_t(INT64_MAX)) {
      result = ClParse::kInvalid;
      return;
    }
    if (have && n != value) {
      result = ClParse::kConflict;
      return;
    }
    have = true;
    value = n;
    any = true;
  });
  if (result == ClParse::kOk && !any)
    result = ClParse::kInvalid;
  return result;
}

enum class TeParse { kChunked, kBad, kUnsupported };

// Transfer-Encoding value. Only a lone `chunked` (any case) is implemented; a syntax error or
// chunked that is repeated or not last is a framing error (400); any other coding is 501.
TeParse parse_transfer_encoding(std::string_view v) {
  int chunked = 0;
  bool chunked_last = false, other = false, bad = false;
  for_each_list_element(v, [&](std::string_view e) {
    if (!is_token(e)) {
      bad = true;
      return;
    }
    chunked_last = iequals(e, "chunked");
    if (chunked_last)
      ++chunked;
    else
      other = true;
  });
  if (bad || chunked > 1 || (chunked == 1 && !chunked_last))
    return TeParse::kBad;
  if (other || chunked == 0)
    return TeParse::kUnsupported;
  return TeParse::kChunked;
}

// A Sec-WebSocket-Key is the base64 encoding of 16 bytes (RFC 6455 4.1): 22 characters, the
// last carrying only 2 significant bits, then "==".
bool valid_websocket_key(std::string_view k) {
  if (k.size() != 24 || k[22] != '=' || k[23] != '=')
    return false;
  for (size_t i = 0; i < 22; ++i) {
    char c = k[i];
    bool b64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '+' || c == '/';
    if (!b64)
      return false;
  }
  return std::string_view("AQgw").find(k[21]) != std::string_view::npos;
}

// Facts collected while reading the field lines, decided on once the section is complete.
struct FieldFacts {
  int host_fields = 0;
  std::string_view host;
  int cl_fields = 0;
  bool cl_have = false;
  uint64_t cl = 0;
  std::string_view cl_text; // the first Content-Length value as sent
  int te_fields = 0;
  std::string_view te;
  bool conn_close = false, conn_keep_alive = false, conn_upgrade = false;
  bool upgrade_websocket = false;
  int ws_key_fields = 0;
  std::string_view ws_key;
  std::string_view ws_version;
  bool expect_continue = false;
};

// The field lines from `pos` up to and including the empty line; `end` is set just past it.
// `buf` ends with LF (see parse_head_in), and LF is neither a tchar nor a field-value byte, so
// every scan below stops inside the buffer; a CR is only read past when it is not the last
// byte. The line ends and the field-line limit are checked here, as the fields are scanned.
ParseResult parse_fields(std::string_view buf, size_t pos, const ParseLimits& lim,
                         bool is_request, HeaderMap& headers, FieldFacts& f, size_t& end) {
  const char* p = buf.data();
  const size_t size = buf.size();
  const size_t max_field = lim.max_field_bytes, max_fields = lim.max_header_fields;
  size_t fields = 0;
  for (;;) {
    if (pos >= size)
      return fail(400, "incomplete header section"); // one-pass attempt only
    if (p[pos] == '\r') {
      if (p[pos + 1] != '\n')
        return fail(400, "bare CR");
      end = pos + 2;
      break;
    }
    if (is_ows(p[pos]))
      return fail(400, fields == 0 ? "whitespace before the first header field"
                                   : "obsolete line folding");
    size_t j = pos;
    while (cls(p[j]) & kTok)
      ++j;
    if (j == pos)
      return fail(400, p[j] == ':' ? "empty header name" : "invalid header name");
    if (p[j] != ':')
      return fail(400, is_ows(p[j]) ? "whitespace before colon" : "invalid header name");
    std::string_view name(p + pos, j - pos);
    size_t vs = j + 1;
    while (is_ows(p[vs]))
      ++vs;
    size_t le = skip_field_value(p, vs, size);
    if (p[le] != '\r' || p[le + 1] != '\n')
      return fail(400, p[le] == '\n' ? "bare LF line ending" : "invalid character in header value");
    if (le - pos > max_field)
      return fail(431, "header field too long");
    size_t ve = le;
    while (ve > vs && is_ows(p[ve - 1]))
      --ve;
    std::string_view value(p + vs, ve - vs);
    pos = le + 2;

    if (++fields > max_fields)
      return fail(431, "too many header fields");
    if (is_request && lim.underscore_headers != UnderscoreHeaders::kKeep &&
        name.find('_') != std::string_view::npos) {
      if (lim.underscore_headers == UnderscoreHeaders::kReject)
        return fail(400, "underscore in header name");
      if (lim.underscore_headers == UnderscoreHeaders::kDelete)
        continue;
    }

    switch (name.size()) {
    case 4:
      if (is_request && iequals(name, "host")) {
        if (++f.host_fields > 1)
          return fail(400, "multiple Host fields");
        f.host = value;
      }
      break;
    case 6:
      if (is_request && iequals(name, "expect")) {
        if (!iequals(value, "100-continue"))
          return fail(417, "unsupported expectation");
        f.expect_continue = true;
        continue; // consumed here, never forwarded
      }
      break;
    case 7:
      if (iequals(name, "upgrade"))
        f.upgrade_websocket |= list_contains_token(value, "websocket");
      break;
    case 10:
      if (iequals(name, "connection")) {
        for_each_list_element(value, [&](std::string_view e) {
          f.conn_close |= iequals(e, "close");
          f.conn_keep_alive |= iequals(e, "keep-alive");
          f.conn_upgrade |= iequals(e, "upgrade");
        });
      }
      break;
    case 14:
      if (iequals(name, "content-length")) {
        switch (parse_content_length(value, f.cl_have, f.cl)) {
        case ClParse::kInvalid:
          return fail(400, "invalid Content-Length");
        case ClParse::kConflict:
          return fail(400, "conflicting Content-Length");
        case ClParse::kOk:
          break;
        }
        if (++f.cl_fields == 1)
          f.cl_text = value;
      }
      break;
    case 17:
      if (iequals(name, "transfer-encoding")) {
        if (++f.te_fields > 1)
          return fail(400, "multiple Transfer-Encoding fields");
        f.te = value;
      } else if (is_request && iequals(name, "sec-websocket-key")) {
        ++f.ws_key_fields;
        f.ws_key = value;
      }
      break;
    case 21:
      if (is_request && iequals(name, "sec-websocket-version"))
        f.ws_version = value;
      break;
    default:
      break;
    }
    headers.add_wire_safe(name, value);
  }
  if (end > lim.max_header_bytes)
    return fail(431, "header section too large");
  return {};
}

// Framing shared by requests and responses (RFC 9112 6.1-6.3), strict profile: CL+TE, TE in
// HTTP/1.0, and any TE other than a lone chunked are errors. Rewrites the framing fields to
// their canonical single form.
ParseResult decide_framing(const FieldFacts& f, Version version, HeaderMap& headers,
                           int64_t& content_length, bool& chunked) {
  content_length = -1;
  chunked = false;
  if (f.te_fields > 0) {
    if (f.cl_fields > 0)
      return fail(400, "Content-Length with Transfer-Encoding");
    if (version == Version::kHttp10)
      return fail(400, "Transfer-Encoding in HTTP/1.0");
    switch (parse_transfer_encoding(f.te)) {
    case TeParse::kBad:
      return fail(400, "invalid Transfer-Encoding");
    case TeParse::kUnsupported:
      return fail(501, "unsupported transfer coding");
    case TeParse::kChunked:
      break;
    }
    chunked = true;
    if (f.te != "chunked")
      headers.set("Transfer-Encoding", "chunked");
  } else if (f.cl_fields > 0) {
    content_length = static_cast<int64_t>(f.cl);
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, f.cl);
    std::string_view canonical(digits, static_cast<size_t>(end - digits));
    if (f.cl_fields > 1 || f.cl_text != canonical)
      headers.set("Content-Length", canonical);
  }
  return {};
}

// "HTTP/d.d" -> 0 ok (version set), 400 malformed, 505 unsupported major.
int parse_version(std::string_view v, Version& version) {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
      v[7] < '0' || v[7] > '9')
    return 400;
  if (v[5] != '1')
    return 505;
  version = v[7] == '0' ? Version::kHttp10 : Version::kHttp11;
  return 0;
}

void split_path_query(std::string_view t, Request& out) {
  size_t q = t.find('?');
  out.path.assign(t.substr(0, q));
  if (q != std::string_view::npos) {
    out.has_query = true;
    out.query.assign(t.substr(q + 1));
  }
}

} // namespace

bool normalize_authority(std::string_view a, std::string& host) {
  host.clear();
  if (a.empty())
    return true;
  std::string_view h, port;
  bool ipv6 = a.front() == '[';
  if (ipv6) {
    size_t rb = a.find(']');
    if (rb == std::string_view::npos || rb == 1)
      return false;
    h = a.substr(1, rb - 1);
    bool colon = false;
    for (char c : h) {
      if (c == ':')
        colon = true;
      else if (!(cls(c) & kHex) && c != '.')
        return false; // zone identifiers and IPvFuture are not accepted
    }
    if (!colon)
      return false;
    std::string_view rest = a.substr(rb + 1);
    if (!rest.empty()) {
      if (rest.front() != ':')
        return false;
      port = rest.substr(1);
    }
  } else {
    size_t colon = a.find(':');
    h = a.substr(0, colon);
    if (colon != std::string_view::npos)
      port = a.substr(colon + 1);
    for (size_t i = 0; i < h.size(); ++i) {
      if (!(cls(h[i]) & kHostCh))
        return false;
      if (h[i] == '%' && (i + 2 >= h.size() || !(cls(h[i + 1]) & kHex) || !(cls(h[i + 2]) & kHex)))
        return false;
    }
  }
  // port = *DIGIT (may be empty), at most 65535.
  if (port.size() > 5)
    return false;
  uint32_t pv = 0;
  for (char c : port) {
    if (c < '0' || c > '9')
      return false;
    pv = pv * 10 + uint32_t(c - '0');
  }
  if (pv > 65535)
    return false;
  host.assign(h);
  for (auto& c : host)
    c = ascii_lower(c);
  if (!ipv6 && !host.empty() && host.back() == '.')
    host.pop_back();
  return true;
}

bool is_token_char(char c) {
  return cls(c) & kTok;
}

bool is_token(std::string_view s) {
  if (s.empty())
    return false;
  for (char c : s)
    if (!(cls(c) & kTok))
      return false;
  return true;
}

bool is_field_value_char(char c) {
  return cls(c) & kVal;
}

void append_percent_escape(std::string& out, unsigned char c) {
  static constexpr char kHexUpper[] = "0123456789ABCDEF";
  out.push_back('%');
  out.push_back(kHexUpper[c >> 4]);
  out.push_back(kHexUpper[c & 15]);
}

bool list_contains_token(std::string_view value, std::string_view token) {
  bool found = false;
  for_each_list_element(value, [&](std::string_view e) { found = found || iequals(e, token); });
  return found;
}

namespace {

// The end of the start line that begins at `start` in `buf` (which ends with LF): the offset of
// its CR, or an error (bare LF, empty, longer than the limit: 414 for requests).
ParseResult start_line_end(std::string_view buf, size_t start, const ParseLimits& lim,
                           size_t& eol) {
  const char* p = buf.data();
  size_t nl = static_cast<size_t>(
      static_cast<const char*>(std::memchr(p + start, '\n', buf.size() - start)) - p);
  if (nl == start || p[nl - 1] != '\r')
    return fail(400, "bare LF line ending");
  eol = nl - 1;
  if (eol == start)
    return fail(400, "empty start line");
  if (eol - start > std::max(lim.max_request_line, kMinRequestLine))
    return fail(414, "request line too long");
  return {};
}

// The request head starting at `start` of `buf`, which ends with LF. Used twice (see
// parse_head_in): on a buffer phase 1 has checked and cut just past the head, and, first, on the
// whole buffer up to its last LF, where the line ends and limits are checked during the scan.
ParseResult parse_request_in(std::string_view buf, size_t start, const ParseLimits& limits,
                             Request& out) {
  const char* p = buf.data();
  // Request line: method SP request-target SP HTTP-version, single spaces, nothing else.
  size_t eol = 0;
  if (ParseResult r = start_line_end(buf, start, limits, eol); r.error())
    return r;
  std::string_view rl(p + start, eol - start);
  size_t i = 0;
  while (i < rl.size() && (cls(rl[i]) & kTok))
    ++i;
  if (i == 0 || i == rl.size() || rl[i] != ' ')
    return fail(400, "invalid method");
  std::string_view method = rl.substr(0, i);
  size_t t0 = ++i;
  while (i < rl.size() && (cls(rl[i]) & kTgt))
    ++i;
  if (i == rl.size())
    return fail(400, "missing HTTP version");
  if (rl[i] != ' ')
    return fail(400, "invalid character in request target");
  std::string_view target = rl.substr(t0, i - t0);
  if (target.empty())
    return fail(400, "invalid request line");
  Version version = Version::kHttp11;
  if (int st = parse_version(rl.substr(i + 1), version); st != 0)
    return fail(st, st == 505 ? "unsupported HTTP version" : "invalid HTTP version");
  if (method == "CONNECT")
    return fail(405, "CONNECT not allowed");

  out.clear();
  out.method.assign(method);
  out.version = version;

  // Request target (RFC 9112 3.2): origin-form, absolute-form (http/https), or `OPTIONS *`.
  std::string_view uri_authority;
  bool absolute = false;
  if (target.front() == '/') {
    split_path_query(target, out);
  } else if (target == "*") {
    if (method != "OPTIONS")
      return fail(400, "asterisk-form only with OPTIONS");
    out.path.assign("*");
  } else {
    size_t skip = istarts_with(target, "http://") ? 7 : istarts_with(target, "https://") ? 8 : 0;
    if (skip == 0)
      return fail(400, "invalid request target");
    absolute = true;
    std::string_view rest = target.substr(skip);
    size_t a_end = std::min(rest.find('/'), rest.find('?'));
    uri_authority = rest.substr(0, a_end);
    if (uri_authority.find('@') != std::string_view::npos) {
      // Userinfo is never accepted; `http://@/` (empty userinfo, empty host) is Traefik's
      // "empty host" case and falls back to the Host field like `http:///`.
      if (uri_authority != "@")
        return fail(400, "userinfo in request target");
      uri_authority = {};
    }
    std::string_view pq = a_end == std::string_view::npos ? std::string_view() : rest.substr(a_end);
    if (pq.empty() || pq.front() == '?')
      out.path.assign("/");
    if (!pq.empty()) {
      if (pq.front() == '?') {
        out.has_query = true;
        out.query.assign(pq.substr(1));
      } else {
        split_path_query(pq, out);
      }
    }
  }

  FieldFacts f;
  size_t end = 0;
  ParseResult fr = parse_fields(buf, eol + 2, limits, /*is_request=*/true, out.headers, f, end);
  if (fr.error())
    return fr;

  // Host (RFC 9112 3.2): exactly one on HTTP/1.1, valid, and the absolute-form authority wins.
  if (f.host_fields == 0 && version == Version::kHttp11)
    return fail(400, "missing Host");
  if (f.host_fields == 1 && !normalize_authority(f.host, out.host))
    return fail(400, "invalid Host");
  if (absolute && !uri_authority.empty()) {
    if (!normalize_authority(uri_authority, out.host))
      return fail(400, "invalid authority in request target");
    out.authority.assign(uri_authority);
    out.headers.set("Host", uri_authority);
  } else {
    out.authority.assign(f.host);
  }

  if (ParseResult r = decide_framing(f, version, out.headers, out.content_length, out.chunked);
      r.error())
    return r;

  out.expect_continue = f.expect_continue && version == Version::kHttp11;
  out.keep_alive = !f.conn_close && (version == Version::kHttp11 || f.conn_keep_alive);
  out.upgrade_websocket = method == "GET" && version == Version::kHttp11 && f.conn_upgrade &&
                          f.upgrade_websocket && f.ws_key_fields == 1 &&
                          valid_websocket_key(f.ws_key) && f.ws_version == "13";
  ParseResult head;
  head.state = ParseResult::State::kComplete;
  head.consumed = end;
  return head;
}

ParseResult parse_response_in(std::string_view buf, const ParseLimits& limits,
                              bool request_was_head, Response& out) {
  const char* p = buf.data();
  // Status line: HTTP-version SP 3DIGIT [SP reason-phrase]. A missing SP after the code is
  // tolerated (common, and harmless for framing).
  size_t eol = 0;
  if (ParseResult r = start_line_end(buf, 0, limits, eol); r.error())
    return r;
  std::string_view sl(p, eol);
  Version version = Version::kHttp11;
  if (sl.size() < 12 || sl[8] != ' ' || parse_version(sl.substr(0, 8), version) != 0)
    return fail(502, "invalid status line");
  int status = 0;
  for (size_t k = 9; k < 12; ++k) {
    if (sl[k] < '0' || sl[k] > '9')
      return fail(502, "invalid status code");
    status = status * 10 + (sl[k] - '0');
  }
  if (status < 100)
    return fail(502, "invalid status code");
  std::string_view reason;
  if (sl.size() > 12) {
    if (sl[12] != ' ')
      return fail(502, "invalid status line");
    reason = sl.substr(13);
    for (char c : reason)
      if (!(cls(c) & kVal))
        return fail(502, "invalid reason phrase");
  }

  out.clear();
  out.status = status;
  out.reason.assign(reason);
  out.version = version;

  FieldFacts f;
  size_t end = 0;
  ParseResult fr = parse_fields(buf, eol + 2, limits, /*is_request=*/false, out.headers, f, end);
  if (fr.error())
    return fr;
  if (ParseResult r = decide_framing(f, version, out.headers, out.content_length, out.chunked);
      r.error())
    return r;

  out.no_body = request_was_head || status < 200 || status == 204 || status == 304;
  bool delimited = out.no_body || out.chunked || out.content_length >= 0;
  out.keep_alive = delimited && !f.conn_close && (version == Version::kHttp11 || f.conn_keep_alive);
  ParseResult head;
  head.state = ParseResult::State::kComplete;
  head.consumed = end;
  return head;
}

// One pass, then two. A head usually arrives whole in one read, so the first call for a message
// (scan_hint 0) parses the buffer up to its last LF directly, checking line ends and limits as
// it scans: the head's end is found by the field parser itself, not by a separate pass. Anything
// but a complete, valid head (a partial head, any error) is then decided by the two-pass path
// below, which is exact: phase 1 (find_head) reports line-ending and limit errors of the whole
// head before any field error, and resumes incrementally from scan_hint when bytes trickle in.
// The one-pass attempt runs once per message, so a slowly arriving head is not rescanned.
template <class Parse>
ParseResult parse_head_in(std::string_view buf, const ParseLimits& limits, bool is_request,
                          size_t& scan_hint, Parse&& parse) {
  if (scan_hint == 0) {
    size_t start = 0;
    if (is_request)
      while (start + 1 < buf.size() && buf[start] == '\r' && buf[start + 1] == '\n')
        start += 2;
    // The head ends at an LF at or before the buffer's last one (a body or a pipelined request
    // may follow it); the last is usually near the end.
    const void* last_lf =
        buf.size() > start ? ::memrchr(buf.data() + start, '\n', buf.size() - start) : nullptr;
    if (last_lf != nullptr) {
      size_t len = static_cast<size_t>(static_cast<const char*>(last_lf) - buf.data()) + 1;
      ParseResult r = parse(buf.substr(0, len), start);
      if (r.complete())
        return r;
    }
  }
  size_t start = 0;
  ParseResult head = find_head(buf, limits, /*skip_leading_crlf=*/is_request, scan_hint, start);
  if (!head.complete())
    return head;
  return parse(buf.substr(0, head.consumed), start);
}

} // namespace

ParseResult parse_request_head(std::string_view buf, const ParseLimits& limits, Request& out,
                               size_t& scan_hint) {
  return parse_head_in(buf, limits, /*is_request=*/true, scan_hint,
                       [&](std::string_view b, size_t start) {
                         return parse_request_in(b, start, limits, out);
                       });
}

ParseResult parse_response_head(std::string_view buf, const ParseLimits& limits,
                                bool request_was_head, Response& out, size_t& scan_hint) {
  // Every failure is the upstream's fault: the caller answers 502 and drops the connection.
  ParseResult r = parse_head_in(buf, limits, /*is_request=*/false, scan_hint,
                                [&](std::string_view b, size_t) {
                                  return parse_response_in(b, limits, request_was_head, out);
                                });
  if (r.error())
    r.status = 502;
  return r;
}

} // namespace turnpike::http
