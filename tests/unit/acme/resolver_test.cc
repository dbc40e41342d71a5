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

// The name sets and the requesters of a resolver's requests, in order.
std::pair<std::vector<std::vector<std::string>>, std::vector<std::string>> split_requests(
    const std::vector<DomainRequest>& requests) {
  std::pair<std::vector<std::vector<std::string>>, std::vector<std::string>> out;
  for (const auto& r : requests) {
    out.first.push_back(r.domains);
    out.second.push_back(r.requester);
  }
  return out;
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
  auto [sets, who] = split_requests(requests["le"]);
  EXPECT_THAT(sets, ElementsAre(ElementsAre("example.org", "*.example.org"), ElementsAre("example.net"),
                                ElementsAre("a.example.com", "b.example.com"),
                                ElementsAre("ep.example.com"),
                                // on every entrypoint, so also on websecure, whose tls applies
                                ElementsAre("plain.example.com")));
  EXPECT_THAT(who, ElementsAre("router domains@file", "router domains@file", "router hosts@file",
                               "router onsecure@file", "router plain@file"));
  EXPECT_THAT(errors, ElementsAre("router unknown@file: certResolver \"nope\" does not exist"));
}

TEST(DomainRequests, FromTcpRoutersAndTheDefaultGeneratedCert) {
  auto dyn = dynamic(R"(
tcp:
  routers:
    sni:
      rule: HostSNI(`Db.example.com`) || HostSNI(`db2.example.com`)
      service: s
      tls: {certResolver: le}
    doms:
      rule: HostSNI(`*`)
      service: s
      tls: {certResolver: le, domains: [{main: mq.example.com, sans: [mq2.example.com]}]}
    pass:
      rule: HostSNI(`pass.example.com`)
      service: s
      tls: {certResolver: le, passthrough: true}
    catchall:
      rule: HostSNI(`*`)
      service: s
      tls: {certResolver: le}
    bad:
      rule: HostSNI(`x.example.com`)
      service: s
      tls: {certResolver: nope}
  services:
    s: {loadBalancer: {servers: [{address: "127.0.0.1:1"}]}}
tls:
  stores:
    default:
      defaultGeneratedCert: {resolver: le, domain: {main: default.example.com, sans: [d2.example.com]}}
)");
  std::vector<std::string> errors;
  auto requests = collect_domain_requests(dyn, {}, {"le"}, errors);
  auto [sets, who] = split_requests(requests["le"]);
  EXPECT_THAT(sets, ElementsAre(ElementsAre("mq.example.com", "mq2.example.com"),
                                ElementsAre("db.example.com", "db2.example.com"),
                                ElementsAre("default.example.com", "d2.example.com")));
  EXPECT_THAT(who, ElementsAre("tcp router doms@file", "tcp router sni@file",
                               "tls.stores.default.defaultGeneratedCert"));
  EXPECT_THAT(errors, ElementsAre("tcp router bad@file: certResolver \"nope\" does not exist"));
}

TEST(DomainRequests, DefaultGeneratedCertNeedsResolverAndMain) {
  auto dyn = dynamic(R"(
tls:
  stores:
    default:
      defaultGeneratedCert: {domain: {sans: [x.example.com]}}
)");
  ASSERT_EQ(dyn.tls.stores.count("default"), 1u);
  const auto& errs = dyn.tls.stores.at("default").errors;
  ASSERT_EQ(errs.size(), 2u);
  EXPECT_NE(errs[0].find("resolver: is required"), std::string::npos) << errs[0];
  EXPECT_NE(errs[1].find("main is required"), std::string::npos) << errs[1];
}

}  // namespace
}  // namespace turnpike::acme
