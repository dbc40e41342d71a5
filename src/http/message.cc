#include "http/message.h"

#include "common/strings.h"

namespace turnpike::http {

void HeaderMap::add(std::string_view name, std::string_view value) {
  if (size_ < entries_.size()) {
    Header& h = entries_[size_];
    assign_short(h.name, name);
    assign_short(h.value, value);
    h.wire_safe = false;
  } else {
    entries_.push_back(Header{std::string(name), std::string(value)});
  }
  ++size_;
}

// Called for every field a parser accepts. Flattened: assign_short is inlined into it (two
// calls and their register saves per field were a third of its cost).
[[gnu::flatten]] void HeaderMap::add_wire_safe(std::string_view name, std::string_view value) {
  if (size_ < entries_.size()) [[likely]] {
    Header& h = entries_[size_++];
    assign_short(h.name, name);
    assign_short(h.value, value);
    h.wire_safe = true;
    return;
  }
  add(name, value);
  entries_[size_ - 1].wire_safe = true;
}

void HeaderMap::set(std::string_view name, std::string_view value) {
  for (size_t i = 0; i < size_; ++i) {
    if (iequals(entries_[i].name, name)) {
      entries_[i].value.assign(value);
      entries_[i].wire_safe = false;
      // Remove any later duplicates.
      size_t w = i + 1;
      for (size_t r = i + 1; r < size_; ++r) {
        if (iequals(entries_[r].name, name)) continue;
        if (w != r) std::swap(entries_[w], entries_[r]);
        ++w;
      }
      size_ = w;
      return;
    }
  }
  add(name, value);
}

size_t HeaderMap::remove(std::string_view name) {
  return remove_if([&](const Header& h) { return iequals(h.name, name); });
}

std::optional<std::string_view> HeaderMap::get(std::string_view name) const {
  for (size_t i = 0; i < size_; ++i)
    if (iequals(entries_[i].name, name)) return std::string_view(entries_[i].value);
  return std::nullopt;
}

size_t HeaderMap::count(std::string_view name) const {
  size_t n = 0;
  for (size_t i = 0; i < size_; ++i) n += iequals(entries_[i].name, name);
  return n;
}

std::vector<std::string_view> HeaderMap::values(std::string_view name) const {
  std::vector<std::string_view> out;
  for (size_t i = 0; i < size_; ++i)
    if (iequals(entries_[i].name, name)) out.emplace_back(entries_[i].value);
  return out;
}

bool idempotent_method(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" ||
         method == "PUT" || method == "DELETE";
}

std::string_view to_string(Version v) {
  switch (v) {
    case Version::kHttp10: return "HTTP/1.0";
    case Version::kHttp11: return "HTTP/1.1";
    case Version::kHttp2: return "HTTP/2.0";
  }
  return "HTTP/1.1";
}

std::string Request::target() const {
  if (!has_query) return path;
  std::string t;
  t.reserve(path.size() + 1 + query.size());
  t.append(path).push_back('?');
  t.append(query);
  return t;
}

void Request::clear() {
  method.clear();
  version = Version::kHttp11;
  path.clear();
  query.clear();
  has_query = false;
  authority.clear();
  host.clear();
  headers.clear();
  content_length = -1;
  chunked = false;
  expect_continue = false;
  upgrade_websocket = false;
  keep_alive = true;
  append_x_forwarded_for = false;
}

void Response::clear() {
  status = 200;
  reason.clear();
  version = Version::kHttp11;
  headers.clear();
  content_length = -1;
  chunked = false;
  no_body = false;
  keep_alive = true;
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Request Entity Too Large";
    case 414: return "Request-URI Too Long";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

bool is_hop_by_hop(std::string_view n) {
  // Dispatch on the length first: this runs for every field of every request and response.
  switch (n.size()) {
    case 2: return iequals(n, "te");
    case 7: return iequals(n, "upgrade") || iequals(n, "trailer");
    case 10: return iequals(n, "connection") || iequals(n, "keep-alive");
    case 14: return iequals(n, "http2-settings");
    case 16: return iequals(n, "proxy-connection");
    case 17: return iequals(n, "transfer-encoding");
    case 18: return iequals(n, "proxy-authenticate");
    case 19: return iequals(n, "proxy-authorization");
    default: return false;
  }
}

}  // namespace turnpike::http
