#include "provider/kv/kv_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/dynamic_config.h"

namespace turnpike::provider {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

config::DynamicConfig decode(const KvConfig::Built& b) {
  auto d = config::decode_dynamic(b.tree, "etcd");
  EXPECT_TRUE(config::rejecting_errors(d).empty());
  return d;
}

TEST(KvConfig, TraefikKeyLayout) {
  KvConfig kv("traefik", "etcd");
  kv.reset({
      {"traefik/http/routers/web/rule", "Host(`a.test`)"},
      {"traefik/http/routers/web/entryPoints/0", "web"},
      {"traefik/http/routers/web/entryPoints/1", "websecure"},
      {"traefik/http/routers/web/middlewares/0", "strip"},
      {"traefik/http/routers/web/service", "app"},
      {"traefik/http/routers/web/tls", "true"},
      {"traefik/http/routers/web/priority", "7"},
      {"traefik/http/services/app/loadBalancer/servers/0/url", "http://127.0.0.1:1"},
      {"traefik/http/services/app/loadbalancer/servers/1/url", "http://127.0.0.1:2"},
      {"traefik/http/services/app/loadBalancer/servers/10/url", "http://127.0.0.1:3"},
      {"traefik/http/middlewares/strip/stripPrefix/prefixes/0", "/api"},
      {"traefik/tcp/routers/t/rule", "HostSNI(`*`)"},
      {"traefik/tcp/routers/t/service", "ts"},
      {"traefik/tcp/services/ts/loadBalancer/servers/0/address", "127.0.0.1:5"},
      {"traefik/tls/options/modern/minVersion", "VersionTLS13"},
      {"other/http/routers/x/rule", "Host(`ignored`)"},
  });
  auto b = kv.build();
  EXPECT_THAT(b.errors, IsEmpty());
  auto d = decode(b);
  ASSERT_EQ(d.http.routers.count("web@etcd"), 1u);
  const auto& r = d.http.routers.at("web@etcd");
  EXPECT_EQ(r.rule, "Host(`a.test`)");
  EXPECT_THAT(r.entry_points, ElementsAre("web", "websecure"));
  EXPECT_EQ(r.priority, 7);
  EXPECT_TRUE(r.tls);
  ASSERT_EQ(d.http.services.count("app@etcd"), 1u);
  EXPECT_EQ(d.http.middlewares.count("strip@etcd"), 1u);
  EXPECT_EQ(d.tcp.routers.count("t@etcd"), 1u);
  EXPECT_EQ(d.tls.options.count("modern@etcd"), 1u);
  EXPECT_EQ(d.http.routers.size(), 1u);
  // The three servers, in index order (10 after 1 although "10" sorts before "1/" as text), and
  // each located at its key.
  const auto& servers = d.http.services.at("app@etcd").load_balancer->servers;
  ASSERT_EQ(servers.size(), 3u);
  EXPECT_EQ(servers[1].url, "http://127.0.0.1:2");
  EXPECT_EQ(servers[2].url, "http://127.0.0.1:3");
}

TEST(KvConfig, GarbageDisablesItsObjectAndNamesTheKey) {
  KvConfig kv("traefik", "etcd");
  kv.reset({
      {"traefik/http/routers/good/rule", "Host(`good`)"},
      {"traefik/http/routers/good/service", "s"},
      {"traefik/http/routers/bad/rule", "Host(`bad`)"},
      {"traefik/http/routers/bad/service", "s"},
      {"traefik/http/routers/bad/priority", "\x01garbage"},
      {"traefik/http/services/s/loadBalancer/servers/0/url", "http://127.0.0.1:1"},
  });
  auto b = kv.build();
  ASSERT_EQ(b.errors.size(), 1u);
  EXPECT_THAT(b.errors[0], HasSubstr("traefik/http/routers/bad/priority: "));
  EXPECT_THAT(b.errors[0], HasSubstr("bad@etcd disabled"));
  auto d = decode(b);
  EXPECT_EQ(d.http.routers.count("good@etcd"), 1u);
  EXPECT_EQ(d.http.routers.count("bad@etcd"), 0u);

  // Fixing the key brings the object back; the error goes.
  EXPECT_TRUE(kv.put("traefik/http/routers/bad/priority", "3"));
  b = kv.build();
  EXPECT_THAT(b.errors, IsEmpty());
  EXPECT_EQ(decode(b).http.routers.count("bad@etcd"), 1u);
}

TEST(KvConfig, MissingKeyIsReportedAtTheObject) {
  KvConfig kv("traefik", "etcd");
  kv.reset({{"traefik/http/routers/r/rule", "Host(`r`)"}, {"traefik/htp/routers/x/rule", "y"}});
  auto b = kv.build();
  ASSERT_EQ(b.errors.size(), 2u);
  EXPECT_THAT(b.errors[0], HasSubstr("traefik/htp/routers/x: htp: unknown section"));
  EXPECT_THAT(b.errors[1],
              HasSubstr("traefik/http/routers/r: http.routers.r@etcd.service: is required"));
}

TEST(KvConfig, PutEraseAndResetChangeOnlyWhatChanged) {
  KvConfig kv("gw", "redis");
  EXPECT_TRUE(kv.put("gw/http/routers/a/rule", "Host(`a`)"));
  EXPECT_FALSE(kv.put("gw/http/routers/a/rule", "Host(`a`)")); // same value
  EXPECT_FALSE(kv.put("traefik/http/routers/a/rule", "x"));    // not under the root
  EXPECT_TRUE(kv.put("gw/http/routers/a/service", "s"));
  EXPECT_EQ(kv.key_count(), 2u);
  EXPECT_TRUE(kv.erase("gw/http/routers/a/service"));
  EXPECT_FALSE(kv.erase("gw/http/routers/a/service"));
  EXPECT_TRUE(kv.erase("gw/http/routers/a/rule"));
  EXPECT_TRUE(kv.build().tree.is_null()); // nothing left: no configuration
  kv.put("gw/http/routers/a/rule", "Host(`a`)");
  EXPECT_FALSE(kv.reset({{"gw/http/routers/a/rule", "Host(`a`)"}}));
  EXPECT_TRUE(
      kv.reset({{"gw/http/routers/b/rule", "Host(`b`)"}, {"gw/http/routers/b/service", "s"}}));
  auto d = config::decode_dynamic(kv.build().tree, "redis");
  EXPECT_EQ(d.http.routers.count("a@redis"), 0u);
  EXPECT_EQ(d.http.routers.count("b@redis"), 1u);
}

TEST(KvConfig, SectionValueAndKeysBelowIt) {
  KvConfig kv("traefik", "etcd");
  kv.reset({
      {"traefik/http/routers/r/rule", "Host(`r`)"},
      {"traefik/http/routers/r/service", "s"},
      {"traefik/http/routers/r/tls", "true"},
      {"traefik/http/routers/r/tls/certResolver", "le"},
      {"traefik/tls/certificates/0/certFile", "/c.pem"},
      {"traefik/tls/certificates/0/keyFile", "/k.pem"},
  });
  auto b = kv.build();
  EXPECT_THAT(b.errors, IsEmpty());
  auto d = decode(b);
  ASSERT_TRUE(d.http.routers.at("r@etcd").tls);
  EXPECT_EQ(d.http.routers.at("r@etcd").tls->cert_resolver, "le");
  ASSERT_EQ(d.tls.certificates.size(), 1u);
  EXPECT_EQ(d.tls.certificates[0].files.cert_file, "/c.pem");
}

} // namespace
} // namespace turnpike::provider
