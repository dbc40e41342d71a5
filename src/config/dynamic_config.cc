#include "config/dynamic_config.h"

#include <array>

#include "common/strings.h"

namespace turnpike::config {
namespace {

// A raw sub-tree kept for a later decoder; `section` turns `x: true` into an empty section.
void keep_raw(Decoder& dec, std::string_view key, std::optional<Node>& out) {
  if (const Node* n = dec.section(key))
    out = *n;
}

void get_refs(Decoder& dec, std::string_view key, std::string_view provider,
              std::vector<std::string>& out) {
  if (dec.get(key, out))
    for (auto& ref : out)
      ref = qualify(ref, provider);
}

void get_ref(Decoder& dec, std::string_view key, std::string_view provider, std::string& out,
             bool required) {
  if (dec.get(key, out))
    out = qualify(out, provider);
  if (required && out.empty())
    dec.fail(key, "is required");
}

// Checks an object's name; the object is kept under its qualified name either way.
void check_name(const std::string& name, Decoder& dec) {
  if (name.empty())
    dec.fail("", "empty name");
  if (name.find('@') != std::string::npos)
    dec.fail("", "name must not contain '@' (the provider is added as name@provider)");
}

// The qualified name of an object defined by `provider` (always suffixed, so that a name that
// already contains '@' keeps a distinct key and its error).
std::string defined_name(std::string_view name, std::string_view provider) {
  return std::string(name) + "@" + std::string(provider);
}

std::string index_path(const Decoder& dec, std::string_view key, size_t i) {
  return dec.child_path(key) + "[" + std::to_string(i) + "]";
}

// ---- routers -----------------------------------------------------------------------------------

void decode_router(Decoder& dec, std::string_view provider, HttpRouter& r) {
  dec.get("entryPoints", r.entry_points);
  dec.get("rule", r.rule);
  if (dec.get("ruleSyntax", r.rule_syntax)) {
    r.rule_syntax = to_lower(r.rule_syntax);
    if (r.rule_syntax != "v2" && r.rule_syntax != "v3") {
      dec.fail("ruleSyntax", "must be v2 or v3");
      r.rule_syntax.clear();
    }
  }
  if (dec.get("priority", r.priority) && r.priority > kMaxUserPriority)
    dec.fail("priority", "must be at most " + std::to_string(kMaxUserPriority) +
                             " (higher priorities are reserved for internal routers)");
  get_refs(dec, "middlewares", provider, r.middlewares);
  get_ref(dec, "service", provider, r.service, /*required=*/true);
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
  auto servers = dec.list("servers");
  for (size_t i = 0; i < servers.size(); ++i) {
    Server s;
    s.location = servers[i]->location();
    Decoder sd(*servers[i], index_path(dec, "servers", i), dec.errors());
    sd.get("url", s.url);
    if (s.url.empty())
      sd.fail("url", "is required");
    sd.get_non_negative("weight", s.weight);
    sd.get("preservePath", s.preserve_path);
    sd.finish();
    lb.servers.push_back(std::move(s));
  }
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
  dec.finish();
}

void decode_weighted(Decoder& dec, std::string_view provider, WeightedConfig& w, bool sticky) {
  auto services = dec.list("services");
  for (size_t i = 0; i < services.size(); ++i) {
    WeightedChild c;
    Decoder cd(*services[i], index_path(dec, "services", i), dec.errors());
    get_ref(cd, "name", provider, c.name, /*required=*/true);
    cd.get_non_negative("weight", c.weight);
    cd.finish();
    w.services.push_back(std::move(c));
  }
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

struct ServiceKindKey {
  std::string_view key;
  ServiceKind kind;
};
constexpr std::array<ServiceKindKey, 5> kServiceKinds = {{
    {"loadBalancer", ServiceKind::kLoadBalancer},
    {"weighted", ServiceKind::kWeighted},
    {"mirroring", ServiceKind::kMirroring},
    {"failover", ServiceKind::kFailover},
    {"highestRandomWeight", ServiceKind::kHighestRandomWeight},
}};

void decode_service(Decoder& dec, std::string_view provider, HttpService& s) {
  std::vector<const ServiceKindKey*> present;
  for (const auto& k : kServiceKinds)
    if (dec.node().find(k.key))
      present.push_back(&k);
  if (present.size() != 1) {
    std::string kinds;
    for (const auto* k : present)
      kinds += (kinds.empty() ? "" : ", ") + std::string(k->key);
    dec.fail("", present.empty() ? "must define one of loadBalancer, weighted, mirroring, "
                                   "failover, highestRandomWeight"
                                 : "must define only one kind of service, found " + kinds);
    for (const auto* k : present)
      dec.skip(k->key);
  } else {
    const ServiceKindKey& k = *present.front();
    const Node* sec = dec.section(k.key);
    if (!sec) { // a list or a scalar has been reported by section(); `false` has not
      if (const Node* n = dec.node().find(k.key); n->is_scalar() && parse_bool(n->text()) == false)
        dec.fail(k.key, "expected a section (a map), got false");
      dec.finish();
      return;
    }
    s.kind = k.kind;
    Decoder kd(*sec, dec.child_path(k.key), dec.errors());
    switch (k.kind) {
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

// ---- middlewares -------------------------------------------------------------------------------

void decode_middleware(Decoder& dec, HttpMiddleware& m) {
  const Node& node = dec.node();
  if (node.entries().size() != 1) {
    std::string types;
    for (const auto& [k, v] : node.entries())
      types += (types.empty() ? "" : ", ") + k;
    dec.fail("", node.entries().empty() ? "must define a middleware type (addPrefix, headers, ...)"
                                        : "must define only one middleware type, found " + types);
  } else {
    m.type = node.entries().front().first;
    m.options = node.entries().front().second;
  }
  for (const auto& [k, v] : node.entries())
    dec.skip(k);
  dec.finish();
}

// ---- sections ----------------------------------------------------------------------------------

// Decodes every object of one `http.<section>` map into `out`, keyed by qualified name.
template <class Object, class DecodeFn>
void decode_objects(Decoder& http, std::string_view section, std::string_view provider,
                    std::map<std::string, Object>& out, DecodeFn decode,
                    std::string (*qualified)(std::string_view, std::string_view) = defined_name) {
  // section() has already reported a list or scalar here.
  const Node* sec = http.section(section);
  if (!sec || !sec->is_map())
    return;
  for (const auto& [name, node] : sec->entries()) {
    Object obj;
    obj.name = qualified(name, provider);
    obj.location = node.location();
    Errors errors;
    Decoder dec(node, http.child_path(section) + "." + obj.name, errors);
    check_name(name, dec);
    // A value that is not a map has been reported by the Decoder; nothing more to say about it.
    if (node.is_map() || node.is_null())
      decode(dec, obj);
    obj.errors = errors.list();
    if (out.count(obj.name)) {
      http.fail(section, "\"" + name + "\" is defined more than once");
      continue;
    }
    out.emplace(obj.name, std::move(obj));
  }
}

void decode_http(const Node& node, std::string_view provider, HttpConfig& http, Errors& errors) {
  Decoder dec(node, "http", errors);
  decode_objects(dec, "routers", provider, http.routers, [&](Decoder& d, HttpRouter& r) {
    r.provider = std::string(provider);
    decode_router(d, provider, r);
  });
  decode_objects(dec, "services", provider, http.services, [&](Decoder& d, HttpService& s) {
    s.provider = std::string(provider);
    decode_service(d, provider, s);
  });
  decode_objects(dec, "middlewares", provider, http.middlewares,
                 [&](Decoder& d, HttpMiddleware& m) {
                   m.provider = std::string(provider);
                   decode_middleware(d, m);
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

template <class Object>
void merge_objects(std::map<std::string, Object>& into, std::map<std::string, Object>& from,
                   std::string_view section, std::vector<std::string>& errors) {
  for (auto& [name, obj] : from) {
    if (into.count(name)) {
      errors.push_back(std::string(section) + "." + name + ": defined by more than one source");
      continue;
    }
    into.emplace(name, std::move(obj));
  }
}

void merge_raw(std::map<std::string, Node>& into, std::map<std::string, Node>& from,
               std::string_view section, std::vector<std::string>& errors) {
  for (auto& [provider, node] : from) {
    if (into.count(provider)) {
      errors.push_back(std::string(section) + ": provider \"" + provider + "\" given twice");
      continue;
    }
    into.emplace(provider, std::move(node));
  }
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
  return defined_name(name, provider);
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
  if (const Node* tls = top.section("tls"))
    decode_tls(*tls, provider, cfg.tls, errors);
  for (auto [key, raw] : {std::pair{"tcp", &cfg.tcp}, {"udp", &cfg.udp}}) {
    const Node* n = top.section(key);
    if (n && !n->is_null())
      (*raw)[std::string(provider)] = *n;
  }
  top.finish();
  cfg.errors = errors.list();
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
    merge_raw(out.tcp, part.tcp, "tcp", out.errors);
    merge_raw(out.udp, part.udp, "udp", out.errors);
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

} // namespace turnpike::config
