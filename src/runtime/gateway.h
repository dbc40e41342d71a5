#pragma once
// The running gateway: the control thread (the caller of run(): providers, aggregator, snapshot
// builder, signals) and the worker threads (data plane). Configuration changes flow
// providers -> aggregator -> builder -> Snapshot -> posted to every worker.

#include <atomic>
#include <map>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "acme/manager.h"
#include "common/asio_types.h"
#include "config/builder.h"
#include "config/static_config.h"
#include "entrypoint/entrypoint_options.h"
#include "observability/access_log.h"
#include "provider/aggregator.h"
#include "provider/provider.h"
#include "runtime/worker.h"
#include "tls/tls_manager.h"

namespace turnpike::runtime {

// Static entrypoint -> runtime options (limits, path policy, forwarded-header trust).
Result<entrypoint::EntryPointOptions> entrypoint_options(const config::EntryPoint& ep, size_t index);

class Gateway {
 public:
  // Opens listeners and the access log; errors name what failed. Call from the control thread.
  static Result<std::unique_ptr<Gateway>> create(config::StaticConfig cfg);
  ~Gateway();

  // Runs until SIGTERM/SIGINT and the graceful drain completes. Returns the exit code.
  int run();

 private:
  explicit Gateway(config::StaticConfig cfg);
  void rebuild(const std::map<std::string, provider::Aggregator::Tree>& trees);
  // Builds and posts a snapshot from the providers' last good configurations. `changes`: what
  // changed in them since the last apply(), when known exactly (the builder then patches).
  void apply(const config::ChangeSet* changes = nullptr);
  // apply() soon on the control thread, once for any number of calls before it runs.
  void schedule_apply();
  // release_freed_memory() a second after the last of a series of configuration changes.
  void schedule_memory_release();
  // Certificate resolvers -> TLS serving (certificates, coverage, TLS-ALPN-01 challenges).
  acme::ResolverHooks acme_hooks();
  void publish_resolver_certificates(const std::string& resolver,
                                     const std::vector<acme::StoredCertificate>& certs);
  void begin_shutdown();
  void check_drained();

  config::StaticConfig cfg_;
  std::vector<const config::EntryPoint*> ep_order_;
  std::vector<std::unique_ptr<entrypoint::EntryPointOptions>> eps_;  // stable addresses
  std::vector<const config::EntryPoint*> udp_order_;
  std::vector<std::unique_ptr<entrypoint::EntryPointOptions>> udp_eps_;
  // Before workers_: snapshots held by workers (and their open TLS connections) point into the
  // manager's session cache and ticket keys, so it is destroyed after them.
  std::unique_ptr<tls::TlsManager> tls_;
  std::vector<std::unique_ptr<Worker>> workers_;
  boost::asio::io_context control_;
  boost::asio::signal_set signals_{control_};
  std::unique_ptr<observability::AccessLog> access_log_;
  std::unique_ptr<provider::Aggregator> aggregator_;
  std::vector<std::unique_ptr<provider::Provider>> providers_;
  // After control_: destroyed first, it joins the ACME threads, which post to control_.
  std::unique_ptr<acme::CertificateResolvers> acme_;
  config::BuildOptions build_options_;
  config::RuleCache rule_cache_;
  // What the last snapshot build made: the next build reuses the unchanged objects.
  config::BuildCache build_cache_;
  // Returns the pages freed by configuration changes to the system a second after the last one
  // (release_freed_memory), once workers have dropped the old snapshots.
  std::unique_ptr<turnpike::SteadyTimer> memory_timer_;
  std::map<std::string, config::DynamicConfig> last_good_;  // decoded, per provider
  // The tree each provider's entry in last_good_ was decoded from (or that was last rejected):
  // an unchanged pointer means an unchanged provider, which is not decoded again.
  std::map<std::string, provider::Aggregator::Tree> decoded_trees_;
  // The tree each entry of last_good_ was decoded from: the next tree is decoded against it,
  // object by object (config/incremental_decode.h).
  std::map<std::string, provider::Aggregator::Tree> good_trees_;
  // Per resolver: the served certificates by PEM content (certificate and key).
  std::map<std::string, std::map<std::string, tls::CertificatePtr>> resolver_cert_cache_;
  uint64_t generation_ = 0;
  bool apply_pending_ = false;
  bool shutting_down_ = false;
  Clock::time_point shutdown_deadline_{};
  std::unique_ptr<turnpike::SteadyTimer> shutdown_timer_;
  // Server health kept across snapshots, and the active health checks' own thread (started
  // with the first service that declares a healthCheck).
  service::HealthRegistry health_registry_;
  // rateLimit buckets and inFlightReq counts kept across snapshots while unchanged.
  middleware::StateStore middleware_state_;
  std::unique_ptr<service::HealthChecker> health_checker_;
};

}  // namespace turnpike::runtime
