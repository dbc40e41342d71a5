#include "config/static_config.h"

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace turnpike::config {
namespace {

using namespace std::chrono_literals;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A fresh temporary directory per test, removed at the end.
class TempDir {
public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("static_config_test_" + std::to_string(::getpid()) + "_" + std::to_string(next_++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string write(const std::string& name, const std::string& text) const {
    std::string p = (path_ / name).string();
    std::ofstream(p) << text;
    return p;
  }
  std::string str() const { return path_.string(); }

private:
  static inline int next_ = 0;
  std::filesystem::path path_;
};

StaticConfig decode_yaml(const std::string& text, std::vector<std::string>* warnings = nullptr) {
  auto tree = parse_yaml(text, "turnpike.yml");
  EXPECT_TRUE(tree.has_value());
  std::vector<std::string> w;
  auto cfg = decode_static_config(*tree, w);
  EXPECT_TRUE(cfg.has_value()) << (cfg ? "" : cfg.error().message);
  if (warnings)
    *warnings = w;
  return cfg ? *cfg : StaticConfig{};
}

std::string decode_error(const std::string& text) {
  auto tree = parse_yaml(text, "turnpike.yml");
  EXPECT_TRUE(tree.has_value());
  std::vector<std::string> w;
  auto cfg = decode_static_config(*tree, w);
  EXPECT_FALSE(cfg.has_value());
  return cfg ? "" : cfg.error().message;
}

TEST(ListenAddress, Forms) {
  struct Case {
    const char* text;
    const char* host;
    uint16_t port;
    Protocol proto;
  } cases[] = {
      {":80", "", 80, Protocol::kTcp},
      {"0.0.0.0:8080/tcp", "0.0.0.0", 8080, Protocol::kTcp},
      {"[::1]:443", "::1", 443, Protocol::kTcp},
      {"localhost:53/udp", "localhost", 53, Protocol::kUdp},
      {":0", "", 0, Protocol::kTcp},
      {":1/UDP", "", 1, Protocol::kUdp},
  };
  for (const auto& c : cases) {
    auto a = parse_listen_address(c.text);
    ASSERT_TRUE(a.has_value()) << c.text;
    EXPECT_EQ(a->host, c.host) << c.text;
    EXPECT_EQ(a->port, c.port) << c.text;
    EXPECT_EQ(a->protocol, c.proto) << c.text;
  }
  for (const char* bad : {"80", ":http", ":70000", "::1:80", "[::1]", ":80/sctp", "[::1]80", ""})
    EXPECT_FALSE(parse_listen_address(bad).has_value()) << bad;
}

TEST(StaticConfig, DefaultsFromEmptySections) {
  StaticConfig cfg = decode_yaml("entryPoints:\n"
                                 "  web:\n"
                                 "    address: \":8080\"\n"
                                 "providers:\n"
                                 "  file:\n"
                                 "    filename: dyn.yml\n"
                                 "accessLog: {}\n");
  ASSERT_EQ(cfg.entry_points.size(), 1u);
  const EntryPoint& web = cfg.entry_points.at("web");
  EXPECT_EQ(web.listen.port, 8080);
  EXPECT_EQ(web.transport.responding_timeouts.read_timeout, 60s);
  EXPECT_EQ(web.transport.responding_timeouts.write_timeout, 0s);
  EXPECT_EQ(web.transport.responding_timeouts.idle_timeout, 180s);
  EXPECT_EQ(web.transport.life_cycle.grace_timeout, 10s);
  EXPECT_EQ(web.http.max_header_bytes, 1048576);
  EXPECT_TRUE(web.http.sanitize_path);
  EXPECT_FALSE(web.http.encoded_characters.allow_encoded_slash);
  EXPECT_EQ(web.http.underscore_headers_strategy, UnderscoreHeadersStrategy::kKeep);
  EXPECT_EQ(web.http2.max_concurrent_streams, 250);
  EXPECT_EQ(web.udp_timeout, 3s);
  EXPECT_FALSE(web.proxy_protocol.has_value());
  EXPECT_FALSE(web.http.tls.has_value());
  EXPECT_EQ(cfg.providers.providers_throttle_duration, 100ms);  // Traefik: 2s (see static.md)
  ASSERT_TRUE(cfg.providers.file.has_value());
  EXPECT_TRUE(cfg.providers.file->watch);
  EXPECT_EQ(cfg.log.level, "ERROR");
  ASSERT_TRUE(cfg.access_log.has_value());
  EXPECT_EQ(cfg.access_log->format, "common");
  EXPECT_EQ(cfg.access_log->fields.headers_default_mode, FieldMode::kDrop);
  EXPECT_EQ(cfg.servers_transport.max_idle_conns_per_host, 200);
  EXPECT_EQ(cfg.servers_transport.forwarding_timeouts.dial_timeout, 30s);
  EXPECT_EQ(cfg.servers_transport.forwarding_timeouts.idle_conn_timeout, 90s);
  EXPECT_EQ(cfg.core.workers, 0);
}

TEST(StaticConfig, NoEntryPointMeansHttpOn80) {
  StaticConfig cfg = decode_yaml("log:\n  level: debug\n");
  ASSERT_EQ(cfg.entry_points.count("http"), 1u);
  EXPECT_EQ(cfg.entry_points.at("http").listen.port, 80);
  EXPECT_EQ(cfg.log.level, "DEBUG");
  EXPECT_FALSE(cfg.access_log.has_value());
  EXPECT_FALSE(cfg.providers.file.has_value());
}

TEST(StaticConfig, EveryEntryPointOption) {
  StaticConfig cfg =
      decode_yaml("entryPoints:\n"
                  "  web:\n"
                  "    address: \"[::]:80\"\n"
                  "    asDefault: true\n"
                  "    reusePort: true\n"
                  "    transport:\n"
                  "      respondingTimeouts: {readTimeout: 5s, writeTimeout: 1m, idleTimeout: 0}\n"
                  "      lifeCycle: {requestAcceptGraceTimeout: 2s, graceTimeOut: 30}\n"
                  "      keepAliveMaxRequests: 100\n"
                  "      keepAliveMaxTime: 1h\n"
                  "    forwardedHeaders:\n"
                  "      trustedIPs: [127.0.0.1/32, \"::1\"]\n"
                  "      connection: [X-Keep]\n"
                  "      notAppendXForwardedFor: true\n"
                  "      addXForwardedSchemeHeaders: true\n"
                  "    proxyProtocol:\n"
                  "      insecure: true\n"
                  "    http:\n"
                  "      redirections:\n"
                  "        entryPoint: {to: websecure}\n"
                  "      middlewares: [auth@file]\n"
                  "      tls:\n"
                  "        certResolver: le\n"
                  "        domains:\n"
                  "          - main: example.com\n"
                  "            sans: [a.example.com]\n"
                  "      maxHeaderBytes: 8192\n"
                  "      sanitizePath: false\n"
                  "      encodedCharacters: {allowEncodedSlash: true, allowEncodedHash: true}\n"
                  "      encodeQuerySemicolons: true\n"
                  "      underscoreHeadersStrategy: Reject\n"
                  "    http2: {maxConcurrentStreams: 10}\n"
                  "    udp: {timeout: 10s}\n"
                  "  websecure:\n"
                  "    address: :443\n");
  const EntryPoint& web = cfg.entry_points.at("web");
  EXPECT_EQ(web.listen.host, "::");
  EXPECT_TRUE(web.as_default);
  EXPECT_TRUE(web.reuse_port);
  EXPECT_EQ(web.transport.responding_timeouts.read_timeout, 5s);
  EXPECT_EQ(web.transport.responding_timeouts.write_timeout, 60s);
  EXPECT_EQ(web.transport.responding_timeouts.idle_timeout, 0s);
  EXPECT_EQ(web.transport.life_cycle.request_accept_grace_timeout, 2s);
  EXPECT_EQ(web.transport.life_cycle.grace_timeout, 30s);
  EXPECT_EQ(web.transport.keep_alive_max_requests, 100);
  EXPECT_EQ(web.transport.keep_alive_max_time, 1h);
  EXPECT_THAT(web.forwarded_headers.trusted_ips, ElementsAre("127.0.0.1/32", "::1"));
  EXPECT_THAT(web.forwarded_headers.connection, ElementsAre("X-Keep"));
  EXPECT_TRUE(web.forwarded_headers.not_append_x_forwarded_for);
  EXPECT_TRUE(web.forwarded_headers.add_x_forwarded_scheme_headers);
  ASSERT_TRUE(web.proxy_protocol.has_value());
  EXPECT_TRUE(web.proxy_protocol->insecure);
  ASSERT_TRUE(web.http.redirect.has_value());
  EXPECT_EQ(web.http.redirect->to, "websecure");
  EXPECT_EQ(web.http.redirect->scheme, "https");
  EXPECT_TRUE(web.http.redirect->permanent);
  EXPECT_EQ(web.http.redirect->priority, std::numeric_limits<int64_t>::max() - 1);
  EXPECT_THAT(web.http.middlewares, ElementsAre("auth@file"));
  ASSERT_TRUE(web.http.tls.has_value());
  EXPECT_EQ(web.http.tls->cert_resolver, "le");
  ASSERT_EQ(web.http.tls->domains.size(), 1u);
  EXPECT_THAT(web.http.tls->domains[0].sans, ElementsAre("a.example.com"));
  EXPECT_EQ(web.http.max_header_bytes, 8192);
  EXPECT_FALSE(web.http.sanitize_path);
  EXPECT_TRUE(web.http.encoded_characters.allow_encoded_slash);
  EXPECT_FALSE(web.http.encoded_characters.allow_encoded_percent);
  EXPECT_TRUE(web.http.encoded_characters.allow_encoded_hash);
  EXPECT_TRUE(web.http.encode_query_semicolons);
  EXPECT_EQ(web.http.underscore_headers_strategy, UnderscoreHeadersStrategy::kReject);
  EXPECT_EQ(web.http2.max_concurrent_streams, 10);
  EXPECT_EQ(web.udp_timeout, 10s);
}

TEST(StaticConfig, OtherSections) {
  StaticConfig cfg = decode_yaml(
      "providers:\n"
      "  providersThrottleDuration: 500ms\n"
      "  file: {directory: /etc/dyn, watch: false}\n"
      "log: {level: info, format: json, filePath: /var/log/t.log, noColor: true}\n"
      "accessLog:\n"
      "  filePath: /var/log/access.log\n"
      "  format: genericclf\n"
      "  bufferingSize: 100\n"
      "  filters: {statusCodes: [\"200\", \"300-302\"], retryAttempts: true, minDuration: 10ms}\n"
      "  fields:\n"
      "    defaultMode: drop\n"
      "    names: {ClientUsername: redact}\n"
      "    headers: {defaultMode: keep, names: {Authorization: drop}}\n"
      "serversTransport:\n"
      "  insecureSkipVerify: true\n"
      "  rootCAs: [/ca.pem]\n"
      "  maxIdleConnsPerHost: 7\n"
      "  forwardingTimeouts: {dialTimeout: 1s, responseHeaderTimeout: 2s, idleConnTimeout: 3s}\n"
      "tcpServersTransport:\n"
      "  dialTimeout: 4s\n"
      "  tls: {insecureSkipVerify: true, rootCAs: [/tcp-ca.pem]}\n"
      "core: {workers: 4, defaultRuleSyntax: v2}\n");
  EXPECT_EQ(cfg.providers.providers_throttle_duration, 500ms);
  EXPECT_EQ(cfg.providers.file->directory, "/etc/dyn");
  EXPECT_FALSE(cfg.providers.file->watch);
  EXPECT_EQ(cfg.log.level, "INFO");
  EXPECT_EQ(cfg.log.format, "json");
  EXPECT_TRUE(cfg.log.no_color);
  EXPECT_EQ(cfg.access_log->format, "genericCLF");
  EXPECT_EQ(cfg.access_log->buffering_size, 100);
  EXPECT_THAT(cfg.access_log->status_codes, ElementsAre(std::pair{200, 200}, std::pair{300, 302}));
  EXPECT_TRUE(cfg.access_log->retry_attempts);
  EXPECT_EQ(cfg.access_log->min_duration, 10ms);
  EXPECT_EQ(cfg.access_log->fields.default_mode, FieldMode::kDrop);
  EXPECT_EQ(cfg.access_log->fields.names.at("ClientUsername"), FieldMode::kRedact);
  EXPECT_EQ(cfg.access_log->fields.headers_default_mode, FieldMode::kKeep);
  EXPECT_EQ(cfg.access_log->fields.header_names.at("Authorization"), FieldMode::kDrop);
  EXPECT_TRUE(cfg.servers_transport.insecure_skip_verify);
  EXPECT_THAT(cfg.servers_transport.root_cas, ElementsAre("/ca.pem"));
  EXPECT_EQ(cfg.servers_transport.max_idle_conns_per_host, 7);
  EXPECT_EQ(cfg.servers_transport.forwarding_timeouts.response_header_timeout, 2s);
  EXPECT_EQ(cfg.tcp_servers_transport.dial_timeout, 4s);
  ASSERT_TRUE(cfg.tcp_servers_transport.tls);
  EXPECT_TRUE(cfg.tcp_servers_transport.tls->insecure_skip_verify);
  EXPECT_THAT(cfg.tcp_servers_transport.tls->root_cas, ElementsAre("/tcp-ca.pem"));
  EXPECT_EQ(cfg.core.workers, 4);
  EXPECT_EQ(cfg.core.default_rule_syntax, "v2");
}

TEST(StaticConfig, UnsupportedSectionsAreWarnings) {
  std::vector<std::string> warnings;
  decode_yaml("global:\n"
              "  checkNewVersion: true\n"
              "api:\n"
              "  dashboard: true\n"
              "ping: {}\n"
              "metrics: false\n"
              "certificatesResolvers:\n"
              "  ts: {tailscale: {}}\n"
              "providers:\n"
              "  consul: {}\n"
              "entryPoints:\n"
              "  web:\n"
              "    address: :80\n"
              "    http3: {}\n",
              &warnings);
  EXPECT_THAT(warnings,
              ElementsAre("turnpike.yml:14: entryPoints.web.http3: not supported yet, ignored",
                          "turnpike.yml:10: providers.consul: not supported yet, ignored",
                          "turnpike.yml:8: certificatesResolvers.ts.tailscale: not supported yet, ignored",
                          "turnpike.yml:1: global: not supported yet, ignored",
                          "turnpike.yml:3: api: not supported yet, ignored",
                          "turnpike.yml:5: ping: not supported yet, ignored"));
}

TEST(StaticConfig, KvProviders) {
  auto cfg = decode_yaml("providers:\n"
                         "  etcd:\n"
                         "    endpoints: [127.0.0.1:2379, 10.0.0.2:2379]\n"
                         "    username: u\n"
                         "    password: p\n"
                         "    tls: {ca: /ca.pem}\n"
                         "  redis: {endpoints: [r:6379], rootKey: gw/, db: 2}\n"
                         "  zooKeeper: {endpoints: [z:2181]}\n");
  ASSERT_TRUE(cfg.providers.etcd);
  EXPECT_THAT(cfg.providers.etcd->endpoints, ElementsAre("127.0.0.1:2379", "10.0.0.2:2379"));
  EXPECT_EQ(cfg.providers.etcd->root_key, "traefik");
  EXPECT_EQ(cfg.providers.etcd->username, "u");
  EXPECT_EQ(cfg.providers.etcd->tls->ca, "/ca.pem");
  ASSERT_TRUE(cfg.providers.redis);
  EXPECT_EQ(cfg.providers.redis->root_key, "gw");
  EXPECT_EQ(cfg.providers.redis->db, 2);
  ASSERT_TRUE(cfg.providers.zookeeper);
  EXPECT_THAT(cfg.providers.zookeeper->endpoints, ElementsAre("z:2181"));
  EXPECT_THAT(decode_error("providers: {etcd: {rootKey: x}}\n"),
              HasSubstr("providers.etcd.endpoints: at least one is required"));
  EXPECT_THAT(decode_error("providers: {zooKeeper: {endpoints: [z:1], tls: {ca: x}}}\n"),
              HasSubstr("providers.zooKeeper.tls"));
}

TEST(StaticConfig, DiscoveryProviders) {
  auto cfg = decode_yaml("providers:\n"
                         "  http:\n"
                         "    endpoint: https://cfg.test/x\n"
                         "    pollInterval: 250ms\n"
                         "    headers: {X-Token: t}\n"
                         "    tls: {ca: /ca.pem, insecureSkipVerify: true}\n"
                         "  rest: {insecure: true}\n"
                         "  docker:\n"
                         "    endpoint: tcp://10.0.0.1:2376\n"
                         "    exposedByDefault: false\n"
                         "    constraints: Label(`a`,`b`)\n"
                         "    labelPrefix: edge\n"
                         "  kubernetesIngress: {namespaces: [a, b], ingressClass: traefik}\n"
                         "  kubernetesCRD: {allowCrossNamespace: true}\n");
  ASSERT_TRUE(cfg.providers.http);
  EXPECT_EQ(cfg.providers.http->endpoint, "https://cfg.test/x");
  EXPECT_EQ(cfg.providers.http->poll_interval, 250ms);
  EXPECT_EQ(cfg.providers.http->poll_timeout, 5s);
  EXPECT_EQ(cfg.providers.http->headers.at("X-Token"), "t");
  ASSERT_TRUE(cfg.providers.http->tls);
  EXPECT_TRUE(cfg.providers.http->tls->insecure_skip_verify);
  ASSERT_TRUE(cfg.providers.rest);
  // rest.insecure creates the `traefik` entrypoint on :8080 (Traefik), next to the default one.
  EXPECT_EQ(cfg.entry_points.count("traefik"), 1u);
  EXPECT_EQ(cfg.entry_points.at("traefik").listen.port, 8080);
  EXPECT_EQ(cfg.entry_points.count("http"), 1u);
  ASSERT_TRUE(cfg.providers.docker);
  EXPECT_FALSE(cfg.providers.docker->exposed_by_default);
  EXPECT_EQ(cfg.providers.docker->label_prefix, "edge");
  EXPECT_EQ(cfg.providers.docker->default_rule, "Host(`{{ normalize .Name }}`)");
  ASSERT_TRUE(cfg.providers.kubernetes_ingress);
  EXPECT_EQ(cfg.providers.kubernetes_ingress->namespaces.size(), 2u);
  ASSERT_TRUE(cfg.providers.kubernetes_crd);
  EXPECT_TRUE(cfg.providers.kubernetes_crd->allow_cross_namespace);
}

TEST(StaticConfig, KubernetesGatewayStatusAddressAndNativeLb) {
  auto cfg = decode_yaml("providers:\n"
                         "  kubernetesGateway:\n"
                         "    nativeLBByDefault: true\n"
                         "    statusAddress: {service: {name: traefik, namespace: infra}}\n");
  ASSERT_TRUE(cfg.providers.kubernetes_gateway);
  EXPECT_TRUE(cfg.providers.kubernetes_gateway->native_lb_by_default);
  ASSERT_TRUE(cfg.providers.kubernetes_gateway->status_address);
  EXPECT_EQ(cfg.providers.kubernetes_gateway->status_address->service_name, "traefik");
  EXPECT_EQ(cfg.providers.kubernetes_gateway->status_address->service_namespace, "infra");
  EXPECT_THAT(
      decode_error("providers: {kubernetesGateway: {statusAddress: {service: {name: x}}}}\n"),
      HasSubstr("providers.kubernetesGateway.statusAddress: needs ip, hostname or service"));
}

TEST(StaticConfig, AcmeResolverDefaultsAndOptions) {
  auto cfg = decode_yaml("entryPoints:\n"
                         "  web: {address: ':80'}\n"
                         "certificatesResolvers:\n"
                         "  le:\n"
                         "    acme:\n"
                         "      email: a@b.c\n"
                         "      httpChallenge: {entryPoint: web}\n"
                         "  dns:\n"
                         "    acme:\n"
                         "      email: a@b.c\n"
                         "      caServer: https://ca/dir\n"
                         "      storage: /var/dns.json\n"
                         "      keyType: ec384\n"
                         "      eab: {kid: k1, hmacEncoded: c2VjcmV0}\n"
                         "      certificatesDuration: 168\n"
                         "      preferredChain: ISRG Root X1\n"
                         "      caCertificates: [/a.pem, /b.pem]\n"
                         "      caServerName: ca.internal\n"
                         "      clientTimeout: 10s\n"
                         "      insecureStoragePermissions: true\n"
                         "      dnsChallenge:\n"
                         "        provider: rfc2136\n"
                         "        resolvers: [127.0.0.1:5353]\n"
                         "        propagation: {delayBeforeChecks: 2s, disableANSChecks: true}\n");
  ASSERT_EQ(cfg.certificates_resolvers.size(), 2u);
  const auto& le = *cfg.certificates_resolvers.at("le").acme;
  EXPECT_EQ(le.ca_server, "https://acme-v02.api.letsencrypt.org/directory");
  EXPECT_EQ(le.storage, "acme.json");
  EXPECT_EQ(le.key_type, "RSA4096");
  EXPECT_EQ(le.certificates_duration, 2160);
  ASSERT_TRUE(le.http_challenge);
  EXPECT_EQ(le.http_challenge->entry_point, "web");
  const auto& dns = *cfg.certificates_resolvers.at("dns").acme;
  EXPECT_EQ(dns.key_type, "EC384");
  ASSERT_TRUE(dns.eab);
  EXPECT_EQ(dns.eab->kid, "k1");
  EXPECT_EQ(dns.certificates_duration, 168);
  EXPECT_EQ(dns.preferred_chain, "ISRG Root X1");
  EXPECT_THAT(dns.ca_certificates, ElementsAre("/a.pem", "/b.pem"));
  EXPECT_EQ(dns.client_timeout, 10s);
  EXPECT_TRUE(dns.insecure_storage_permissions);
  ASSERT_TRUE(dns.dns_challenge);
  EXPECT_EQ(dns.dns_challenge->provider, "rfc2136");
  EXPECT_EQ(dns.dns_challenge->delay_before_checks, 2s);
  EXPECT_TRUE(dns.dns_challenge->disable_ans_checks);
}

TEST(StaticConfig, AcmeResolverErrors) {
  EXPECT_THAT(decode_error("entryPoints: {web: {address: ':80'}}\n"
                           "certificatesResolvers: {le: {acme: {email: a@b.c, keyType: RSA1024,\n"
                           "  httpChallenge: {entryPoint: websecure}}}}\n"),
              AllOf(HasSubstr("certificatesResolvers.le.acme.keyType: invalid value \"RSA1024\""),
                    HasSubstr("certificatesResolvers.le.acme.httpChallenge.entryPoint: unknown "
                              "entry point \"websecure\"")));
  EXPECT_THAT(decode_error("certificatesResolvers: {le: {acme: {email: a@b.c}}}\n"),
              HasSubstr("one of httpChallenge, tlsChallenge or dnsChallenge is required"));
  EXPECT_THAT(decode_error("certificatesResolvers: {le: {acme: {dnsChallenge: {provider: route53}}}}\n"),
              HasSubstr("unsupported DNS provider \"route53\""));
  EXPECT_THAT(decode_error("certificatesResolvers: {le: {acme: {tlsChallenge: {}, eab: {kid: x}}}}\n"),
              HasSubstr("certificatesResolvers.le.acme.eab.hmacEncoded: is required"));
}

TEST(StaticConfig, DistributedAcmeStorage) {
  auto cfg = decode_yaml("entryPoints: {web: {address: ':80'}}\n"
                         "certificatesResolvers:\n"
                         "  e:\n"
                         "    distributedAcme:\n"
                         "      email: a@b.c\n"
                         "      httpChallenge: {entryPoint: web}\n"
                         "      storage:\n"
                         "        etcd:\n"
                         "          endpoints: [10.0.0.1:2379, 'https://10.0.0.2:2379']\n"
                         "          prefix: tp/acme/\n"
                         "          username: u\n"
                         "          password: p\n"
                         "          lockTTL: 30s\n"
                         "          tls: {ca: /ca.pem, cert: /c.pem, key: /k.pem}\n"
                         "  r:\n"
                         "    distributedAcme:\n"
                         "      tlsChallenge: {}\n"
                         "      storage: {redis: {endpoints: ['127.0.0.1:6379'], db: 3}}\n");
  const auto& e = *cfg.certificates_resolvers.at("e").acme;
  ASSERT_TRUE(e.shared_storage);
  EXPECT_EQ(e.shared_storage->backend, AcmeSharedStorage::Backend::kEtcd);
  EXPECT_THAT(e.shared_storage->endpoints, ElementsAre("10.0.0.1:2379", "https://10.0.0.2:2379"));
  EXPECT_EQ(e.shared_storage->prefix, "tp/acme");
  EXPECT_EQ(e.shared_storage->username, "u");
  EXPECT_EQ(e.shared_storage->lock_ttl, 30s);
  ASSERT_TRUE(e.shared_storage->tls);
  EXPECT_EQ(e.shared_storage->tls->cert, "/c.pem");
  ASSERT_TRUE(e.http_challenge);
  const auto& r = *cfg.certificates_resolvers.at("r").acme;
  ASSERT_TRUE(r.shared_storage);
  EXPECT_EQ(r.shared_storage->backend, AcmeSharedStorage::Backend::kRedis);
  EXPECT_EQ(r.shared_storage->db, 3);
  EXPECT_EQ(r.shared_storage->prefix, "turnpike/acme");
  EXPECT_EQ(r.shared_storage->lock_ttl, 10s);
  EXPECT_FALSE(cfg.certificates_resolvers.count("x"));

  EXPECT_THAT(decode_error("certificatesResolvers: {d: {distributedAcme: {tlsChallenge: {}}}}\n"),
              HasSubstr("certificatesResolvers.d.distributedAcme.storage: is required"));
  EXPECT_THAT(decode_error("certificatesResolvers: {d: {distributedAcme: {tlsChallenge: {},\n"
                           "  storage: {etcd: {endpoints: [a:1]}, redis: {endpoints: [b:2]}}}}}\n"),
              HasSubstr("exactly one of etcd or redis is required"));
  EXPECT_THAT(decode_error("certificatesResolvers: {d: {distributedAcme: {tlsChallenge: {},\n"
                           "  storage: {redis: {}}}}}\n"),
              HasSubstr("storage.redis.endpoints: at least one endpoint is required"));
  EXPECT_THAT(decode_error("certificatesResolvers: {d: {distributedAcme: {tlsChallenge: {},\n"
                           "  storage: {etcd: {endpoints: [a:1], lockTTL: 1s}}}}}\n"),
              HasSubstr("lockTTL: must be at least 2s"));
}

TEST(StaticConfig, ErrorsNameFileLineAndPath) {
  EXPECT_EQ(
      decode_error("entryPoints:\n"
                   "  web:\n"
                   "    address: :80\n"
                   "    transport:\n"
                   "      respondingTimeouts:\n"
                   "        readTimeout: abc\n"
                   "        writeTimout: 1s\n"),
      "turnpike.yml:6: entryPoints.web.transport.respondingTimeouts.readTimeout: invalid "
      "duration \"abc\"\n"
      "turnpike.yml:7: entryPoints.web.transport.respondingTimeouts.writeTimout: unknown key");
  struct Case {
    const char* yaml;
    const char* expect;
  } cases[] = {
      {"entryPoints:\n  web: {}\n", "turnpike.yml:2: entryPoints.web.address: is required"},
      {"entryPoints:\n  web: {address: \"80\"}\n", "missing port"},
      {"entryPoints:\n  web:\n    address: :80\n    http:\n      redirections:\n"
       "        entryPoint: {to: nowhere}\n",
       "turnpike.yml:6: entryPoints.web.http.redirections.entryPoint.to: unknown entry point "
       "\"nowhere\""},
      {"entryPoints:\n  web: true\n", "turnpike.yml:2: entryPoints.web.address: is required"},
      {"entryPoints:\n  web:\n    address: :80\n    forwardedHeaders: {trustedIPs: [x.y]}\n",
       "entryPoints.web.forwardedHeaders.trustedIPs: invalid IP or CIDR \"x.y\""},
      {"log: {level: loud}\n",
       "turnpike.yml:1: log.level: invalid value \"loud\" (TRACE, DEBUG, INFO, WARN, ERROR, FATAL, "
       "PANIC)"},
      {"accessLog: {filters: {statusCodes: [\"600\"]}}\n", "accessLog.filters.statusCodes"},
      {"providers: {file: {}}\n", "providers.file: filename or directory is required"},
      {"providers: {providersThrottleDuration: -1s}\n", "must not be negative"},
      {"core: {workers: x}\n", "core.workers: invalid integer \"x\""},
      {"entryPoint: {}\n", "turnpike.yml:1: entryPoint: unknown key"},
      {"serversTransport: {serverName: x}\n", "serversTransport.serverName: unknown key"},
      {"tcpServersTransport: {tls: {serverName: x}}\n",
       "tcpServersTransport.tls.serverName: unknown key"},
      {"entryPoints: [a]\n", "entryPoints: expected a section"},
  };
  for (const auto& c : cases)
    EXPECT_THAT(decode_error(c.yaml), HasSubstr(c.expect)) << c.yaml;
}

TEST(LoadStaticConfig, FileFoundInSearchDirsThenFlagsOverride) {
  TempDir dir;
  dir.write("traefik.yml", "entryPoints:\n  web:\n    address: :81\n");
  dir.write("turnpike.toml",
            "[entryPoints.web]\naddress = \":82\"\n[core]\nworkers = 8\n[api]\ndashboard = true\n");
  StaticLoadOptions opts;
  opts.search_dirs = {dir.str()};
  auto r = load_static_config({"--core.workers=1", "--validate", "--API", "version"},
                              {{"TURNPIKE_LOG_LEVEL", "DEBUG"}}, opts);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->source, "file " + dir.str() + "/turnpike.toml + command-line flags");
  EXPECT_EQ(r->config.entry_points.at("web").listen.port, 82);
  EXPECT_EQ(r->config.core.workers, 1);
  EXPECT_EQ(r->config.log.level, "ERROR"); // env ignored
  EXPECT_THAT(r->warnings, ElementsAre(HasSubstr("environment variables ignored"),
                                       HasSubstr("api: not supported yet")));
}

TEST(LoadStaticConfig, ExplicitConfigFile) {
  TempDir dir;
  std::string path = dir.write("custom.yaml", "entryPoints:\n  web:\n    address: :81\n");
  for (auto args : {std::vector<std::string>{"--configFile=" + path},
                    std::vector<std::string>{"--configfile", path}}) {
    auto r = load_static_config(args, {}, {});
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->config.entry_points.at("web").listen.port, 81);
  }
  auto missing = load_static_config({"--configFile=" + dir.str() + "/nope.yml"}, {}, {});
  ASSERT_FALSE(missing.has_value());
  EXPECT_THAT(missing.error().message, HasSubstr("nope.yml: cannot open"));
  std::string bad = dir.write("bad.yml", "entryPoints:\n  web:\n    address: [\n");
  auto parse_error = load_static_config({"--configFile=" + bad}, {}, {});
  ASSERT_FALSE(parse_error.has_value());
  EXPECT_THAT(parse_error.error().message, HasSubstr("bad.yml:"));
}

TEST(LoadStaticConfig, FlagsOnly) {
  TempDir empty;
  StaticLoadOptions opts;
  opts.search_dirs = {empty.str()};
  auto r = load_static_config({"--entryPoints.web.address=:8080",
                               "--entrypoints.web.forwardedheaders.trustedips=10.0.0.0/8,::1",
                               "--providers.file.filename=dyn.yml", "--providers.file.watch",
                               "-accesslog"},
                              {{"TRAEFIK_LOG_LEVEL", "INFO"}}, opts);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->source, "command-line flags");
  const auto& web = r->config.entry_points.at("web");
  EXPECT_EQ(web.listen.port, 8080);
  EXPECT_THAT(web.forwarded_headers.trusted_ips, ElementsAre("10.0.0.0/8", "::1"));
  EXPECT_TRUE(r->config.providers.file->watch);
  EXPECT_TRUE(r->config.access_log.has_value());
  EXPECT_EQ(r->config.log.level, "ERROR");

  auto bad = load_static_config({"--entryPoints.web.address=:8080",
                                 "--entryPoints.web.transport.respondingTimeouts.readTimeout=abc"},
                                {}, opts);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message,
            "command line: entryPoints.web.transport.respondingTimeouts.readTimeout: invalid "
            "duration \"abc\"");
  auto stray = load_static_config({"serve"}, {}, opts);
  ASSERT_FALSE(stray.has_value());
  EXPECT_EQ(stray.error().message, "unexpected argument \"serve\"");
}

TEST(LoadStaticConfig, EnvironmentOnly) {
  TempDir empty;
  StaticLoadOptions opts;
  opts.search_dirs = {empty.str()};
  auto r = load_static_config({"--validate"},
                              {{"TURNPIKE_ENTRYPOINTS_WEB_ADDRESS", ":8080"},
                               {"TRAEFIK_ENTRYPOINTS_WEB_ADDRESS", ":9090"},
                               {"TRAEFIK_LOG_LEVEL", "debug"},
                               {"TURNPIKE_PROVIDERS_FILE_DIRECTORY", "/dyn"},
                               {"TURNPIKE_BUILD_DIR", "/tmp/b"},
                               {"HOME", "/nonexistent"}},
                              opts);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->source, "environment");
  EXPECT_EQ(r->config.entry_points.at("web").listen.port, 8080);
  EXPECT_EQ(r->config.log.level, "DEBUG");
  EXPECT_EQ(r->config.providers.file->directory, "/dyn");
  EXPECT_THAT(r->warnings, IsEmpty());
}

TEST(LoadStaticConfig, NothingGivesDefaults) {
  TempDir empty;
  StaticLoadOptions opts;
  opts.search_dirs = {empty.str()};
  auto r = load_static_config({}, {}, opts);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->source, "defaults");
  EXPECT_EQ(r->config.entry_points.at("http").listen.port, 80);
}

} // namespace
} // namespace turnpike::config
