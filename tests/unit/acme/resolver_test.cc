#include "acme/resolver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "acme/manager.h"
#include "config/tree/node.h"

namespace turnpike::acme {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(Resolver, NamesCover) {
  std::vector<std::string> names = {"example.com", "*.example.com"};
  EXPECT_TRUE(names_cover(names, "example.com"));
  EXPECT_TRUE(names_cover(names, "WWW.example.com"));
  EXPECT_FALSE(names_cover(names, "a.b.example.com"));  // one label only
  EXPECT_FALSE(names_cover(names, "example.org"));
  EXPECT_TRUE(names_cover(names, "*.example.com"));
  EXPECT_FALSE(names_cover({"a.example.com"}, "*.example.com"));
}

TEST(Resolver, RenewalScheduleFollowsCertificatesDuration) {
  EXPECT_EQ(renew_period(2160), std::chrono::hours(30 * 24));  // 90 days: 30 days before
  EXPECT_EQ(renew_period(24 * 365), std::chrono::hours(4 * 30 * 24));
  EXPECT_EQ(renew_period(24 * 30), std::chrono::hours(10 * 24));
  EXPECT_EQ(renew_period(24 * 6), std::chrono::hours(48));
  EXPECT_EQ(renew_period(24), std::chrono::hours(6));
  EXPECT_EQ(renew_period(1), std::chrono::minutes(20));
  std::time_t day = 86400;
  // A 90-day certificate: 30 days before expiry.
  EXPECT_EQ(renewal_time(0, 90 * day, 2160), 60 * day);
  // A 2-minute certificate with the default duration: after two thirds of its life.
  EXPECT_EQ(renewal_time(1000, 1120, 2160), 1080);
}

config::DynamicConfig dynamic(const std::string& yaml) {
  auto tree = config::parse_yaml(yaml, "dyn.yml");
  EXPECT_TRUE(tree.has_value());
  return config::decode_dynamic(*tree, "file");
}

TEST(DomainRequests, FromRouterRulesDomainsAndEntrypoints) {
  auto dyn = dynamic(R"(
http:
  routers:
    hosts:
      rule: Host(`A.example.com`) || (Host(`b.example.com`) && PathPrefix(`/x`))
      service: s
      tls: {certResolver: le}
    domains:
      rule: PathPrefix(`/`)
      service: s
      tls:
        certResolver: le
        domains: [{main: example.org, sans: ["*.example.org"]}, {main: example.net}]
    plain:
      rule: Host(`plain.example.com`)
      service: s
    onsecure:
      rule: Host(`ep.example.com`)
      entryPoints: [websecure]
      service: s
    ownTls:
      rule: Host(`own.example.com`)
      entryPoints: [websecure]
      service: s
      tls: {}
    unknown:
      rule: Host(`u.example.com`)
      service: s
      tls: {certResolver: nope}
  services:
    s: {loadBalancer: {servers: [{url: "http://127.0.0.1:1"}]}}
)");
  config::EntryPoint web, websecure;
  web.name = "web";
  websecure.name = "websecure";
  websecure.http.tls.emplace().cert_resolver = "le";
  std::vector<std::string> errors;
  auto requests = collect_domain_requests(dyn, {&web, &websecure}, {"le", "other"}, errors);
  ASSERT_EQ(requests.count("le"), 1u);
  const auto& le = requests["le"];
  std::vector<std::vector<std::string>> sets;
  std::vector<std::string> who;
  for (const auto& r : le) {
    sets.push_back(r.domains);
    who.push_back(r.requester);
  }
  EXPECT_THAT(sets, ElementsAre(ElementsAre("example.org", "*.example.org"), ElementsAre("example.net"),
                                ElementsAre("a.example.com", "b.example.com"),
                                ElementsAre("ep.example.com"),
                                // on every entrypoint, so also on websecure, whose tls applies
                                ElementsAre("plain.example.com")));
  EXPECT_THAT(who, ElementsAre("router domains@file", "router domains@file", "router hosts@file",
                               "router onsecure@file", "router plain@file"));
  EXPECT_THAT(errors, ElementsAre("router unknown@file: certResolver \"nope\" does not exist"));
}

}  // namespace
}  // namespace turnpike::acme
