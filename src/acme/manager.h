#pragma once
// The gateway's certificate resolvers: built from the static `certificatesResolvers` section,
// fed by every new dynamic configuration, and publishing certificates back.
//
// - Owns the ACME thread pool (blocking HTTP, DNS, scripts and storage writes happen there), the
//   storages (resolvers that name the same file share one FileStorage), and the HTTP-01 token
//   table with the `acme-http@internal` routes that serve it.
// - on_configuration() turns routers into domain requests, as Traefik does: a router whose
//   tls.certResolver (or its entrypoint's http.tls.certResolver) names a resolver needs one
//   certificate for tls.domains entries, or for the Host() names of its rule (first = main).
//
// Control thread only (construction, start, on_configuration, stop). A resolver that cannot be
// set up (bad storage permissions, a missing DNS provider variable) is disabled with an error,
// like Traefik, and the others work.

#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>

#include "acme/resolver.h"
#include "common/asio_types.h"
#include "config/builder.h"
#include "config/dynamic_config.h"
#include "config/static_config.h"

namespace turnpike::acme {

struct ResolverHooks {
  std::function<void(const std::string& resolver, const std::vector<StoredCertificate>&)>
      on_certificates;
  std::function<bool(std::string_view domain)> covered_elsewhere;
  TlsAlpnHooks tls_alpn;
  EnvLookup env;  // default: the process environment
};

// Domain requests per resolver name, from the routers of a configuration. Requests naming an
// unknown resolver are reported in `errors` ("router api@file: certResolver \"le\" does not
// exist"). Pure.
std::map<std::string, std::vector<DomainRequest>> collect_domain_requests(
    const config::DynamicConfig& dyn, const std::vector<const config::EntryPoint*>& entrypoints,
    const std::vector<std::string>& resolvers, std::vector<std::string>& errors);

class CertificateResolvers {
 public:
  CertificateResolvers(const config::StaticConfig& cfg, turnpike::Executor control,
                       ResolverHooks hooks);
  ~CertificateResolvers();

  bool empty() const { return resolvers_.empty(); }
  // acme-http@internal on each httpChallenge entrypoint (for BuildOptions::internal_routes).
  std::vector<config::InternalRoute> internal_routes() const;
  // Reads storages and publishes stored certificates (blocking reads, at start-up only).
  void start();
  void on_configuration(const config::DynamicConfig& dyn,
                        const std::vector<const config::EntryPoint*>& entrypoints);
  void stop();

 private:
  turnpike::Executor control_;
  ResolverHooks hooks_;
  std::unique_ptr<boost::asio::thread_pool> pool_;
  std::shared_ptr<Http01Tokens> http01_ = std::make_shared<Http01Tokens>();
  std::vector<std::string> http01_entrypoints_;
  std::map<std::string, std::shared_ptr<Resolver>> resolvers_;
  std::vector<std::string> all_names_;  // configured, including disabled ones
  std::set<std::string> reported_;
};

}  // namespace turnpike::acme
