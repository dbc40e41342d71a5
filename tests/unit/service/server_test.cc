#include <gtest/gtest.h>

#include "service/load_balancer.h"

namespace turnpike::service {
namespace {

struct Case {
  const char* url;
  Scheme scheme;
  const char* host;
  uint16_t port;
  const char* authority;
  const char* base_path;
};

TEST(ServerParse, SchemesAndDefaultPorts) {
  const Case cases[] = {
      {"http://a.test", Scheme::kHttp, "a.test", 80, "a.test:80", ""},
      {"https://a.test", Scheme::kHttps, "a.test", 443, "a.test:443", ""},
      {"h2c://a.test", Scheme::kH2c, "a.test", 80, "a.test:80", ""},
      {"HTTPS://a.test:8443/base", Scheme::kHttps, "a.test", 8443, "a.test:8443", "/base"},
      {"h2c://127.0.0.1:50051", Scheme::kH2c, "127.0.0.1", 50051, "127.0.0.1:50051", ""},
      {"https://[::1]:9443", Scheme::kHttps, "::1", 9443, "[::1]:9443", ""},
  };
  for (const auto& c : cases) {
    auto s = Server::parse(c.url, 1);
    ASSERT_TRUE(s) << c.url << ": " << s.error().message;
    EXPECT_EQ(s->scheme, c.scheme) << c.url;
    EXPECT_EQ(s->host, c.host) << c.url;
    EXPECT_EQ(s->port, c.port) << c.url;
    EXPECT_EQ(s->authority, c.authority) << c.url;
    EXPECT_EQ(s->base_path, c.base_path) << c.url;
  }
}

TEST(ServerParse, Errors) {
  EXPECT_EQ(Server::parse("ftp://a.test", 1).error().message,
            "url \"ftp://a.test\": scheme must be http://, https:// or h2c://");
  EXPECT_EQ(Server::parse("https://", 1).error().message, "url \"https://\": missing host");
  EXPECT_EQ(Server::parse("h2c://a:0", 1).error().message, "url \"h2c://a:0\": bad port");
}

TEST(LoadBalancerService, PoolKeysSeparateSchemesAndTlsConfigurations) {
  auto servers = [] {
    std::vector<Server> v;
    for (const char* u : {"http://a.test:80", "h2c://a.test:80", "https://a.test:80"})
      v.push_back(*Server::parse(u, 1));
    return v;
  };
  auto transport = std::make_shared<TransportOptions>();
  transport->name = "t@file";
  transport->tls = *UpstreamTls::create({});
  LoadBalancerService lb("s@file", servers(), true, transport, 1);
  const auto& s = lb.servers();
  EXPECT_EQ(s[0].pool_key, "t@file|http://a.test:80");
  EXPECT_EQ(s[1].pool_key, "t@file|h2c://a.test:80");
  EXPECT_EQ(s[2].pool_key, "t@file#" + transport->tls->fingerprint() + "|https://a.test:80");

  // Another TLS configuration under the same name never shares TLS connections.
  auto other = std::make_shared<TransportOptions>(*transport);
  TlsClientOptions insecure;
  insecure.insecure_skip_verify = true;
  other->tls = *UpstreamTls::create(insecure);
  LoadBalancerService lb2("s@file", servers(), true, other, 1);
  EXPECT_NE(lb2.servers()[2].pool_key, s[2].pool_key);
  EXPECT_EQ(lb2.servers()[0].pool_key, s[0].pool_key);
}

}  // namespace
}  // namespace turnpike::service
