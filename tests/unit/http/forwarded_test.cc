#include "http/forwarded.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http/serialize.h"

namespace turnpike::http {
namespace {

Request make_request(std::string_view peer, std::vector<std::pair<std::string, std::string>> fields,
                     std::string authority = "app.example") {
  Request req;
  req.method = "GET";
  req.path = "/";
  req.authority = authority;
  req.client_addr = boost::asio::ip::make_address(peer);
  for (auto& [n, v] : fields)
    req.headers.add(n, v);
  return req;
}

ForwardedOptions trusting(std::vector<std::string> cidrs) {
  ForwardedOptions o;
  o.trusted_ips = IpNetSet::parse(cidrs).value();
  o.hostname = "gw-1";
  return o;
}

// What the upstream receives for X-Forwarded-For (the serialiser appends the peer).
std::string upstream_xff(const Request& req) {
  std::string wire;
  serialize_request_head(req, {}, wire);
  size_t at = wire.find("X-Forwarded-For: ");
  if (at == std::string::npos)
    return "<none>";
  size_t eol = wire.find("\r\n", at);
  return wire.substr(at + 17, eol - at - 17);
}

const std::vector<std::pair<std::string, std::string>> kSpoofed = {
    {"X-Forwarded-For", "1.2.3.4"},
    {"X-Forwarded-Host", "evil.example"},
    {"X-Forwarded-Proto", "https"},
    {"X-Forwarded-Port", "8443"},
    {"X-Forwarded-Server", "evil"},
    {"X-Forwarded-Prefix", "/admin"},
    {"X-Forwarded-Uri", "/admin"},
    {"X-Forwarded-Method", "DELETE"},
    {"X-Forwarded-Tls-Client-Cert", "MIIB"},
    {"X-Forwarded-Tls-Client-Cert-Info", "CN=admin"},
    {"X-Real-Ip", "1.2.3.4"},
    {"Forwarded", "for=1.2.3.4"},
    {"x-forwarded-scheme", "https"},
    {"X-Scheme", "https"},
    {"X_Forwarded_Host", "evil.example"},
    {"X-Custom", "kept"},
};

// security.md T-H1: from an untrusted peer nothing spoofed survives.
TEST(ApplyForwardedHeaders, UntrustedPeerSpoofIsRemoved) {
  Request req = make_request("127.0.0.2", kSpoofed);
  apply_forwarded_headers(req, trusting({"10.0.0.0/8"}));
  const HeaderMap& h = req.headers;
  EXPECT_FALSE(h.has("X-Forwarded-Prefix"));
  EXPECT_FALSE(h.has("X-Forwarded-Uri"));
  EXPECT_FALSE(h.has("X-Forwarded-Method"));
  EXPECT_FALSE(h.has("X-Forwarded-Tls-Client-Cert"));
  EXPECT_FALSE(h.has("X-Forwarded-Tls-Client-Cert-Info"));
  EXPECT_FALSE(h.has("Forwarded"));
  EXPECT_FALSE(h.has("X-Forwarded-Scheme"));
  EXPECT_FALSE(h.has("X-Scheme"));
  EXPECT_FALSE(h.has("X_Forwarded_Host"));
  EXPECT_FALSE(h.has("X-Forwarded-For")); // middlewares see no client-supplied list
  EXPECT_EQ(h.get("X-Forwarded-Host"), "app.example");
  EXPECT_EQ(h.get("X-Forwarded-Proto"), "http");
  EXPECT_EQ(h.get("X-Forwarded-Port"), "80");
  EXPECT_EQ(h.get("X-Forwarded-Server"), "gw-1");
  EXPECT_EQ(h.get("X-Real-Ip"), "127.0.0.2");
  EXPECT_EQ(h.get("X-Custom"), "kept");
  EXPECT_EQ(h.count("X-Forwarded-Host"), 1u);
  EXPECT_EQ(upstream_xff(req), "127.0.0.2");
}

TEST(ApplyForwardedHeaders, TrustedPeerIsAppendedAndKept) {
  Request req = make_request("127.0.0.3", kSpoofed);
  req.headers.add("X-Forwarded-For", "5.6.7.8, 9.9.9.9");
  apply_forwarded_headers(req, trusting({"127.0.0.3/32"}));
  const HeaderMap& h = req.headers;
  EXPECT_EQ(h.get("X-Forwarded-Host"), "evil.example");
  EXPECT_EQ(h.get("X-Forwarded-Proto"), "https");
  EXPECT_EQ(h.get("X-Forwarded-Port"), "8443");
  EXPECT_EQ(h.get("X-Real-Ip"), "1.2.3.4");
  EXPECT_EQ(h.get("Forwarded"), "for=1.2.3.4");
  EXPECT_EQ(h.get("X-Forwarded-Server"), "gw-1"); // always ours
  // Several fields fold into one list; middlewares see it without the peer (Traefik).
  EXPECT_EQ(h.count("X-Forwarded-For"), 1u);
  EXPECT_EQ(h.get("X-Forwarded-For"), "1.2.3.4, 5.6.7.8, 9.9.9.9");
  EXPECT_EQ(upstream_xff(req), "1.2.3.4, 5.6.7.8, 9.9.9.9, 127.0.0.3");
  // Serialising twice (a retry) appends once each time, never cumulatively.
  EXPECT_EQ(upstream_xff(req), "1.2.3.4, 5.6.7.8, 9.9.9.9, 127.0.0.3");
}

TEST(ApplyForwardedHeaders, InsecureTrustsEveryone) {
  Request req = make_request("203.0.113.9", {{"X-Forwarded-Proto", "https"}});
  ForwardedOptions o;
  o.insecure = true;
  EXPECT_TRUE(is_trusted_peer(req, o));
  apply_forwarded_headers(req, o);
  EXPECT_EQ(req.headers.get("X-Forwarded-Proto"), "https");
  EXPECT_EQ(req.headers.get("X-Forwarded-Port"), "443"); // from the trusted proto
  EXPECT_FALSE(req.headers.has("X-Forwarded-Server"));   // no hostname configured
}

TEST(ApplyForwardedHeaders, NotAppendXForwardedFor) {
  ForwardedOptions o = trusting({"10.0.0.0/8"});
  o.not_append_x_forwarded_for = true;
  Request untrusted = make_request("192.0.2.1", {{"X-Forwarded-For", "1.1.1.1"}});
  apply_forwarded_headers(untrusted, o);
  EXPECT_EQ(upstream_xff(untrusted), "<none>");
  Request trusted = make_request("10.1.1.1", {{"X-Forwarded-For", "1.1.1.1"}});
  apply_forwarded_headers(trusted, o);
  EXPECT_EQ(upstream_xff(trusted), "1.1.1.1");
}

TEST(ApplyForwardedHeaders, ProtoAndPort) {
  struct Case {
    const char* scheme;
    bool websocket;
    const char* authority;
    const char* proto;
    const char* port;
  } cases[] = {
      {"http", false, "a.example", "http", "80"},
      {"https", false, "a.example", "https", "443"},
      {"http", true, "a.example", "ws", "80"},
      {"https", true, "a.example", "wss", "443"},
      {"https", false, "a.example:8443", "https", "8443"},
      {"http", false, "[::1]:8080", "http", "8080"},
      {"http", false, "[::1]", "http", "80"},
      {"http", false, "a.example:", "http", "80"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.authority);
    Request req = make_request("192.0.2.1", {}, c.authority);
    req.scheme = c.scheme;
    req.upgrade_websocket = c.websocket;
    apply_forwarded_headers(req, {});
    EXPECT_EQ(req.headers.get("X-Forwarded-Proto"), c.proto);
    EXPECT_EQ(req.headers.get("X-Forwarded-Port"), c.port);
    EXPECT_EQ(req.headers.get("X-Forwarded-Host"), c.authority);
  }
  Request no_host = make_request("192.0.2.1", {}, "");
  apply_forwarded_headers(no_host, {});
  EXPECT_FALSE(no_host.headers.has("X-Forwarded-Host"));
}

TEST(ApplyForwardedHeaders, SchemeHeadersOption) {
  ForwardedOptions o;
  o.add_x_forwarded_scheme_headers = true;
  Request req = make_request("192.0.2.1", {});
  req.scheme = "https";
  apply_forwarded_headers(req, o);
  EXPECT_EQ(req.headers.get("X-Forwarded-Scheme"), "https");
  EXPECT_EQ(req.headers.get("X-Scheme"), "https");
}

TEST(ApplyForwardedHeaders, PeerAddressForms) {
  Request v6 = make_request("2001:db8::1", {});
  apply_forwarded_headers(v6, {});
  EXPECT_EQ(v6.headers.get("X-Real-Ip"), "2001:db8::1");
  EXPECT_EQ(upstream_xff(v6), "2001:db8::1");

  Request mapped = make_request("::ffff:192.0.2.5", {});
  apply_forwarded_headers(mapped, trusting({"192.0.2.0/24"}));
  EXPECT_EQ(mapped.headers.get("X-Real-Ip"), "192.0.2.5");

  auto zoned = boost::asio::ip::make_address_v6("fe80::1");
  zoned.scope_id(3);
  EXPECT_EQ(ip_text(zoned).view(), "fe80::1");
}

TEST(GatewayOwnedHeader, Names) {
  for (const char* n : {"X-Forwarded-For", "x-forwarded-host", "X_FORWARDED_PROTO", "X-Real-Ip",
                        "x_real_ip", "Forwarded", "X-Forwarded-Tls-Client-Cert-Info",
                        "X-Forwarded-Tls-Anything", "X-Scheme", "X-Forwarded-Prefix"})
    EXPECT_TRUE(is_gateway_owned_header(n)) << n;
  for (const char* n : {"X-Forwarded", "X-Forwarded-Tls-", "X-Forwarded-Foo", "Forwarded-For",
                        "X-Request-Id", "", "Host"})
    EXPECT_FALSE(is_gateway_owned_header(n)) << n;
}

TEST(StripHopByHop, RemovesTheSetAndConnectionListed) {
  HeaderMap h;
  h.add("Connection", "keep-alive, X-Secret, close");
  h.add("connection", "Upgrade");
  h.add("Keep-Alive", "timeout=5");
  h.add("Proxy-Connection", "keep-alive");
  h.add("TE", "trailers");
  h.add("Transfer-Encoding", "chunked");
  h.add("Upgrade", "websocket");
  h.add("Proxy-Authorization", "Basic x");
  h.add("Proxy-Authenticate", "Basic");
  h.add("Trailer", "X-Sum");
  h.add("HTTP2-Settings", "AAA");
  h.add("X-Secret", "1");
  h.add("x-secret", "2");
  h.add("X-Kept", "yes");
  EXPECT_EQ(strip_hop_by_hop(h), 13u);
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h.get("X-Kept"), "yes");
}

// security.md row 40 / CVE-2024-45410 at the unit level: nominated gateway headers survive.
TEST(StripHopByHop, CannotRemoveGatewayOwnedHeaders) {
  HeaderMap h;
  h.add("Connection", "close, X-Forwarded-Host, X-Real-Ip, x_forwarded_for, Forwarded");
  h.add("X-Forwarded-Host", "front.example");
  h.add("X-Real-Ip", "1.2.3.4");
  h.add("X_Forwarded_For", "1.2.3.4");
  h.add("Forwarded", "for=1.2.3.4");
  strip_hop_by_hop(h);
  EXPECT_EQ(h.size(), 4u);
  EXPECT_FALSE(h.has("Connection"));
}

TEST(StripHopByHop, WebSocketUpgradeSurvivesWhenAsked) {
  HeaderMap h;
  h.add("Connection", "keep-alive, Upgrade");
  h.add("Upgrade", "websocket");
  h.add("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
  strip_hop_by_hop(h, /*keep_websocket_upgrade=*/true);
  EXPECT_EQ(h.get("Upgrade"), "websocket");
  EXPECT_EQ(h.get("Connection"), "Upgrade");
  EXPECT_EQ(h.count("Connection"), 1u);
  EXPECT_TRUE(h.has("Sec-WebSocket-Key"));

  // h2c (row 39) never survives, even when the caller asks to keep an upgrade.
  HeaderMap h2c;
  h2c.add("Connection", "Upgrade, HTTP2-Settings");
  h2c.add("Upgrade", "h2c");
  h2c.add("HTTP2-Settings", "AAMAAABkAAQAAP__");
  strip_hop_by_hop(h2c, true);
  EXPECT_TRUE(h2c.empty());
}

TEST(StripHopByHop, ConnectionAllowList) {
  // Traefik's forwardedHeaders.connection: listed names survive the chain and stay listed, so
  // the proxy's own strip removes them before the upstream.
  const std::vector<std::string> allowed = {"X-Debug"};
  HeaderMap h;
  h.add("Connection", "X-Debug, X-Other");
  h.add("X-Debug", "1");
  h.add("X-Other", "2");
  strip_hop_by_hop(h, false, allowed);
  EXPECT_EQ(h.get("X-Debug"), "1");
  EXPECT_FALSE(h.has("X-Other"));
  EXPECT_EQ(h.get("Connection"), "X-Debug");
  strip_hop_by_hop(h);
  EXPECT_TRUE(h.empty());
}

// The entrypoint's order, end to end: strip first, then set: Connection cannot delete what the
// gateway adds, and a spoofed value cannot come back.
TEST(ForwardedPipeline, StripBeforeSet) {
  Request req = make_request("198.51.100.4", {{"Connection", "X-Forwarded-Host, X-Forwarded-Proto"},
                                              {"X-Forwarded-Host", "evil.example"}});
  strip_hop_by_hop(req.headers, req.upgrade_websocket);
  apply_forwarded_headers(req, trusting({"10.0.0.0/8"}));
  strip_hop_by_hop(req.headers); // the proxy strips again before sending
  std::string wire;
  serialize_request_head(req, {}, wire);
  for (const char* owned : {"X-Forwarded-Host: app.example\r\n", "X-Forwarded-Proto: http\r\n",
                            "X-Forwarded-Port: 80\r\n", "X-Forwarded-Server: gw-1\r\n",
                            "X-Real-Ip: 198.51.100.4\r\n", "X-Forwarded-For: 198.51.100.4\r\n"})
    EXPECT_NE(wire.find(owned), std::string::npos) << owned << wire;
  EXPECT_EQ(wire.find("evil"), std::string::npos);
}

} // namespace
} // namespace turnpike::http
