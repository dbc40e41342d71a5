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

TEST(DynamicConfig, RoutersQualifiedWithReferences) {
  auto cfg = decode("http:\n"
                    "  routers:\n"
                    "    api:\n"
                    "      entryPoints: [web]\n"
                    "      rule: Host(`a.example.com`)\n"
                    "      priority: 42\n"
                    "      middlewares: [auth, strip@docker]\n"
                    "      service: backend\n"
                    "      tls: {}\n"
                    "    dash:\n"
                    "      rule: PathPrefix(`/`)\n"
                    "      ruleSyntax: V2\n"
                    "      service: api@internal\n");
  EXPECT_THAT(cfg.errors, IsEmpty());
  ASSERT_EQ(cfg.http.routers.size(), 2u);
  const HttpRouter& api = cfg.http.routers.at("api@file");
  EXPECT_EQ(api.name, "api@file");
  EXPECT_EQ(api.provider, "file");
  EXPECT_EQ(api.location.describe(), "dyn.yml:3");
  EXPECT_THAT(api.entry_points, ElementsAre("web"));
  EXPECT_EQ(api.rule, "Host(`a.example.com`)");
  EXPECT_EQ(api.priority, 42);
  EXPECT_THAT(api.middlewares, ElementsAre("auth@file", "strip@docker"));
  EXPECT_EQ(api.service, "backend@file");
  ASSERT_TRUE(api.tls.has_value());
  EXPECT_THAT(api.errors, IsEmpty());
  const HttpRouter& dash = cfg.http.routers.at("dash@file");
  EXPECT_EQ(dash.service, "api@internal");
  EXPECT_EQ(dash.rule_syntax, "v2");
  EXPECT_EQ(dash.priority, 0);
  EXPECT_FALSE(dash.tls.has_value());
}

TEST(DynamicConfig, BadObjectsKeepTheirErrorsOthersDecode) {
  auto cfg = decode("http:\n"
                    "  routers:\n"
                    "    good: {rule: Path(`/`), service: s}\n"
                    "    bad:\n"
                    "      rule: Path(`/`)\n"
                    "      priority: high\n"
                    "      servise: s\n"
                    "    a@b: {rule: Path(`/`), service: s}\n"
                    "    scalar: nope\n"
                    "    huge: {rule: Path(`/`), service: s, priority: 9223372036854775000}\n"
                    "  services:\n"
                    "    s:\n"
                    "      loadBalancer:\n"
                    "        servers: [{url: \"http://127.0.0.1:8080\"}]\n"
                    "    two:\n"
                    "      loadBalancer: {servers: []}\n"
                    "      weighted: {services: []}\n"
                    "    none: {}\n"
                    "  middlewares:\n"
                    "    ok: {addPrefix: {prefix: /api}}\n"
                    "    zero: {}\n"
                    "    double: {addPrefix: {prefix: /a}, stripPrefix: {prefixes: [/b]}}\n");
  EXPECT_THAT(cfg.errors, IsEmpty());
  EXPECT_THAT(cfg.http.routers.at("good@file").errors, IsEmpty());
  EXPECT_THAT(cfg.http.routers.at("bad@file").errors,
              ElementsAre("dyn.yml:6: http.routers.bad@file.priority: invalid integer \"high\"",
                          "dyn.yml:4: http.routers.bad@file.service: is required",
                          "dyn.yml:7: http.routers.bad@file.servise: unknown key"));
  EXPECT_THAT(cfg.http.routers.at("a@b@file").errors,
              ElementsAre(HasSubstr("name must not contain '@'")));
  EXPECT_THAT(cfg.http.routers.at("scalar@file").errors,
              ElementsAre("dyn.yml:9: http.routers.scalar@file: expected a map, got a value"));
  EXPECT_THAT(cfg.http.routers.at("huge@file").errors,
              ElementsAre(HasSubstr("priority: must be at most")));
  EXPECT_THAT(cfg.http.services.at("s@file").errors, IsEmpty());
  EXPECT_THAT(cfg.http.services.at("two@file").errors,
              ElementsAre("dyn.yml:15: http.services.two@file: must define only one kind of "
                          "service, found loadBalancer, weighted"));
  EXPECT_EQ(cfg.http.services.at("none@file").kind, ServiceKind::kNone);
  EXPECT_THAT(cfg.http.services.at("none@file").errors,
              ElementsAre(HasSubstr("must define one of loadBalancer")));
  const HttpMiddleware& ok = cfg.http.middlewares.at("ok@file");
  EXPECT_EQ(ok.type, "addPrefix");
  EXPECT_EQ(ok.options.find("prefix")->text(), "/api");
  EXPECT_THAT(ok.errors, IsEmpty());
  EXPECT_THAT(cfg.http.middlewares.at("zero@file").errors,
              ElementsAre(HasSubstr("must define a middleware type")));
  EXPECT_THAT(cfg.http.middlewares.at("double@file").errors,
              ElementsAre(HasSubstr("only one middleware type, found addPrefix, stripPrefix")));
}

TEST(DynamicConfig, ServiceKinds) {
  auto cfg = decode("http:\n"
                    "  services:\n"
                    "    lb:\n"
                    "      loadBalancer:\n"
                    "        servers:\n"
                    "          - url: http://a:80\n"
                    "          - url: http://b:80\n"
                    "            weight: 3\n"
                    "            preservePath: true\n"
                    "        strategy: P2C\n"
                    "        passHostHeader: false\n"
                    "        serversTransport: tls-upstream\n"
                    "        healthCheck: {path: /health, interval: 10s}\n"
                    "        sticky: {cookie: {name: s}}\n"
                    "    w:\n"
                    "      weighted:\n"
                    "        services: [{name: lb, weight: 2}, {name: other@docker}]\n"
                    "    m:\n"
                    "      mirroring:\n"
                    "        service: lb\n"
                    "        mirrors: [{name: w, percent: 10}]\n"
                    "    f:\n"
                    "      failover: {service: lb, fallback: w}\n"
                    "    h:\n"
                    "      highestRandomWeight: {services: [{name: lb}]}\n"
                    "    badlb:\n"
                    "      loadBalancer:\n"
                    "        servers: [{weight: -1}]\n"
                    "        strategy: random\n"
                    "    badm:\n"
                    "      mirroring: {service: lb, mirrors: [{name: w, percent: 150}]}\n");
  const auto& lb = cfg.http.services.at("lb@file");
  ASSERT_EQ(lb.kind, ServiceKind::kLoadBalancer);
  ASSERT_TRUE(lb.load_balancer.has_value());
  ASSERT_EQ(lb.load_balancer->servers.size(), 2u);
  EXPECT_EQ(lb.load_balancer->servers[0].weight, 1);
  EXPECT_EQ(lb.load_balancer->servers[1].weight, 3);
  EXPECT_TRUE(lb.load_balancer->servers[1].preserve_path);
  EXPECT_EQ(lb.load_balancer->servers[1].location.line, 7);
  EXPECT_EQ(lb.load_balancer->strategy, "p2c");
  EXPECT_FALSE(lb.load_balancer->pass_host_header);
  EXPECT_EQ(lb.load_balancer->servers_transport, "tls-upstream@file");
  ASSERT_TRUE(lb.load_balancer->health_check.has_value());
  EXPECT_EQ(lb.load_balancer->health_check->find("path")->text(), "/health");
  EXPECT_TRUE(lb.load_balancer->sticky.has_value());
  EXPECT_THAT(lb.errors, IsEmpty());

  const auto& w = cfg.http.services.at("w@file");
  ASSERT_EQ(w.kind, ServiceKind::kWeighted);
  ASSERT_EQ(w.weighted->services.size(), 2u);
  EXPECT_EQ(w.weighted->services[0].name, "lb@file");
  EXPECT_EQ(w.weighted->services[0].weight, 2);
  EXPECT_EQ(w.weighted->services[1].name, "other@docker");
  EXPECT_EQ(w.weighted->services[1].weight, 1);

  const auto& m = cfg.http.services.at("m@file");
  ASSERT_EQ(m.kind, ServiceKind::kMirroring);
  EXPECT_EQ(m.mirroring->service, "lb@file");
  EXPECT_TRUE(m.mirroring->mirror_body);
  EXPECT_EQ(m.mirroring->max_body_size, -1);
  EXPECT_EQ(m.mirroring->mirrors[0].name, "w@file");
  EXPECT_EQ(m.mirroring->mirrors[0].percent, 10);

  const auto& f = cfg.http.services.at("f@file");
  EXPECT_EQ(f.failover->service, "lb@file");
  EXPECT_EQ(f.failover->fallback, "w@file");
  const auto& h = cfg.http.services.at("h@file");
  EXPECT_EQ(h.kind, ServiceKind::kHighestRandomWeight);
  EXPECT_EQ(h.weighted->services[0].name, "lb@file");

  EXPECT_THAT(
      cfg.http.services.at("badlb@file").errors,
      ElementsAre("dyn.yml:28: http.services.badlb@file.loadBalancer.servers[0].url: is required",
                  "dyn.yml:28: http.services.badlb@file.loadBalancer.servers[0].weight: must not "
                  "be negative",
                  "dyn.yml:29: http.services.badlb@file.loadBalancer.strategy: unknown strategy "
                  "\"random\" (wrr, p2c, hrw, leasttime)"));
  EXPECT_THAT(cfg.http.services.at("badm@file").errors,
              ElementsAre(HasSubstr("mirrors[0].percent: must be between 0 and 100")));
}

TEST(DynamicConfig, ServersTransports) {
  auto cfg = decode("http:\n"
                    "  serversTransports:\n"
                    "    st:\n"
                    "      serverName: backend.local\n"
                    "      insecureSkipVerify: true\n"
                    "      rootCAs: [/ca.pem]\n"
                    "      certificates: [{certFile: /c.pem, keyFile: /k.pem}]\n"
                    "      maxIdleConnsPerHost: 10\n"
                    "      forwardingTimeouts: {dialTimeout: 1s, readIdleTimeout: 5s}\n"
                    "      disableHTTP2: true\n"
                    "    defaults: {}\n");
  const auto& st = cfg.http.servers_transports.at("st@file");
  EXPECT_THAT(st.errors, IsEmpty());
  EXPECT_EQ(st.server_name, "backend.local");
  EXPECT_TRUE(st.insecure_skip_verify);
  ASSERT_EQ(st.certificates.size(), 1u);
  EXPECT_EQ(st.certificates[0].key_file, "/k.pem");
  EXPECT_EQ(st.max_idle_conns_per_host, 10);
  EXPECT_EQ(st.forwarding_timeouts.dial_timeout, 1s);
  EXPECT_EQ(st.forwarding_timeouts.read_idle_timeout, 5s);
  EXPECT_EQ(st.forwarding_timeouts.idle_conn_timeout, 90s);
  EXPECT_TRUE(st.disable_http2);
  const auto& d = cfg.http.servers_transports.at("defaults@file");
  EXPECT_EQ(d.max_idle_conns_per_host, 200);
  EXPECT_EQ(d.forwarding_timeouts.dial_timeout, 30s);
  EXPECT_EQ(d.forwarding_timeouts.ping_timeout, 15s);
}

TEST(DynamicConfig, DocumentLevelErrorsAndRawSections) {
  auto cfg = decode("http:\n"
                    "  routers: [a]\n"
                    "  services:\n"
                    "    s: {loadBalancer: {servers: [{url: \"http://x\"}]}}\n"
                    "  routerz: {}\n"
                    "tcp:\n"
                    "  routers:\n"
                    "    t: {rule: HostSNI(`*`), service: ts}\n"
                    "tls:\n"
                    "  certificates: [{certFile: a, keyFile: b}]\n"
                    "htp: {}\n");
  EXPECT_THAT(cfg.errors,
              ElementsAre("dyn.yml:2: http.routers: expected a section (a map), got a list",
                          "dyn.yml:5: http.routerz: unknown key", "dyn.yml:11: htp: unknown key"));
  EXPECT_EQ(cfg.http.services.size(), 1u);
  ASSERT_EQ(cfg.tcp.routers.count("t@file"), 1u);
  EXPECT_EQ(cfg.tcp.routers.at("t@file").service, "ts@file");
  ASSERT_EQ(cfg.tls.certificates.size(), 1u);
  EXPECT_EQ(cfg.tls.certificates[0].files.cert_file, "a");
  EXPECT_TRUE(cfg.udp.routers.empty());

  auto list_root = decode("- a\n- b\n");
  EXPECT_THAT(list_root.errors, ElementsAre("dyn.yml:1: expected a map, got a list"));
  auto http_list = decode("http: [1]\n");
  EXPECT_THAT(http_list.errors, ElementsAre(HasSubstr("http: expected a section")));
  EXPECT_THAT(decode("").errors, IsEmpty());
}

TEST(DynamicConfig, MergeAcrossProviders) {
  auto tree_a = parse_yaml("http:\n  routers:\n    r: {rule: Path(`/`), service: s}\n"
                           "  services:\n    s: {loadBalancer: {servers: []}}\n",
                           "a.yml");
  auto tree_b = parse_yaml("http:\n  routers:\n    r: {rule: Path(`/b`), service: s@file}\n"
                           "tcp: {routers: {}}\n",
                           "b.yml");
  auto merged = decode_providers({{"file", *tree_a}, {"docker", *tree_b}});
  EXPECT_THAT(merged.errors, IsEmpty());
  ASSERT_EQ(merged.http.routers.size(), 2u);
  EXPECT_EQ(merged.http.routers.at("r@docker").service, "s@file");
  EXPECT_EQ(merged.http.routers.at("r@file").service, "s@file");
  EXPECT_TRUE(merged.tcp.routers.empty());

  auto twice = merge({decode_dynamic(*tree_a, "file"), decode_dynamic(*tree_a, "file")});
  EXPECT_EQ(twice.http.routers.size(), 1u);
  EXPECT_THAT(twice.errors, ElementsAre("http.routers.r@file: defined by more than one source",
                                        "http.services.s@file: defined by more than one source"));
}

TEST(DynamicConfig, FlatFormWithIndexedLists) {
  Node tree = from_flat({{"http.routers.r.rule", "Path(`/`)"},
                         {"http.routers.r.service", "s"},
                         {"http.routers.r.entryPoints", "web,websecure"},
                         {"http.services.s.loadBalancer.servers.1.url", "http://b"},
                         {"http.services.s.loadBalancer.servers.0.url", "http://a"}});
  auto cfg = decode_dynamic(tree, "kv");
  EXPECT_THAT(cfg.errors, IsEmpty());
  EXPECT_THAT(cfg.http.routers.at("r@kv").entry_points, ElementsAre("web", "websecure"));
  const auto& servers = cfg.http.services.at("s@kv").load_balancer->servers;
  ASSERT_EQ(servers.size(), 2u);
  EXPECT_EQ(servers[0].url, "http://a");
}

TEST(DynamicConfig, TlsSection) {
  auto cfg = decode("http:\n"
                    "  routers:\n"
                    "    r:\n"
                    "      rule: Host(`a.test`)\n"
                    "      service: s\n"
                    "      tls:\n"
                    "        options: mtls\n"
                    "        certResolver: le\n"
                    "        domains: [{main: a.test, sans: [b.test]}]\n"
                    "    bare: {rule: Path(`/`), service: s, tls: true}\n"
                    "tls:\n"
                    "  certificates:\n"
                    "    - certFile: /c.pem\n"
                    "      keyFile: /k.pem\n"
                    "      stores: [default]\n"
                    "    - {certFile: /d.pem}\n"
                    "  options:\n"
                    "    default: {minVersion: VersionTLS13, sniStrict: true}\n"
                    "    mtls:\n"
                    "      maxVersion: VersionTLS12\n"
                    "      cipherSuites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n"
                    "      curvePreferences: [CurveP256]\n"
                    "      clientAuth: {caFiles: [/ca.pem], clientAuthType: VerifyClientCertIfGiven}\n"
                    "      alpnProtocols: [http/1.1]\n"
                    "      disableSessionTickets: true\n"
                    "    broken: {minVersion: 12, bogus: 1}\n"
                    "  stores:\n"
                    "    default:\n"
                    "      defaultCertificate: {certFile: /dc.pem, keyFile: /dk.pem}\n"
                    "      defaultGeneratedCert: {resolver: le, domain: {main: x.test}}\n");
  EXPECT_THAT(cfg.errors, IsEmpty());
  const auto& r = cfg.http.routers.at("r@file");
  ASSERT_TRUE(r.tls.has_value());
  EXPECT_EQ(r.tls->options, "mtls");  // qualified by the builder, with "default" kept
  EXPECT_EQ(r.tls->cert_resolver, "le");
  ASSERT_EQ(r.tls->domains.size(), 1u);
  EXPECT_EQ(r.tls->domains[0].main, "a.test");
  EXPECT_THAT(r.tls->domains[0].sans, ElementsAre("b.test"));
  EXPECT_TRUE(cfg.http.routers.at("bare@file").tls.has_value());

  ASSERT_EQ(cfg.tls.certificates.size(), 2u);
  EXPECT_EQ(cfg.tls.certificates[0].files.key_file, "/k.pem");
  EXPECT_THAT(cfg.tls.certificates[0].stores, ElementsAre("default"));
  EXPECT_EQ(cfg.tls.certificates[0].path, "tls.certificates[0]");
  EXPECT_THAT(cfg.tls.certificates[0].errors, IsEmpty());
  EXPECT_THAT(cfg.tls.certificates[1].errors,
              ElementsAre(HasSubstr("tls.certificates[1].keyFile: is required")));

  ASSERT_EQ(cfg.tls.options.count("default"), 1u);  // "default" is not qualified
  EXPECT_EQ(cfg.tls.options.at("default").spec.min_version, "VersionTLS13");
  EXPECT_TRUE(cfg.tls.options.at("default").spec.sni_strict);
  const auto& m = cfg.tls.options.at("mtls@file").spec;
  EXPECT_EQ(m.max_version, "VersionTLS12");
  EXPECT_THAT(m.cipher_suites, ElementsAre("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"));
  EXPECT_THAT(m.curve_preferences, ElementsAre("CurveP256"));
  EXPECT_THAT(m.client_auth.ca_files, ElementsAre("/ca.pem"));
  EXPECT_EQ(m.client_auth.client_auth_type, "VerifyClientCertIfGiven");
  ASSERT_TRUE(m.alpn_protocols.has_value());
  EXPECT_THAT(*m.alpn_protocols, ElementsAre("http/1.1"));
  EXPECT_TRUE(m.disable_session_tickets);
  EXPECT_FALSE(cfg.tls.options.at("default").spec.alpn_protocols.has_value());
  EXPECT_THAT(cfg.tls.options.at("broken@file").errors,
              ElementsAre(HasSubstr("tls.options.broken@file.bogus: unknown key")));

  const auto& store = cfg.tls.stores.at("default");
  ASSERT_TRUE(store.default_certificate.has_value());
  EXPECT_EQ(store.default_certificate->cert_file, "/dc.pem");
  ASSERT_TRUE(store.default_generated_cert.has_value());
  EXPECT_EQ(store.default_generated_cert->domain.main, "x.test");

  // A `default` from two providers keeps the first and is an error.
  auto a = decode("tls: {options: {default: {sniStrict: true}}}\n", "file");
  auto b = decode("tls: {options: {default: {}}, certificates: [{certFile: x, keyFile: y}]}\n", "docker");
  auto merged = merge({a, b});
  EXPECT_THAT(merged.errors, ElementsAre("tls.options.default: defined by more than one source"));
  EXPECT_TRUE(merged.tls.options.at("default").spec.sni_strict);
  EXPECT_EQ(merged.tls.certificates.size(), 1u);
}

TEST(Qualify, Names) {
  EXPECT_EQ(qualify("a", "file"), "a@file");
  EXPECT_EQ(qualify("a@docker", "file"), "a@docker");
  EXPECT_EQ(qualify("", "file"), "");
}

} // namespace
} // namespace turnpike::config
