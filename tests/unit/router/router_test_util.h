#pragma once
// Builds http::Requests for router tests the way the entrypoint hands them over: host lower-cased
// without port or trailing dot (IPv6 without brackets), path already normalised, raw query.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/ipnet.h"
#include "http/message.h"

namespace turnpike::router::testing {

struct RequestSpec {
  // "http://Host:port/path?query", "//host/path" or "/path?query" (no host).
  std::string url = "/";
  std::string method = "GET";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string client = "10.0.0.1";
};

inline std::string entrypoint_host(std::string_view authority) {
  std::string host(authority);
  if (!host.empty() && host.front() == '[') {
    host = host.substr(1, host.find(']') - 1);
  } else if (auto colon = host.find(':');
             colon != std::string::npos && host.find(':', colon + 1) == std::string::npos) {
    host.resize(colon);
  }
  if (!host.empty() && host.back() == '.')
    host.pop_back();
  for (auto& c : host)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c + 32);
  return host;
}

inline http::Request make_request(const RequestSpec& spec) {
  http::Request req;
  req.method = spec.method;
  std::string_view rest = spec.url;
  if (auto scheme = rest.find("://"); scheme != std::string_view::npos) {
    req.scheme = std::string(rest.substr(0, scheme));
    rest.remove_prefix(scheme + 1);
  }
  if (rest.starts_with("//")) {
    rest.remove_prefix(2);
    auto end = rest.find_first_of("/?");
    req.authority = std::string(rest.substr(0, end));
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    req.host = entrypoint_host(req.authority);
    req.headers.add("Host", req.authority);
  }
  auto q = rest.find('?');
  req.path = std::string(rest.substr(0, q));
  if (req.path.empty())
    req.path = "/";
  if (q != std::string_view::npos) {
    req.has_query = true;
    req.query = std::string(rest.substr(q + 1));
  }
  for (const auto& [name, value] : spec.headers)
    req.headers.add(name, value);
  if (auto ip = parse_ip(spec.client))
    req.client_addr = *ip;
  return req;
}

inline http::Request make_request(std::string url) {
  RequestSpec spec;
  spec.url = std::move(url);
  return make_request(spec);
}

} // namespace turnpike::router::testing
