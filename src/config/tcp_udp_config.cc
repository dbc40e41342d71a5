#include "config/tcp_udp_config.h"

#include <array>

#include "config/decode_helpers.h"
#include "config/dynamic_config.h"

namespace turnpike::config {
namespace {

using namespace decode;

constexpr std::array<std::string_view, 2> kServiceKinds = {"loadBalancer", "weighted"};

// `proxyProtocol: {version}`; an empty section means version 2 (Traefik's default).
void decode_proxy_protocol(Decoder& dec, int& version) {
  const Node* n = dec.section("proxyProtocol");
  if (!n)
    return;
  Decoder pd(*n, dec.child_path("proxyProtocol"), dec.errors());
  version = 2;
  if (pd.get("version", version) && version != 1 && version != 2) {
    pd.fail("version", "must be 1 or 2");
    version = 0;
  }
  pd.finish();
}

void decode_tcp_router(Decoder& dec, std::string_view provider, TcpRouter& r) {
  decode_router_fields(dec, provider, r);
  if (const Node* n = dec.section("tls")) {
    auto& tls = r.tls.emplace();
    Decoder td(*n, dec.child_path("tls"), dec.errors());
    td.get("passthrough", tls.passthrough);
    td.get("options", tls.options);
    td.get("certResolver", tls.cert_resolver);
    decode_tls_domains(td, "domains", tls.domains);
    td.finish();
  }
  dec.finish();
  if (r.rule.empty())
    dec.fail("rule", "is required");
}

void decode_tcp_load_balancer(Decoder& dec, std::string_view provider, TcpLoadBalancerConfig& lb) {
  decode_servers(dec, "address", &TcpServer::address, lb.servers,
                 [](Decoder& sd, TcpServer& s) { sd.get("tls", s.tls); });
  get_ref(dec, "serversTransport", provider, lb.servers_transport, /*required=*/false);
  decode_proxy_protocol(dec, lb.proxy_protocol_version);
  // Deprecated: an integer number of milliseconds.
  if (int64_t ms = 0; dec.get("terminationDelay", ms))
    lb.termination_delay = std::chrono::milliseconds(ms);
  keep_raw(dec, "healthCheck", lb.health_check);
  dec.finish();
}

void decode_tcp_service(Decoder& dec, std::string_view provider, TcpService& s) {
  if (auto kind = single_kind(dec, kServiceKinds)) {
    Decoder kd(*kind->second, dec.child_path(kServiceKinds[kind->first]), dec.errors());
    if (kind->first == 0) {
      s.kind = TcpServiceKind::kLoadBalancer;
      decode_tcp_load_balancer(kd, provider, s.load_balancer.emplace());
    } else {
      s.kind = TcpServiceKind::kWeighted;
      decode_children(kd, provider, s.weighted);
      kd.finish();
    }
  }
  dec.finish();
}

void decode_udp_router(Decoder& dec, std::string_view provider, UdpRouter& r) {
  dec.get("entryPoints", r.entry_points);
  get_ref(dec, "service", provider, r.service, /*required=*/true);
  dec.finish();
}

void decode_udp_service(Decoder& dec, std::string_view provider, UdpService& s) {
  if (auto kind = single_kind(dec, kServiceKinds)) {
    Decoder kd(*kind->second, dec.child_path(kServiceKinds[kind->first]), dec.errors());
    if (kind->first == 0) {
      s.kind = TcpServiceKind::kLoadBalancer;
      decode_servers(kd, "address", &UdpServer::address, s.servers, [](Decoder&, UdpServer&) {});
    } else {
      s.kind = TcpServiceKind::kWeighted;
      decode_children(kd, provider, s.weighted);
    }
    kd.finish();
  }
  dec.finish();
}

} // namespace

void decode_tcp_servers_transport(Decoder& dec, TcpServersTransport& st, bool static_defaults) {
  dec.get("dialKeepAlive", st.dial_keep_alive); // negative: keep-alive probes off
  dec.get_non_negative("dialTimeout", st.dial_timeout);
  dec.get("terminationDelay", st.termination_delay); // negative: no limit
  dec.get_non_negative("idleTimeout", st.idle_timeout);
  if (const Node* n = dec.section("tls")) {
    auto& tls = st.tls.emplace();
    Decoder td(*n, dec.child_path("tls"), dec.errors());
    td.get("insecureSkipVerify", tls.insecure_skip_verify);
    td.get("rootCAs", tls.root_cas);
    std::optional<Node> spiffe;
    keep_raw(td, "spiffe", spiffe);
    tls.spiffe = spiffe.has_value();
    if (!static_defaults) {
      td.get("serverName", tls.server_name);
      auto certs = td.list("certificates");
      for (size_t i = 0; i < certs.size(); ++i) {
        Decoder cd(*certs[i], index_path(td, "certificates", i), td.errors());
        decode_certificate_files(cd, tls.certificates.emplace_back());
        cd.finish();
      }
      td.get("peerCertURI", tls.peer_cert_uri);
    }
    td.finish();
  }
  if (!static_defaults)
    decode_proxy_protocol(dec, st.proxy_protocol_version);
}

void decode_tcp(const Node& node, std::string_view provider, TcpConfig& out, Errors& errors) {
  Decoder dec(node, "tcp", errors);
  decode_objects(dec, "routers", provider, out.routers,
                 [&](Decoder& d, TcpRouter& r) { decode_tcp_router(d, provider, r); });
  decode_objects(dec, "services", provider, out.services,
                 [&](Decoder& d, TcpService& s) { decode_tcp_service(d, provider, s); });
  decode_objects(dec, "middlewares", provider, out.middlewares, [&](Decoder& d, TcpMiddleware& m) {
    decode_middleware(d, m, "ipAllowList, inFlightConn");
  });
  decode_objects(dec, "serversTransports", provider, out.servers_transports,
                 [&](Decoder& d, TcpServersTransport& st) {
                   decode_tcp_servers_transport(d, st, /*static_defaults=*/false);
                   d.finish();
                 });
  dec.finish();
}

void decode_udp(const Node& node, std::string_view provider, UdpConfig& out, Errors& errors) {
  Decoder dec(node, "udp", errors);
  decode_objects(dec, "routers", provider, out.routers,
                 [&](Decoder& d, UdpRouter& r) { decode_udp_router(d, provider, r); });
  decode_objects(dec, "services", provider, out.services,
                 [&](Decoder& d, UdpService& s) { decode_udp_service(d, provider, s); });
  dec.finish();
}

void merge(TcpConfig& into, TcpConfig& from, std::vector<std::string>& errors) {
  merge_objects(into.routers, from.routers, "tcp.routers", errors);
  merge_objects(into.services, from.services, "tcp.services", errors);
  merge_objects(into.middlewares, from.middlewares, "tcp.middlewares", errors);
  merge_objects(into.servers_transports, from.servers_transports, "tcp.serversTransports", errors);
}

void merge(UdpConfig& into, UdpConfig& from, std::vector<std::string>& errors) {
  merge_objects(into.routers, from.routers, "udp.routers", errors);
  merge_objects(into.services, from.services, "udp.services", errors);
}

} // namespace turnpike::config
