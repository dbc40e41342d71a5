#include "provider/validate.h"

#include <gtest/gtest.h>

#include "config/dynamic_config.h"

namespace turnpike::provider {
namespace {

TEST(DropInvalidObjects, KeepsGoodObjectsAndNamesBadOnes) {
  auto tree = config::parse_yaml(R"yaml(
http:
  routers:
    good: {rule: "Host(`a`)", service: s}
    bad: {rule: "Host(`b`)", service: s, priority: "high"}
    typo: {rule: "Host(`c`)", servce: s}
  services:
    s: {loadBalancer: {servers: [{url: "http://127.0.0.1:1"}]}}
  middlewares:
    m1: {noSuchType: {}}
    m2: {addPrefix: {prefix: /x}}
  bogus: {}
tcp:
  routers:
    t: {rule: "HostSNI(`*`)", service: s}
unknown: 1
)yaml",
                                 "t.yml");
  ASSERT_TRUE(tree);
  auto errors = drop_invalid_objects(*tree, "etcd", "key traefik/");
  auto d = config::decode_dynamic(*tree, "etcd");
  EXPECT_TRUE(config::rejecting_errors(d).empty());
  EXPECT_EQ(d.http.routers.count("good@etcd"), 1u);
  EXPECT_EQ(d.http.routers.count("bad@etcd"), 0u);
  EXPECT_EQ(d.http.routers.count("typo@etcd"), 0u);
  EXPECT_EQ(d.http.middlewares.count("m1@etcd"), 0u);
  EXPECT_EQ(d.http.middlewares.count("m2@etcd"), 1u);
  EXPECT_EQ(d.tcp.routers.count("t@etcd"), 1u);
  ASSERT_EQ(errors.size(), 5u);
  std::string all;
  for (const auto& e : errors) {
    EXPECT_TRUE(e.starts_with("key traefik/: ")) << e;
    all += e + "\n";
  }
  EXPECT_NE(all.find("bad@etcd"), std::string::npos) << all;
  EXPECT_NE(all.find("servce"), std::string::npos) << all;
  EXPECT_NE(all.find("noSuchType"), std::string::npos) << all;
  EXPECT_NE(all.find("http.bogus"), std::string::npos) << all;
  EXPECT_NE(all.find("unknown"), std::string::npos) << all;
}

} // namespace
} // namespace turnpike::provider
