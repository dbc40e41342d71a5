#include "acme/manager.h"

#include "acme/kv_storage.h"

#include <limits>

#include "common/asio_types.h"
#include "common/log.h"
#include "router/rule.h"
#include "router/tcp_rule.h"

namespace turnpike::acme {
namespace {

const std::shared_ptr<spdlog::logger>& logger() {
  static auto l = log::get("acme");
  return l;
}

// Threads for blocking ACME work: each order holds one while it polls, so this bounds how many
// orders run at once (50 routers at start: a few rounds).
constexpr unsigned kPoolThreads = 16;

struct TlsView {
  std::string cert_resolver;
  std::vector<config::TlsDomain> domains;
};

// A router's tls section: certResolver and domains.
std::optional<TlsView> router_tls(const config::HttpRouter& r) {
  if (!r.tls) return std::nullopt;
  return TlsView{r.tls->cert_resolver, r.tls->domains};
}

// One certificate per {main, sans} entry.
void add_tls_domains(const std::vector<config::TlsDomain>& domains, const std::string& requester,
                     std::vector<DomainRequest>& list) {
  for (const auto& d : domains) {
    DomainRequest req{{}, requester};
    if (!d.main.empty()) req.domains.push_back(d.main);
    for (const auto& s : d.sans) req.domains.push_back(s);
    if (!req.domains.empty()) list.push_back(std::move(req));
  }
}

}  // namespace

std::map<std::string, std::vector<DomainRequest>> collect_domain_requests(
    const config::DynamicConfig& dyn, const std::vector<const config::EntryPoint*>& entrypoints,
    const std::vector<std::string>& resolvers, std::vector<std::string>& errors) {
  std::map<std::string, std::vector<DomainRequest>> out;
  auto known = [&](const std::string& n) {
    return std::find(resolvers.begin(), resolvers.end(), n) != resolvers.end();
  };
  std::vector<const config::EntryPoint*> defaults;
  for (const auto* ep : entrypoints)
    if (ep->as_default) defaults.push_back(ep);
  if (defaults.empty()) defaults = entrypoints;

  for (const auto& [name, r] : dyn.http.routers) {
    if (!r.errors.empty()) continue;
    std::optional<TlsView> tls = router_tls(r);
    if (!tls || tls->cert_resolver.empty()) {
      // Traefik applies the entrypoint's http.tls to routers that have no tls section.
      if (r.tls) continue;
      std::vector<const config::EntryPoint*> eps;
      if (r.entry_points.empty()) {
        eps = defaults;
      } else {
        for (const auto* ep : entrypoints)
          if (std::find(r.entry_points.begin(), r.entry_points.end(), ep->name) != r.entry_points.end())
            eps.push_back(ep);
      }
      for (const auto* ep : eps) {
        if (ep->http.tls && !ep->http.tls->cert_resolver.empty()) {
          tls = TlsView{ep->http.tls->cert_resolver, ep->http.tls->domains};
          break;
        }
      }
      if (!tls || tls->cert_resolver.empty()) continue;
    }
    std::string requester = "router " + name;
    if (!known(tls->cert_resolver)) {
      errors.push_back(requester + ": certResolver \"" + tls->cert_resolver + "\" does not exist");
      continue;
    }
    auto& list = out[tls->cert_resolver];
    if (!tls->domains.empty()) {
      add_tls_domains(tls->domains, requester, list);
      continue;
    }
    auto rule = router::parse_rule(r.rule);
    if (!rule) continue;  // the builder reports the bad rule
    DomainRequest req{(*rule)->domains(), requester};
    // Host(`*`) and friends match anything and name nothing a CA could certify.
    std::erase_if(req.domains, [](const std::string& d) { return d.empty() || d == "*"; });
    if (!req.domains.empty()) list.push_back(std::move(req));
  }

  // TCP routers terminating TLS, as Traefik: tls.domains, else the HostSNI() names. A passthrough
  // router never serves our certificate, so ordering one for it would only spend the CA's limits.
  for (const auto& [name, r] : dyn.tcp.routers) {
    if (!r.errors.empty() || !r.tls || r.tls->passthrough || r.tls->cert_resolver.empty()) continue;
    std::string requester = "tcp router " + name;
    if (!known(r.tls->cert_resolver)) {
      errors.push_back(requester + ": certResolver \"" + r.tls->cert_resolver + "\" does not exist");
      continue;
    }
    auto& list = out[r.tls->cert_resolver];
    if (!r.tls->domains.empty()) {
      add_tls_domains(r.tls->domains, requester, list);
      continue;
    }
    auto rule = router::parse_tcp_rule(r.rule);
    if (!rule) continue;  // the builder reports the bad rule
    DomainRequest req{(*rule)->sni_domains(), requester};
    if (!req.domains.empty()) list.push_back(std::move(req));
  }

  // tls.stores.default.defaultGeneratedCert: the resolver obtains the store's default certificate
  // (the gateway serves it to clients without SNI or with an unknown name).
  if (auto it = dyn.tls.stores.find("default"); it != dyn.tls.stores.end() &&
                                               it->second.errors.empty() &&
                                               it->second.default_generated_cert) {
    const auto& gen = *it->second.default_generated_cert;
    std::string requester = "tls.stores.default.defaultGeneratedCert";
    if (!known(gen.resolver))
      errors.push_back(requester + ": resolver \"" + gen.resolver + "\" does not exist");
    else
      add_tls_domains({gen.domain}, requester, out[gen.resolver]);
  }
  return out;
}

CertificateResolvers::CertificateResolvers(const config::StaticConfig& cfg,
                                           turnpike::Executor control, ResolverHooks hooks)
    : control_(std::move(control)), hooks_(std::move(hooks)) {
  if (cfg.certificates_resolvers.empty()) return;
  pool_ = std::make_unique<boost::asio::thread_pool>(kPoolThreads);
  std::map<std::string, std::shared_ptr<FileStorage>> storages;
  for (const auto& [name, rc] : cfg.certificates_resolvers) {
    all_names_.push_back(name);
    if (!rc.acme) continue;  // an unsupported resolver type, warned about by the static decoder
    const auto& ac = *rc.acme;
    std::shared_ptr<Storage> resolver_storage;
    if (ac.shared_storage) {
      // distributedAcme: a store of its own per resolver (its watch follows that resolver).
      auto opened = KvStorage::open(*ac.shared_storage);
      if (!opened) {
        logger()->error("certificatesResolvers.{}.distributedAcme.storage: {}; the resolver is "
                        "disabled",
                        name, opened.error().message);
        continue;
      }
      resolver_storage = *opened;
    } else {
      auto& storage = storages[ac.storage];
      if (!storage) {
        auto opened =
            FileStorage::open(ac.storage, FileStorageOptions{ac.insecure_storage_permissions});
        if (!opened) {
          logger()->error("certificatesResolvers.{}: storage: {}; the resolver is disabled", name,
                          opened.error().message);
          storages.erase(ac.storage);
          continue;
        }
        storage = *opened;
      }
      resolver_storage = storage;
    }
    ResolverDeps deps{.control = control_};
    deps.pool = pool_.get();
    deps.storage = resolver_storage;
    deps.http01 = http01_;
    deps.tls_alpn = hooks_.tls_alpn;
    deps.env = hooks_.env;
    deps.on_certificates = hooks_.on_certificates;
    deps.covered_elsewhere = hooks_.covered_elsewhere;
    auto r = Resolver::create(name, ac, std::move(deps));
    if (!r) {
      logger()->error("{}; the resolver is disabled", r.error().message);
      continue;
    }
    resolvers_.emplace(name, *r);
    if (ac.http_challenge &&
        std::find(http01_entrypoints_.begin(), http01_entrypoints_.end(),
                  ac.http_challenge->entry_point) == http01_entrypoints_.end())
      http01_entrypoints_.push_back(ac.http_challenge->entry_point);
  }
}

CertificateResolvers::~CertificateResolvers() {
  stop();
  if (pool_) pool_->join();
}

std::vector<config::InternalRoute> CertificateResolvers::internal_routes() const {
  std::vector<config::InternalRoute> out;
  auto handler = make_http01_handler(http01_);
  for (const auto& ep : http01_entrypoints_) {
    // Traefik's acme-http router: maximal priority, so it answers before user routers and the
    // entrypoint's HTTP->HTTPS redirection.
    out.push_back(config::InternalRoute{ep, std::string(kHttp01RouterName),
                                        "PathPrefix(`" + std::string(kHttp01Prefix) + "`)",
                                        std::numeric_limits<int64_t>::max(), handler});
  }
  return out;
}

void CertificateResolvers::start() {
  for (auto it = resolvers_.begin(); it != resolvers_.end();) {
    auto started = it->second->start();
    if (!started) {
      logger()->error("certificatesResolvers.{}: {}; the resolver is disabled", it->first,
                      started.error().message);
      it->second->stop();
      it = resolvers_.erase(it);
    } else {
      ++it;
    }
  }
}

void CertificateResolvers::on_configuration(const config::DynamicConfig& dyn,
                                            const std::vector<const config::EntryPoint*>& entrypoints) {
  std::vector<std::string> errors;
  auto requests = collect_domain_requests(dyn, entrypoints, all_names_, errors);
  for (const auto& e : errors)
    if (reported_.insert(e).second) logger()->error("{}", e);
  for (const auto& [name, resolver] : resolvers_) {
    auto it = requests.find(name);
    resolver->set_requests(it == requests.end() ? std::vector<DomainRequest>{} : std::move(it->second));
  }
  for (const auto& [name, reqs] : requests)
    if (!resolvers_.count(name) && !reqs.empty() &&
        reported_.insert("disabled " + name).second)
      logger()->error("certificatesResolvers.{} is disabled: {} router(s) using it get no "
                      "certificate from it",
                      name, reqs.size());
}

void CertificateResolvers::stop() {
  for (auto& [name, r] : resolvers_) r->stop();
}

}  // namespace turnpike::acme
