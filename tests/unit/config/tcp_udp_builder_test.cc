// The TCP/UDP half of the snapshot builder: route tables per entrypoint, priorities, statuses of
// broken objects and of what depends on them, the HTTPS domains table, UDP routers per entrypoint.

#include "config/builder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace turnpike::config {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

struct Built {
  std::vector<EntryPoint> eps;
  DynamicConfig dyn;
  std::shared_ptr<const Snapshot> snap;
};

// Entrypoints "a" and "b" (TCP), "u1" and "u2" (UDP); `tls_on_b` gives b an http.tls default;
// `tls` (optional) provides certificates and TLS options, as the gateway's TLS manager does.
std::unique_ptr<Built> build(const std::string& yaml, bool tls_on_b = false,
                             tls::TlsManager* tls = nullptr) {
  auto b = std::make_unique<Built>();
  for (std::string name : {"a", "b", "u1", "u2"}) {
    EntryPoint ep;
    ep.name = name;
    ep.listen.protocol = name[0] == 'u' ? Protocol::kUdp : Protocol::kTcp;
    if (name == "b" && tls_on_b)
      ep.http.tls.emplace();
    b->eps.push_back(std::move(ep));
  }
  BuildOptions opts;
  opts.entrypoints = {&b->eps[0], &b->eps[1]};
  opts.udp_entrypoints = {&b->eps[2], &b->eps[3]};
  opts.tls = tls;
  auto tree = parse_yaml(yaml, "dyn.yml");
  EXPECT_TRUE(tree.has_value());
  b->dyn = decode_dynamic(*tree, "file");
  EXPECT_THAT(b->dyn.errors, IsEmpty());
  b->snap = build_snapshot(b->dyn, opts, 1);
  return b;
}

std::vector<std::string> names(const router::TcpRouteTable& t) {
  std::vector<std::string> out;
  for (const auto& r : t.routes())
    out.push_back(r.name + ":" + std::to_string(r.priority));
  return out;
}

TEST(TcpUdpBuilder, RouteTablesAndPriorities) {
  auto b = build("tcp:\n"
                 "  routers:\n"
                 "    all: {rule: HostSNI(`*`), service: s}\n"
                 "    lan: {entryPoints: [a], rule: HostSNI(`*`) && ClientIP(`10.0.0.0/8`), "
                 "service: s}\n"
                 "    pt: {entryPoints: [b], rule: HostSNI(`x.test`), service: w, "
                 "tls: {passthrough: true}, priority: 7}\n"
                 "  services:\n"
                 "    s: {loadBalancer: {servers: [{address: \"127.0.0.1:1\"}]}}\n"
                 "    w: {weighted: {services: [{name: s, weight: 2}]}}\n");
  const auto& snap = *b->snap;
  ASSERT_EQ(snap.entrypoints.size(), 2u);
  EXPECT_THAT(names(snap.entrypoints[0].tcp.tcp), ElementsAre("lan@file:38", "all@file:-1"));
  EXPECT_TRUE(snap.entrypoints[0].tcp.tls.empty());
  EXPECT_THAT(names(snap.entrypoints[1].tcp.tcp), ElementsAre("all@file:-1"));
  EXPECT_THAT(names(snap.entrypoints[1].tcp.tls), ElementsAre("pt@file:7"));
  EXPECT_TRUE(snap.entrypoints[1].tcp.tls.routes()[0].passthrough);
  EXPECT_EQ(snap.tcp_router_count, 4u);
  EXPECT_EQ(snap.tcp_routers.at("all@file").status, "enabled");
  EXPECT_THAT(snap.tcp_routers.at("all@file").using_entrypoints, ElementsAre("a", "b"));
  EXPECT_THAT(snap.tcp_services.at("s@file").used_by, ElementsAre("all@file", "lan@file"));
}

TEST(TcpUdpBuilder, BrokenObjectsDisableWhatDependsOnThem) {
  auto b = build("tcp:\n"
                 "  routers:\n"
                 "    ok: {rule: HostSNI(`*`), service: s}\n"
                 "    no-tls: {rule: HostSNI(`a.test`), service: s}\n"
                 "    terminate: {rule: HostSNI(`a.test`), service: s, tls: {}}\n"
                 "    bad-ep: {entryPoints: [u1], rule: HostSNI(`*`), service: s}\n"
                 "    v2: {rule: HostSNI(`*`), service: s, ruleSyntax: v2}\n"
                 "    uses-bad-svc: {rule: HostSNI(`*`), service: badaddr}\n"
                 "    uses-cycle: {rule: HostSNI(`*`), service: loop1}\n"
                 "    uses-bad-mw: {rule: HostSNI(`*`), service: s, middlewares: [zero]}\n"
                 "    uses-unknown-transport: {rule: HostSNI(`*`), service: nt}\n"
                 "  services:\n"
                 "    s: {loadBalancer: {servers: [{address: \"127.0.0.1:1\"}]}}\n"
                 "    badaddr: {loadBalancer: {servers: [{address: \"nohost\"}]}}\n"
                 "    loop1: {weighted: {services: [{name: loop2}]}}\n"
                 "    loop2: {weighted: {services: [{name: loop1}]}}\n"
                 "    nt: {loadBalancer: {servers: [], serversTransport: nope}}\n"
                 "  middlewares:\n"
                 "    zero: {inFlightConn: {amount: 0}}\n"
                 "    unused: {ipAllowList: {sourceRange: [\"bad\"]}}\n"
                 "    unknown: {rateLimit: {}}\n");
  const auto& s = *b->snap;
  auto errors = [&](const std::string& n) { return s.tcp_routers.at(n).errors; };
  EXPECT_EQ(s.tcp_routers.at("ok@file").status, "enabled");
  EXPECT_THAT(errors("no-tls@file"), ElementsAre(HasSubstr("HostSNI needs TLS on the router")));
  EXPECT_THAT(errors("terminate@file"),
              ElementsAre("TLS termination needs the gateway's TLS configuration"));
  EXPECT_THAT(errors("bad-ep@file"), ElementsAre("entryPoint \"u1\" doesn't exist"));
  EXPECT_THAT(errors("v2@file"), ElementsAre("ruleSyntax v2 is not supported"));
  EXPECT_THAT(errors("uses-bad-svc@file"), ElementsAre(HasSubstr("missing port")));
  EXPECT_THAT(errors("uses-cycle@file"), ElementsAre(HasSubstr("service reference cycle")));
  EXPECT_THAT(errors("uses-bad-mw@file"),
              ElementsAre(HasSubstr("tcp.middlewares.zero@file.inFlightConn.amount: must be > 0")));
  EXPECT_THAT(errors("uses-unknown-transport@file"),
              ElementsAre(HasSubstr("serversTransport \"nope@file\" does not exist")));
  EXPECT_EQ(s.tcp_services.at("badaddr@file").status, "disabled");
  EXPECT_EQ(s.tcp_middlewares.at("unused@file").status, "disabled");
  EXPECT_THAT(s.tcp_middlewares.at("unknown@file").errors,
              ElementsAre(HasSubstr("unknown TCP middleware type \"rateLimit\"")));
  EXPECT_THAT(names(s.entrypoints[0].tcp.tcp), ElementsAre("ok@file:-1"));
  auto all = collect_errors(b->dyn, s);
  EXPECT_THAT(all, testing::Contains(HasSubstr("tcp router no-tls@file: ")));
}

TEST(TcpUdpBuilder, TerminatingRoutersUseTheirOwnTlsOptions) {
  tls::TlsManager manager;
  auto b = build("tcp:\n"
                 "  routers:\n"
                 "    pt: {rule: HostSNI(`p.test`), service: s, tls: {passthrough: true}}\n"
                 "    term: {rule: HostSNI(`t.test`), service: s, tls: {}}\n"
                 "    modern: {rule: HostSNI(`m.test`), service: s, tls: {options: tls13}}\n"
                 "    unknown: {rule: HostSNI(`u.test`), service: s, tls: {options: nope}}\n"
                 "    broken: {rule: HostSNI(`b.test`), service: s, tls: {options: bad}}\n"
                 "  services:\n"
                 "    s: {loadBalancer: {servers: [{address: \"127.0.0.1:1\"}]}}\n"
                 "tls:\n"
                 "  options:\n"
                 "    tls13: {minVersion: VersionTLS13}\n"
                 "    bad: {minVersion: VersionTLS99}\n",
                 false, &manager);
  const auto& s = *b->snap;
  ASSERT_NE(s.entrypoints[0].tls, nullptr);
  const tls::ServerTls& server = s.entrypoints[0].tls->server();
  std::map<std::string, const router::TcpRoute*> routes;
  for (const auto& r : s.entrypoints[0].tcp.tls.routes())
    routes[r.name] = &r;
  ASSERT_EQ(routes.size(), 5u);
  EXPECT_TRUE(routes["pt@file"]->passthrough);
  EXPECT_FALSE(routes["pt@file"]->terminate);
  EXPECT_TRUE(routes["term@file"]->terminate);
  EXPECT_FALSE(routes["term@file"]->passthrough);
  EXPECT_EQ(routes["term@file"]->tls_options, server.default_options());
  EXPECT_EQ(routes["modern@file"]->tls_options, server.find_options("tls13@file"));
  EXPECT_NE(routes["modern@file"]->tls_options, tls::kBrokenOptions);
  EXPECT_EQ(s.tcp_routers.at("term@file").status, "enabled");
  EXPECT_THAT(s.tcp_routers.at("term@file").using_entrypoints, ElementsAre("a", "b"));
  // Unknown or broken options: the router is in error, and its route stays to close the
  // connections it matches rather than let another route or other options serve them.
  EXPECT_EQ(routes["unknown@file"]->tls_options, tls::kBrokenOptions);
  EXPECT_THAT(s.tcp_routers.at("unknown@file").errors,
              ElementsAre("unknown TLS options: nope@file"));
  EXPECT_EQ(s.tcp_routers.at("unknown@file").status, "disabled");
  EXPECT_EQ(routes["broken@file"]->tls_options, tls::kBrokenOptions);
  EXPECT_THAT(s.tcp_routers.at("broken@file").errors,
              ElementsAre(HasSubstr("TLS options \"bad@file\" are broken: tls.options.bad@file.")));
  // A terminating router's options do not enter the per-host map of HTTPS routers.
  EXPECT_EQ(s.entrypoints[0].tls->options_for("m.test"), server.default_options());
}

TEST(TcpUdpBuilder, TlsToBackends) {
  tls::TlsManager manager;
  auto b = build("tcp:\n"
                 "  routers:\n"
                 "    default-tls: {rule: HostSNI(`*`), service: d, entryPoints: [a]}\n"
                 "    own-ca: {rule: HostSNI(`*`), service: o, entryPoints: [b]}\n"
                 "    bad-ca: {rule: HostSNI(`x.test`), service: bad, tls: {}}\n"
                 "  services:\n"
                 "    d: {loadBalancer: {servers: [{address: \"127.0.0.1:1\", tls: true}]}}\n"
                 "    o: {loadBalancer: {servers: [{address: \"127.0.0.1:2\", tls: true}], "
                 "serversTransport: ca}}\n"
                 "    bad: {loadBalancer: {servers: [{address: \"127.0.0.1:3\"}], "
                 "serversTransport: broken}}\n"
                 "  serversTransports:\n"
                 "    ca:\n"
                 "      tls: {serverName: backend.test, insecureSkipVerify: true, "
                 "peerCertURI: \"spiffe://x\"}\n"
                 "    broken:\n"
                 "      tls: {rootCAs: [/nonexistent/ca.pem]}\n",
                 false, &manager);
  const auto& s = *b->snap;
  EXPECT_EQ(s.tcp_routers.at("default-tls@file").status, "enabled");
  EXPECT_EQ(s.tcp_routers.at("own-ca@file").status, "enabled");
  EXPECT_EQ(s.tcp_services.at("d@file").status, "enabled");
  EXPECT_EQ(s.tcp_services.at("o@file").status, "enabled");
  // A transport whose TLS cannot be set up disables the services using it, TLS servers or not.
  EXPECT_EQ(s.tcp_services.at("bad@file").status, "disabled");
  EXPECT_THAT(s.tcp_services.at("bad@file").errors,
              ElementsAre(AllOf(HasSubstr("serversTransport \"broken@file\": tls.rootCAs[0]"))));
  EXPECT_THAT(s.tcp_routers.at("bad-ca@file").errors,
              ElementsAre(HasSubstr("serversTransport \"broken@file\"")));
}

TEST(TcpUdpBuilder, HttpsDomainsOfTlsHttpRouters) {
  auto b = build("http:\n"
                 "  routers:\n"
                 "    web: {rule: Host(`web.test`) || Host(`*.apps.test`), service: s}\n"
                 "    any: {rule: PathPrefix(`/`), service: s}\n"
                 "  services:\n"
                 "    s: {loadBalancer: {servers: [{url: \"http://127.0.0.1:1\"}]}}\n",
                 /*tls_on_b=*/true);
  const auto& s = *b->snap;
  EXPECT_TRUE(s.entrypoints[0].tcp.https.empty()); // a: plain HTTP
  std::vector<std::string> rules;
  for (const auto& r : s.entrypoints[1].tcp.https.routes())
    rules.push_back(r.rule_text);
  EXPECT_THAT(rules, ElementsAre("HostSNI(`*.apps.test`)", "HostSNI(`web.test`)", "HostSNI(`*`)"));
  EXPECT_TRUE(s.entrypoints[1].tcp.empty()); // no TCP router: connections skip the TCP stage
}

TEST(TcpUdpBuilder, UdpRoutersPerEntrypoint) {
  auto b = build("udp:\n"
                 "  routers:\n"
                 "    a-first: {service: s}\n"
                 "    b-second: {entryPoints: [u2], service: s}\n"
                 "    c-bad: {entryPoints: [a], service: s}\n"
                 "    d-nosvc: {entryPoints: [u1], service: nope}\n"
                 "  services:\n"
                 "    s: {loadBalancer: {servers: [{address: \"127.0.0.1:53\"}]}}\n"
                 "    w: {weighted: {services: [{name: s}]}}\n"
                 "    broken: {loadBalancer: {servers: [{address: \"[::1]\"}]}}\n");
  const auto& s = *b->snap;
  ASSERT_EQ(s.udp_entrypoints.size(), 2u);
  EXPECT_EQ(s.udp_entrypoints[0].router, "a-first@file");
  EXPECT_EQ(s.udp_entrypoints[1].router, "a-first@file");
  EXPECT_TRUE(s.udp_entrypoints[0].service);
  EXPECT_EQ(s.udp_routers.at("b-second@file").status, "warning");
  EXPECT_THAT(s.udp_routers.at("b-second@file").errors,
              ElementsAre(HasSubstr("already served by UDP router \"a-first@file\"")));
  EXPECT_THAT(s.udp_routers.at("c-bad@file").errors, ElementsAre("entryPoint \"a\" doesn't exist"));
  EXPECT_THAT(s.udp_routers.at("d-nosvc@file").errors, ElementsAre(HasSubstr("does not exist")));
  EXPECT_EQ(s.udp_services.at("broken@file").status, "disabled");
  EXPECT_EQ(s.udp_services.at("w@file").status, "enabled");
}

} // namespace
} // namespace turnpike::config
