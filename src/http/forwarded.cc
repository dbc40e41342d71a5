#include "http/forwarded.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include "common/strings.h"
#include "http/parser.h"

namespace turnpike::http {
namespace {

// Case-insensitive comparison where '_' and '-' are the same character.
bool header_name_equals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i] == '_' ? '-' : ascii_lower(a[i]);
    char y = b[i] == '_' ? '-' : ascii_lower(b[i]);
    if (x != y)
      return false;
  }
  return true;
}

// Port of an authority the way Go's net.SplitHostPort finds it ("a:80", "[::1]:80"); empty
// when there is none.
std::string_view authority_port(std::string_view a) {
  size_t colon = a.rfind(':');
  if (colon == std::string_view::npos)
    return {};
  if (!a.empty() && a.front() == '[') {
    size_t rb = a.find(']');
    if (rb == std::string_view::npos || rb + 1 != colon)
      return {};
  } else if (a.find(':') != colon) {
    return {}; // bare IPv6 without brackets: no port
  }
  return a.substr(colon + 1);
}

// Calls fn(token) for each non-empty token of every Connection field.
template <class Fn> void for_each_connection_token(const HeaderMap& headers, Fn fn) {
  for (const auto& h : headers) {
    if (!iequals(h.name, "connection"))
      continue;
    for_each_list_element(h.value, [&](std::string_view token) {
      if (!token.empty())
        fn(token);
    });
  }
}

bool contains_name(std::span<const std::string> names, std::string_view name) {
  for (const auto& n : names)
    if (iequals(n, name))
      return true;
  return false;
}

} // namespace

bool is_gateway_owned_header(std::string_view name) {
  if (name.empty())
    return false;
  char first = ascii_lower(name.front());
  if (first == 'f')
    return iequals(name, "forwarded");
  if (first != 'x')
    return false;
  static constexpr std::string_view kOwned[] = {
      "x-forwarded-for",    "x-forwarded-host",   "x-forwarded-proto", "x-forwarded-port",
      "x-forwarded-server", "x-forwarded-prefix", "x-forwarded-uri",   "x-forwarded-method",
      "x-forwarded-scheme", "x-real-ip",          "x-scheme",
  };
  for (auto owned : kOwned)
    if (header_name_equals(name, owned))
      return true;
  constexpr std::string_view kTls = "x-forwarded-tls-";
  return name.size() > kTls.size() && header_name_equals(name.substr(0, kTls.size()), kTls);
}

size_t strip_hop_by_hop(HeaderMap& headers, bool keep_websocket_upgrade,
                        std::span<const std::string> connection_allowed) {
  // Most messages carry no hop-by-hop field at all (and so no Connection field naming others):
  // one scan that dispatches on the name's length settles them.
  bool any = false;
  for (const auto& h : headers)
    any = any || is_hop_by_hop(h.name);
  if (!any)
    return 0;
  bool keep_upgrade = false;
  if (keep_websocket_upgrade) {
    for (const auto& h : headers)
      if (iequals(h.name, "upgrade"))
        keep_upgrade = keep_upgrade || list_contains_token(h.value, "websocket");
  }
  // Names listed in Connection that are not hop-by-hop anyway. Copied out because removing
  // fields moves the strings the tokens point into. Usually empty (close, keep-alive, upgrade).
  std::string nominated; // "name,name,"
  std::string kept;      // allowed names that stay listed in Connection
  for_each_connection_token(headers, [&](std::string_view token) {
    if (iequals(token, "close") || is_hop_by_hop(token))
      return;
    // A client may not remove what the gateway sets (Traefik does the same).
    if (is_gateway_owned_header(token))
      return;
    std::string& list = contains_name(connection_allowed, token) ? kept : nominated;
    list.append(token).push_back(',');
  });
  size_t removed = headers.remove_if([&](const Header& h) {
    if (is_hop_by_hop(h.name))
      return !(keep_upgrade && iequals(h.name, "upgrade"));
    return !nominated.empty() && list_contains_token(nominated, h.name);
  });
  if (keep_upgrade)
    kept.append("Upgrade,");
  if (!kept.empty()) {
    kept.pop_back();
    headers.add("Connection", kept);
  }
  return removed;
}

bool is_trusted_peer(const Request& req, const ForwardedOptions& options) {
  return options.insecure || options.trusted_ips.contains(req.client_addr);
}

IpText ip_text(const boost::asio::ip::address& addr) {
  IpText t;
  t.data[0] = '\0';
  auto ip = canonical_ip(addr);
  if (ip.is_v4()) {
    // By hand: inet_ntop formats IPv4 through sprintf, and this runs for every request.
    char* out = t.data;
    for (unsigned char octet : ip.to_v4().to_bytes()) {
      if (out != t.data)
        *out++ = '.';
      out = std::to_chars(out, t.data + sizeof t.data, static_cast<unsigned>(octet)).ptr;
    }
    *out = '\0';
  } else {
    auto b = ip.to_v6().to_bytes(); // bytes only: the zone (scope id) is left out
    inet_ntop(AF_INET6, b.data(), t.data, sizeof t.data);
  }
  t.size = std::strlen(t.data);
  return t;
}

void apply_forwarded_headers(Request& req, const ForwardedOptions& options) {
  HeaderMap& h = req.headers;
  const bool tls = req.scheme == "https";
  const std::string_view our_proto =
      req.upgrade_websocket ? (tls ? "wss" : "ws") : (tls ? "https" : "http");

  if (!is_trusted_peer(req, options)) {
    // The common case, and the cheap one: every field set below was just removed, so each is
    // appended without looking for an earlier one. The values are built from checked parts (an
    // IP, a literal, the authority the parser validated), hence wire-safe.
    h.remove_if([](const Header& f) { return is_gateway_owned_header(f.name); });
    h.add_wire_safe("X-Real-Ip", ip_text(req.client_addr).view());
    h.add_wire_safe("X-Forwarded-Proto", our_proto);
    std::string_view port = authority_port(req.authority);
    h.add_wire_safe("X-Forwarded-Port", !port.empty() ? port : tls ? "443" : "80");
    if (options.add_x_forwarded_scheme_headers) {
      h.add_wire_safe("X-Forwarded-Scheme", our_proto);
      h.add_wire_safe("X-Scheme", our_proto);
    }
    if (!req.authority.empty())
      h.add_wire_safe("X-Forwarded-Host", req.authority);
    if (!options.hostname.empty())
      h.add("X-Forwarded-Server", options.hostname);  // from the system: checked when sent
    req.append_x_forwarded_for = !options.not_append_x_forwarded_for;
    return;
  }

  // A trusted hop: what it sent stays; absent or empty fields are filled in. An absent field is
  // appended as wire-safe without a second scan of the map; a present but empty one is replaced.
  auto fill = [&h](std::string_view name, std::string_view value, bool present) {
    if (present)
      h.set(name, value);
    else
      h.add_wire_safe(name, value);
  };
  // One pass finds the first value of each field decided on below (five lookups, each a scan
  // of the whole map, cost about 0.4 k instructions per request). Only facts are kept: the
  // fills below may move the strings the values point into.
  std::optional<std::string_view> real_ip, proto, port, host;
  size_t xff_fields = 0;
  for (const Header& f : h) {
    std::string_view n = f.name;
    switch (n.size()) {
    case 9:
      if (!real_ip && iequals(n, "X-Real-Ip"))
        real_ip = f.value;
      break;
    case 15:
      xff_fields += iequals(n, "X-Forwarded-For");
      break;
    case 16:
      if (!port && iequals(n, "X-Forwarded-Port"))
        port = f.value;
      else if (!host && iequals(n, "X-Forwarded-Host"))
        host = f.value;
      break;
    case 17:
      if (!proto && iequals(n, "X-Forwarded-Proto"))
        proto = f.value;
      break;
    default:
      break;
    }
  }
  const bool fill_proto = !proto || proto->empty();
  // The port follows the scheme: ours, or the one a trusted hop sent.
  const bool secure = tls || (!fill_proto && (*proto == "https" || *proto == "wss"));
  const bool fill_port = !port || port->empty();
  const bool fill_host = (!host || host->empty()) && !req.authority.empty();
  const bool has_port = port.has_value(), has_proto = proto.has_value();
  const bool has_host = host.has_value();

  if (!real_ip || real_ip->empty())
    fill("X-Real-Ip", ip_text(req.client_addr).view(), real_ip.has_value());
  if (fill_proto)
    fill("X-Forwarded-Proto", our_proto, has_proto);
  if (fill_port) {
    std::string_view value = authority_port(req.authority);
    if (value.empty())
      value = secure ? "443" : "80";
    fill("X-Forwarded-Port", value, has_port);
  }
  if (options.add_x_forwarded_scheme_headers) {
    // Copied: set() may move the string the view points into.
    std::string scheme(h.get("X-Forwarded-Proto").value_or(""));
    if (!scheme.empty()) {
      h.set("X-Forwarded-Scheme", scheme);
      h.set("X-Scheme", scheme);
    }
  }
  if (fill_host)
    fill("X-Forwarded-Host", req.authority, has_host);
  // RFC 9110 5.3: several fields are one comma-separated list; keep one field, in order.
  if (xff_fields > 1) {
    std::string joined;
    for (auto v : h.values("X-Forwarded-For")) {
      if (!joined.empty())
        joined.append(", ");
      joined.append(v);
    }
    h.set("X-Forwarded-For", joined);
  }
  if (!options.hostname.empty())
    h.set("X-Forwarded-Server", options.hostname);
  req.append_x_forwarded_for = !options.not_append_x_forwarded_for;
}

} // namespace turnpike::http
