// The TCP and UDP half of the snapshot builder (builder.h): TCP routers compiled into per
// entrypoint route tables with their middleware chains and services, UDP routers attached to
// their UDP entrypoints. Same degradation rules as the HTTP half: a broken object is disabled
// with its error in the snapshot's status maps, and so is what depends on it; the rest serves.
// Control thread only.

#include <set>

#include "common/ipnet.h"
#include "common/log.h"
#include "config/builder.h"
#include "router/rule.h"
#include "service/upstream_tls.h"
#include "tcp/middleware.h"
#include "tcp/service.h"

namespace turnpike::config {
namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v)
    out += (out.empty() ? "" : "; ") + s;
  return out;
}

void disable(ObjectStatus& status, std::string why) {
  status.status = "disabled";
  status.errors.push_back(std::move(why));
}

// The client TLS options a TCP transport gives its `tls: true` servers: its `tls` section, or
// Go's client defaults (system roots, verification on, TLS 1.2 minimum) without one.
service::TlsClientOptions tls_client_options(const TcpServersTransport& t) {
  service::TlsClientOptions o;
  if (!t.tls)
    return o;
  o.server_name = t.tls->server_name;
  o.insecure_skip_verify = t.tls->insecure_skip_verify;
  o.root_cas = t.tls->root_cas;
  for (const auto& c : t.tls->certificates)
    o.certificates.push_back({c.cert_file, c.key_file});
  o.peer_cert_uri = t.tls->peer_cert_uri;
  return o;
}

Result<tcp::Transport> to_runtime(const TcpServersTransport& t) {
  tcp::Transport o;
  o.name = t.name.empty() ? "default@internal" : t.name;
  o.dial_timeout = t.dial_timeout;
  o.dial_keep_alive = t.dial_keep_alive;
  o.termination_delay = t.termination_delay;
  o.idle_timeout = t.idle_timeout;
  o.proxy_protocol_version = t.proxy_protocol_version;
  if (t.tls && t.tls->spiffe)
    log::get("builder")->warn("serversTransport {}: tls.spiffe is not supported, ignored", o.name);
  // Contexts are cached by content (upstream_tls.cc), so a transport whose servers never use TLS
  // costs one lookup per build.
  auto tls = service::UpstreamTls::create(tls_client_options(t));
  if (!tls)
    return make_error("tls." + tls.error().message);
  o.tls = std::move(*tls);
  return o;
}

// Resolves router entry point names against `eps`; empty names = `defaults`. Reports unknown
// names on `status` and returns nullopt then.
std::optional<std::vector<size_t>> resolve_entrypoints(const std::vector<std::string>& names,
                                                       const std::vector<const EntryPoint*>& eps,
                                                       const std::vector<size_t>& defaults,
                                                       ObjectStatus& status) {
  if (names.empty()) {
    if (defaults.empty()) {
      disable(status, "no valid entryPoint for this router");
      return std::nullopt;
    }
    return defaults;
  }
  std::vector<size_t> out;
  bool ok = true;
  for (const auto& name : names) {
    size_t found = eps.size();
    for (size_t i = 0; i < eps.size(); ++i)
      if (eps[i]->name == name)
        found = i;
    if (found == eps.size()) {
      disable(status, "entryPoint \"" + name + "\" doesn't exist");
      ok = false;
    } else {
      out.push_back(found);
    }
  }
  if (!ok)
    return std::nullopt;
  return out;
}

class TcpUdpBuilder {
public:
  TcpUdpBuilder(const DynamicConfig& cfg, const BuildOptions& opts, Snapshot& snap)
      : cfg_(cfg), opts_(opts), snap_(snap) {}

  void run() {
    tcp_routes_.resize(opts_.entrypoints.size());
    build_tcp_routers();
    add_https_domains();
    // Report services and middlewares nobody used but that are broken, too.
    for (const auto& [name, svc] : cfg_.tcp.services)
      tcp_service(name);
    for (const auto& [name, mw] : cfg_.tcp.middlewares)
      tcp_middleware(name);
    for (size_t i = 0; i < opts_.entrypoints.size() && i < snap_.entrypoints.size(); ++i) {
      auto& ep = snap_.entrypoints[i].tcp;
      snap_.tcp_router_count += tcp_routes_[i].plain.size() + tcp_routes_[i].tls.size();
      ep.tcp = router::TcpRouteTable::build(std::move(tcp_routes_[i].plain));
      ep.tls = router::TcpRouteTable::build(std::move(tcp_routes_[i].tls));
      ep.https = router::TcpRouteTable::build(std::move(tcp_routes_[i].https));
    }
    build_udp();
  }

private:
  struct EntryPointTcpRoutes {
    std::vector<router::TcpRoute> plain, tls, https;
  };

  // ---- TCP --------------------------------------------------------------------------------

  Result<std::shared_ptr<const tcp::Transport>> tcp_transport(const std::string& name) {
    std::string key = name.empty() ? "default@internal" : name;
    if (auto it = transports_.find(key); it != transports_.end())
      return it->second;
    const TcpServersTransport* config = &opts_.default_tcp_transport;
    if (key != "default@internal") {
      auto it = cfg_.tcp.servers_transports.find(key);
      if (it == cfg_.tcp.servers_transports.end())
        return make_error("serversTransport \"" + key + "\" does not exist");
      if (!it->second.errors.empty())
        return make_error("serversTransport \"" + key + "\": " + join(it->second.errors));
      config = &it->second;
    }
    auto runtime = to_runtime(*config);
    if (!runtime) {
      // Like a transport whose decoding failed: the services using it are disabled.
      Result<std::shared_ptr<const tcp::Transport>> broken =
          make_error("serversTransport \"" + key + "\": " + runtime.error().message);
      transports_.emplace(key, broken);
      return broken;
    }
    std::shared_ptr<const tcp::Transport> t = std::make_shared<tcp::Transport>(std::move(*runtime));
    transports_.emplace(key, t);
    return t;
  }

  Result<tcp::HandlerPtr> build_tcp_service(const TcpService& svc) {
    if (!svc.errors.empty())
      return make_error(join(svc.errors));
    if (svc.kind == TcpServiceKind::kWeighted) {
      std::vector<tcp::Weighted::Child> children;
      for (const auto& c : svc.weighted) {
        auto child = tcp_service(c.name);
        if (!child)
          return make_error("service \"" + c.name + "\": " + child.error().message);
        children.push_back({c.name, *child, c.weight});
      }
      tcp::HandlerPtr h =
          std::make_shared<tcp::Weighted>(svc.name, std::move(children), opts_.workers);
      return h;
    }
    if (svc.kind != TcpServiceKind::kLoadBalancer)
      return make_error("the service has no type");
    const auto& lb = *svc.load_balancer;
    auto transport = tcp_transport(lb.servers_transport);
    if (!transport)
      return transport.error();
    // Deprecated loadBalancer.terminationDelay, honoured when no serversTransport is named.
    if (lb.termination_delay && lb.servers_transport.empty()) {
      auto copy = std::make_shared<tcp::Transport>(**transport);
      copy->termination_delay = *lb.termination_delay;
      *transport = copy;
    }
    if (lb.health_check)
      log::get("builder")->warn("tcp service {}: healthCheck is not supported yet, ignored",
                                svc.name);
    std::vector<tcp::Server> servers;
    for (const auto& s : lb.servers) {
      auto parsed = ServerAddress::parse(s.address, s.weight);
      if (!parsed)
        return parsed.error();
      tcp::Server server{std::move(*parsed)};
      server.tls = s.tls;
      servers.push_back(std::move(server));
    }
    tcp::HandlerPtr h = std::make_shared<tcp::LoadBalancer>(
        svc.name, std::move(servers), *transport, lb.proxy_protocol_version, opts_.workers);
    return h;
  }

  Result<tcp::HandlerPtr> tcp_service(const std::string& name) {
    if (auto it = tcp_services_.find(name); it != tcp_services_.end())
      return it->second;
    auto it = cfg_.tcp.services.find(name);
    if (it == cfg_.tcp.services.end())
      return make_error("the service \"" + name + "\" does not exist");
    if (services_in_progress_.count(name))
      return make_error("service reference cycle through \"" + name + "\"");
    services_in_progress_.insert(name);
    auto result = build_tcp_service(it->second);
    services_in_progress_.erase(name);
    auto& status = snap_.tcp_services[name];
    if (!result)
      disable(status, result.error().message);
    tcp_services_.emplace(name, result);
    return result;
  }

  Result<tcp::Wrap> tcp_middleware(const std::string& name) {
    if (auto it = tcp_middlewares_.find(name); it != tcp_middlewares_.end())
      return it->second;
    auto it = cfg_.tcp.middlewares.find(name);
    if (it == cfg_.tcp.middlewares.end())
      return make_error("middleware \"" + name + "\" does not exist");
    const auto& mw = it->second;
    Result<tcp::Wrap> result = make_error("invalid middleware");
    if (!mw.errors.empty()) {
      result = make_error(join(mw.errors));
    } else if (const auto* reg = tcp::find_middleware(mw.type); !reg) {
      result = make_error((mw.location.describe().empty() ? "" : mw.location.describe() + ": ") +
                          "tcp.middlewares." + name + ": unknown TCP middleware type \"" + mw.type +
                          "\"");
    } else {
      Errors errors;
      Decoder dec(mw.options, "tcp.middlewares." + name + "." + mw.type, errors);
      tcp::Wrap wrap = reg->factory(dec);
      if (errors.empty() && wrap)
        result = wrap;
      else if (!errors.empty())
        result = make_error(errors.joined());
    }
    auto& status = snap_.tcp_middlewares[name]; // every object has a status, broken or not
    if (!result)
      disable(status, result.error().message);
    tcp_middlewares_.emplace(name, result);
    return result;
  }

  void build_tcp_routers() {
    std::vector<size_t> defaults = default_entrypoints(opts_);

    for (const auto& [name, r] : cfg_.tcp.routers) {
      auto& status = snap_.tcp_routers[name];
      if (!r.errors.empty()) {
        for (const auto& e : r.errors)
          disable(status, e);
        continue;
      }
      if (r.rule_syntax == "v2") {
        disable(status, "ruleSyntax v2 is not supported");
        continue;
      }
      auto eps = resolve_entrypoints(r.entry_points, opts_.entrypoints, defaults, status);
      if (!eps)
        continue;
      auto rule = router::parse_tcp_rule(r.rule);
      if (!rule) {
        disable(status, "rule \"" + r.rule + "\": " + rule.error().message);
        continue;
      }
      if (!r.tls && !(*rule)->sni_domains().empty()) {
        disable(status, "rule \"" + r.rule +
                            "\": HostSNI needs TLS on the router (tls.passthrough: true to "
                            "forward the TLS connection as is); only HostSNI(`*`) works without");
        continue;
      }
      bool terminate = r.tls && !r.tls->passthrough;
      if (terminate && !server_tls()) {
        disable(status, "TLS termination needs the gateway's TLS configuration");
        continue;
      }
      auto svc = tcp_service(r.service);
      if (!svc) {
        disable(status, "service \"" + r.service + "\": " + svc.error().message);
        continue;
      }
      tcp::HandlerPtr handler = *svc;
      bool ok = true;
      for (auto it = r.middlewares.rbegin(); it != r.middlewares.rend(); ++it) {
        auto wrap = tcp_middleware(*it);
        if (!wrap) {
          disable(status, "middleware \"" + *it + "\": " + wrap.error().message);
          ok = false;
          break;
        }
        handler = (*wrap)(handler);
      }
      if (!ok)
        continue;
      // Traefik: a terminating router whose TLS options are unknown or broken is in error, and
      // its route stays to close the connections it matches (never served with other options).
      int tls_options = terminate ? termination_options(*r.tls, r.provider, status) : -1;
      int64_t priority = router::tcp_route_priority(r.priority, r.rule, **rule);
      for (size_t ep : *eps) {
        router::TcpRoute route{name,      r.rule,     *rule, priority, handler, !terminate && r.tls,
                               terminate, tls_options};
        (r.tls ? tcp_routes_[ep].tls : tcp_routes_[ep].plain).push_back(std::move(route));
        if (status.status != "disabled")
          status.using_entrypoints.push_back(opts_.entrypoints[ep]->name);
      }
      snap_.tcp_services[r.service].used_by.push_back(name);
      for (const auto& m : r.middlewares)
        snap_.tcp_middlewares[m].used_by.push_back(name);
    }
    for (const auto& [name, st] : snap_.tcp_routers)
      if (st.status == "disabled")
        log::get("builder")->error("tcp router {}: {}", name, join(st.errors));
  }

  // The certificates and TLS options of this snapshot (shared by every entrypoint); null when
  // it was built without TLS (some unit tests).
  const tls::ServerTls* server_tls() const {
    for (const auto& ep : snap_.entrypoints)
      if (ep.tls)
        return &ep.tls->server();
    return nullptr;
  }

  // The index of a terminating router's TLS options in the snapshot's ServerTls (the same
  // object on every entrypoint), or -1 with the router disabled when they are unknown or broken.
  int termination_options(const TcpRouterTls& tls, const std::string& provider,
                          ObjectStatus& status) {
    std::string name = tls.options.empty() || tls.options == tls::kDefaultOptionsName
                           ? std::string(tls::kDefaultOptionsName)
                           : qualify(tls.options, provider);
    const tls::ServerTls& server = *server_tls();
    int index = server.find_options(name);
    if (index == tls::kBrokenOptions) {
      disable(status, "unknown TLS options: " + name);
      return tls::kBrokenOptions;
    }
    if (const auto& error = server.options()[static_cast<size_t>(index)].error; !error.empty()) {
      disable(status, "TLS options \"" + name + "\" are broken: tls.options." + name + "." + error);
      return tls::kBrokenOptions;
    }
    return index;
  }

  // Traefik's HTTPS muxer: each domain of an enabled TLS HTTP router becomes a HostSNI route, and
  // a TLS router without Host a HostSNI(`*`) one. A TLS connection whose SNI matches a specific
  // domain goes to HTTP handling even if a TCP TLS router also matches it; the catch-all only
  // wins when no TCP TLS router matches (see entrypoint/tcp_stage.h).
  void add_https_domains() {
    bool tls_entrypoint = false;
    for (const EntryPoint* ep : opts_.entrypoints)
      tls_entrypoint |= ep->http.tls.has_value();
    for (const auto& [name, r] : cfg_.http.routers) {
      // Checked before the status lookup: with 10,000 plain routers this loop is on every
      // change's path (docs/benchmarks.md).
      if (!r.tls && !tls_entrypoint)
        continue;
      auto st = snap_.routers.find(name);
      if (st == snap_.routers.end() || st->second.status == "disabled")
        continue;
      for (const auto& ep_name : st->second.using_entrypoints) {
        for (size_t i = 0; i < opts_.entrypoints.size(); ++i) {
          const EntryPoint* ep = opts_.entrypoints[i];
          if (ep->name != ep_name || (!r.tls && !ep->http.tls))
            continue;
          auto rule = router::parse_rule(r.rule);
          if (!rule)
            continue;
          auto domains = (*rule)->domains();
          if (domains.empty())
            domains.push_back("*");
          for (const auto& d : domains) {
            std::string text = "HostSNI(`" + d + "`)";
            auto sni = router::parse_tcp_rule(text);
            if (!sni)
              continue; // a Host value HostSNI cannot express
            int64_t priority = router::tcp_route_priority(0, text, **sni);
            tcp_routes_[i].https.push_back({name, text, *sni, priority, nullptr, false});
          }
        }
      }
    }
  }

  // ---- UDP --------------------------------------------------------------------------------

  Result<udp::ServicePtr> build_udp_service(const UdpService& svc) {
    if (!svc.errors.empty())
      return make_error(join(svc.errors));
    if (svc.kind == TcpServiceKind::kWeighted) {
      std::vector<udp::Weighted::Child> children;
      for (const auto& c : svc.weighted) {
        auto child = udp_service(c.name);
        if (!child)
          return make_error("service \"" + c.name + "\": " + child.error().message);
        children.push_back({c.name, *child, c.weight});
      }
      udp::ServicePtr s =
          std::make_shared<udp::Weighted>(svc.name, std::move(children), opts_.workers);
      return s;
    }
    if (svc.kind != TcpServiceKind::kLoadBalancer)
      return make_error("the service has no type");
    std::vector<udp::Server> servers;
    for (const auto& s : svc.servers) {
      auto parsed = ServerAddress::parse(s.address, s.weight);
      if (!parsed)
        return parsed.error();
      servers.push_back(std::move(*parsed));
    }
    udp::ServicePtr s =
        std::make_shared<udp::LoadBalancer>(svc.name, std::move(servers), opts_.workers);
    return s;
  }

  Result<udp::ServicePtr> udp_service(const std::string& name) {
    if (auto it = udp_services_.find(name); it != udp_services_.end())
      return it->second;
    auto it = cfg_.udp.services.find(name);
    if (it == cfg_.udp.services.end())
      return make_error("the service \"" + name + "\" does not exist");
    if (services_in_progress_.count("udp:" + name))
      return make_error("service reference cycle through \"" + name + "\"");
    services_in_progress_.insert("udp:" + name);
    auto result = build_udp_service(it->second);
    services_in_progress_.erase("udp:" + name);
    auto& status = snap_.udp_services[name];
    if (!result)
      disable(status, result.error().message);
    udp_services_.emplace(name, result);
    return result;
  }

  void build_udp() {
    const auto& eps = opts_.udp_entrypoints;
    snap_.udp_entrypoints.resize(eps.size());
    for (size_t i = 0; i < eps.size(); ++i)
      snap_.udp_entrypoints[i].name = eps[i]->name;
    std::vector<size_t> all(eps.size());
    for (size_t i = 0; i < eps.size(); ++i)
      all[i] = i;
    // Routers in name order: on an entrypoint with several, the first by name serves it.
    for (const auto& [name, r] : cfg_.udp.routers) {
      auto& status = snap_.udp_routers[name];
      if (!r.errors.empty()) {
        for (const auto& e : r.errors)
          disable(status, e);
        continue;
      }
      auto targets = resolve_entrypoints(r.entry_points, eps, all, status);
      if (!targets)
        continue;
      auto svc = udp_service(r.service);
      if (!svc) {
        disable(status, "service \"" + r.service + "\": " + svc.error().message);
        continue;
      }
      for (size_t ep : *targets) {
        auto& slot = snap_.udp_entrypoints[ep];
        if (slot.service) {
          // Traefik: one UDP router per entrypoint; the others only get a warning.
          status.status = "warning";
          status.errors.push_back("entryPoint \"" + slot.name +
                                  "\" is already served by UDP "
                                  "router \"" +
                                  slot.router +
                                  "\" (one UDP router per entry "
                                  "point)");
          continue;
        }
        slot.router = name;
        slot.service = *svc;
        status.using_entrypoints.push_back(slot.name);
      }
      snap_.udp_services[r.service].used_by.push_back(name);
    }
    for (const auto& [name, svc] : cfg_.udp.services)
      udp_service(name);
  }

  const DynamicConfig& cfg_;
  const BuildOptions& opts_;
  Snapshot& snap_;
  std::vector<EntryPointTcpRoutes> tcp_routes_;
  std::map<std::string, Result<std::shared_ptr<const tcp::Transport>>> transports_;
  std::map<std::string, Result<tcp::HandlerPtr>> tcp_services_;
  std::map<std::string, Result<tcp::Wrap>> tcp_middlewares_;
  std::map<std::string, Result<udp::ServicePtr>> udp_services_;
  std::set<std::string> services_in_progress_;
};

} // namespace

void build_tcp_udp(const DynamicConfig& config, const BuildOptions& options, Snapshot& snapshot) {
  TcpUdpBuilder(config, options, snapshot).run();
}

} // namespace turnpike::config
