#include "config/builder.h"

#include <set>

#include "common/log.h"
#include "common/strings.h"
#include "middleware/middleware.h"
#include "router/route_table.h"
#include "router/rule.h"
#include "service/load_balancer.h"

namespace turnpike::config {
namespace {

using HandlerPtr = std::shared_ptr<const http::Handler>;

// Traefik's answer when nothing handles a request.
class NotFoundHandler final : public http::Handler {
 public:
  http::Task<void> handle(http::Exchange& ex) const override {
    http::HeaderMap h;
    h.add("X-Content-Type-Options", "nosniff");
    // GCC 12 miscompiles `if (co_await ...)` whose branch writes through a reference
    // parameter; await into a local first.
    auto awaited = co_await http::send_response(ex, 404, "404 page not found\n", &h);
    if (awaited) ex.close_connection = true;
  }
};

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += "; ";
    out += s;
  }
  return out;
}

class Builder : public middleware::BuildContext {
 public:
  Builder(const DynamicConfig& cfg, const BuildOptions& opts, Snapshot& snap)
      : cfg_(cfg), opts_(opts), snap_(snap) {}

  void run();

  // BuildContext
  Result<middleware::Wrap> middleware(std::string_view name) override;
  std::string_view provider() const override { return current_provider_; }

 private:
  Result<HandlerPtr> service(const std::string& name);
  Result<HandlerPtr> build_service(const HttpService& svc);
  Result<std::shared_ptr<const service::TransportOptions>> transport(const std::string& name);
  void build_routers();
  void add_redirections();
  void add_internal_routes();

  const DynamicConfig& cfg_;
  const BuildOptions& opts_;
  Snapshot& snap_;
  std::string current_provider_;

  std::map<std::string, Result<HandlerPtr>> services_;
  std::set<std::string> services_in_progress_;
  std::map<std::string, Result<middleware::Wrap>> middlewares_;
  std::set<std::string> middlewares_in_progress_;
  std::map<std::string, std::shared_ptr<const service::TransportOptions>> transports_;
  std::vector<std::vector<router::Route>> routes_;  // per entrypoint

 public:
  RuleCache new_rules_;  // the rules this build used (becomes the next build's cache)
};

service::TransportOptions to_runtime(const ServersTransport& t) {
  service::TransportOptions o;
  o.name = t.name.empty() ? "default@internal" : t.name;
  o.dial_timeout = t.forwarding_timeouts.dial_timeout;
  o.response_header_timeout = t.forwarding_timeouts.response_header_timeout;
  o.idle_conn_timeout = t.forwarding_timeouts.idle_conn_timeout;
  o.max_idle_conns_per_host =
      t.max_idle_conns_per_host < 0 ? 0 : static_cast<size_t>(t.max_idle_conns_per_host);
  // Traefik: 0 means the Go default of 2 idle connections per host; keep a useful pool.
  if (t.max_idle_conns_per_host == 0) o.max_idle_conns_per_host = 2;
  return o;
}

Result<std::shared_ptr<const service::TransportOptions>> Builder::transport(const std::string& name) {
  std::string key = name.empty() ? "default@internal" : name;
  if (auto it = transports_.find(key); it != transports_.end()) return it->second;
  std::shared_ptr<const service::TransportOptions> t;
  if (key == "default@internal") {
    t = std::make_shared<service::TransportOptions>(to_runtime(opts_.default_transport));
  } else {
    auto it = cfg_.http.servers_transports.find(key);
    if (it == cfg_.http.servers_transports.end())
      return make_error("serversTransport \"" + key + "\" does not exist");
    if (!it->second.errors.empty())
      return make_error("serversTransport \"" + key + "\": " + join(it->second.errors));
    if (!it->second.root_cas.empty() || !it->second.certificates.empty())
      log::get("builder")->warn("serversTransport {}: TLS options are not supported yet", key);
    t = std::make_shared<service::TransportOptions>(to_runtime(it->second));
  }
  transports_[key] = t;
  return t;
}

Result<HandlerPtr> Builder::build_service(const HttpService& svc) {
  if (!svc.errors.empty()) return make_error(join(svc.errors));
  switch (svc.kind) {
    case ServiceKind::kLoadBalancer: {
      const auto& lb = *svc.load_balancer;
      if (lb.strategy != "wrr" && !lb.strategy.empty())
        log::get("builder")->warn("service {}: strategy {} is not supported yet, using wrr",
                                  svc.name, lb.strategy);
      auto t = transport(lb.servers_transport);
      if (!t) return t.error();
      std::vector<service::Server> servers;
      for (const auto& s : lb.servers) {
        auto parsed = service::Server::parse(s.url, s.weight);
        if (!parsed) return parsed.error();
        parsed->preserve_path = s.preserve_path;
        servers.push_back(std::move(*parsed));
      }
      HandlerPtr h = std::make_shared<service::LoadBalancerService>(
          svc.name, std::move(servers), lb.pass_host_header, *t, opts_.workers);
      return h;
    }
    case ServiceKind::kWeighted: {
      std::vector<service::WeightedService::Child> children;
      for (const auto& c : svc.weighted->services) {
        auto child = service(c.name);
        if (!child) return make_error("service \"" + c.name + "\": " + child.error().message);
        children.push_back({c.name, *child, c.weight});
      }
      HandlerPtr h = std::make_shared<service::WeightedService>(svc.name, std::move(children),
                                                                 opts_.workers);
      return h;
    }
    case ServiceKind::kMirroring:
      return make_error("mirroring services are not supported yet");
    case ServiceKind::kFailover:
      return make_error("failover services are not supported yet");
    case ServiceKind::kHighestRandomWeight:
      return make_error("highestRandomWeight services are not supported yet");
    case ServiceKind::kNone:
      break;
  }
  return make_error("the service has no type");
}

Result<HandlerPtr> Builder::service(const std::string& name) {
  if (auto it = services_.find(name); it != services_.end()) return it->second;
  auto it = cfg_.http.services.find(name);
  if (it == cfg_.http.services.end()) return make_error("the service \"" + name + "\" does not exist");
  if (services_in_progress_.count(name)) return make_error("service reference cycle through \"" + name + "\"");
  services_in_progress_.insert(name);
  auto result = build_service(it->second);
  services_in_progress_.erase(name);
  auto& status = snap_.services[name];
  if (!result) {
    status.status = "disabled";
    status.errors.push_back(result.error().message);
  }
  services_.emplace(name, result);
  return result;
}

Result<middleware::Wrap> Builder::middleware(std::string_view raw_name) {
  std::string name = qualify(raw_name, current_provider_);
  if (auto it = middlewares_.find(name); it != middlewares_.end()) return it->second;
  auto it = cfg_.http.middlewares.find(name);
  if (it == cfg_.http.middlewares.end())
    return make_error("middleware \"" + name + "\" does not exist");
  if (middlewares_in_progress_.count(name))
    return make_error("middleware reference cycle through \"" + name + "\"");
  const auto& mw = it->second;
  Result<middleware::Wrap> result = make_error("");
  if (!mw.errors.empty()) {
    result = make_error(join(mw.errors));
  } else if (const auto* reg = middleware::find(mw.type); !reg) {
    result = make_error((mw.location.describe().empty() ? "" : mw.location.describe() + ": ") +
                        "http.middlewares." + name + ": unknown or unsupported middleware type \"" +
                        mw.type + "\"");
  } else {
    middlewares_in_progress_.insert(name);
    std::string saved = current_provider_;
    current_provider_ = mw.provider;
    Errors errors;
    Decoder dec(mw.options, "http.middlewares." + name + "." + mw.type, errors);
    middleware::Wrap wrap = reg->factory(dec, *this);
    current_provider_ = saved;
    middlewares_in_progress_.erase(name);
    if (!errors.empty() || !wrap) {
      result = make_error(errors.empty() ? "invalid middleware" : errors.joined());
    } else {
      result = wrap;
    }
  }
  if (!result) {
    auto& status = snap_.middlewares[name];
    status.status = "disabled";
    status.errors.push_back(result.error().message);
  }
  middlewares_.emplace(name, result);
  return result;
}

void Builder::build_routers() {
  // Default entrypoints for routers that name none: those marked asDefault, else every one.
  std::vector<size_t> defaults;
  for (size_t i = 0; i < opts_.entrypoints.size(); ++i)
    if (opts_.entrypoints[i]->as_default) defaults.push_back(i);
  if (defaults.empty())
    for (size_t i = 0; i < opts_.entrypoints.size(); ++i) defaults.push_back(i);

  auto& log = *log::get("builder");
  for (const auto& [name, r] : cfg_.http.routers) {
    // Routers come in name order: appending with a hint keeps building the status map linear.
    auto& status = snap_.routers.emplace_hint(snap_.routers.end(), name, ObjectStatus{})->second;
    auto fail = [&](std::string why) {
      status.status = "disabled";
      status.errors.push_back(std::move(why));
    };
    if (!r.errors.empty()) {
      for (const auto& e : r.errors) fail(e);
      continue;
    }
    if (r.tls) {
      fail("TLS routers are not supported yet");
      continue;
    }
    if (r.rule_syntax == "v2") {
      fail("ruleSyntax v2 is not supported");
      continue;
    }
    std::vector<size_t> eps;
    bool ep_error = false;
    if (r.entry_points.empty()) {
      eps = defaults;
    } else {
      for (const auto& ep : r.entry_points) {
        size_t found = opts_.entrypoints.size();
        for (size_t i = 0; i < opts_.entrypoints.size(); ++i)
          if (opts_.entrypoints[i]->name == ep) found = i;
        if (found == opts_.entrypoints.size()) {
          fail("entryPoint \"" + ep + "\" doesn't exist");
          ep_error = true;
        } else {
          eps.push_back(found);
        }
      }
    }
    if (ep_error || eps.empty()) {
      if (!ep_error) fail("no valid entryPoint for this router");
      continue;
    }
    std::shared_ptr<const router::Rule> rule;
    if (opts_.rule_cache) {
      if (auto it = opts_.rule_cache->find(r.rule); it != opts_.rule_cache->end()) rule = it->second;
    }
    if (!rule) {
      auto parsed = router::parse_rule(r.rule);
      if (!parsed) {
        fail("rule \"" + r.rule + "\": " + parsed.error().message);
        continue;
      }
      rule = std::move(*parsed);
    }
    new_rules_.emplace(r.rule, rule);
    auto svc = service(r.service);
    if (!svc) {
      fail(r.service.empty() ? std::string("the router has no service")
                             : "service \"" + r.service + "\": " + svc.error().message);
      continue;
    }
    current_provider_ = r.provider;
    for (size_t ep : eps) {
      // Entrypoint middlewares first, then the router's own.
      std::vector<std::string> chain = opts_.entrypoints[ep]->http.middlewares;
      chain.insert(chain.end(), r.middlewares.begin(), r.middlewares.end());
      HandlerPtr handler = *svc;
      bool ok = true;
      for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        auto wrap = middleware(*it);
        if (!wrap) {
          fail("middleware \"" + qualify(*it, r.provider) + "\": " + wrap.error().message);
          ok = false;
          break;
        }
        handler = (*wrap)(handler);
      }
      if (!ok) break;
      routes_[ep].push_back(router::Route{name, r.rule, rule,
                                          router::effective_priority(r.priority, r.rule), handler});
      status.using_entrypoints.push_back(opts_.entrypoints[ep]->name);
    }
    if (status.status == "disabled") {
      // Undo partial additions across entrypoints.
      for (auto& list : routes_)
        std::erase_if(list, [&](const router::Route& rt) { return rt.name == name; });
      status.using_entrypoints.clear();
      log.error("router {}: {}", name, join(status.errors));
    } else {
      snap_.services[r.service].used_by.push_back(name);
    }
  }
}

void Builder::add_redirections() {
  for (size_t i = 0; i < opts_.entrypoints.size(); ++i) {
    const auto* ep = opts_.entrypoints[i];
    if (!ep->http.redirect) continue;
    const auto& red = *ep->http.redirect;
    // Resolve the target port: an entrypoint name or ":port".
    std::string port;
    if (!red.to.empty() && red.to.front() == ':') {
      port = red.to.substr(1);
    } else {
      for (const auto* other : opts_.entrypoints)
        if (other->name == red.to) port = std::to_string(other->listen.port);
    }
    std::string router_name = ep->name + "-to-" + red.to + "@internal";
    auto& status = snap_.routers[router_name];
    if (port.empty()) {
      status.status = "disabled";
      status.errors.push_back("entryPoints." + ep->name + ".http.redirections.entryPoint.to: \"" +
                              red.to + "\" is neither an entrypoint nor \":port\"");
      continue;
    }
    const auto* reg = middleware::find("redirectScheme");
    Node opts = Node::map();
    opts.child("scheme") = Node::scalar(red.scheme);
    opts.child("port") = Node::scalar(port);
    opts.child("permanent") = Node::scalar(red.permanent ? "true" : "false");
    Errors errors;
    Decoder dec(opts, "entryPoints." + ep->name + ".http.redirections", errors);
    middleware::Wrap wrap = reg ? reg->factory(dec, *this) : middleware::Wrap{};
    if (!wrap || !errors.empty()) {
      status.status = "disabled";
      status.errors.push_back(errors.empty() ? "redirectScheme unavailable" : errors.joined());
      continue;
    }
    // The redirect middleware answers every request on this entrypoint itself.
    HandlerPtr handler = wrap(std::make_shared<NotFoundHandler>());
    auto route = router::make_route(router_name, "HostRegexp(`^.+$`)", red.priority, handler);
    if (!route) continue;
    routes_[i].push_back(std::move(*route));
    status.using_entrypoints.push_back(ep->name);
  }
}

void Builder::add_internal_routes() {
  for (const auto& ir : opts_.internal_routes) {
    auto& status = snap_.routers[ir.name];
    size_t ep = opts_.entrypoints.size();
    for (size_t i = 0; i < opts_.entrypoints.size(); ++i)
      if (opts_.entrypoints[i]->name == ir.entrypoint) ep = i;
    auto route = router::make_route(ir.name, ir.rule, ir.priority, ir.handler);
    if (ep == opts_.entrypoints.size() || !route) {
      status.status = "disabled";
      status.errors.push_back(route ? "entryPoint \"" + ir.entrypoint + "\" doesn't exist"
                                    : route.error().message);
      continue;
    }
    routes_[ep].push_back(std::move(*route));
    status.using_entrypoints.push_back(ir.entrypoint);
  }
}

void Builder::run() {
  routes_.resize(opts_.entrypoints.size());
  build_routers();
  add_redirections();
  add_internal_routes();
  // Report middlewares and services nobody used but that are broken, too.
  for (const auto& [name, svc] : cfg_.http.services) service(name);
  for (const auto& [name, mw] : cfg_.http.middlewares) {
    current_provider_ = mw.provider;
    middleware(name);
  }
  for (size_t i = 0; i < opts_.entrypoints.size(); ++i) {
    snap_.router_count += routes_[i].size();
    snap_.entrypoints.push_back({opts_.entrypoints[i]->name, router::RouteTable::build(std::move(routes_[i])), {}});
  }
}

}  // namespace

std::shared_ptr<const Snapshot> build_snapshot(const DynamicConfig& config,
                                               const BuildOptions& options, uint64_t generation) {
  auto snap = std::make_shared<Snapshot>();
  snap->generation = generation;
  Builder builder(config, options, *snap);
  builder.run();
  build_tcp_udp(config, options, *snap);
  if (options.rule_cache) *options.rule_cache = std::move(builder.new_rules_);
  return snap;
}

std::vector<std::string> collect_errors(const DynamicConfig& config, const Snapshot& snapshot) {
  std::vector<std::string> out = config.errors;
  auto add = [&](const char* kind, const std::map<std::string, ObjectStatus>& m) {
    for (const auto& [name, st] : m)
      for (const auto& e : st.errors) out.push_back(std::string(kind) + " " + name + ": " + e);
  };
  add("router", snapshot.routers);
  add("service", snapshot.services);
  add("middleware", snapshot.middlewares);
  add("tcp router", snapshot.tcp_routers);
  add("tcp service", snapshot.tcp_services);
  add("tcp middleware", snapshot.tcp_middlewares);
  add("udp router", snapshot.udp_routers);
  add("udp service", snapshot.udp_services);
  return out;
}

}  // namespace turnpike::config
