#include "config/dynamic_config.h"

#include <array>
#include <atomic>

#include "common/strings.h"
#include "config/decode_helpers.h"
#include "middleware/middleware.h"
#include "tcp/middleware.h"

namespace turnpike::config {
namespace {

using namespace decode;

// ---- routers -----------------------------------------------------------------------------------

void decode_router(Decoder& dec, std::string_view provider, HttpRouter& r) {
  decode_router_fields(dec, provider, r);
  if (const Node* tls = dec.section("tls")) {
    Decoder td(*tls, dec.child_path("tls"), dec.errors());
    auto& t = r.tls.emplace();
    td.get("options", t.options);
    td.get("certResolver", t.cert_resolver);
    decode_tls_domains(td, "domains", t.domains);
    td.finish();
  }
  keep_raw(dec, "observability", r.observability);
  dec.finish();
  if (r.rule.empty())
    dec.fail("rule", "is required");
}

// ---- services ----------------------------------------------------------------------------------

void decode_load_balancer(Decoder& dec, std::string_view provider, LoadBalancerConfig& lb) {
  decode_servers(dec, "url", &Server::url, lb.servers,
                 [](Decoder& sd, Server& s) { sd.get("preservePath", s.preserve_path); });
  if (dec.get("strategy", lb.strategy)) {
    static constexpr std::array<std::string_view, 4> kStrategies = {"wrr", "p2c", "hrw",
                                                                    "leasttime"};
    bool known = false;
    for (auto k : kStrategies)
      known |= iequals(k, lb.strategy);
    if (!known)
      dec.fail("strategy", "unknown strategy \"" + lb.strategy + "\" (wrr, p2c, hrw, leasttime)");
    lb.strategy = to_lower(lb.strategy);
  }
  dec.get("passHostHeader", lb.pass_host_header);
  get_ref(dec, "serversTransport", provider, lb.servers_transport, /*required=*/false);
  keep_raw(dec, "healthCheck", lb.health_check);
  keep_raw(dec, "passiveHealthCheck", lb.passive_health_check);
  keep_raw(dec, "sticky", lb.sticky);
  keep_raw(dec, "responseForwarding", lb.response_forwarding);
  keep_raw(dec, "retry", lb.retry);
  dec.finish();
}

void decode_weighted(Decoder& dec, std::string_view provider, WeightedConfig& w, bool sticky) {
  decode_children(dec, provider, w.services);
  if (sticky)
    keep_raw(dec, "sticky", w.sticky);
  keep_raw(dec, "healthCheck", w.health_check);
  dec.finish();
}

void decode_mirroring(Decoder& dec, std::string_view provider, MirroringConfig& m) {
  get_ref(dec, "service", provider, m.service, /*required=*/true);
  dec.get("mirrorBody", m.mirror_body);
  dec.get("maxBodySize", m.max_body_size);
  auto mirrors = dec.list("mirrors");
  for (size_t i = 0; i < mirrors.size(); ++i) {
    Mirror mirror;
    Decoder md(*mirrors[i], index_path(dec, "mirrors", i), dec.errors());
    get_ref(md, "name", provider, mirror.name, /*required=*/true);
    if (md.get("percent", mirror.percent) && (mirror.percent < 0 || mirror.percent > 100))
      md.fail("percent", "must be between 0 and 100");
    md.finish();
    m.mirrors.push_back(std::move(mirror));
  }
  keep_raw(dec, "healthCheck", m.health_check);
  dec.finish();
}

void decode_failover(Decoder& dec, std::string_view provider, FailoverConfig& f) {
  get_ref(dec, "service", provider, f.service, /*required=*/true);
  get_ref(dec, "fallback", provider, f.fallback, /*required=*/true);
  keep_raw(dec, "healthCheck", f.health_check);
  keep_raw(dec, "errors", f.errors);
  dec.finish();
}

// Service kinds, in the order of the ServiceKind enumerators after kNone.
constexpr std::array<std::string_view, 5> kServiceKinds = {
    "loadBalancer", "weighted", "mirroring", "failover", "highestRandomWeight"};

void decode_service(Decoder& dec, std::string_view provider, HttpService& s) {
  auto kind = single_kind(dec, kServiceKinds);
  if (kind) {
    s.kind = static_cast<ServiceKind>(kind->first + 1);
    Decoder kd(*kind->second, dec.child_path(kServiceKinds[kind->first]), dec.errors());
    switch (s.kind) {
    case ServiceKind::kLoadBalancer:
      decode_load_balancer(kd, provider, s.load_balancer.emplace());
      break;
    case ServiceKind::kWeighted:
      decode_weighted(kd, provider, s.weighted.emplace(), /*sticky=*/true);
      break;
    case ServiceKind::kHighestRandomWeight:
      decode_weighted(kd, provider, s.weighted.emplace(), /*sticky=*/false);
      break;
    case ServiceKind::kMirroring:
      decode_mirroring(kd, provider, s.mirroring.emplace());
      break;
    case ServiceKind::kFailover:
      decode_failover(kd, provider, s.failover.emplace());
      break;
    case ServiceKind::kNone:
      break;
    }
  }
  dec.finish();
}

// ---- sections ----------------------------------------------------------------------------------

void decode_http(const Node& node, std::string_view provider, HttpConfig& http, Errors& errors) {
  Decoder dec(node, "http", errors);
  decode_objects(dec, "routers", provider, http.routers, [&](Decoder& d, HttpRouter& r) {
    decode_router(d, provider, r);
  });
  decode_objects(dec, "services", provider, http.services, [&](Decoder& d, HttpService& s) {
    decode_service(d, provider, s);
  });
  decode_objects(dec, "middlewares", provider, http.middlewares,
                 [&](Decoder& d, HttpMiddleware& m) {
                   decode_middleware(d, m, "addPrefix, headers");
                 });
  decode_objects(dec, "serversTransports", provider, http.servers_transports,
                 [&](Decoder& d, ServersTransport& st) {
                   decode_servers_transport(d, st, /*static_defaults=*/false);
                   d.finish();
                 });
  dec.finish();
}

// ---- tls ---------------------------------------------------------------------------------------

void decode_tls_domain(Decoder& dec, TlsDomain& d) {
  dec.get("main", d.main);
  dec.get("sans", d.sans);
  dec.finish();
}

void decode_tls_options(Decoder& dec, tls::OptionsSpec& o) {
  dec.get("minVersion", o.min_version);
  dec.get("maxVersion", o.max_version);
  dec.get("cipherSuites", o.cipher_suites);
  dec.get("curvePreferences", o.curve_preferences);
  if (const Node* ca = dec.section("clientAuth")) {
    Decoder cd(*ca, dec.child_path("clientAuth"), dec.errors());
    cd.get("caFiles", o.client_auth.ca_files);
    cd.get("clientAuthType", o.client_auth.client_auth_type);
    cd.finish();
  }
  dec.get("sniStrict", o.sni_strict);
  std::vector<std::string> alpn;
  if (dec.get("alpnProtocols", alpn))
    o.alpn_protocols = std::move(alpn);
  dec.get("disableSessionTickets", o.disable_session_tickets);
  dec.get("preferServerCipherSuites", o.prefer_server_cipher_suites);
  dec.finish();
}

void decode_tls_store(Decoder& dec, TlsStore& st) {
  if (const Node* dc = dec.section("defaultCertificate")) {
    Decoder cd(*dc, dec.child_path("defaultCertificate"), dec.errors());
    decode_certificate_files(cd, st.default_certificate.emplace());
    cd.finish();
  }
  if (const Node* g = dec.section("defaultGeneratedCert")) {
    Decoder gd(*g, dec.child_path("defaultGeneratedCert"), dec.errors());
    auto& gen = st.default_generated_cert.emplace();
    gd.get("resolver", gen.resolver);
    if (const Node* d = gd.section("domain")) {
      Decoder dd(*d, gd.child_path("domain"), gd.errors());
      decode_tls_domain(dd, gen.domain);
    }
    if (gen.resolver.empty())
      gd.fail("resolver", "is required");
    if (gen.domain.main.empty())
      gd.fail("domain", "main is required");
    gd.finish();
  }
  dec.finish();
}

void decode_tls(const Node& node, std::string_view provider, TlsConfig& tls, Errors& errors) {
  Decoder dec(node, "tls", errors);
  auto certs = dec.list("certificates");
  for (size_t i = 0; i < certs.size(); ++i) {
    TlsCertificate c;
    c.provider = std::string(provider);
    c.location = certs[i]->location();
    c.path = index_path(dec, "certificates", i);
    Errors cert_errors;
    Decoder cd(*certs[i], c.path, cert_errors);
    decode_certificate_files(cd, c.files);
    cd.get("stores", c.stores);
    cd.finish();
    c.errors = cert_errors.list();
    tls.certificates.push_back(std::move(c));
  }
  decode_objects(
      dec, "options", provider, tls.options,
      [&](Decoder& d, TlsOptions& o) {
        o.provider = std::string(provider);
        decode_tls_options(d, o.spec);
      },
      qualify_tls_name);
  decode_objects(
      dec, "stores", provider, tls.stores,
      [&](Decoder& d, TlsStore& st) {
        st.provider = std::string(provider);
        decode_tls_store(d, st);
      },
      qualify_tls_name);
  dec.finish();
}

} // namespace

std::string qualify(std::string_view name, std::string_view provider) {
  if (name.empty() || name.find('@') != std::string_view::npos)
    return std::string(name);
  std::string out(name);
  out += '@';
  out += provider;
  return out;
}

std::string qualify_tls_name(std::string_view name, std::string_view provider) {
  if (name == tls::kDefaultOptionsName)
    return std::string(name);
  return std::string(name) + "@" + std::string(provider);
}

void decode_certificate_files(Decoder& dec, CertificateFiles& out) {
  dec.get("certFile", out.cert_file);
  dec.get("keyFile", out.key_file);
  if (out.cert_file.empty())
    dec.fail("certFile", "is required");
  if (out.key_file.empty())
    dec.fail("keyFile", "is required");
}

void decode_tls_domains(Decoder& dec, std::string_view key, std::vector<TlsDomain>& out) {
  auto domains = dec.list(key);
  for (size_t i = 0; i < domains.size(); ++i) {
    Decoder dd(*domains[i], index_path(dec, key, i), dec.errors());
    decode_tls_domain(dd, out.emplace_back());
  }
}

void decode_servers_transport(Decoder& dec, ServersTransport& st, bool static_defaults) {
  dec.get("insecureSkipVerify", st.insecure_skip_verify);
  dec.get("rootCAs", st.root_cas);
  dec.get("maxIdleConnsPerHost", st.max_idle_conns_per_host);
  if (const Node* ft = dec.section("forwardingTimeouts")) {
    Decoder fd(*ft, dec.child_path("forwardingTimeouts"), dec.errors());
    auto& t = st.forwarding_timeouts;
    fd.get_non_negative("dialTimeout", t.dial_timeout);
    fd.get_non_negative("responseHeaderTimeout", t.response_header_timeout);
    fd.get_non_negative("idleConnTimeout", t.idle_conn_timeout);
    if (!static_defaults) {
      fd.get_non_negative("readIdleTimeout", t.read_idle_timeout);
      fd.get_non_negative("pingTimeout", t.ping_timeout);
    }
    fd.finish();
  }
  if (static_defaults)
    return;
  dec.get("serverName", st.server_name);
  auto certs = dec.list("certificates");
  for (size_t i = 0; i < certs.size(); ++i) {
    CertificateFiles c;
    Decoder cd(*certs[i], index_path(dec, "certificates", i), dec.errors());
    decode_certificate_files(cd, c);
    cd.finish();
    st.certificates.push_back(std::move(c));
  }
  dec.get("disableHTTP2", st.disable_http2);
  dec.get("peerCertURI", st.peer_cert_uri);
  dec.get("cipherSuites", st.cipher_suites);
  dec.get("minVersion", st.min_version);
  dec.get("maxVersion", st.max_version);
  keep_raw(dec, "spiffe", st.spiffe);
}

DynamicConfig decode_dynamic(const Node& root, std::string_view provider) {
  DynamicConfig cfg;
  Errors errors;
  Decoder top(root, "", errors);
  if (const Node* http = top.section("http"))
    decode_http(*http, provider, cfg.http, errors);
  if (const Node* tcp = top.section("tcp"))
    decode_tcp(*tcp, provider, cfg.tcp, errors);
  if (const Node* udp = top.section("udp"))
    decode_udp(*udp, provider, cfg.udp, errors);
  if (const Node* tls = top.section("tls"))
    decode_tls(*tls, provider, cfg.tls, errors);
  top.finish();
  cfg.errors = errors.list();
  // Control thread only, but several providers' trees may be decoded by tests in parallel.
  static std::atomic<uint64_t> next_revision{1};
  auto stamp = [](auto& objects) {
    for (auto& [name, o] : objects) o.revision = next_revision.fetch_add(1, std::memory_order_relaxed);
  };
  stamp(cfg.http.routers);
  stamp(cfg.http.services);
  stamp(cfg.http.middlewares);
  stamp(cfg.http.servers_transports);
  return cfg;
}

DynamicConfig merge(std::vector<DynamicConfig> parts) {
  DynamicConfig out;
  for (auto& part : parts) {
    merge_objects(out.http.routers, part.http.routers, "http.routers", out.errors);
    merge_objects(out.http.services, part.http.services, "http.services", out.errors);
    merge_objects(out.http.middlewares, part.http.middlewares, "http.middlewares", out.errors);
    merge_objects(out.http.servers_transports, part.http.servers_transports,
                  "http.serversTransports", out.errors);
    merge(out.tcp, part.tcp, out.errors);
    merge(out.udp, part.udp, out.errors);
    for (auto& c : part.tls.certificates)
      out.tls.certificates.push_back(std::move(c));
    merge_objects(out.tls.options, part.tls.options, "tls.options", out.errors);
    merge_objects(out.tls.stores, part.tls.stores, "tls.stores", out.errors);
    out.errors.insert(out.errors.end(), part.errors.begin(), part.errors.end());
  }
  return out;
}

DynamicConfig decode_providers(const std::map<std::string, Node>& trees) {
  std::vector<DynamicConfig> parts;
  for (const auto& [provider, tree] : trees)
    parts.push_back(decode_dynamic(tree, provider));
  return merge(std::move(parts));
}

// Problems that make a provider's whole configuration unusable, as Traefik's decoding of a file:
// structural errors (a section of the wrong type, unknown keys, bad values for typed fields) and
// middlewares of an unknown type. Semantic problems (a bad rule, a missing service, an invalid
// middleware option value) only disable the objects concerned, in the builder.
std::vector<std::string> rejecting_errors(const config::DynamicConfig& d) {
  std::vector<std::string> out = d.errors;
  auto add = [&](const std::vector<std::string>& errs) { out.insert(out.end(), errs.begin(), errs.end()); };
  for (const auto& [n, r] : d.http.routers) add(r.errors);
  for (const auto& [n, sv] : d.http.services) add(sv.errors);
  for (const auto& [n, t] : d.http.servers_transports) add(t.errors);
  auto middlewares = [&](std::string_view section, const auto& map, auto known) {
    for (const auto& [n, m] : map) {
      add(m.errors);
      if (m.errors.empty() && !known(m.type))
        out.push_back((m.location.describe().empty() ? "" : m.location.describe() + ": ") +
                      std::string(section) + n + ": unknown middleware type \"" + m.type + "\"");
    }
  };
  for (const auto& c : d.tls.certificates) add(c.errors);
  for (const auto& [n, o] : d.tls.options) add(o.errors);
  for (const auto& [n, st] : d.tls.stores) add(st.errors);
  middlewares("http.middlewares.", d.http.middlewares,
              [](std::string_view t) { return middleware::find(t) != nullptr; });
  for (const auto& [n, r] : d.tcp.routers) add(r.errors);
  for (const auto& [n, sv] : d.tcp.services) add(sv.errors);
  for (const auto& [n, t] : d.tcp.servers_transports) add(t.errors);
  middlewares("tcp.middlewares.", d.tcp.middlewares,
              [](std::string_view t) { return tcp::find_middleware(t) != nullptr; });
  for (const auto& [n, r] : d.udp.routers) add(r.errors);
  for (const auto& [n, sv] : d.udp.services) add(sv.errors);
  return out;
}


} // namespace turnpike::config
