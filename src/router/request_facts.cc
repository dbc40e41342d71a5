#include "router/request_facts.h"

#include "common/strings.h"
#include "router/hex.h"

namespace turnpike::router {

namespace {

// The part of a host that routing compares, before lower-casing.
std::string_view strip_host(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    // "[v6]" or "[v6]:port": the address inside the brackets.
    auto close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(1, close - 1);
  }
  // One colon is a port separator; several mean a bare IPv6 address.
  if (auto colon = host.find(':');
      colon != std::string_view::npos && host.find(':', colon + 1) == std::string_view::npos)
    host = host.substr(0, colon);
  if (!host.empty() && host.back() == '.')
    host.remove_suffix(1);
  return host;
}

// Encodings that keep their meaning only while encoded: decoding them would create a path
// separator, a path-parameter delimiter, a query or fragment start, an escape, or a NUL. This is
// the list of sensitive encodings of http/path.h (all of which Traefik also keeps encoded).
bool stays_encoded(unsigned char c) {
  return c == '/' || c == '\\' || c == ';' || c == '%' || c == '?' || c == '#' || c == '\0';
}

// Go's QueryUnescape: nullopt on a malformed escape.
std::optional<std::string> query_unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= s.size())
        return std::nullopt;
      int hi = hex_digit(s[i + 1]), lo = hex_digit(s[i + 2]);
      if (hi < 0 || lo < 0)
        return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

} // namespace

std::string canonical_host(std::string_view host) {
  return to_lower(strip_host(host));
}

bool is_canonical_host(std::string_view host) {
  if (strip_host(host).size() != host.size())
    return false;
  for (char c : host)
    if (c >= 'A' && c <= 'Z')
      return false;
  return true;
}

std::string routing_path(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (size_t i = 0; i < path.size(); ++i) {
    int hi = -1, lo = -1;
    if (path[i] == '%' && i + 2 < path.size()) {
      hi = hex_digit(path[i + 1]);
      lo = hex_digit(path[i + 2]);
    }
    if (hi < 0 || lo < 0) {
      out.push_back(path[i]);
      continue;
    }
    auto decoded = static_cast<unsigned char>(hi * 16 + lo);
    if (stays_encoded(decoded)) {
      out.push_back('%');
      out.push_back(kUpperHex[hi]);
      out.push_back(kUpperHex[lo]);
    } else {
      out.push_back(static_cast<char>(decoded));
    }
    i += 2;
  }
  return out;
}

std::vector<QueryParam> parse_query(std::string_view raw) {
  std::vector<QueryParam> params;
  while (!raw.empty()) {
    auto amp = raw.find('&');
    std::string_view segment = raw.substr(0, amp);
    raw = amp == std::string_view::npos ? std::string_view() : raw.substr(amp + 1);
    if (segment.empty() || segment.find(';') != std::string_view::npos)
      continue;
    auto eq = segment.find('=');
    auto key = query_unescape(segment.substr(0, eq));
    if (!key)
      continue;
    auto value =
        query_unescape(eq == std::string_view::npos ? std::string_view() : segment.substr(eq + 1));
    if (!value)
      continue;
    params.push_back(QueryParam{std::move(*key), std::move(*value)});
  }
  return params;
}

RequestFacts::RequestFacts(const http::Request& request) : request_(request) {
  if (is_canonical_host(request.host)) {
    host_ = request.host;
  } else {
    host_storage_ = canonical_host(request.host);
    host_ = host_storage_;
  }
}

std::string_view RequestFacts::routing_path() {
  if (!routing_path_) {
    const std::string& path = request_.path;
    if (path.find('%') == std::string::npos) {
      routing_path_ = std::string_view(path);
    } else {
      routing_path_storage_ = router::routing_path(path);
      routing_path_ = std::string_view(routing_path_storage_);
    }
  }
  return *routing_path_;
}

const std::vector<QueryParam>& RequestFacts::query() {
  if (!query_)
    query_ = parse_query(request_.query);
  return *query_;
}

} // namespace turnpike::router
