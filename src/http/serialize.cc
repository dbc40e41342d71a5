#include "http/serialize.h"

#include <charconv>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <ctime>

#include "common/strings.h"
#include "http/forwarded.h"
#include "http/parser.h"

namespace turnpike::http {
namespace {

// CR, LF or NUL: the characters a field value must not carry on the wire.
bool is_line_breaking(unsigned char c) {
  return c < 14 && ((0x2401u >> c) & 1u);
}

// Appends to a std::string (the public helpers below).
struct StringSink {
  std::string& out;
  void put(std::string_view s) { out.append(s); }
  void put(char c) { out.push_back(c); }
};

// Writes a message head straight into `out`'s storage: grown once to an upper bound of the head,
// filled with memcpy, trimmed to what was written when done. std::string::append checks the
// capacity and stores the length on every call, and a head is some forty appends. A wrong
// bound costs a regrowth, never an overrun: every write checks the room left.
class HeadWriter {
 public:
  HeadWriter(std::string& out, size_t bound) : out_(out) {
    size_t at = out.size();
    out.resize(at + bound);
    p_ = out.data() + at;
    end_ = out.data() + out.size();
  }
  HeadWriter(const HeadWriter&) = delete;
  HeadWriter& operator=(const HeadWriter&) = delete;
  ~HeadWriter() { out_.resize(static_cast<size_t>(p_ - out_.data())); }

  [[gnu::always_inline]] void put(std::string_view s) {
    if (static_cast<size_t>(end_ - p_) < s.size()) [[unlikely]]
      grow(s.size());
    copy_short(p_, s.data(), s.size());
    p_ += s.size();
  }
  [[gnu::always_inline]] void put(char c) {
    if (p_ == end_)
      grow(1);
    *p_++ = c;
  }

 private:
  void grow(size_t need) {
    size_t at = static_cast<size_t>(p_ - out_.data());
    out_.resize(std::max(out_.size() * 2, at + need + 256));
    p_ = out_.data() + at;
    end_ = out_.data() + out_.size();
  }

  std::string& out_;
  char* p_;
  char* end_;
};

// Appends `value`, writing CR, LF and NUL as SP (RFC 9110 5.5). Returns true if it had to.
template <class Sink>
bool append_value(Sink& out, std::string_view value) {
  // One pass with a cheap test per byte (string_view::find_first_of with a 3-character set
  // costs a memchr per byte); values almost never need repair.
  bool clean = true;
  for (char c : value)
    clean &= !is_line_breaking(static_cast<unsigned char>(c));
  if (clean) {
    out.put(value);
    return false;
  }
  for (char c : value)
    out.put(c == '\r' || c == '\n' || c == '\0' ? ' ' : c);
  return true;
}

// Appends "name: value\r\n". Returns 1 when the field was dropped (name not a token) or repaired.
size_t append_field(HeadWriter& out, std::string_view name, std::string_view value) {
  if (!is_token(name))
    return 1;
  out.put(name);
  out.put(": ");
  bool repaired = append_value(out, value);
  out.put("\r\n");
  return repaired ? 1 : 0;
}

// append_field for a stored field: one the parser validated is copied as is.
size_t append_header(HeadWriter& out, const Header& h) {
  if (!h.wire_safe)
    return append_field(out, h.name, h.value);
  out.put(h.name);
  out.put(": ");
  out.put(h.value);
  out.put("\r\n");
  return 0;
}

template <class Sink>
bool append_target(Sink& out, std::string_view t) {
  static constexpr char kHexUpper[] = "0123456789ABCDEF";
  bool clean = true;
  for (char c : t) {
    auto u = static_cast<unsigned char>(c);
    clean &= u > 0x20 && u < 0x7f;
  }
  if (clean) {
    out.put(t);
    return false;
  }
  for (char c : t) {
    auto u = static_cast<unsigned char>(c);
    if (u > 0x20 && u < 0x7f) {
      out.put(c);
    } else {
      out.put('%');
      out.put(kHexUpper[u >> 4]);
      out.put(kHexUpper[u & 15]);
    }
  }
  return true;
}

template <class Sink>
size_t append_forwarded_for_to(Sink& out, const Request& req) {
  size_t repaired = 0;
  for (auto v : req.headers.values("X-Forwarded-For")) {
    if (v.empty())
      continue;
    repaired += append_value(out, v);
    out.put(", ");
  }
  out.put(ip_text(req.client_addr).view());
  return repaired;
}

} // namespace

bool append_request_target(std::string& out, std::string_view t) {
  StringSink sink{out};
  return append_target(sink, t);
}

namespace {

void append_number(HeadWriter& out, uint64_t n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.put(std::string_view(buf, static_cast<size_t>(end - buf)));
}

// Upper bound of what the fields take on the wire.
size_t fields_size(const HeaderMap& headers) {
  size_t n = 0;
  for (const auto& h : headers)
    n += h.name.size() + h.value.size() + 4;
  return n;
}

bool is_framing_field(std::string_view name) {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding");
}

void append_framing(HeadWriter& out, BodyFraming framing, uint64_t length) {
  switch (framing) {
  case BodyFraming::kContentLength:
    out.put("Content-Length: ");
    append_number(out, length);
    out.put("\r\n");
    break;
  case BodyFraming::kChunked:
    out.put("Transfer-Encoding: chunked\r\n");
    break;
  case BodyFraming::kNone:
  case BodyFraming::kUntilClose:
    break;
  }
}

// Slack for the start line, Host, framing, Date and Connection fields.
constexpr size_t kHeadSlack = 192;

} // namespace

size_t serialize_request_head(const Request& req, const RequestHeadOptions& o, std::string& out) {
  std::string_view host = o.host;
  if (host.empty()) {
    auto field = req.headers.get("Host");
    host = field ? *field : std::string_view(req.authority);
  }
  IpText peer;
  if (req.append_x_forwarded_for)
    peer = ip_text(req.client_addr);
  size_t target_size = o.target.empty() ? req.path.size() + 1 + req.query.size() : o.target.size();
  HeadWriter w(out, req.method.size() + target_size * 3 + host.size() +
                        fields_size(req.headers) + peer.size + kHeadSlack);

  size_t repaired = 0;
  w.put(req.method);
  w.put(' ');
  if (o.target.empty()) {
    repaired += append_target(w, req.path);
    if (req.has_query) {
      w.put('?');
      repaired += append_target(w, req.query);
    }
  } else {
    repaired += append_target(w, o.target);
  }
  w.put(" HTTP/1.1\r\nHost: ");
  repaired += append_value(w, host);
  w.put("\r\n");

  bool xff_written = false;
  for (const auto& h : req.headers) {
    if (iequals(h.name, "host") || is_framing_field(h.name))
      continue;
    if (o.connection_close && iequals(h.name, "connection"))
      continue;
    if (req.append_x_forwarded_for && iequals(h.name, "x-forwarded-for")) {
      // Go's ReverseProxy: every prior value, ", "-joined, then the peer.
      if (xff_written)
        continue;
      xff_written = true;
      w.put("X-Forwarded-For: ");
      repaired += append_forwarded_for_to(w, req);
      w.put("\r\n");
      continue;
    }
    repaired += append_header(w, h);
  }
  if (req.append_x_forwarded_for && !xff_written) {
    w.put("X-Forwarded-For: ");
    w.put(peer.view());
    w.put("\r\n");
  }

  BodyFraming framing = o.framing;
  uint64_t length = o.content_length;
  if (framing == BodyFraming::kNone &&
      (req.method == "POST" || req.method == "PUT" || req.method == "PATCH")) {
    framing = BodyFraming::kContentLength;
    length = 0;
  }
  append_framing(w, framing, length);
  if (o.connection_close)
    w.put("Connection: close\r\n");
  w.put("\r\n");
  return repaired;
}

size_t serialize_response_head(const Response& resp, const ResponseHeadOptions& o,
                               std::string& out) {
  std::string_view reason = resp.reason.empty() ? reason_phrase(resp.status) : resp.reason;
  const bool close = o.connection_close || o.framing == BodyFraming::kUntilClose;
  const bool date = o.add_date && !resp.headers.has("Date");
  HeadWriter w(out, reason.size() + fields_size(resp.headers) + kHeadSlack);

  size_t repaired = 0;
  w.put(o.version == Version::kHttp10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  append_number(w, static_cast<uint64_t>(resp.status));
  w.put(' ');
  repaired += append_value(w, reason);
  w.put("\r\n");
  for (const auto& h : resp.headers) {
    if (is_framing_field(h.name))
      continue;
    if (close && iequals(h.name, "connection"))
      continue;
    repaired += append_header(w, h);
  }
  if (date) {
    w.put("Date: ");
    w.put(http_date());
    w.put("\r\n");
  }
  append_framing(w, o.framing, o.content_length);
  if (close)
    w.put("Connection: close\r\n");
  else if (o.version == Version::kHttp10)
    w.put("Connection: keep-alive\r\n");
  w.put("\r\n");
  return repaired;
}

size_t append_forwarded_for(std::string& out, const Request& req) {
  StringSink sink{out};
  return append_forwarded_for_to(sink, req);
}

std::string_view http_date() {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  thread_local std::time_t cached = -1;
  thread_local char text[32];
  std::time_t now = std::time(nullptr);
  if (now != cached) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday],
                  tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                  tm.tm_sec);
    cached = now;
  }
  return {text, 29};
}

} // namespace turnpike::http
