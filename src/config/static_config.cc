#include "config/static_config.h"

#include <array>
#include <filesystem>

#include "common/ipnet.h"
#include "common/strings.h"

extern char** environ;

namespace turnpike::config {
namespace {

constexpr std::string_view kNotSupported = "not supported yet, ignored";

// Top-level keys of Traefik's static configuration that Turnpike decodes.
constexpr std::array<std::string_view, 8> kSupportedRoots = {
    "entryPoints",      "providers",           "log", "accessLog",
    "serversTransport", "tcpServersTransport", "core", "certificatesResolvers"};
// Accepted for compatibility, reported as warnings.
constexpr std::array<std::string_view, 9> kUnsupportedRoots = {
    "global",  "api",          "metrics", "ping", "tracing", "hostResolver",
    "experimental", "spiffe", "ocsp"};
constexpr std::array<std::string_view, 9> kUnsupportedProviders = {
    "swarm", "kubernetesIngressNGINX", "knative", "consulCatalog", "nomad",
    "ecs",   "consul",                 "plugin",  "precedence"};

// Warns about (and consumes) each of `keys` present in `dec`'s map. A section switched off
// (`api: false`) is silently accepted.
template <size_t N>
void ignore_keys(Decoder& dec, const std::array<std::string_view, N>& keys, Errors& warnings) {
  for (auto key : keys) {
    const Node* n = dec.node().is_map() ? dec.node().find(key) : nullptr;
    if (!n)
      continue;
    dec.skip(key);
    if (n->is_scalar() && parse_bool(n->text()) == false)
      continue;
    warnings.add(n->location(), dec.child_path(key), kNotSupported);
  }
}
void ignore_key(Decoder& dec, std::string_view key, Errors& warnings) {
  ignore_keys(dec, std::array<std::string_view, 1>{key}, warnings);
}

// Runs `fn(Decoder&)` on sub-section `key` when present, then reports its unknown keys.
template <class Fn> bool with_section(Decoder& dec, std::string_view key, Fn fn) {
  const Node* n = dec.section(key);
  if (!n)
    return false;
  Decoder sub(*n, dec.child_path(key), dec.errors());
  fn(sub);
  sub.finish();
  return true;
}

void get_ip_ranges(Decoder& dec, std::string_view key, std::vector<std::string>& out) {
  if (!dec.get(key, out))
    return;
  for (const auto& r : out) {
    auto net = IpNet::parse(r);
    if (!net)
      dec.fail(key, "invalid IP or CIDR \"" + r + "\"");
  }
}

template <class Enum, size_t N>
bool get_enum(Decoder& dec, std::string_view key,
              const std::array<std::pair<std::string_view, Enum>, N>& values, Enum& out) {
  std::string text;
  if (!dec.get(key, text))
    return false;
  std::string allowed;
  for (const auto& [name, value] : values) {
    if (iequals(name, text)) {
      out = value;
      return true;
    }
    allowed += (allowed.empty() ? "" : ", ") + std::string(name);
  }
  dec.fail(key, "invalid value \"" + text + "\" (" + allowed + ")");
  return false;
}

// Same, for options whose value is a canonical string.
template <size_t N>
void get_choice(Decoder& dec, std::string_view key, const std::array<std::string_view, N>& values,
                std::string& out) {
  std::array<std::pair<std::string_view, std::string_view>, N> pairs;
  for (size_t i = 0; i < N; ++i)
    pairs[i] = {values[i], values[i]};
  std::string_view v;
  if (get_enum(dec, key, pairs, v))
    out = std::string(v);
}

constexpr std::array<std::pair<std::string_view, FieldMode>, 3> kFieldModes = {
    {{"keep", FieldMode::kKeep}, {"drop", FieldMode::kDrop}, {"redact", FieldMode::kRedact}}};

void get_field_modes(Decoder& dec, std::string_view key, std::map<std::string, FieldMode>& out) {
  std::map<std::string, std::string> raw;
  if (!dec.get(key, raw))
    return;
  for (const auto& [name, mode] : raw) {
    bool found = false;
    for (const auto& [text, value] : kFieldModes) {
      if (iequals(text, mode)) {
        out[name] = value;
        found = true;
      }
    }
    if (!found)
      dec.fail(key, name + ": invalid value \"" + mode + "\" (keep, drop, redact)");
  }
}

// ---- entry points ------------------------------------------------------------------------------

void decode_transport(Decoder& dec, EntryPointTransport& t) {
  with_section(dec, "respondingTimeouts", [&](Decoder& d) {
    d.get_non_negative("readTimeout", t.responding_timeouts.read_timeout);
    d.get_non_negative("writeTimeout", t.responding_timeouts.write_timeout);
    d.get_non_negative("idleTimeout", t.responding_timeouts.idle_timeout);
  });
  with_section(dec, "lifeCycle", [&](Decoder& d) {
    d.get_non_negative("requestAcceptGraceTimeout", t.life_cycle.request_accept_grace_timeout);
    d.get_non_negative("graceTimeOut", t.life_cycle.grace_timeout);
  });
  dec.get_non_negative("keepAliveMaxRequests", t.keep_alive_max_requests);
  dec.get_non_negative("keepAliveMaxTime", t.keep_alive_max_time);
}

// `to` names an entry point of `entry_points` (the entryPoints map) or is ":port".
void check_redirect_target(Decoder& dec, const std::string& to, const Node& entry_points) {
  if (to.empty())
    return;
  if (to.front() == ':') {
    auto port = parse_uint(std::string_view(to).substr(1));
    if (!port || *port == 0 || *port > 65535)
      dec.fail("to", "invalid port \"" + to + "\"");
    return;
  }
  for (const auto& [name, node] : entry_points.entries())
    if (name == to)
      return;
  dec.fail("to", "unknown entry point \"" + to + "\"");
}

void decode_entry_point_http(Decoder& dec, EntryPointHttp& h, const Node& entry_points) {
  with_section(dec, "redirections", [&](Decoder& r) {
    with_section(r, "entryPoint", [&](Decoder& e) {
      auto& redirect = h.redirect.emplace();
      e.get("to", redirect.to);
      if (redirect.to.empty())
        e.fail("to", "is required");
      check_redirect_target(e, redirect.to, entry_points);
      e.get("scheme", redirect.scheme);
      e.get("permanent", redirect.permanent);
      e.get("priority", redirect.priority);
    });
  });
  dec.get("middlewares", h.middlewares);
  with_section(dec, "tls", [&](Decoder& t) {
    auto& tls = h.tls.emplace();
    t.get("options", tls.options);
    t.get("certResolver", tls.cert_resolver);
    decode_tls_domains(t, "domains", tls.domains);
  });
  if (dec.get_non_negative("maxHeaderBytes", h.max_header_bytes) && h.max_header_bytes == 0)
    dec.fail("maxHeaderBytes", "must be > 0");
  dec.get("sanitizePath", h.sanitize_path);
  with_section(dec, "encodedCharacters", [&](Decoder& e) {
    auto& c = h.encoded_characters;
    e.get("allowEncodedSlash", c.allow_encoded_slash);
    e.get("allowEncodedBackSlash", c.allow_encoded_back_slash);
    e.get("allowEncodedNullCharacter", c.allow_encoded_null_character);
    e.get("allowEncodedSemicolon", c.allow_encoded_semicolon);
    e.get("allowEncodedPercent", c.allow_encoded_percent);
    e.get("allowEncodedQuestionMark", c.allow_encoded_question_mark);
    e.get("allowEncodedHash", c.allow_encoded_hash);
  });
  dec.get("encodeQuerySemicolons", h.encode_query_semicolons);
  static constexpr std::array<std::pair<std::string_view, UnderscoreHeadersStrategy>, 3>
      kStrategies = {{{"keep", UnderscoreHeadersStrategy::kKeep},
                      {"delete", UnderscoreHeadersStrategy::kDelete},
                      {"reject", UnderscoreHeadersStrategy::kReject}}};
  get_enum(dec, "underscoreHeadersStrategy", kStrategies, h.underscore_headers_strategy);
}

void decode_entry_point(Decoder& dec, EntryPoint& ep, const Node& entry_points, Errors& warnings) {
  if (dec.get("address", ep.address)) {
    auto listen = parse_listen_address(ep.address);
    if (listen) {
      ep.listen = *listen;
    } else {
      dec.fail("address", listen.error().message);
    }
  } else {
    dec.fail("address", "is required");
  }
  dec.get("asDefault", ep.as_default);
  dec.get("reusePort", ep.reuse_port);
  with_section(dec, "transport", [&](Decoder& t) { decode_transport(t, ep.transport); });
  with_section(dec, "forwardedHeaders", [&](Decoder& f) {
    auto& fh = ep.forwarded_headers;
    get_ip_ranges(f, "trustedIPs", fh.trusted_ips);
    f.get("insecure", fh.insecure);
    f.get("connection", fh.connection);
    f.get("notAppendXForwardedFor", fh.not_append_x_forwarded_for);
    f.get("addXForwardedSchemeHeaders", fh.add_x_forwarded_scheme_headers);
  });
  with_section(dec, "proxyProtocol", [&](Decoder& p) {
    auto& pp = ep.proxy_protocol.emplace();
    get_ip_ranges(p, "trustedIPs", pp.trusted_ips);
    p.get("insecure", pp.insecure);
  });
  with_section(dec, "http", [&](Decoder& h) { decode_entry_point_http(h, ep.http, entry_points); });
  with_section(dec, "http2", [&](Decoder& h) {
    h.get_non_negative("maxConcurrentStreams", ep.http2.max_concurrent_streams);
    h.get_non_negative("maxDecoderHeaderTableSize", ep.http2.max_decoder_header_table_size);
    h.get_non_negative("maxEncoderHeaderTableSize", ep.http2.max_encoder_header_table_size);
  });
  with_section(dec, "udp", [&](Decoder& u) { u.get_non_negative("timeout", ep.udp_timeout); });
  ignore_keys(dec, std::array<std::string_view, 3>{"http3", "allowACMEByPass", "observability"},
              warnings);
}

// ---- the other sections ------------------------------------------------------------------------

void decode_provider_tls(Decoder& t, ProviderClientTls& tls) {
  t.get("ca", tls.ca);
  t.get("cert", tls.cert);
  t.get("key", tls.key);
  t.get("insecureSkipVerify", tls.insecure_skip_verify);
  t.skip("caOptional"); // Traefik v2 leftover, no effect
  if (tls.cert.empty() != tls.key.empty())
    t.fail(tls.cert.empty() ? "cert" : "key", "cert and key go together");
}

void decode_providers(Decoder& dec, ProvidersConfig& p, Errors& warnings) {
  dec.get_non_negative("providersThrottleDuration", p.providers_throttle_duration);
  with_section(dec, "file", [&](Decoder& f) {
    auto& file = p.file.emplace();
    f.get("filename", file.filename);
    f.get("directory", file.directory);
    f.get("watch", file.watch);
    if (f.get("debugLogGeneratedTemplate", file.debug_log_generated_template) &&
        file.debug_log_generated_template)
      warnings.add(f.node().location(), f.child_path("debugLogGeneratedTemplate"),
                   "Go templates are not supported, ignored");
    if (file.filename.empty() && file.directory.empty())
      f.fail("", "filename or directory is required");
    if (!file.filename.empty() && !file.directory.empty())
      warnings.add(f.node().location(), f.path(),
                   "both filename and directory are set; directory is used (as in Traefik)");
  });
  with_section(dec, "http", [&](Decoder& h) {
    auto& http = p.http.emplace();
    h.get("endpoint", http.endpoint);
    h.get_non_negative("pollInterval", http.poll_interval);
    h.get_non_negative("pollTimeout", http.poll_timeout);
    h.get("headers", http.headers);
    h.get("maxResponseBodySize", http.max_response_body_size);
    with_section(h, "tls", [&](Decoder& t) { decode_provider_tls(t, http.tls.emplace()); });
    if (http.endpoint.empty())
      h.fail("endpoint", "is required");
    if (http.poll_interval.count() == 0)
      h.fail("pollInterval", "must be > 0");
  });
  with_section(dec, "rest", [&](Decoder& r) { r.get("insecure", p.rest.emplace().insecure); });
  with_section(dec, "docker", [&](Decoder& d) {
    auto& docker = p.docker.emplace();
    d.get("endpoint", docker.endpoint);
    d.get("watch", docker.watch);
    d.get("exposedByDefault", docker.exposed_by_default);
    d.get("network", docker.network);
    d.get("useBindPortIP", docker.use_bind_port_ip);
    d.get("defaultRule", docker.default_rule);
    d.get("constraints", docker.constraints);
    d.get("allowEmptyServices", docker.allow_empty_services);
    d.get_non_negative("httpClientTimeout", docker.http_client_timeout);
    d.get("labelPrefix", docker.label_prefix);
    with_section(d, "tls", [&](Decoder& t) { decode_provider_tls(t, docker.tls.emplace()); });
    ignore_keys(d, std::array<std::string_view, 3>{"username", "password", "allowNonRunning"},
                warnings);
    if (docker.label_prefix.empty() || docker.label_prefix.find('.') != std::string::npos)
      d.fail("labelPrefix", "must be a non-empty name without dots");
  });
  enum class Kube { kIngress, kCrd, kGateway };
  auto kubernetes = [&](Decoder& k, KubernetesProviderConfig& o, Kube which) {
    const bool crd = which == Kube::kCrd;
    k.get("endpoint", o.endpoint);
    k.get("token", o.token);
    k.get("certAuthFilePath", o.cert_auth_file_path);
    k.get("namespaces", o.namespaces);
    k.get("labelSelector", o.label_selector);
    k.get_non_negative("throttleDuration", o.throttle_duration);
    if (which == Kube::kGateway) {
      // Not implemented yet, accepted with a warning (docs/providers/kubernetes-gateway.md).
      ignore_key(k, "experimentalChannel", warnings);
      with_section(k, "statusAddress", [&](Decoder& a) {
        auto& sa = o.status_address.emplace();
        a.get("ip", sa.ip);
        a.get("hostname", sa.hostname);
        with_section(a, "service", [&](Decoder& s) {
          s.get("name", sa.service_name);
          s.get("namespace", sa.service_namespace);
        });
        if (sa.ip.empty() && sa.hostname.empty() &&
            (sa.service_name.empty() || sa.service_namespace.empty()))
          a.fail("", "needs ip, hostname or service (name and namespace)");
      });
      k.get("nativeLBByDefault", o.native_lb_by_default);
      return;
    }
    k.get("ingressClass", o.ingress_class);
    k.get("allowExternalNameServices", o.allow_external_name_services);
    k.get("allowEmptyServices", o.allow_empty_services);
    k.get("nativeLBByDefault", o.native_lb_by_default);
    if (crd) {
      k.get("allowCrossNamespace", o.allow_cross_namespace);
    } else {
      ignore_keys(k, std::array<std::string_view, 3>{"ingressEndpoint", "disableIngressClassLookup",
                                                      "strictPrefixMatching"},
                  warnings);
    }
  };
  with_section(dec, "kubernetesIngress", [&](Decoder& k) {
    kubernetes(k, p.kubernetes_ingress.emplace(), Kube::kIngress);
  });
  with_section(dec, "kubernetesCRD", [&](Decoder& k) {
    kubernetes(k, p.kubernetes_crd.emplace(), Kube::kCrd);
  });
  with_section(dec, "kubernetesGateway", [&](Decoder& k) {
    kubernetes(k, p.kubernetes_gateway.emplace(), Kube::kGateway);
  });
  // etcd, redis, zooKeeper: `which` names the store for the options that are its own.
  auto kv = [&](Decoder& k, KvProviderConfig& o, std::string_view which) {
    k.get("endpoints", o.endpoints);
    k.get("rootKey", o.root_key);
    k.get("username", o.username);
    k.get("password", o.password);
    if (which == "redis") {
      k.get_non_negative("db", o.db);
      ignore_key(k, "sentinel", warnings);
    }
    if (which != "zooKeeper")
      with_section(k, "tls", [&](Decoder& t) { decode_provider_tls(t, o.tls.emplace()); });
    if (o.endpoints.empty())
      k.fail("endpoints", "at least one is required");
    while (o.root_key.ends_with('/'))
      o.root_key.pop_back();
    if (o.root_key.empty())
      k.fail("rootKey", "must not be empty");
  };
  with_section(dec, "etcd", [&](Decoder& k) { kv(k, p.etcd.emplace(), "etcd"); });
  with_section(dec, "redis", [&](Decoder& k) { kv(k, p.redis.emplace(), "redis"); });
  with_section(dec, "zooKeeper", [&](Decoder& k) { kv(k, p.zookeeper.emplace(), "zooKeeper"); });
  ignore_keys(dec, kUnsupportedProviders, warnings);
}

void decode_log(Decoder& dec, LogConfig& log, Errors& warnings) {
  static constexpr std::array<std::string_view, 7> kLevels = {"TRACE", "DEBUG", "INFO", "WARN",
                                                              "ERROR", "FATAL", "PANIC"};
  get_choice(dec, "level", kLevels, log.level);
  get_choice(dec, "format", std::array<std::string_view, 2>{"common", "json"}, log.format);
  dec.get("filePath", log.file_path);
  dec.get("noColor", log.no_color);
  ignore_keys(
      dec, std::array<std::string_view, 5>{"maxSize", "maxAge", "maxBackups", "compress", "otlp"},
      warnings);
}

bool parse_status_range(std::string_view text, std::pair<int, int>& out) {
  auto parts = split(text, '-');
  if (parts.size() > 2)
    return false;
  auto lo = parse_uint(parts[0]);
  auto hi = parts.size() == 2 ? parse_uint(parts[1]) : lo;
  if (!lo || !hi || *lo < 100 || *hi > 599 || *lo > *hi)
    return false;
  out = {int(*lo), int(*hi)};
  return true;
}

void decode_access_log(Decoder& dec, AccessLogConfig& a, Errors& warnings) {
  dec.get("filePath", a.file_path);
  get_choice(dec, "format", std::array<std::string_view, 3>{"common", "genericCLF", "json"},
             a.format);
  dec.get_non_negative("bufferingSize", a.buffering_size);
  dec.get("addInternals", a.add_internals);
  with_section(dec, "filters", [&](Decoder& f) {
    std::vector<std::string> codes;
    if (f.get("statusCodes", codes)) {
      for (const auto& c : codes) {
        std::pair<int, int> range;
        if (parse_status_range(c, range)) {
          a.status_codes.push_back(range);
        } else {
          f.fail("statusCodes", "invalid status code or range \"" + c + "\" (e.g. 200, 300-302)");
        }
      }
    }
    f.get("retryAttempts", a.retry_attempts);
    f.get_non_negative("minDuration", a.min_duration);
  });
  with_section(dec, "fields", [&](Decoder& f) {
    get_enum(f, "defaultMode", kFieldModes, a.fields.default_mode);
    get_field_modes(f, "names", a.fields.names);
    with_section(f, "headers", [&](Decoder& h) {
      get_enum(h, "defaultMode", kFieldModes, a.fields.headers_default_mode);
      get_field_modes(h, "names", a.fields.header_names);
    });
    ignore_key(f, "queryParameters", warnings);
  });
  ignore_keys(dec, std::array<std::string_view, 2>{"dualOutput", "otlp"}, warnings);
}

// ---- certificate resolvers ---------------------------------------------------------------------

// distributedAcme.storage: {etcd: {...}} or {redis: {...}}.
void decode_shared_storage(Decoder& dec, AcmeSharedStorage& s) {
  int backends = 0;
  auto common = [&](Decoder& b) {
    ++backends;
    b.get("endpoints", s.endpoints);
    if (s.endpoints.empty()) b.fail("endpoints", "at least one endpoint is required");
    if (b.get("prefix", s.prefix)) {
      while (!s.prefix.empty() && s.prefix.back() == '/') s.prefix.pop_back();
      if (s.prefix.empty()) b.fail("prefix", "must not be empty");
    }
    b.get("username", s.username);
    b.get("password", s.password);
    if (b.get_non_negative("lockTTL", s.lock_ttl) && s.lock_ttl < std::chrono::seconds(2))
      b.fail("lockTTL", "must be at least 2s");
    with_section(b, "tls", [&](Decoder& t) { decode_provider_tls(t, s.tls.emplace()); });
  };
  with_section(dec, "etcd", [&](Decoder& b) {
    s.backend = AcmeSharedStorage::Backend::kEtcd;
    common(b);
  });
  with_section(dec, "redis", [&](Decoder& b) {
    s.backend = AcmeSharedStorage::Backend::kRedis;
    common(b);
    b.get_non_negative("db", s.db);
  });
  if (backends != 1) dec.fail("", "exactly one of etcd or redis is required");
}

void decode_acme(Decoder& dec, AcmeResolverConfig& a, const StaticConfig& cfg, Errors& warnings,
                 bool distributed) {
  dec.get("email", a.email);
  dec.get("caServer", a.ca_server);
  if (a.ca_server.empty()) dec.fail("caServer", "must not be empty");
  if (distributed) {
    if (!with_section(dec, "storage",
                      [&](Decoder& s) { decode_shared_storage(s, a.shared_storage.emplace()); }))
      dec.fail("storage", "is required (etcd or redis)");
  } else {
    dec.get("storage", a.storage);
    if (a.storage.empty()) dec.fail("storage", "must not be empty");
  }
  if (dec.get("keyType", a.key_type)) {
    static constexpr std::array<std::string_view, 5> kKeyTypes = {"EC256", "EC384", "RSA2048",
                                                                  "RSA4096", "RSA8192"};
    bool known = false;
    for (auto k : kKeyTypes) {
      if (iequals(k, a.key_type)) {
        a.key_type = std::string(k);
        known = true;
      }
    }
    if (!known)
      dec.fail("keyType", "invalid value \"" + a.key_type +
                              "\" (EC256, EC384, RSA2048, RSA4096, RSA8192)");
  }
  with_section(dec, "eab", [&](Decoder& e) {
    auto& eab = a.eab.emplace();
    e.get("kid", eab.kid);
    e.get("hmacEncoded", eab.hmac_encoded);
    if (eab.kid.empty()) e.fail("kid", "is required");
    if (eab.hmac_encoded.empty()) e.fail("hmacEncoded", "is required");
  });
  if (dec.get("certificatesDuration", a.certificates_duration) && a.certificates_duration <= 0)
    dec.fail("certificatesDuration", "must be > 0 (hours)");
  dec.get("preferredChain", a.preferred_chain);
  dec.get("profile", a.profile);
  dec.get("emailAddresses", a.email_addresses);
  dec.get("disableCommonName", a.disable_common_name);
  dec.get("caCertificates", a.ca_certificates);
  dec.get("caSystemCertPool", a.ca_system_cert_pool);
  dec.get("caServerName", a.ca_server_name);
  dec.get_non_negative("clientTimeout", a.client_timeout);
  dec.get_non_negative("clientResponseHeaderTimeout", a.client_response_header_timeout);
  dec.get_non_negative("certificateTimeout", a.certificate_timeout);
  dec.get("insecureStoragePermissions", a.insecure_storage_permissions);
  with_section(dec, "httpChallenge", [&](Decoder& h) {
    auto& http = a.http_challenge.emplace();
    h.get("entryPoint", http.entry_point);
    h.get_non_negative("delay", http.delay);
    if (http.entry_point.empty()) {
      h.fail("entryPoint", "is required");
    } else if (!cfg.entry_points.count(http.entry_point)) {
      h.fail("entryPoint", "unknown entry point \"" + http.entry_point + "\"");
    }
  });
  with_section(dec, "tlsChallenge", [&](Decoder& t) {
    t.get_non_negative("delay", a.tls_challenge.emplace().delay);
  });
  with_section(dec, "dnsChallenge", [&](Decoder& d) {
    auto& dns = a.dns_challenge.emplace();
    d.get("provider", dns.provider);
    static constexpr std::array<std::string_view, 3> kProviders = {"rfc2136", "exec", "httpreq"};
    bool known = false;
    for (auto p : kProviders) known = known || p == dns.provider;
    if (dns.provider.empty()) {
      d.fail("provider", "is required");
    } else if (!known) {
      d.fail("provider", "unsupported DNS provider \"" + dns.provider +
                             "\" (rfc2136, exec, httpreq; use exec or httpreq to reach others)");
    }
    d.get("resolvers", dns.resolvers);
    with_section(d, "propagation", [&](Decoder& p) {
      p.get_non_negative("delayBeforeChecks", dns.delay_before_checks);
      p.get("disableChecks", dns.disable_checks);
      p.get("disableANSChecks", dns.disable_ans_checks);
      p.get("requireAllRNS", dns.require_all_rns);
    });
    // Deprecated Traefik names, still read.
    if (d.get_non_negative("delayBeforeCheck", dns.delay_before_checks))
      warnings.add(d.node().location(), d.child_path("delayBeforeCheck"),
                   "deprecated, use propagation.delayBeforeChecks");
    if (d.get("disablePropagationCheck", dns.disable_checks))
      warnings.add(d.node().location(), d.child_path("disablePropagationCheck"),
                   "deprecated, use propagation.disableChecks");
  });
  if (!a.http_challenge && !a.tls_challenge && !a.dns_challenge)
    dec.fail("", "one of httpChallenge, tlsChallenge or dnsChallenge is required");
}

void decode_resolvers(Decoder& dec, StaticConfig& cfg, Errors& warnings) {
  if (!dec.node().is_map()) return;
  for (const auto& [name, node] : dec.node().entries()) {
    dec.skip(name);
    CertificateResolverConfig r;
    r.name = name;
    Decoder rd(node, dec.child_path(name), dec.errors());
    with_section(rd, "acme",
                 [&](Decoder& a) { decode_acme(a, r.acme.emplace(), cfg, warnings, false); });
    with_section(rd, "distributedAcme", [&](Decoder& a) {
      if (r.acme) {
        a.fail("", "a resolver is either acme or distributedAcme");
        return;
      }
      decode_acme(a, r.acme.emplace(), cfg, warnings, true);
    });
    ignore_key(rd, "tailscale", warnings);
    rd.finish();
    cfg.certificates_resolvers.emplace(name, std::move(r));
  }
}

void decode_core(Decoder& dec, CoreConfig& core) {
  if (dec.get_non_negative("workers", core.workers) && core.workers > 1024)
    dec.fail("workers", "must be at most 1024");
  get_choice(dec, "defaultRuleSyntax", std::array<std::string_view, 2>{"v3", "v2"},
             core.default_rule_syntax);
}

Error one_per_line(const Errors& errors) {
  std::string msg;
  for (const auto& e : errors.list())
    msg += (msg.empty() ? "" : "\n") + e;
  return make_error(std::move(msg));
}

// ---- sources -----------------------------------------------------------------------------------

std::shared_ptr<const std::string> source_name(const char* name) {
  return std::make_shared<const std::string>(name);
}

// Flags override the file: like Node::merge_from, except that a bare flag (`--api`, "true")
// never erases a section the file defines.
void overlay(Node& base, const Node& over) {
  if (base.is_map() && over.is_map()) {
    for (const auto& [k, v] : over.entries()) {
      if (Node* mine = base.find(k)) {
        overlay(*mine, v);
      } else {
        base.entries().emplace_back(k, v);
      }
    }
    return;
  }
  if (base.is_map() && over.is_scalar() && parse_bool(over.text()) == true)
    return;
  base = over;
}

bool is_root_key(std::string_view segment) {
  for (auto k : kSupportedRoots)
    if (iequals(k, segment))
      return true;
  for (auto k : kUnsupportedRoots)
    if (iequals(k, segment))
      return true;
  return false;
}

// TURNPIKE_ENTRYPOINTS_WEB_ADDRESS / TRAEFIK_... -> entrypoints.web.address. Like Traefik, only
// variables whose first segment is a static-configuration root count (TURNPIKE_BUILD_DIR is not
// configuration). TURNPIKE_ variables override TRAEFIK_ ones.
std::vector<std::pair<std::string, std::string>>
env_pairs(const std::map<std::string, std::string>& env) {
  std::vector<std::pair<std::string, std::string>> out;
  for (std::string_view prefix : {"TRAEFIK_", "TURNPIKE_"}) {
    for (const auto& [name, value] : env) {
      if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0)
        continue;
      std::string path = to_lower(std::string_view(name).substr(prefix.size()));
      std::replace(path.begin(), path.end(), '_', '.');
      if (!is_root_key(path.substr(0, path.find('.'))))
        continue;
      out.emplace_back(std::move(path), value);
    }
  }
  return out;
}

struct ParsedArgs {
  std::optional<std::string> config_file;
  std::vector<std::pair<std::string, std::string>> flags;
};

bool contains_ci(const std::vector<std::string>& list, std::string_view s) {
  for (const auto& item : list)
    if (iequals(item, s))
      return true;
  return false;
}

ParsedArgs parse_args(const std::vector<std::string>& args, const StaticLoadOptions& options,
                      Errors& errors) {
  ParsedArgs out;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg.empty() || arg.front() != '-') {
      if (!contains_ci(options.skip_args, arg))
        errors.add({}, "", "unexpected argument \"" + std::string(arg) + "\"");
      continue;
    }
    arg.remove_prefix(arg.size() > 1 && arg[1] == '-' ? 2 : 1);
    auto eq = arg.find('=');
    std::string_view name = arg.substr(0, eq);
    std::optional<std::string> value;
    if (eq != std::string_view::npos)
      value = std::string(arg.substr(eq + 1));
    if (name.empty()) {
      errors.add({}, "", "invalid flag \"" + args[i] + "\"");
    } else if (iequals(name, "configFile")) {
      if (!value && i + 1 < args.size())
        value = args[++i];
      if (!value || value->empty()) {
        errors.add({}, "", "--configFile needs a file name");
      } else {
        out.config_file = *value;
      }
    } else if (!contains_ci(options.skip_flags, name)) {
      out.flags.emplace_back(std::string(name), value.value_or("true"));
    }
  }
  return out;
}

std::vector<std::string> default_search_dirs(const std::map<std::string, std::string>& env) {
  std::vector<std::string> dirs = {"/etc/turnpike", "/etc/traefik"};
  if (auto it = env.find("XDG_CONFIG_HOME"); it != env.end() && !it->second.empty())
    dirs.push_back(it->second);
  if (auto it = env.find("HOME"); it != env.end() && !it->second.empty())
    dirs.push_back(it->second + "/.config");
  dirs.push_back(".");
  return dirs;
}

std::optional<std::string> find_config_file(const std::vector<std::string>& dirs) {
  for (std::string_view base : {"turnpike", "traefik"}) {
    for (const auto& dir : dirs) {
      for (std::string_view ext : {"yml", "yaml", "toml"}) {
        std::string path = dir + "/" + std::string(base) + "." + std::string(ext);
        std::error_code ec;
        if (std::filesystem::is_regular_file(path, ec))
          return path;
      }
    }
  }
  return std::nullopt;
}

} // namespace

Result<ListenAddress> parse_listen_address(std::string_view text) {
  ListenAddress out;
  std::string_view s = text;
  if (auto slash = s.rfind('/'); slash != std::string_view::npos) {
    std::string_view proto = s.substr(slash + 1);
    if (iequals(proto, "udp")) {
      out.protocol = Protocol::kUdp;
    } else if (!iequals(proto, "tcp")) {
      return make_error("invalid address \"" + std::string(text) + "\": unknown protocol \"" +
                        std::string(proto) + "\" (tcp or udp)");
    }
    s = s.substr(0, slash);
  }
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':')
      return make_error("invalid address \"" + std::string(text) + "\": expected [host]:port");
    out.host = std::string(s.substr(1, close - 1));
    port = s.substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos)
      return make_error("invalid address \"" + std::string(text) + "\": missing port (e.g. :80)");
    out.host = std::string(s.substr(0, colon));
    if (out.host.find(':') != std::string::npos)
      return make_error("invalid address \"" + std::string(text) +
                        "\": an IPv6 host must be in brackets ([::1]:80)");
    port = s.substr(colon + 1);
  }
  auto p = parse_uint(port);
  if (!p || *p > 65535)
    return make_error("invalid address \"" + std::string(text) + "\": invalid port \"" +
                      std::string(port) + "\"");
  out.port = static_cast<uint16_t>(*p);
  return out;
}

Result<StaticConfig> decode_static_config(const Node& root, std::vector<std::string>& warnings) {
  Errors errors, warns;
  StaticConfig cfg;
  cfg.servers_transport.name = "default@internal";
  cfg.tcp_servers_transport.name = "default@internal";
  Decoder top(root, "", errors);
  if (const Node* eps = top.section("entryPoints"); eps && eps->is_map()) {
    for (const auto& [name, node] : eps->entries()) {
      EntryPoint ep;
      ep.name = name;
      Decoder dec(node, "entryPoints." + name, errors);
      if (name.empty())
        dec.fail("", "empty entry point name");
      decode_entry_point(dec, ep, *eps, warns);
      dec.finish();
      cfg.entry_points.emplace(name, std::move(ep));
    }
  }
  with_section(top, "providers", [&](Decoder& d) { decode_providers(d, cfg.providers, warns); });
  with_section(top, "log", [&](Decoder& d) { decode_log(d, cfg.log, warns); });
  with_section(top, "accessLog",
               [&](Decoder& d) { decode_access_log(d, cfg.access_log.emplace(), warns); });
  with_section(top, "serversTransport", [&](Decoder& d) {
    ignore_key(d, "spiffe", warns);
    decode_servers_transport(d, cfg.servers_transport, /*static_defaults=*/true);
  });
  with_section(top, "tcpServersTransport", [&](Decoder& d) {
    decode_tcp_servers_transport(d, cfg.tcp_servers_transport, /*static_defaults=*/true);
  });
  with_section(top, "core", [&](Decoder& d) { decode_core(d, cfg.core); });
  if (cfg.entry_points.empty()) {
    EntryPoint http;
    http.name = "http";
    http.address = ":80";
    http.listen.port = 80;
    cfg.entry_points.emplace("http", std::move(http));
  }
  // Traefik creates the `traefik` entrypoint on :8080 for internal services that ask for it
  // (rest.insecure here), after the default
  // `http` entrypoint, which exists only when none is configured.
  if (cfg.providers.rest && cfg.providers.rest->insecure && !cfg.entry_points.count("traefik")) {
    EntryPoint ep;
    ep.name = "traefik";
    ep.address = ":8080";
    ep.listen.port = 8080;
    cfg.entry_points.emplace("traefik", std::move(ep));
  }
  // After the entry points: httpChallenge.entryPoint must name one.
  with_section(top, "certificatesResolvers", [&](Decoder& d) { decode_resolvers(d, cfg, warns); });
  ignore_keys(top, kUnsupportedRoots, warns);
  top.finish();
  warnings.insert(warnings.end(), warns.list().begin(), warns.list().end());
  if (!errors.empty())
    return one_per_line(errors);
  return cfg;
}

Result<LoadedStaticConfig> load_static_config(const std::vector<std::string>& args,
                                              const std::map<std::string, std::string>& env,
                                              const StaticLoadOptions& options) {
  Errors errors;
  LoadedStaticConfig out;
  ParsedArgs parsed = parse_args(args, options, errors);
  if (!errors.empty())
    return one_per_line(errors);
  auto env_flags = env_pairs(env);

  std::optional<std::string> file = parsed.config_file;
  if (!file)
    file = find_config_file(options.search_dirs.empty() ? default_search_dirs(env)
                                                        : options.search_dirs);
  Node flags = from_flat(parsed.flags, Location{source_name("command line"), 0});
  Node root;
  if (file) {
    auto loaded = load_file(*file);
    if (!loaded)
      return loaded.error();
    root = std::move(*loaded);
    if (root.is_null())
      root = Node::map(Location{std::make_shared<const std::string>(*file), 0});
    out.source = "file " + *file;
    if (!parsed.flags.empty()) {
      overlay(root, flags);
      out.source += " + command-line flags";
    }
  } else if (!parsed.flags.empty()) {
    root = std::move(flags);
    out.source = "command-line flags";
  } else if (!env_flags.empty()) {
    root = from_flat(env_flags, Location{source_name("environment"), 0});
    out.source = "environment";
  } else {
    root = Node::map();
    out.source = "defaults";
  }
  if (!env_flags.empty() && out.source != "environment")
    out.warnings.push_back("TURNPIKE_*/TRAEFIK_* environment variables ignored: the configuration "
                           "comes from the " +
                           out.source);
  auto cfg = decode_static_config(root, out.warnings);
  if (!cfg)
    return cfg.error();
  out.config = std::move(*cfg);
  return out;
}

std::map<std::string, std::string> current_environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos)
      continue;
    env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

} // namespace turnpike::config
