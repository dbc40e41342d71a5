#include <gtest/gtest.h>

#include "harness.h"

namespace turnpike::middleware {
namespace {

using testing::build;
using testing::make_request;
using testing::serve;

TEST(Headers, CustomRequestHeadersSetAndRemove) {
  auto b = build("headers",
                 "customRequestHeaders:\n"
                 "  X-Custom-Request-Header: test_request\n"
                 "  X-Remove-Me: ''\n"
                 "  X-Override: new\n");
  ASSERT_TRUE(b) << b.error_text();
  auto req = make_request("GET", "/");
  req.headers.add("X-Remove-Me", "secret");
  req.headers.add("X-Override", "old");
  req.headers.add("X-Override", "older");
  auto out = serve(*b.handler, req);
  EXPECT_EQ(out.status, 200);
  const auto& seen = *b.terminal->seen;
  EXPECT_EQ(seen.headers.get("X-Custom-Request-Header").value_or(""), "test_request");
  EXPECT_FALSE(seen.headers.has("X-Remove-Me"));
  EXPECT_EQ(seen.headers.values("X-Override"), std::vector<std::string_view>{"new"});
}

TEST(Headers, CustomRequestHostChangesAuthority) {
  auto b = build("headers", "customRequestHeaders: {Host: 'Backend.Example:8080'}");
  ASSERT_TRUE(b) << b.error_text();
  auto req = make_request("GET", "/");
  serve(*b.handler, req);
  const auto& seen = *b.terminal->seen;
  EXPECT_EQ(seen.authority, "Backend.Example:8080");
  EXPECT_EQ(seen.host, "backend.example");
  EXPECT_EQ(seen.headers.get("Host").value_or(""), "Backend.Example:8080");
}

TEST(Headers, CustomResponseHeadersOverrideAndRemove) {
  auto b = build("headers",
                 "customResponseHeaders:\n"
                 "  X-Custom-Response-Header: test_response\n"
                 "  Server: ''\n"
                 "frameDeny: true\n"
                 "customResponseHeaders2: x\n");
  EXPECT_FALSE(b);  // unknown key
  b = build("headers",
            "customResponseHeaders:\n"
            "  X-Custom-Response-Header: test_response\n"
            "  Server: ''\n"
            "  X-Frame-Options: SAMEORIGIN\n"
            "frameDeny: true\n");
  ASSERT_TRUE(b) << b.error_text();
  b.terminal->headers.add("Server", "upstream/1.0");
  b.terminal->headers.add("X-Custom-Response-Header", "from-upstream");
  auto req = make_request("GET", "/");
  auto out = serve(*b.handler, req);
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.header("X-Custom-Response-Header"), "test_response");
  EXPECT_FALSE(out.headers.has("Server"));
  // Custom response headers come after the security headers, so they win.
  EXPECT_EQ(out.header("X-Frame-Options"), "SAMEORIGIN");
  EXPECT_EQ(out.body, "upstream");
}

TEST(Headers, CorsPreflightAnsweredLocally) {
  auto b = build("headers",
                 "accessControlAllowMethods: [GET, OPTIONS, PUT]\n"
                 "accessControlAllowHeaders: [origin, X-Requested-With]\n"
                 "accessControlAllowOriginList: ['https://foo.bar.org', 'https://example.org']\n"
                 "accessControlAllowCredentials: true\n"
                 "accessControlMaxAge: 100\n"
                 "addVaryHeader: true\n"
                 "customResponseHeaders: {X-Not-On-Preflight: x}\n");
  ASSERT_TRUE(b) << b.error_text();
  auto req = make_request("OPTIONS", "/api");
  req.headers.add("Origin", "https://example.org");
  req.headers.add("Access-Control-Request-Method", "PUT");
  auto out = serve(*b.handler, req);
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(b.terminal->calls, 0);
  EXPECT_EQ(out.header("Access-Control-Allow-Origin"), "https://example.org");
  EXPECT_EQ(out.header("Access-Control-Allow-Methods"), "GET,OPTIONS,PUT");
  EXPECT_EQ(out.header("Access-Control-Allow-Headers"), "origin,X-Requested-With");
  EXPECT_EQ(out.header("Access-Control-Allow-Credentials"), "true");
  EXPECT_EQ(out.header("Access-Control-Max-Age"), "100");
  EXPECT_EQ(out.header("Content-Length"), "0");
  EXPECT_FALSE(out.headers.has("X-Not-On-Preflight"));
  EXPECT_TRUE(out.body.empty());
}

TEST(Headers, CorsPreflightCases) {
  struct Case {
    std::string desc, config, method, origin, request_method;
    bool preflight;
    std::string allow_origin;  // "" = absent
  };
  const Case cases[] = {
      {"wildcard", "accessControlAllowOriginList: ['*']", "OPTIONS", "https://a.org", "GET", true,
       "*"},
      {"origin not allowed", "accessControlAllowOriginList: ['https://b.org']", "OPTIONS",
       "https://a.org", "GET", true, ""},
      {"regex origin", "accessControlAllowOriginListRegex: ['^https://([a-z]+)\\.bar\\.org$']",
       "OPTIONS", "https://foo.bar.org", "GET", true, "https://foo.bar.org"},
      {"regex origin mismatch", "accessControlAllowOriginListRegex: ['^https://[a-z]+\\.bar\\.org$']",
       "OPTIONS", "https://foo.bar.org.evil", "GET", true, ""},
      {"no request method: not a preflight", "accessControlAllowOriginList: ['*']", "OPTIONS",
       "https://a.org", "", false, "*"},
      {"no origin: not a preflight", "accessControlAllowOriginList: ['*']", "OPTIONS", "", "GET",
       false, "*"},
      {"GET is not a preflight", "accessControlAllowOriginList: ['*']", "GET", "https://a.org",
       "GET", false, "*"},
      {"no CORS option: passed on", "frameDeny: true", "OPTIONS", "https://a.org", "GET", false,
       ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.desc);
    auto b = build("headers", c.config);
    ASSERT_TRUE(b) << b.error_text();
    auto req = make_request(c.method, "/");
    if (!c.origin.empty()) req.headers.add("Origin", c.origin);
    if (!c.request_method.empty()) req.headers.add("Access-Control-Request-Method", c.request_method);
    auto out = serve(*b.handler, req);
    EXPECT_EQ(out.status, 200);
    EXPECT_EQ(b.terminal->calls, c.preflight ? 0 : 1);
    EXPECT_EQ(out.header("Access-Control-Allow-Origin"), c.allow_origin);
    if (c.preflight) {
      EXPECT_EQ(out.header("Access-Control-Max-Age"), "0");
    }
  }
}

TEST(Headers, CorsOnActualResponse) {
  auto b = build("headers",
                 "accessControlAllowOriginList: ['https://foo.bar.org']\n"
                 "accessControlExposeHeaders: [X-Total, X-Page]\n"
                 "accessControlAllowCredentials: true\n"
                 "addVaryHeader: true\n");
  ASSERT_TRUE(b) << b.error_text();
  struct Case {
    std::string desc, origin, upstream_vary, allow_origin, vary;
  };
  const Case cases[] = {
      {"allowed origin", "https://foo.bar.org", "", "https://foo.bar.org", "Origin"},
      {"other origin", "https://evil.org", "", "", "Origin"},
      {"vary appended", "https://foo.bar.org", "Accept-Encoding", "https://foo.bar.org",
       "Accept-Encoding,Origin"},
      {"vary already Origin", "https://foo.bar.org", "Origin", "https://foo.bar.org", "Origin"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.desc);
    b.terminal->headers.clear();
    if (!c.upstream_vary.empty()) b.terminal->headers.add("Vary", c.upstream_vary);
    auto req = make_request("GET", "/");
    req.headers.add("Origin", c.origin);
    auto out = serve(*b.handler, req);
    EXPECT_EQ(out.status, 200);
    EXPECT_EQ(out.header("Access-Control-Allow-Origin"), c.allow_origin);
    EXPECT_EQ(out.header("Access-Control-Allow-Credentials"), "true");
    EXPECT_EQ(out.header("Access-Control-Expose-Headers"), "X-Total,X-Page");
    EXPECT_EQ(out.header("Vary"), c.vary);
    EXPECT_EQ(out.headers.count("Vary"), 1u);
  }
}

TEST(Headers, SecurityHeaders) {
  struct Case {
    std::string desc, config, scheme;
    std::vector<std::pair<std::string, std::string>> request_headers;
    std::vector<std::pair<std::string, std::string>> expected;  // value "" = absent
  };
  const Case cases[] = {
      {"frame deny", "frameDeny: true", "http", {}, {{"X-Frame-Options", "DENY"}}},
      {"custom frame options wins", "frameDeny: true\ncustomFrameOptionsValue: SAMEORIGIN", "http",
       {}, {{"X-Frame-Options", "SAMEORIGIN"}}},
      {"nosniff", "contentTypeNosniff: true", "http", {}, {{"X-Content-Type-Options", "nosniff"}}},
      {"xss filter", "browserXssFilter: true", "http", {}, {{"X-XSS-Protection", "1; mode=block"}}},
      {"custom xss", "browserXssFilter: true\ncustomBrowserXSSValue: '0'", "http", {},
       {{"X-XSS-Protection", "0"}}},
      {"csp", "contentSecurityPolicy: \"default-src 'self'\"\n"
              "contentSecurityPolicyReportOnly: 'default-src https:'",
       "http", {},
       {{"Content-Security-Policy", "default-src 'self'"},
        {"Content-Security-Policy-Report-Only", "default-src https:"}}},
      {"referrer and permissions", "referrerPolicy: same-origin\npermissionsPolicy: 'camera=()'",
       "http", {}, {{"Referrer-Policy", "same-origin"}, {"Permissions-Policy", "camera=()"}}},
      {"sts over https", "stsSeconds: 315360000\nstsIncludeSubdomains: true\nstsPreload: true",
       "https", {},
       {{"Strict-Transport-Security", "max-age=315360000; includeSubDomains; preload"}}},
      {"no sts over http", "stsSeconds: 3600", "http", {}, {{"Strict-Transport-Security", ""}}},
      {"forced sts over http", "stsSeconds: 3600\nforceSTSHeader: true", "http", {},
       {{"Strict-Transport-Security", "max-age=3600"}}},
      {"sts via sslProxyHeaders", "stsSeconds: 60\nsslProxyHeaders: {X-Forwarded-Proto: https}",
       "http", {{"X-Forwarded-Proto", "https"}}, {{"Strict-Transport-Security", "max-age=60"}}},
      {"sslProxyHeaders mismatch", "stsSeconds: 60\nsslProxyHeaders: {X-Forwarded-Proto: https}",
       "http", {{"X-Forwarded-Proto", "http"}}, {{"Strict-Transport-Security", ""}}},
      {"no sts in development", "stsSeconds: 60\nforceSTSHeader: true\nisDevelopment: true",
       "https", {}, {{"Strict-Transport-Security", ""}}},
      {"public key over https", "publicKey: 'pin-sha256=\"x\"'", "https", {},
       {{"Public-Key-Pins", "pin-sha256=\"x\""}}},
      {"no public key over http", "publicKey: 'pin-sha256=\"x\"'", "http", {},
       {{"Public-Key-Pins", ""}}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.desc);
    auto b = build("headers", c.config);
    ASSERT_TRUE(b) << b.error_text();
    b.terminal->headers.add("X-Frame-Options", "ALLOW-FROM upstream");  // overridden when set
    auto req = make_request("GET", "/");
    req.scheme = c.scheme;
    for (const auto& [k, v] : c.request_headers) req.headers.add(k, v);
    auto out = serve(*b.handler, req);
    EXPECT_EQ(out.status, 200);
    for (const auto& [name, value] : c.expected) {
      if (value.empty())
        EXPECT_FALSE(out.headers.has(name)) << name;
      else
        EXPECT_EQ(out.header(name), value) << name;
    }
  }
}

TEST(Headers, AllowedHosts) {
  struct Case {
    std::string desc, config, authority;
    std::vector<std::pair<std::string, std::string>> request_headers;
    int status;
  };
  const std::string base = "allowedHosts: [foo.com, bar.com]\n";
  const Case cases[] = {
      {"allowed", base, "foo.com", {}, 200},
      {"allowed, any case", base, "FOO.com", {}, 200},
      {"not allowed", base, "evil.com", {}, 500},
      {"port is part of the host", base, "foo.com:8080", {}, 500},
      {"proxy header", base + "hostsProxyHeaders: [X-Forwarded-Host]\n", "internal",
       {{"X-Forwarded-Host", "bar.com"}}, 200},
      {"proxy header not allowed", base + "hostsProxyHeaders: [X-Forwarded-Host]\n", "foo.com",
       {{"X-Forwarded-Host", "evil.com"}}, 500},
      {"development skips the check", base + "isDevelopment: true\n", "evil.com", {}, 200},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.desc);
    auto b = build("headers", c.config + "customResponseHeaders: {X-Layer: custom}\nframeDeny: true");
    ASSERT_TRUE(b) << b.error_text();
    auto req = make_request("GET", "/", c.authority);
    for (const auto& [k, v] : c.request_headers) req.headers.add(k, v);
    auto out = serve(*b.handler, req);
    EXPECT_EQ(out.status, c.status);
    EXPECT_EQ(b.terminal->calls, c.status == 200 ? 1 : 0);
    EXPECT_EQ(out.header("X-Layer"), "custom");  // custom layer wraps the host check
    if (c.status == 500) {
      EXPECT_EQ(out.body, "Bad Host\n");
      EXPECT_FALSE(out.headers.has("X-Frame-Options"));
    } else {
      EXPECT_EQ(out.header("X-Frame-Options"), "DENY");
    }
  }
}

TEST(Headers, InformationalHeadsAreNotEdited) {
  class Early final : public http::Handler {
   public:
    http::Task<void> handle(http::Exchange& ex) const override {
      http::Response early;
      early.status = 103;
      early.headers.add("Link", "</s.css>; rel=preload");
      co_await ex.writer->write_head(early);
      co_await http::send_response(ex, 200, "ok");
    }
  };
  const Registration* reg = find("headers");
  auto node = config::parse_yaml("customResponseHeaders: {X-A: b}", "t.yml");
  ASSERT_TRUE(node);
  config::Errors errors;
  config::Decoder dec(*node, "h", errors);
  testing::FakeBuildContext ctx;
  auto handler = reg->factory(dec, ctx)(std::make_shared<Early>());
  auto req = make_request("GET", "/");
  testing::MemoryBody body;
  testing::RecordingWriter writer;
  http::Exchange ex = testing::make_exchange(req, body, writer);
  testing::run(handler->handle(ex));
  ASSERT_EQ(writer.heads.size(), 2u);
  EXPECT_FALSE(writer.heads[0].headers.has("X-A"));
  EXPECT_EQ(writer.heads[1].headers.get("X-A").value_or(""), "b");
}

TEST(Headers, DecodeErrors) {
  for (const auto& [yaml, expected] : std::initializer_list<std::pair<std::string, std::string>>{
      {"{}", "headers: headers configuration not valid"},
      {"customRequestHeaders: {'Bad Name': x}", "headers.customRequestHeaders.Bad Name"},
      {"customResponseHeaders: {X-A: \"a\\r\\nInjected: b\"}",
       "headers.customResponseHeaders.X-A: invalid header value"},
      {"accessControlAllowOriginListRegex: ['(']",
       "headers.accessControlAllowOriginListRegex[0]: invalid regular expression"},
      {"sslRedirect: true", "headers.sslRedirect: removed in Traefik v3"},
      {"featurePolicy: x", "headers.featurePolicy: removed in Traefik v3: use permissionsPolicy"},
      {"stsSeconds: -1", "headers.stsSeconds: must be >= 0"},
      {"hostsProxyHeaders: ['a b']", "headers.hostsProxyHeaders[0]: invalid header name"},
      {"frameDeny: yes please", "headers.frameDeny"},
      })
    testing::expect_decode_error("headers", yaml, expected);
}

}  // namespace
}  // namespace turnpike::middleware
