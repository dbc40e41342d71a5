#include "http/serialize.h"

#include <charconv>
#include <cstdio>
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

// Appends `value`, writing CR, LF and NUL as SP (RFC 9110 5.5). Returns true if it had to.
bool append_value(std::string& out, std::string_view value) {
  // One pass with a cheap test per byte (string_view::find_first_of with a 3-character set
  // costs a memchr per byte); values almost never need repair.
  bool clean = true;
  for (char c : value)
    clean &= !is_line_breaking(static_cast<unsigned char>(c));
  if (clean) {
    out.append(value);
    return false;
  }
  for (char c : value)
    out.push_back(c == '\r' || c == '\n' || c == '\0' ? ' ' : c);
  return true;
}

// Appends "name: value\r\n". Returns 1 when the field was dropped (name not a token) or repaired.
size_t append_field(std::string& out, std::string_view name, std::string_view value) {
  if (!is_token(name))
    return 1;
  out.append(name).append(": ");
  bool repaired = append_value(out, value);
  out.append("\r\n");
  return repaired ? 1 : 0;
}

// append_field for a stored field: one the parser validated is copied as is.
size_t append_header(std::string& out, const Header& h) {
  if (!h.wire_safe)
    return append_field(out, h.name, h.value);
  out.append(h.name).append(": ").append(h.value).append("\r\n");
  return 0;
}

} // namespace

bool append_request_target(std::string& out, std::string_view t) {
  bool repaired = false;
  for (char c : t) {
    auto u = static_cast<unsigned char>(c);
    if (u > 0x20 && u < 0x7f) {
      out.push_back(c);
    } else {
      append_percent_escape(out, u);
      repaired = true;
    }
  }
  return repaired;
}

namespace {

void append_number(std::string& out, uint64_t n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, static_cast<size_t>(end - buf));
}

// Upper bound of what the fields take on the wire, to reserve once.
size_t fields_size(const HeaderMap& headers) {
  size_t n = 0;
  for (const auto& h : headers)
    n += h.name.size() + h.value.size() + 4;
  return n;
}

bool is_framing_field(std::string_view name) {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding");
}

void append_framing(std::string& out, BodyFraming framing, uint64_t length) {
  switch (framing) {
  case BodyFraming::kContentLength:
    out.append("Content-Length: ");
    append_number(out, length);
    out.append("\r\n");
    break;
  case BodyFraming::kChunked:
    out.append("Transfer-Encoding: chunked\r\n");
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
  out.reserve(out.size() + req.method.size() + target_size * 3 + host.size() +
              fields_size(req.headers) + peer.size + kHeadSlack);

  size_t repaired = 0;
  out.append(req.method).push_back(' ');
  if (o.target.empty()) {
    repaired += append_request_target(out, req.path);
    if (req.has_query) {
      out.push_back('?');
      repaired += append_request_target(out, req.query);
    }
  } else {
    repaired += append_request_target(out, o.target);
  }
  out.append(" HTTP/1.1\r\nHost: ");
  repaired += append_value(out, host);
  out.append("\r\n");

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
      out.append("X-Forwarded-For: ");
      repaired += append_forwarded_for(out, req);
      out.append("\r\n");
      continue;
    }
    repaired += append_header(out, h);
  }
  if (req.append_x_forwarded_for && !xff_written)
    out.append("X-Forwarded-For: ").append(peer.view()).append("\r\n");

  BodyFraming framing = o.framing;
  uint64_t length = o.content_length;
  if (framing == BodyFraming::kNone &&
      (req.method == "POST" || req.method == "PUT" || req.method == "PATCH")) {
    framing = BodyFraming::kContentLength;
    length = 0;
  }
  append_framing(out, framing, length);
  if (o.connection_close)
    out.append("Connection: close\r\n");
  out.append("\r\n");
  return repaired;
}

size_t serialize_response_head(const Response& resp, const ResponseHeadOptions& o,
                               std::string& out) {
  std::string_view reason = resp.reason.empty() ? reason_phrase(resp.status) : resp.reason;
  const bool close = o.connection_close || o.framing == BodyFraming::kUntilClose;
  const bool date = o.add_date && !resp.headers.has("Date");
  out.reserve(out.size() + reason.size() + fields_size(resp.headers) + kHeadSlack);

  size_t repaired = 0;
  out.append(o.version == Version::kHttp10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  append_number(out, static_cast<uint64_t>(resp.status));
  out.push_back(' ');
  repaired += append_value(out, reason);
  out.append("\r\n");
  for (const auto& h : resp.headers) {
    if (is_framing_field(h.name))
      continue;
    if (close && iequals(h.name, "connection"))
      continue;
    repaired += append_header(out, h);
  }
  if (date)
    out.append("Date: ").append(http_date()).append("\r\n");
  append_framing(out, o.framing, o.content_length);
  if (close)
    out.append("Connection: close\r\n");
  else if (o.version == Version::kHttp10)
    out.append("Connection: keep-alive\r\n");
  out.append("\r\n");
  return repaired;
}

size_t append_forwarded_for(std::string& out, const Request& req) {
  size_t repaired = 0;
  for (auto v : req.headers.values("X-Forwarded-For")) {
    if (v.empty())
      continue;
    repaired += append_value(out, v);
    out.append(", ");
  }
  out.append(ip_text(req.client_addr).view());
  return repaired;
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
