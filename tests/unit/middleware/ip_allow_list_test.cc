#include <gtest/gtest.h>

#include "harness.h"
#include "middleware/client_ip.h"
#include "middleware/local_reply.h"

namespace turnpike::middleware {
namespace {

using testing::build;
using testing::make_request;
using testing::serve;

struct AllowCase {
  std::string desc;
  std::string config;
  std::string remote;
  std::vector<std::string> xff;  // X-Forwarded-For fields
  int status;
};

void run_cases(std::string_view type, const std::vector<AllowCase>& cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(c.desc);
    auto b = build(type, c.config);
    ASSERT_TRUE(b) << b.error_text();
    auto req = make_request("GET", "/");
    req.client_addr = boost::asio::ip::make_address(c.remote);
    for (const auto& v : c.xff) req.headers.add("X-Forwarded-For", v);
    auto out = serve(*b.handler, req);
    EXPECT_EQ(out.status, c.status);
    EXPECT_EQ(b.terminal->calls, c.status == 200 ? 1 : 0);
    if (c.status != 200) {
      EXPECT_EQ(out.body, status_text(c.status));
    }
  }
}

TEST(IpAllowList, RemoteAddress) {
  run_cases("ipAllowList", {
      {"authorized", "sourceRange: [20.20.20.20]", "20.20.20.20", {}, 200},
      {"not authorized", "sourceRange: [20.20.20.20]", "20.20.20.21", {}, 403},
      {"reject 404", "sourceRange: [20.20.20.20]\nrejectStatusCode: 404", "20.20.20.21", {}, 404},
      {"authorized, reject 404", "sourceRange: [20.20.20.20]\nrejectStatusCode: 404",
       "20.20.20.20", {}, 200},
      {"CIDR", "sourceRange: ['10.0.0.0/8', '192.168.1.7']", "10.1.2.3", {}, 200},
      {"XFF ignored without strategy", "sourceRange: [10.0.0.0/8]", "1.2.3.4", {"10.0.0.1"}, 403},
      {"IPv6 range", "sourceRange: ['2001:db8::/32']", "2001:db8::1", {}, 200},
      {"IPv6 outside", "sourceRange: ['2001:db8::/32']", "2001:db9::1", {}, 403},
      {"v4-mapped peer matches v4 range", "sourceRange: [10.0.0.0/8]", "::ffff:10.0.0.1", {}, 200},
      {"ipv6Subnet masks the peer", "sourceRange: ['2001:db8:1:2::/64']\nipStrategy: {ipv6Subnet: 64}",
       "2001:db8:1:2:aaaa::1", {}, 200},
      {"ipv6Subnet /48 outside a /64", "sourceRange: ['2001:db8:1:2::/128']\n"
                                       "ipStrategy: {ipv6Subnet: 48}",
       "2001:db8:1:2::1", {}, 403},
      {"ipv6Subnet /48 network", "sourceRange: ['2001:db8:1::/128']\nipStrategy: {ipv6Subnet: 48}",
       "2001:db8:1:2::1", {}, 200},
  });
}

// ipStrategy cases after Traefik's pkg/ip strategy tests.
TEST(IpAllowList, DepthStrategy) {
  const std::string cfg = "sourceRange: ['10.0.0.3']\nipStrategy: {depth: 3}";
  run_cases("ipAllowList", {
      {"third from the right", cfg, "1.1.1.1", {"10.0.0.4,10.0.0.3,10.0.0.2,10.0.0.1"}, 200},
      {"spaces trimmed", cfg, "1.1.1.1", {"10.0.0.4, 10.0.0.3 , 10.0.0.2, 10.0.0.1"}, 200},
      {"fields joined", cfg, "1.1.1.1", {"10.0.0.4,10.0.0.3", "10.0.0.2,10.0.0.1"}, 200},
      {"too short", cfg, "10.0.0.3", {"10.0.0.2,10.0.0.1"}, 403},
      {"absent header", cfg, "10.0.0.3", {}, 403},
      {"client spoofs the left", "sourceRange: ['10.0.0.3']\nipStrategy: {depth: 1}", "1.1.1.1",
       {"10.0.0.3, 6.6.6.6"}, 403},
      {"entry with port", cfg, "1.1.1.1", {"10.0.0.3:4321,10.0.0.2,10.0.0.1"}, 200},
      {"junk entry", cfg, "1.1.1.1", {"junk,10.0.0.2,10.0.0.1"}, 403},
      {"depth overrides excludedIPs",
       "sourceRange: ['10.0.0.3']\nipStrategy: {depth: 3, excludedIPs: [10.0.0.0/8]}", "1.1.1.1",
       {"10.0.0.4,10.0.0.3,10.0.0.2,10.0.0.1"}, 200},
      {"IPv6 with subnet", "sourceRange: ['2001:db8::/64']\nipStrategy: {depth: 1, ipv6Subnet: 64}",
       "1.1.1.1", {"2001:db8::42"}, 200},
      {"bracketed IPv6 with port", "sourceRange: ['2001:db8::42']\nipStrategy: {depth: 1}",
       "1.1.1.1", {"[2001:db8::42]:8080"}, 200},
  });
}

TEST(IpAllowList, ExcludedIpsStrategy) {
  run_cases("ipAllowList", {
      {"first not excluded from the right",
       "sourceRange: ['10.0.0.3']\nipStrategy: {excludedIPs: [10.0.0.2, 10.0.0.1]}", "1.1.1.1",
       {"10.0.0.4,10.0.0.3,10.0.0.2,10.0.0.1"}, 200},
      {"CIDR exclusion",
       "sourceRange: ['127.0.0.1']\nipStrategy: {excludedIPs: ['10.0.0.1/24']}", "1.1.1.1",
       {"127.0.0.1,10.0.0.4,10.0.0.3,10.0.0.2,10.0.0.1"}, 200},
      {"all excluded", "sourceRange: ['0.0.0.0/0']\nipStrategy: {excludedIPs: ['10.0.0.1/24']}",
       "1.1.1.1", {"10.0.0.4,10.0.0.3,10.0.0.2,10.0.0.1"}, 403},
      {"empty entries skipped",
       "sourceRange: ['10.0.0.3']\nipStrategy: {excludedIPs: [10.0.0.1]}", "1.1.1.1",
       {"10.0.0.3, ,10.0.0.1,"}, 200},
  });
}

TEST(IpAllowList, DeprecatedIpWhiteListAlias) {
  run_cases("ipWhiteList", {
      {"authorized", "sourceRange: [20.20.20.20]", "20.20.20.20", {}, 200},
      {"not authorized", "sourceRange: [20.20.20.20]", "20.20.20.21", {}, 403},
  });
}

TEST(IpAllowList, DecodeErrors) {
  for (const auto& [yaml, expected] : std::initializer_list<std::pair<std::string, std::string>>{
      {"{}", "ipAllowList.sourceRange: is required"},
      {"sourceRange: [foo]", "ipAllowList.sourceRange: invalid IP address"},
      {"sourceRange: ['10.0.0.0/33']", "ipAllowList.sourceRange: invalid CIDR"},
      {"sourceRange: [10.10.10.10]\nrejectStatusCode: 600",
       "ipAllowList.rejectStatusCode: invalid HTTP status code 600"},
      {"sourceRange: [10.10.10.10]\nipStrategy: {depth: -1}", "ipAllowList.ipStrategy.depth"},
      {"sourceRange: [10.10.10.10]\nipStrategy: {ipv6Subnet: 129}",
       "ipAllowList.ipStrategy.ipv6Subnet"},
      {"sourceRange: [10.10.10.10]\nipStrategy: {excludedIPs: [bad]}",
       "ipAllowList.ipStrategy.excludedIPs"},
      {"sourceRange: [10.10.10.10]\nipStrategy: {dept: 1}",
       "ipAllowList.ipStrategy.dept: unknown key"},
      })
    testing::expect_decode_error("ipAllowList", yaml, expected);
}

TEST(ClientIp, ParseForwardedIp) {
  EXPECT_EQ(parse_forwarded_ip("1.2.3.4")->to_string(), "1.2.3.4");
  EXPECT_EQ(parse_forwarded_ip("1.2.3.4:80")->to_string(), "1.2.3.4");
  EXPECT_EQ(parse_forwarded_ip("::1")->to_string(), "::1");
  EXPECT_EQ(parse_forwarded_ip("[::1]")->to_string(), "::1");
  EXPECT_EQ(parse_forwarded_ip("[::1]:443")->to_string(), "::1");
  EXPECT_FALSE(parse_forwarded_ip(""));
  EXPECT_FALSE(parse_forwarded_ip("unknown"));
  EXPECT_FALSE(parse_forwarded_ip("1.2.3.4:80:90"));
}

}  // namespace
}  // namespace turnpike::middleware
