// Decoding the dynamic `tcp` and `udp` sections: qualified names and references, per-object
// errors, defaults, merging across providers.

#include "config/dynamic_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace turnpike::config {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

DynamicConfig decode(const std::string& yaml, std::string_view provider = "file") {
  auto tree = parse_yaml(yaml, "dyn.yml");
  EXPECT_TRUE(tree.has_value()) << (tree ? "" : tree.error().message);
  return decode_dynamic(tree ? *tree : Node(), provider);
}

TEST(TcpUdpConfig, TcpObjects) {
  auto cfg = decode("tcp:\n"
                    "  routers:\n"
                    "    db:\n"
                    "      entryPoints: [pg]\n"
                    "      rule: HostSNI(`db.example.com`)\n"
                    "      priority: 10\n"
                    "      middlewares: [only-lan, limit@docker]\n"
                    "      service: db\n"
                    "      tls: {passthrough: true}\n"
                    "    plain:\n"
                    "      rule: HostSNI(`*`)\n"
                    "      service: echo\n"
                    "  services:\n"
                    "    db:\n"
                    "      loadBalancer:\n"
                    "        servers: [{address: \"10.0.0.1:5432\"}, {address: \"db2:5432\", "
                    "weight: 3, tls: true}]\n"
                    "        serversTransport: slow\n"
                    "        proxyProtocol: {}\n"
                    "        terminationDelay: 250\n"
                    "    split:\n"
                    "      weighted: {services: [{name: db, weight: 2}, {name: other@docker}]}\n"
                    "  middlewares:\n"
                    "    only-lan: {ipAllowList: {sourceRange: [\"10.0.0.0/8\"]}}\n"
                    "  serversTransports:\n"
                    "    slow:\n"
                    "      dialTimeout: 2s\n"
                    "      dialKeepAlive: -1s\n"
                    "      terminationDelay: -1\n"
                    "      proxyProtocol: {version: 1}\n");
  EXPECT_THAT(cfg.errors, IsEmpty());
  const TcpRouter& db = cfg.tcp.routers.at("db@file");
  EXPECT_THAT(db.errors, IsEmpty());
  EXPECT_THAT(db.entry_points, ElementsAre("pg"));
  EXPECT_EQ(db.priority, 10);
  EXPECT_THAT(db.middlewares, ElementsAre("only-lan@file", "limit@docker"));
  EXPECT_EQ(db.service, "db@file");
  ASSERT_TRUE(db.tls);
  EXPECT_TRUE(db.tls->passthrough);
  EXPECT_FALSE(cfg.tcp.routers.at("plain@file").tls);

  const TcpService& svc = cfg.tcp.services.at("db@file");
  ASSERT_EQ(svc.kind, TcpServiceKind::kLoadBalancer);
  const auto& lb = *svc.load_balancer;
  ASSERT_EQ(lb.servers.size(), 2u);
  EXPECT_EQ(lb.servers[1].address, "db2:5432");
  EXPECT_EQ(lb.servers[1].weight, 3);
  EXPECT_TRUE(lb.servers[1].tls);
  EXPECT_EQ(lb.servers_transport, "slow@file");
  EXPECT_EQ(lb.proxy_protocol_version, 2); // empty section: version 2
  EXPECT_EQ(lb.termination_delay, std::optional<Duration>(250ms));
  const TcpService& split = cfg.tcp.services.at("split@file");
  ASSERT_EQ(split.kind, TcpServiceKind::kWeighted);
  EXPECT_EQ(split.weighted[0].name, "db@file");
  EXPECT_EQ(split.weighted[0].weight, 2);
  EXPECT_EQ(split.weighted[1].name, "other@docker");
  EXPECT_EQ(split.weighted[1].weight, 1);

  EXPECT_EQ(cfg.tcp.middlewares.at("only-lan@file").type, "ipAllowList");
  const TcpServersTransport& t = cfg.tcp.servers_transports.at("slow@file");
  EXPECT_EQ(t.dial_timeout, 2s);
  EXPECT_LT(t.dial_keep_alive.count(), 0);
  EXPECT_EQ(t.termination_delay, -1s);
  EXPECT_EQ(t.proxy_protocol_version, 1);
}

TEST(TcpUdpConfig, TcpServersTransportTls) {
  auto cfg = decode("tcp:\n"
                    "  serversTransports:\n"
                    "    mtls:\n"
                    "      tls:\n"
                    "        serverName: db.internal\n"
                    "        insecureSkipVerify: true\n"
                    "        rootCAs: [/etc/ca.pem]\n"
                    "        certificates: [{certFile: /c.pem, keyFile: /c.key}]\n"
                    "        peerCertURI: spiffe://db\n"
                    "        spiffe: {ids: [spiffe://x]}\n"
                    "    nocert:\n"
                    "      tls: {certificates: [{certFile: /c.pem}], sni: x}\n");
  const auto& t = cfg.tcp.servers_transports.at("mtls@file");
  ASSERT_TRUE(t.tls);
  EXPECT_EQ(t.tls->server_name, "db.internal");
  EXPECT_TRUE(t.tls->insecure_skip_verify);
  EXPECT_THAT(t.tls->root_cas, ElementsAre("/etc/ca.pem"));
  ASSERT_EQ(t.tls->certificates.size(), 1u);
  EXPECT_EQ(t.tls->certificates[0].cert_file, "/c.pem");
  EXPECT_EQ(t.tls->certificates[0].key_file, "/c.key");
  EXPECT_EQ(t.tls->peer_cert_uri, "spiffe://db");
  EXPECT_TRUE(t.tls->spiffe);
  EXPECT_THAT(t.errors, IsEmpty());
  EXPECT_THAT(cfg.tcp.servers_transports.at("nocert@file").errors,
              ElementsAre(HasSubstr("tls.certificates[0].keyFile: is required"),
                          HasSubstr("tls.sni: unknown key")));
}

TEST(TcpUdpConfig, TcpErrorsStayOnTheirObject) {
  auto cfg = decode("tcp:\n"
                    "  routers:\n"
                    "    norule: {service: s}\n"
                    "    nosvc: {rule: HostSNI(`*`)}\n"
                    "    high: {rule: HostSNI(`*`), service: s, priority: 9223372036854775000}\n"
                    "    odd: {rule: HostSNI(`*`), service: s, tls: {passthru: true}}\n"
                    "    good: {rule: HostSNI(`*`), service: s}\n"
                    "  services:\n"
                    "    two: {loadBalancer: {servers: []}, weighted: {services: []}}\n"
                    "    none: {}\n"
                    "    noaddr: {loadBalancer: {servers: [{weight: 1}]}}\n"
                    "    pp3: {loadBalancer: {proxyProtocol: {version: 3}}}\n"
                    "  middlewares:\n"
                    "    two: {ipAllowList: {}, inFlightConn: {}}\n");
  EXPECT_THAT(cfg.errors, IsEmpty());
  auto errors = [&](const auto& map, const std::string& name) { return map.at(name).errors; };
  EXPECT_THAT(errors(cfg.tcp.routers, "norule@file"),
              ElementsAre("dyn.yml:3: tcp.routers.norule@file.rule: is required"));
  EXPECT_THAT(errors(cfg.tcp.routers, "nosvc@file"),
              ElementsAre(HasSubstr("service: is required")));
  EXPECT_THAT(errors(cfg.tcp.routers, "high@file"),
              ElementsAre(HasSubstr("priority: must be at most")));
  EXPECT_THAT(errors(cfg.tcp.routers, "odd@file"),
              ElementsAre(HasSubstr("tcp.routers.odd@file.tls.passthru: unknown key")));
  EXPECT_THAT(errors(cfg.tcp.routers, "good@file"), IsEmpty());
  EXPECT_THAT(
      errors(cfg.tcp.services, "two@file"),
      ElementsAre(HasSubstr("must define only one kind of service, found loadBalancer, weighted")));
  EXPECT_THAT(errors(cfg.tcp.services, "none@file"),
              ElementsAre(HasSubstr("must define one of loadBalancer, weighted")));
  EXPECT_THAT(errors(cfg.tcp.services, "noaddr@file"),
              ElementsAre(HasSubstr("servers[0].address: is required")));
  EXPECT_THAT(errors(cfg.tcp.services, "pp3@file"),
              ElementsAre(HasSubstr("proxyProtocol.version: must be 1 or 2")));
  EXPECT_THAT(errors(cfg.tcp.middlewares, "two@file"),
              ElementsAre(HasSubstr("must define only one middleware type")));
}

TEST(TcpUdpConfig, Udp) {
  auto cfg = decode("udp:\n"
                    "  routers:\n"
                    "    dns: {entryPoints: [dns], service: dns}\n"
                    "    broken: {service: dns, rule: HostSNI(`*`)}\n"
                    "  services:\n"
                    "    dns: {loadBalancer: {servers: [{address: \"127.0.0.1:5353\"}, "
                    "{address: \"[::1]:5353\", weight: 2}]}}\n"
                    "    mix: {weighted: {services: [{name: dns}]}}\n");
  EXPECT_THAT(cfg.errors, IsEmpty());
  const UdpRouter& dns = cfg.udp.routers.at("dns@file");
  EXPECT_THAT(dns.errors, IsEmpty());
  EXPECT_EQ(dns.service, "dns@file");
  EXPECT_THAT(cfg.udp.routers.at("broken@file").errors,
              ElementsAre(HasSubstr("rule: unknown key")));
  const UdpService& svc = cfg.udp.services.at("dns@file");
  ASSERT_EQ(svc.kind, TcpServiceKind::kLoadBalancer);
  ASSERT_EQ(svc.servers.size(), 2u);
  EXPECT_EQ(svc.servers[1].address, "[::1]:5353");
  EXPECT_EQ(svc.servers[1].weight, 2);
  EXPECT_EQ(cfg.udp.services.at("mix@file").weighted[0].name, "dns@file");
}

TEST(TcpUdpConfig, SectionErrorsAndMerge) {
  EXPECT_THAT(decode("tcp: [1]\n").errors, ElementsAre(HasSubstr("tcp: expected a section")));
  EXPECT_THAT(decode("udp: {routerz: {}}\n").errors,
              ElementsAre("dyn.yml:1: udp.routerz: unknown key"));
  auto a = decode("tcp: {routers: {r: {rule: HostSNI(`*`), service: s}}}\n"
                  "udp: {services: {u: {loadBalancer: {servers: []}}}}\n",
                  "file");
  auto b = decode("tcp: {routers: {r: {rule: HostSNI(`*`), service: s@file}}}\n", "docker");
  auto merged = merge({a, b});
  EXPECT_THAT(merged.errors, IsEmpty());
  EXPECT_EQ(merged.tcp.routers.size(), 2u);
  EXPECT_EQ(merged.tcp.routers.at("r@docker").service, "s@file");
  EXPECT_EQ(merged.udp.services.size(), 1u);
  auto twice = merge({a, a});
  EXPECT_THAT(twice.errors, ElementsAre("tcp.routers.r@file: defined by more than one source",
                                        "udp.services.u@file: defined by more than one source"));
}

} // namespace
} // namespace turnpike::config
