#include "config/builder.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <set>
#include <unordered_map>
#include <utility>

#include "common/log.h"
#include "common/strings.h"
#include "middleware/middleware.h"
#include "router/route_table.h"
#include "router/rule.h"
#include "config/service_options.h"
#include "service/failover.h"
#include "service/load_balancer.h"
#include "service/mirroring.h"

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

// Marks an object disabled with its error in a snapshot status map.
void disable(std::map<std::string, ObjectStatus>& statuses, const std::string& name,
             const std::string& error) {
  auto& status = statuses[name];
  status.status = "disabled";
  status.errors.push_back(error);
}

// Identity of one built result (a service, middleware or transport, or its error), kept while the
// result is reused; 0 for results that are never reused (a missing or internal service, a
// reference cycle), which no dependency matches.
using Serial = uint64_t;

Serial next_serial() {
  static std::atomic<Serial> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

// One lookup an object made while it was built, and what it got.
struct Dep {
  enum class Kind : uint8_t { kService, kMiddleware, kTransport, kTlsOptions };
  Kind kind;
  std::string name;  // qualified
  Serial serial;
};

template <class T> struct Built {
  Result<T> result = make_error("");
  Serial serial = 0;
};

struct ServiceEntry {
  Revision revision = 0;
  Built<service::ServicePtr> built;
  std::vector<Dep> deps;
  std::optional<std::vector<std::string>> health_keys;  // asked of the HealthRegistry
  std::vector<service::HealthCheckTarget> health_checks;
};

struct MiddlewareEntry {
  Revision revision = 0;
  Built<middleware::Wrap> built;
  std::vector<Dep> deps;
  std::vector<std::string> state_ids;  // StateStore instances its factory took
};

struct TransportEntry {
  Revision revision = 0;
  Built<std::shared_ptr<const service::TransportOptions>> built;
};

struct HostClaim {
  size_t entrypoint;
  std::string host, options;
};

struct RouterEntry {
  Revision revision = 0;
  std::vector<Dep> deps;
  ObjectStatus status;  // before TLS-option warnings (assign_tls_options) and used_by
  std::vector<std::pair<size_t, bool>> placements;  // (entrypoint, TLS table) of each route
  std::vector<router::RoutePtr> routes;
  std::vector<HostClaim> claims;
  std::vector<std::string> state_ids;  // StateStore instances its chains took
  std::shared_ptr<const router::Rule> rule;
  std::string rule_text; // of `rule`
  std::string service;   // the router's service (the snapshot's used_by of it names the router)

  // Its build touched no state a patch cannot carry (BuildOptions::changes): no TLS (host
  // claims, TLS tables, HTTPS domains for the TCP part) and no middleware state.
  bool patchable() const {
    if (!claims.empty() || !state_ids.empty())
      return false;
    for (const auto& p : placements)
      if (p.second)
        return false;
    return true;
  }
};

}  // namespace

struct BuildCache::Entries {
  std::unordered_map<std::string, ServiceEntry> services;
  std::unordered_map<std::string, MiddlewareEntry> middlewares;
  std::unordered_map<std::string, TransportEntry> transports;
  std::unordered_map<std::string, RouterEntry> routers;
  // The last snapshot and what a patch of it needs besides (BuildOptions::changes).
  std::shared_ptr<const Snapshot> snapshot;
  std::shared_ptr<const tls::ServerTls> server_tls;
  std::vector<service::HealthCheckTarget> health_checks;
};

BuildCache::BuildCache() : entries_(std::make_unique<Entries>()) {}
BuildCache::~BuildCache() = default;

// The last build's entry for `name` when it was built from the same revision (never for
// revision 0: an object not from decode_dynamic).
template <class Entry>
Entry* same_revision(std::unordered_map<std::string, Entry>* entries, const std::string& name,
                     Revision revision) {
  if (!entries || revision == 0) return nullptr;
  auto it = entries->find(name);
  return it != entries->end() && it->second.revision == revision ? &it->second : nullptr;
}

// Moves the last build's entry for `name` into this build's map (no copy, no allocation: with
// 10,000 reused routers and services that matters). References to other entries stay valid.
template <class Entry>
Entry& carry_over(std::unordered_map<std::string, Entry>& from,
                  std::unordered_map<std::string, Entry>& to, const std::string& name) {
  return to.insert(from.extract(name)).position->second;
}

std::vector<size_t> default_entrypoints(const BuildOptions& opts) {
  std::vector<size_t> defaults;
  for (size_t i = 0; i < opts.entrypoints.size(); ++i)
    if (opts.entrypoints[i]->as_default)
      defaults.push_back(i);
  if (defaults.empty())
    for (size_t i = 0; i < opts.entrypoints.size(); ++i)
      defaults.push_back(i);
  return defaults;
}

struct BuildCacheAccess {
  static BuildCache::Entries& entries(BuildCache& c) { return *c.entries_; }
  static BuildCache::Stats& stats(BuildCache& c) { return c.stats_; }
};

namespace {

class Builder : public middleware::BuildContext {
 public:
  Builder(const DynamicConfig& cfg, const BuildOptions& opts, Snapshot& snap)
      : cfg_(cfg), opts_(opts), snap_(snap) {
    if (opts.cache) previous_ = &BuildCacheAccess::entries(*opts.cache);
    // Sized once: growing them one rehash at a time costs more than filling them.
    services_.reserve(cfg.http.services.size());
    next_.services.reserve(cfg.http.services.size());
    next_.routers.reserve(cfg.http.routers.size());
    new_rules_.reserve(cfg.http.routers.size());
  }

  void run();
  // Patches the last snapshot for `changes` (BuildOptions::changes); false, with nothing changed
  // but the middleware state store's pending instances, when it cannot.
  bool patch(const ChangeSet& changes);

  // BuildContext
  Result<middleware::Wrap> middleware(std::string_view name) override;
  std::string_view provider() const override { return current_provider_; }
  Result<middleware::HandlerPtr> service_handler(std::string_view name) override;
  unsigned workers() const override { return opts_.workers; }
  middleware::StateSlot state_slot() override;

 private:
  // Lookups by qualified name: this build's result, reused from the cache or built once. Each
  // records what it returned in the frame of the object being built (deps_).
  Result<service::ServicePtr> service(const std::string& name);
  Result<std::shared_ptr<const service::TransportOptions>> transport(const std::string& name);
  Result<middleware::Wrap> middleware_qualified(const std::string& name);
  Built<service::ServicePtr> resolve_service(const std::string& name);
  Built<middleware::Wrap> resolve_middleware(const std::string& name);
  Built<std::shared_ptr<const service::TransportOptions>> resolve_transport(const std::string& name);
  // While patching: the last build's result, looked up without building or reporting anything.
  template <class Entry, class Config>
  decltype(Entry::built) reuse_only(std::unordered_map<std::string, Entry>& entries,
                                    const std::map<std::string, Config>& configs,
                                    const std::string& name, std::string missing);
  Serial tls_options_serial(const std::string& name) const;
  void note(Dep::Kind kind, const std::string& name, Serial serial) {
    if (deps_) deps_->push_back({kind, name, serial});
  }
  // True when every lookup in `deps` gives the same result in this build as it did then.
  bool same_deps(const std::vector<Dep>& deps);

  Result<service::ServicePtr> build_service(const HttpService& svc);
  Result<service::ServicePtr> build_load_balancer(const HttpService& svc);
  Result<service::ServicePtr> build_weighted(const HttpService& svc);
  Result<middleware::Wrap> build_middleware(const std::string& name, const HttpMiddleware& mw);
  void build_tls();
  Result<void> check_tls_options(const std::string& name) const;
  void build_routers();
  void build_router(const std::string& name, const HttpRouter& r,
                    const std::vector<size_t>& defaults, RouterEntry& entry);
  void assign_tls_options();
  void add_redirections();
  void add_internal_routes();

  const DynamicConfig& cfg_;
  const BuildOptions& opts_;
  Snapshot& snap_;
  BuildCache::Entries* previous_ = nullptr;  // the last build's objects, when there is a cache
  std::string current_provider_;
  const HttpMiddleware* decoding_ = nullptr;  // the middleware whose factory runs now
  std::string decoding_name_;
  std::vector<Dep>* deps_ = nullptr;          // lookups of the object being built now
  ServiceEntry* building_service_ = nullptr;  // the load balancer being built now

  // Hashed, not ordered: every router looks its service up here at each build (10,000 routers
  // from a KV store: docs/benchmarks.md), and nothing iterates them.
  std::unordered_map<std::string, Built<service::ServicePtr>> services_;
  std::vector<std::string_view> services_in_progress_;  // a stack: the services being built
  std::map<std::string, Built<middleware::Wrap>> middlewares_;
  std::set<std::string> middlewares_in_progress_;
  std::map<std::string, Built<std::shared_ptr<const service::TransportOptions>>> transports_;
  std::vector<std::vector<router::RoutePtr>> routes_;     // per entrypoint, plain connections
  std::vector<std::vector<router::RoutePtr>> tls_routes_; // per entrypoint, TLS connections
  bool patching_ = false;     // patch(): lookups only reuse the last build's results
  bool cannot_patch_ = false; // patch(): a lookup found nothing reusable
  std::vector<std::shared_ptr<const tls::EntryPointTls>> ept_;  // per entrypoint
  // Per entrypoint: host -> TLS options name -> routers that claim it (Traefik's
  // tlsOptionsForHostSNI), resolved by assign_tls_options().
  std::vector<std::map<std::string, std::map<std::string, std::vector<std::string>>>> host_claims_;

 public:
   std::shared_ptr<const tls::ServerTls> server_tls_; // null without a TLS manager
   RuleCache new_rules_;      // the rules this build used (becomes the next build's cache)
   BuildCache::Entries next_; // what this build made (becomes the next build's cache)
   BuildCache::Stats stats_;
};

Result<service::TransportOptions> to_runtime(const ServersTransport& t) {
  service::TransportOptions o;
  o.name = t.name.empty() ? "default@internal" : t.name;
  o.dial_timeout = t.forwarding_timeouts.dial_timeout;
  o.response_header_timeout = t.forwarding_timeouts.response_header_timeout;
  o.idle_conn_timeout = t.forwarding_timeouts.idle_conn_timeout;
  o.read_idle_timeout = t.forwarding_timeouts.read_idle_timeout;
  o.ping_timeout = t.forwarding_timeouts.ping_timeout;
  o.max_idle_conns_per_host =
      t.max_idle_conns_per_host < 0 ? 0 : static_cast<size_t>(t.max_idle_conns_per_host);
  // Traefik: 0 means the Go default of 2 idle connections per host; keep a useful pool.
  if (t.max_idle_conns_per_host == 0) o.max_idle_conns_per_host = 2;
  o.disable_http2 = t.disable_http2;
  service::TlsClientOptions tls;
  tls.server_name = t.server_name;
  tls.insecure_skip_verify = t.insecure_skip_verify;
  tls.root_cas = t.root_cas;
  for (const auto& c : t.certificates) tls.certificates.push_back({c.cert_file, c.key_file});
  tls.cipher_suites = t.cipher_suites;
  if (!t.min_version.empty()) tls.min_version = t.min_version;
  tls.max_version = t.max_version;
  tls.peer_cert_uri = t.peer_cert_uri;
  auto compiled = service::UpstreamTls::create(tls);
  if (!compiled) return compiled.error();
  o.tls = std::move(*compiled);
  return o;
}

Result<std::shared_ptr<const service::TransportOptions>> Builder::transport(const std::string& name) {
  std::string key = name.empty() ? "default@internal" : name;
  auto built = resolve_transport(key);
  note(Dep::Kind::kTransport, key, built.serial);
  return built.result;
}

Built<std::shared_ptr<const service::TransportOptions>> Builder::resolve_transport(
    const std::string& key) {
  if (auto it = transports_.find(key); it != transports_.end()) return it->second;
  const ServersTransport* config = &opts_.default_transport;
  std::string path = "serversTransport";  // the static one
  // The static transport never changes while the gateway runs.
  constexpr Revision kStatic = ~Revision{0};
  Revision revision = kStatic;
  if (key != "default@internal") {
    auto it = cfg_.http.servers_transports.find(key);
    if (it == cfg_.http.servers_transports.end())
      return {make_error("serversTransport \"" + key + "\" does not exist"), 0};
    config = &it->second;
    revision = config->revision;
    path = "http.serversTransports." + key;
  }
  Built<std::shared_ptr<const service::TransportOptions>> built;
  const TransportEntry* old =
      same_revision(previous_ ? &previous_->transports : nullptr, key, revision);
  if (old) {
    built = old->built;
  } else {
    built.serial = next_serial();
    if (!config->errors.empty()) {
      built.result = make_error("serversTransport \"" + key + "\": " + join(config->errors));
    } else if (auto runtime = to_runtime(*config); !runtime) {
      // "dyn.yml:7: http.serversTransports.x@file.rootCAs[0]: open /ca.pem: No such file..."
      std::string where = config->location.describe();
      built.result = make_error((where.empty() ? "" : where + ": ") + path + "." +
                                runtime.error().message);
    } else {
      if (config->spiffe) log::get("builder")->warn("{}: spiffe is not supported", path);
      built.result = std::shared_ptr<const service::TransportOptions>(
          std::make_shared<service::TransportOptions>(std::move(*runtime)));
    }
  }
  if (!built.result) disable(snap_.servers_transports, key, built.result.error().message);
  transports_.emplace(key, built);
  next_.transports.insert_or_assign(key, TransportEntry{revision, built});
  return built;
}

Result<service::ServicePtr> Builder::build_load_balancer(const HttpService& svc) {
  const auto& lb = *svc.load_balancer;
  const std::string path = "http.services." + svc.name + ".loadBalancer";
  service::LoadBalancerOptions o;
  o.strategy = service::parse_strategy(lb.strategy);
  o.pass_host_header = lb.pass_host_header;
  auto t = transport(lb.servers_transport);
  if (!t) return t.error();
  o.transport = *t;
  std::vector<service::Server> servers;
  for (const auto& s : lb.servers) {
    auto parsed = service::Server::parse(s.url, s.weight);
    if (!parsed) return parsed.error();
    parsed->preserve_path = s.preserve_path;
    servers.push_back(std::move(*parsed));
  }
  if (lb.sticky) {
    auto sticky = decode_sticky(*lb.sticky, path + ".sticky");
    if (!sticky) return sticky.error();
    o.sticky = std::move(*sticky);
  }
  std::optional<service::ActiveHealthOptions> active;
  if (lb.health_check) {
    auto hc = decode_health_check(*lb.health_check, path + ".healthCheck");
    if (!hc) return hc.error();
    active = std::move(*hc);
  }
  if (lb.passive_health_check) {
    auto passive = decode_passive_health_check(*lb.passive_health_check,
                                               path + ".passiveHealthCheck");
    if (!passive) return passive.error();
    o.passive = *passive;
  }
  if (lb.response_forwarding) {
    auto rf = decode_response_forwarding(*lb.response_forwarding, path + ".responseForwarding");
    if (!rf) return rf.error();
  }
  if (lb.retry) {
    auto retry = decode_retry(*lb.retry, path + ".retry");
    if (!retry) return retry.error();
    o.retry = *retry;
  }
  auto keys = service::LoadBalancerService::health_keys(servers);
  if (active || o.passive) {
    o.health = opts_.health ? opts_.health->get(svc.name, keys)
                            : std::make_shared<service::ServiceHealth>(keys);
    // A later build that reuses this service asks for the same table again (so that the
    // registry keeps it).
    if (building_service_) building_service_->health_keys = keys;
  }
  auto lbs = std::make_shared<service::LoadBalancerService>(svc.name, std::move(servers), o,
                                                            opts_.workers);
  if (active) {
    auto shared = std::make_shared<const service::ActiveHealthOptions>(std::move(*active));
    const auto& built = lbs->servers();
    for (size_t i = 0; i < built.size(); ++i) {
      service::HealthCheckTarget target{svc.name, o.health, i, built[i], o.transport, shared};
      if (building_service_) building_service_->health_checks.push_back(target);
      if (opts_.health_checks) opts_.health_checks->push_back(std::move(target));
    }
  }
  return service::ServicePtr(std::move(lbs));
}

Result<service::ServicePtr> Builder::build_weighted(const HttpService& svc) {
  bool hrw = svc.kind == ServiceKind::kHighestRandomWeight;
  const std::string path =
      "http.services." + svc.name + (hrw ? ".highestRandomWeight" : ".weighted");
  const auto& w = *svc.weighted;
  service::WeightedService::Options o;
  o.strategy = hrw ? service::Strategy::kHrw : service::Strategy::kWrr;
  o.check_health = w.health_check.has_value();
  if (w.sticky) {
    auto sticky = decode_sticky(*w.sticky, path + ".sticky");
    if (!sticky) return sticky.error();
    o.sticky = std::move(*sticky);
  }
  std::vector<service::WeightedService::Child> children;
  for (const auto& c : w.services) {
    auto child = service(c.name);
    if (!child) return make_error("service \"" + c.name + "\": " + child.error().message);
    children.push_back({c.name, *child, c.weight});
  }
  return service::ServicePtr(std::make_shared<service::WeightedService>(
      svc.name, std::move(children), std::move(o), opts_.workers));
}

Result<service::ServicePtr> Builder::build_service(const HttpService& svc) {
  if (!svc.errors.empty()) return make_error(join(svc.errors));
  auto child = [&](const std::string& name) -> Result<service::ServicePtr> {
    auto c = service(name);
    if (!c) return make_error("service \"" + name + "\": " + c.error().message);
    return c;
  };
  switch (svc.kind) {
    case ServiceKind::kLoadBalancer:
      return build_load_balancer(svc);
    case ServiceKind::kWeighted:
    case ServiceKind::kHighestRandomWeight:
      return build_weighted(svc);
    case ServiceKind::kMirroring: {
      const auto& m = *svc.mirroring;
      auto main = child(m.service);
      if (!main) return main.error();
      std::vector<service::MirroringService::Mirror> mirrors;
      for (const auto& mirror : m.mirrors) {
        auto target = child(mirror.name);
        if (!target) return target.error();
        mirrors.push_back({mirror.name, *target, mirror.percent});
      }
      service::MirroringOptions o;
      o.mirror_body = m.mirror_body;
      o.max_body_size = m.max_body_size;
      o.check_health = m.health_check.has_value();
      return service::ServicePtr(std::make_shared<service::MirroringService>(
          svc.name, *main, std::move(mirrors), o, opts_.workers));
    }
    case ServiceKind::kFailover: {
      const auto& f = *svc.failover;
      auto main = child(f.service);
      if (!main) return main.error();
      auto fallback = child(f.fallback);
      if (!fallback) return fallback.error();
      service::FailoverOptions o;
      o.check_health = f.health_check.has_value();
      if (f.errors) {
        auto decoded =
            decode_failover_errors(*f.errors, "http.services." + svc.name + ".failover.errors", o);
        if (!decoded) return decoded.error();
      }
      return service::ServicePtr(
          std::make_shared<service::FailoverService>(svc.name, *main, *fallback, std::move(o)));
    }
    case ServiceKind::kNone:
      break;
  }
  return make_error("the service has no type");
}

Result<service::ServicePtr> Builder::service(const std::string& name) {
  auto built = resolve_service(name);
  note(Dep::Kind::kService, name, built.serial);
  return built.result;
}

Built<service::ServicePtr> Builder::resolve_service(const std::string& name) {
  if (auto it = services_.find(name); it != services_.end()) return it->second;
  if (auto it = opts_.internal_services.find(name); it != opts_.internal_services.end())
    return {it->second, 0};
  if (patching_)
    return reuse_only(previous_->services, cfg_.http.services, name,
                      "the service \"" + name + "\" does not exist");
  auto it = cfg_.http.services.find(name);
  if (it == cfg_.http.services.end())
    return {make_error("the service \"" + name + "\" does not exist"), 0};
  if (std::find(services_in_progress_.begin(), services_in_progress_.end(), name) !=
      services_in_progress_.end())
    return {make_error("service reference cycle through \"" + name + "\""), 0};
  const HttpService& svc = it->second;
  services_in_progress_.push_back(it->first);
  ServiceEntry* old = same_revision(previous_ ? &previous_->services : nullptr, name, svc.revision);
  ServiceEntry* entry = nullptr;
  if (old && same_deps(old->deps)) {
    // A service is looked up in the cache once per build: its entry moves to this build's.
    entry = &carry_over(previous_->services, next_.services, name);
    if (entry->health_keys && opts_.health) opts_.health->get(name, *entry->health_keys);
    if (opts_.health_checks)
      opts_.health_checks->insert(opts_.health_checks->end(), entry->health_checks.begin(),
                                  entry->health_checks.end());
    ++stats_.services_reused;
  } else {
    entry = &next_.services.insert_or_assign(name, ServiceEntry{}).first->second;
    entry->revision = svc.revision;
    auto* saved_deps = std::exchange(deps_, &entry->deps);
    auto* saved_entry = std::exchange(building_service_, entry);
    entry->built.result = build_service(svc);
    entry->built.serial = next_serial();
    deps_ = saved_deps;
    building_service_ = saved_entry;
    ++stats_.services_built;
  }
  services_in_progress_.pop_back();
  snap_.services.try_emplace(name);  // every service has a status, enabled or not
  if (!entry->built.result) disable(snap_.services, name, entry->built.result.error().message);
  services_.emplace(name, entry->built);
  return entry->built;
}

template <class Entry, class Config>
decltype(Entry::built) Builder::reuse_only(std::unordered_map<std::string, Entry>& entries,
                                           const std::map<std::string, Config>& configs,
                                           const std::string& name, std::string missing) {
  if (!configs.count(name))
    return {make_error(std::move(missing)), 0};
  auto it = entries.find(name);
  // Its last build looked up something that is built anew each time (a reference cycle): what
  // a full build gives depends on the order it meets the objects in. Not patched.
  bool order_dependent = false;
  if (it != entries.end())
    for (const auto& d : it->second.deps)
      order_dependent |= d.serial == 0;
  if (it == entries.end() || order_dependent) {
    cannot_patch_ = true;
    return {make_error("not built by the last build"), 0};
  }
  return it->second.built;
}

bool Builder::same_deps(const std::vector<Dep>& deps) {
  // Looked up without recording: the object's deps are carried over as they are when it is
  // reused, and recorded again by its build otherwise.
  auto* saved = std::exchange(deps_, nullptr);
  bool same = true;
  for (const auto& d : deps) {
    Serial now = 0;
    switch (d.kind) {
      case Dep::Kind::kService: now = resolve_service(d.name).serial; break;
      case Dep::Kind::kMiddleware: now = resolve_middleware(d.name).serial; break;
      case Dep::Kind::kTransport: now = resolve_transport(d.name).serial; break;
      case Dep::Kind::kTlsOptions: now = tls_options_serial(d.name); break;
    }
    if (now == 0 || now != d.serial) {
      same = false;
      break;
    }
  }
  deps_ = saved;
  return same;
}

Result<middleware::HandlerPtr> Builder::service_handler(std::string_view raw_name) {
  auto svc = service(qualify(raw_name, current_provider_));
  if (!svc)
    return svc.error();
  return middleware::HandlerPtr(*svc);
}

Result<middleware::Wrap> Builder::middleware(std::string_view raw_name) {
  return middleware_qualified(qualify(raw_name, current_provider_));
}

Result<middleware::Wrap> Builder::middleware_qualified(const std::string& name) {
  auto built = resolve_middleware(name);
  note(Dep::Kind::kMiddleware, name, built.serial);
  return built.result;
}

Built<middleware::Wrap> Builder::resolve_middleware(const std::string& name) {
  if (auto it = middlewares_.find(name); it != middlewares_.end()) return it->second;
  if (patching_)
    return reuse_only(previous_->middlewares, cfg_.http.middlewares, name,
                      "middleware \"" + name + "\" does not exist");
  auto it = cfg_.http.middlewares.find(name);
  if (it == cfg_.http.middlewares.end())
    return {make_error("middleware \"" + name + "\" does not exist"), 0};
  if (middlewares_in_progress_.count(name))
    return {make_error("middleware reference cycle through \"" + name + "\""), 0};
  const auto& mw = it->second;
  middlewares_in_progress_.insert(name);
  MiddlewareEntry* old =
      same_revision(previous_ ? &previous_->middlewares : nullptr, name, mw.revision);
  MiddlewareEntry* entry = nullptr;
  if (old && same_deps(old->deps)) {
    entry = &carry_over(previous_->middlewares, next_.middlewares, name);  // as services
    if (opts_.middleware_state) opts_.middleware_state->keep(entry->state_ids);
    ++stats_.middlewares_reused;
  } else {
    entry = &next_.middlewares.insert_or_assign(name, MiddlewareEntry{}).first->second;
    entry->revision = mw.revision;
    auto* saved_deps = std::exchange(deps_, &entry->deps);
    std::vector<std::string>* saved_ids = nullptr;
    if (opts_.middleware_state) saved_ids = opts_.middleware_state->record_into(&entry->state_ids);
    entry->built.result = build_middleware(name, mw);
    entry->built.serial = next_serial();
    if (opts_.middleware_state) opts_.middleware_state->record_into(saved_ids);
    deps_ = saved_deps;
    ++stats_.middlewares_built;
  }
  middlewares_in_progress_.erase(name);
  if (!entry->built.result) disable(snap_.middlewares, name, entry->built.result.error().message);
  middlewares_.emplace(name, entry->built);
  return entry->built;
}

Result<middleware::Wrap> Builder::build_middleware(const std::string& name,
                                                   const HttpMiddleware& mw) {
  if (!mw.errors.empty()) return make_error(join(mw.errors));
  const auto* reg = middleware::find(mw.type);
  if (!reg)
    return make_error((mw.location.describe().empty() ? "" : mw.location.describe() + ": ") +
                      "http.middlewares." + name + ": unknown or unsupported middleware type \"" +
                      mw.type + "\"");
  std::string saved = current_provider_;
  const HttpMiddleware* saved_mw = std::exchange(decoding_, &mw);
  std::string saved_name = std::exchange(decoding_name_, name);
  current_provider_ = mw.provider;
  Errors errors;
  Decoder dec(mw.options, "http.middlewares." + name + "." + mw.type, errors);
  middleware::Wrap wrap = reg->factory(dec, *this);
  current_provider_ = saved;
  decoding_ = saved_mw;
  decoding_name_ = std::move(saved_name);
  if (!errors.empty() || !wrap) return make_error(errors.empty() ? "invalid middleware" : errors.joined());
  return wrap;
}

middleware::StateSlot Builder::state_slot() {
  if (!opts_.middleware_state || !decoding_) return {};
  return middleware::StateSlot(opts_.middleware_state, decoding_name_ + "/" + decoding_->type,
                               decoding_->options);
}

void Builder::build_routers() {
  std::vector<size_t> defaults = default_entrypoints(opts_);

  for (const auto& [name, r] : cfg_.http.routers) {
    RouterEntry* old = same_revision(previous_ ? &previous_->routers : nullptr, name, r.revision);
    RouterEntry* entry = nullptr;
    current_provider_ = r.provider;
    if (old && same_deps(old->deps)) {
      entry = &carry_over(previous_->routers, next_.routers, name);
      if (opts_.middleware_state) opts_.middleware_state->keep(entry->state_ids);
      ++stats_.routers_reused;
    } else {
      entry = &next_.routers.insert_or_assign(name, RouterEntry{}).first->second;
      entry->revision = r.revision;
      build_router(name, r, defaults, *entry);
      ++stats_.routers_built;
    }
    // Routers come in name order: appending with a hint keeps building the status map linear.
    const auto& status = snap_.routers.emplace_hint(snap_.routers.end(), name, entry->status)->second;
    if (entry->rule && !new_rules_.count(r.rule)) {
      // The rule cache's node moves over when it has one (no copy of the rule text).
      auto node = opts_.rule_cache ? opts_.rule_cache->extract(r.rule) : RuleCache::node_type{};
      if (node) new_rules_.insert(std::move(node));
      else new_rules_.emplace(r.rule, entry->rule);
    }
    // Claimed even when broken: the host's handshakes must then fail rather than fall back.
    for (const auto& c : entry->claims) host_claims_[c.entrypoint][c.host][c.options].push_back(name);
    if (status.status != "disabled") {
      for (size_t i = 0; i < entry->routes.size(); ++i) {
        auto [ep, tls] = entry->placements[i];
        (tls ? tls_routes_ : routes_)[ep].push_back(entry->routes[i]);
      }
      snap_.services[r.service].used_by.push_back(name);
    }
  }
}

// Builds one router into `entry`: its status, its routes (kept only when it is enabled), the
// hosts it claims for TLS options, and what it looked up.
void Builder::build_router(const std::string& name, const HttpRouter& r,
                           const std::vector<size_t>& defaults, RouterEntry& entry) {
  auto* saved_deps = std::exchange(deps_, &entry.deps);
  ObjectStatus& status = entry.status;
  auto fail = [&](std::string why) {
    status.status = "disabled";
    status.errors.push_back(std::move(why));
  };
  [&] {
    if (!r.errors.empty()) {
      for (const auto& e : r.errors) fail(e);
      return;
    }
    if (r.rule_syntax == "v2") {
      fail("ruleSyntax v2 is not supported");
      return;
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
      return;
    }
    std::shared_ptr<const router::Rule> rule;
    // This build's rules first: build_routers moves the ones it used out of the last build's.
    if (auto it = new_rules_.find(r.rule); it != new_rules_.end()) rule = it->second;
    if (!rule && opts_.rule_cache) {
      if (auto it = opts_.rule_cache->find(r.rule); it != opts_.rule_cache->end()) rule = it->second;
    }
    if (!rule) {
      auto parsed = router::parse_rule(r.rule);
      if (!parsed) {
        fail("rule \"" + r.rule + "\": " + parsed.error().message);
        return;
      }
      rule = std::move(*parsed);
    }
    entry.rule = rule;
    entry.rule_text = r.rule;
    entry.service = r.service;
    auto svc = service(r.service);
    if (!svc) {
      fail(r.service.empty() ? std::string("the router has no service")
                             : "service \"" + r.service + "\": " + svc.error().message);
      return;
    }
    std::vector<std::string>* saved_ids = nullptr;
    if (opts_.middleware_state) saved_ids = opts_.middleware_state->record_into(&entry.state_ids);
    for (size_t ep : eps) {
      // TLS: the router's own section, else the entrypoint's http.tls defaults (Traefik's
      // entrypoint "model").
      std::optional<RouterTls> ep_tls;
      const RouterTls* tls = r.tls ? &*r.tls : nullptr;
      if (!tls && opts_.entrypoints[ep]->http.tls) {
        const auto& d = *opts_.entrypoints[ep]->http.tls;
        tls = &ep_tls.emplace(RouterTls{d.options, d.cert_resolver, d.domains});
      }
      std::string options_name;
      if (tls) {
        options_name = tls->options.empty() || tls->options == tls::kDefaultOptionsName
                           ? std::string(tls::kDefaultOptionsName)
                           : qualify(tls->options, r.provider);
        for (const auto& domain : rule->domains()) entry.claims.push_back({ep, domain, options_name});
        note(Dep::Kind::kTlsOptions, options_name, tls_options_serial(options_name));
        if (auto ok = check_tls_options(options_name); !ok) {
          fail(ok.error().message);
          break;
        }
      }
      // Entrypoint middlewares first, then the router's own.
      std::vector<std::string> chain = opts_.entrypoints[ep]->http.middlewares;
      chain.insert(chain.end(), r.middlewares.begin(), r.middlewares.end());
      HandlerPtr handler = *svc;
      bool ok = true;
      if (opts_.middleware_state)
        opts_.middleware_state->enter_chain(name + " " + opts_.entrypoints[ep]->name);
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
      entry.placements.emplace_back(ep, tls != nullptr);
      entry.routes.push_back(std::make_shared<const router::Route>(router::Route{
          name, r.rule, rule, router::effective_priority(r.priority, r.rule), handler}));
      status.using_entrypoints.push_back(opts_.entrypoints[ep]->name);
    }
    if (opts_.middleware_state) opts_.middleware_state->record_into(saved_ids);
  }();
  deps_ = saved_deps;
  if (status.status == "disabled") {
    // Partial additions across entrypoints are not served.
    entry.routes.clear();
    entry.placements.clear();
    status.using_entrypoints.clear();
    log::get("builder")->error("router {}: {}", name, join(status.errors));
  }
}

void Builder::build_tls() {
  if (!opts_.tls) return;
  auto& log = *log::get("builder");
  tls::TlsInputs in;
  // "dyn.yml:12: tls.certificates[0]", the form of every configuration error.
  auto where = [](const std::string& path, const Location& loc) {
    return loc.describe().empty() ? path : loc.describe() + ": " + path;
  };
  for (const auto& c : cfg_.tls.certificates) {
    std::string w = where(c.path, c.location);
    if (!c.errors.empty()) {
      snap_.tls_errors.insert(snap_.tls_errors.end(), c.errors.begin(), c.errors.end());
      continue;
    }
    bool default_store = c.stores.empty();
    for (const auto& st : c.stores) default_store |= st == tls::kDefaultOptionsName;
    if (!default_store) {
      log.warn("{}: only the default TLS store is served; this certificate is not used", w);
      continue;
    }
    in.certificates.push_back({c.files.cert_file, c.files.key_file, w});
  }
  for (const auto& [name, st] : cfg_.tls.stores) {
    if (name != tls::kDefaultOptionsName) {
      log.warn("tls.stores.{}: only the default TLS store is served; ignored", name);
      continue;
    }
    if (!st.errors.empty()) {
      snap_.tls_errors.insert(snap_.tls_errors.end(), st.errors.begin(), st.errors.end());
      continue;
    }
    if (st.default_certificate)
      in.default_certificate = tls::CertificateSource{
          st.default_certificate->cert_file, st.default_certificate->key_file,
          where("tls.stores.default.defaultCertificate", st.location)};
    else if (st.default_generated_cert)
      // Served once the resolver has obtained it (acme/manager.cc requests it); the generated
      // self-signed certificate until then.
      in.default_from_resolver = tls::TlsInputs::ResolverDefault{
          st.default_generated_cert->resolver, st.default_generated_cert->domain.main};
  }
  for (const auto& [name, o] : cfg_.tls.options) {
    if (!o.errors.empty()) {
      auto& status = snap_.tls_options[name];
      status.status = "disabled";
      status.errors = o.errors;
      continue;
    }
    in.options.emplace_back(name, o.spec);
  }
  server_tls_ = opts_.tls->build(in, snap_.tls_errors);
  for (const auto& oc : server_tls_->options()) {
    auto& status = snap_.tls_options[oc.name];
    if (!oc.error.empty()) {
      status.status = "disabled";
      status.errors.push_back("tls.options." + oc.name + "." + oc.error);
    }
  }
}

Serial Builder::tls_options_serial(const std::string& name) const {
  auto ok = check_tls_options(name);
  // 1 for usable options; a value of at least 2 for each error message.
  return ok ? 1 : (std::hash<std::string>{}(ok.error().message) | 2);
}

Result<void> Builder::check_tls_options(const std::string& name) const {
  if (auto it = snap_.tls_options.find(name); it != snap_.tls_options.end() && !it->second.errors.empty())
    return make_error("TLS options \"" + name + "\" are broken: " + join(it->second.errors));
  if (server_tls_) {
    if (server_tls_->find_options(name) == tls::kBrokenOptions)
      return make_error("unknown TLS options: " + name);
    return {};
  }
  if (name != tls::kDefaultOptionsName && !cfg_.tls.options.count(name))
    return make_error("unknown TLS options: " + name);
  return {};
}

// Traefik's rule: a host claimed by routers that agree on their TLS options uses them; routers
// that disagree get a warning and the host uses the default options; a host whose options are
// unknown or broken fails its handshakes.
void Builder::assign_tls_options() {
  for (size_t ep = 0; ep < host_claims_.size(); ++ep) {
    if (!server_tls_) break;
    auto ept = std::make_shared<tls::EntryPointTls>(server_tls_, opts_.entrypoints[ep]->name);
    for (const auto& [host, claims] : host_claims_[ep]) {
      if (claims.size() == 1) {
        const std::string& options = claims.begin()->first;
        int index = server_tls_->find_options(options);
        if (index != tls::kBrokenOptions && !server_tls_->options()[static_cast<size_t>(index)].error.empty())
          index = tls::kBrokenOptions;
        // The default options need no entry (unknown hosts use them anyway).
        if (index != server_tls_->default_options()) ept->set_host_options(host, index);
        continue;
      }
      for (const auto& [options, routers] : claims) {
        for (const auto& router : routers) {
          auto& status = snap_.routers[router];
          if (status.status == "enabled") status.status = "warning";
          status.errors.push_back("found different TLS options for routers on the same host " +
                                  host + ", so using the default TLS options instead");
        }
      }
    }
    ept_[ep] = std::move(ept);
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
    routes_[i].push_back(std::make_shared<const router::Route>(std::move(*route)));
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
    routes_[ep].push_back(std::make_shared<const router::Route>(std::move(*route)));
    status.using_entrypoints.push_back(ir.entrypoint);
  }
}

bool Builder::patch(const ChangeSet& changes) {
  auto t_started = Clock::now();
  if (!previous_ || !previous_->snapshot || !changes.only_http_routers)
    return false;
  const Snapshot& old = *previous_->snapshot;
  if (old.entrypoints.size() != opts_.entrypoints.size() ||
      old.udp_entrypoints.size() != opts_.udp_entrypoints.size())
    return false;
  // Past a few dozen routers, walking them all costs about as much as patching.
  if (changes.http_routers.size() > 64)
    return false;
  std::vector<std::string> names = changes.http_routers;
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());

  struct Change {
    const std::string* name;
    RouterEntry* old = nullptr;      // the last build's, if the router was there
    const HttpRouter* now = nullptr; // its configuration now, if it is still there
    RouterEntry entry;               // built from `now`
  };
  std::vector<Change> list;
  list.reserve(names.size());
  // The routers the last build had, moved by this change: checks that the change set describes
  // the step from the last build's configuration to this one.
  ptrdiff_t count = static_cast<ptrdiff_t>(previous_->routers.size());
  patching_ = true;
  server_tls_ = previous_->server_tls;
  snap_.tls_options = old.tls_options; // check_tls_options reads them
  std::vector<size_t> defaults = default_entrypoints(opts_);
  for (const auto& name : names) {
    Change& c = list.emplace_back();
    c.name = &name;
    if (auto it = previous_->routers.find(name); it != previous_->routers.end()) {
      c.old = &it->second;
      --count;
      if (!c.old->patchable())
        return false;
    }
    auto it = cfg_.http.routers.find(name);
    if (it == cfg_.http.routers.end())
      continue;
    c.now = &it->second;
    ++count;
    current_provider_ = c.now->provider;
    c.entry.revision = c.now->revision;
    build_router(name, *c.now, defaults, c.entry);
    if (cannot_patch_ || !c.entry.patchable())
      return false;
  }
  if (count != static_cast<ptrdiff_t>(cfg_.http.routers.size()))
    return false;

  // From here on the patch cannot fail. The snapshot starts as a copy of the last one: its
  // route tables are shared, its status maps copied.
  auto t_built = Clock::now();
  uint64_t generation = snap_.generation;
  snap_ = old;
  auto t_copied = Clock::now();
  snap_.generation = generation;
  auto by_name = [](std::vector<std::string>& v, const std::string& name) {
    return std::lower_bound(v.begin(), v.end(), name);
  };
  size_t eps = opts_.entrypoints.size();
  std::vector<std::vector<router::RoutePtr>> removed(eps), added(eps);
  for (auto& c : list) {
    const std::string& name = *c.name;
    if (c.old) {
      auto st = snap_.routers.find(name);
      if (st != snap_.routers.end() && st->second.status != "disabled") {
        if (auto svc = snap_.services.find(c.old->service); svc != snap_.services.end()) {
          auto& used_by = svc->second.used_by;
          if (auto at = by_name(used_by, name); at != used_by.end() && *at == name)
            used_by.erase(at);
          // Internal services are listed only while a router uses them.
          if (used_by.empty() && svc->second.errors.empty() &&
              !cfg_.http.services.count(svc->first))
            snap_.services.erase(svc);
        }
        for (size_t i = 0; i < c.old->routes.size(); ++i)
          removed[c.old->placements[i].first].push_back(c.old->routes[i]);
      }
      if (st != snap_.routers.end())
        snap_.routers.erase(st);
      // Its rule leaves the rule cache unless the router keeps it (another router with the same
      // rule text parses it again, once).
      if (opts_.rule_cache && !c.old->rule_text.empty() &&
          (!c.now || c.now->rule != c.old->rule_text))
        opts_.rule_cache->erase(c.old->rule_text);
    }
    if (c.now) {
      const ObjectStatus& status = snap_.routers.emplace(name, c.entry.status).first->second;
      if (status.status != "disabled") {
        auto& used_by = snap_.services[c.now->service].used_by;
        used_by.insert(by_name(used_by, name), name);
        for (size_t i = 0; i < c.entry.routes.size(); ++i)
          added[c.entry.placements[i].first].push_back(c.entry.routes[i]);
      }
      if (opts_.rule_cache && c.entry.rule)
        opts_.rule_cache->try_emplace(c.now->rule, c.entry.rule);
      ++stats_.routers_built;
      previous_->routers.insert_or_assign(name, std::move(c.entry));
    } else {
      previous_->routers.erase(name);
    }
  }
  auto t_statuses = Clock::now();
  snap_.router_count = 0;
  for (size_t i = 0; i < eps; ++i) {
    auto& ep = snap_.entrypoints[i];
    if (!removed[i].empty() || !added[i].empty())
      ep.table = ep.table.patched(removed[i], std::move(added[i]));
    snap_.router_count += ep.table.size() + ep.tls_table.size();
  }
  stats_.routers_reused = previous_->routers.size() - stats_.routers_built;
  stats_.services_reused = previous_->services.size();
  stats_.middlewares_reused = previous_->middlewares.size();
  stats_.patched = true;
  auto us = [](Clock::duration d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  };
  log::get("builder")->debug("patch phases: changed routers built {} us, snapshot copied {} us, "
                             "statuses patched {} us, route tables patched {} us",
                             us(t_built - t_started), us(t_copied - t_built),
                             us(t_statuses - t_copied), us(Clock::now() - t_statuses));
  if (opts_.health_checks)
    opts_.health_checks->insert(opts_.health_checks->end(), previous_->health_checks.begin(),
                                previous_->health_checks.end());
  return true;
}

void Builder::run() {
  auto t0 = Clock::now();
  routes_.resize(opts_.entrypoints.size());
  tls_routes_.resize(opts_.entrypoints.size());
  host_claims_.resize(opts_.entrypoints.size());
  ept_.resize(opts_.entrypoints.size());
  build_tls();
  auto t_tls = Clock::now();
  build_routers();
  auto t_routers = Clock::now();
  assign_tls_options();
  add_redirections();
  add_internal_routes();
  // Report middlewares, services and transports nobody used but that are broken, too.
  for (const auto& [name, svc] : cfg_.http.services) service(name);
  for (const auto& [name, st] : cfg_.http.servers_transports) transport(name);
  for (const auto& [name, mw] : cfg_.http.middlewares) {
    current_provider_ = mw.provider;
    middleware(name);
  }
  auto t_rest = Clock::now();
  for (size_t i = 0; i < opts_.entrypoints.size(); ++i) {
    snap_.router_count += routes_[i].size() + tls_routes_[i].size();
    snap_.entrypoints.push_back({opts_.entrypoints[i]->name,
                                 router::RouteTable::build(std::move(routes_[i])),
                                 router::RouteTable::build(std::move(tls_routes_[i])), ept_[i], {}});
  }
  auto ms = [](Clock::duration d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d).count() / 1000.0;
  };
  log::get("builder")->debug("build phases: tls {:.1f} ms, routers {:.1f} ms, services and the rest "
                             "{:.1f} ms, route tables {:.1f} ms",
                             ms(t_tls - t0), ms(t_routers - t_tls), ms(t_rest - t_routers),
                             ms(Clock::now() - t_rest));
}

}  // namespace

std::shared_ptr<const Snapshot> build_snapshot(const DynamicConfig& config,
                                               const BuildOptions& options, uint64_t generation) {
  if (options.cache && options.changes) {
    auto started = Clock::now();
    auto snap = std::make_shared<Snapshot>();
    snap->generation = generation;
    Builder builder(config, options, *snap);
    if (builder.patch(*options.changes)) {
      // The health registry, the middleware state store and the rule cache keep what they had:
      // only routers without middleware state changed (the rule cache was patched).
      auto& entries = BuildCacheAccess::entries(*options.cache);
      entries.snapshot = snap;
      BuildCacheAccess::stats(*options.cache) = builder.stats_;
      log::get("builder")->debug(
          "build: patched the last snapshot for {} changed router(s) in "
          "{} us",
          builder.stats_.routers_built,
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count());
      return snap;
    }
    log::get("builder")->debug("build: the last snapshot cannot be patched, building all");
  }
  auto snap = std::make_shared<Snapshot>();
  snap->generation = generation;
  Builder builder(config, options, *snap);
  builder.run();
  auto t_tcp = Clock::now();
  build_tcp_udp(config, options, *snap);
  log::get("builder")->debug("build phases: tcp/udp {} us",
                             std::chrono::duration_cast<std::chrono::microseconds>(
                                 Clock::now() - t_tcp).count());
  if (options.health) options.health->end_build();
  if (options.middleware_state) options.middleware_state->end_build();
  if (options.rule_cache) *options.rule_cache = std::move(builder.new_rules_);
  if (options.cache) {
    auto& entries = BuildCacheAccess::entries(*options.cache);
    entries = std::move(builder.next_);
    entries.snapshot = snap;
    entries.server_tls = builder.server_tls_;
    if (options.health_checks)
      entries.health_checks = *options.health_checks;
    BuildCacheAccess::stats(*options.cache) = builder.stats_;
  }
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
  add("serversTransport", snapshot.servers_transports);
  add("middleware", snapshot.middlewares);
  add("tcp router", snapshot.tcp_routers);
  add("tcp service", snapshot.tcp_services);
  add("tcp middleware", snapshot.tcp_middlewares);
  add("udp router", snapshot.udp_routers);
  add("udp service", snapshot.udp_services);
  for (const auto& [name, st] : snapshot.tls_options)
    for (const auto& e : st.errors) out.push_back(e);
  out.insert(out.end(), snapshot.tls_errors.begin(), snapshot.tls_errors.end());
  return out;
}

}  // namespace turnpike::config
