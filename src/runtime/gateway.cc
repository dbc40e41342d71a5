#include "runtime/gateway.h"

#include <unistd.h>

#include <optional>
#include <thread>
#include <utility>

#include "common/asio_types.h"
#include "common/log.h"
#include "common/memory.h"
#include "config/incremental_decode.h"
#include "entrypoint/connection_dispatch.h"
#include "provider/docker/docker_provider.h"
#include "provider/file/file_provider.h"
#include "provider/http/http_provider.h"
#include "provider/kubernetes/gateway.h"
#include "provider/kubernetes/kubernetes_provider.h"
#include "provider/kv/kv_provider.h"
#include "provider/rest/rest_provider.h"
#include "service/status_service.h"

namespace turnpike::runtime {

namespace asio = boost::asio;

Result<entrypoint::EntryPointOptions> entrypoint_options(const config::EntryPoint& ep, size_t index) {
  entrypoint::EntryPointOptions o;
  o.name = ep.name;
  o.index = index;
  o.host = ep.listen.host;
  o.port = ep.listen.port;
  o.reuse_port = ep.reuse_port;
  const auto& t = ep.transport;
  o.read_timeout = t.responding_timeouts.read_timeout;
  o.write_timeout = t.responding_timeouts.write_timeout;
  o.idle_timeout = t.responding_timeouts.idle_timeout;
  o.grace_timeout = t.life_cycle.grace_timeout;
  o.request_accept_grace_timeout = t.life_cycle.request_accept_grace_timeout;
  o.keep_alive_max_requests = t.keep_alive_max_requests > 0 ? uint64_t(t.keep_alive_max_requests) : 0;
  o.keep_alive_max_time = t.keep_alive_max_time;
  o.limits.max_header_bytes = static_cast<size_t>(ep.http.max_header_bytes);
  switch (ep.http.underscore_headers_strategy) {
    case config::UnderscoreHeadersStrategy::kKeep: o.limits.underscore_headers = http::UnderscoreHeaders::kKeep; break;
    case config::UnderscoreHeadersStrategy::kDelete: o.limits.underscore_headers = http::UnderscoreHeaders::kDelete; break;
    case config::UnderscoreHeadersStrategy::kReject: o.limits.underscore_headers = http::UnderscoreHeaders::kReject; break;
  }
  o.path.sanitize_path = ep.http.sanitize_path;
  const auto& e = ep.http.encoded_characters;
  o.path.allow_encoded_slash = e.allow_encoded_slash;
  o.path.allow_encoded_back_slash = e.allow_encoded_back_slash;
  o.path.allow_encoded_null_character = e.allow_encoded_null_character;
  o.path.allow_encoded_semicolon = e.allow_encoded_semicolon;
  o.path.allow_encoded_percent = e.allow_encoded_percent;
  o.path.allow_encoded_question_mark = e.allow_encoded_question_mark;
  o.path.allow_encoded_hash = e.allow_encoded_hash;
  // Go's HTTP/2 server (hence Traefik) reads 0 as "use the default".
  auto h2_setting = [](int64_t v, uint32_t dflt) {
    return v <= 0 ? dflt : uint32_t(std::min<int64_t>(v, INT32_MAX));
  };
  o.http2.max_concurrent_streams = h2_setting(ep.http2.max_concurrent_streams, 250);
  o.http2.max_decoder_header_table_size = h2_setting(ep.http2.max_decoder_header_table_size, 4096);
  o.http2.max_encoder_header_table_size = h2_setting(ep.http2.max_encoder_header_table_size, 4096);
  auto trusted = IpNetSet::parse(ep.forwarded_headers.trusted_ips);
  if (!trusted) return trusted.error().prefixed("entryPoints." + ep.name + ".forwardedHeaders.trustedIPs");
  o.forwarded.trusted_ips = std::move(*trusted);
  o.forwarded.insecure = ep.forwarded_headers.insecure;
  o.forwarded.connection = ep.forwarded_headers.connection;
  o.forwarded.not_append_x_forwarded_for = ep.forwarded_headers.not_append_x_forwarded_for;
  o.forwarded.add_x_forwarded_scheme_headers = ep.forwarded_headers.add_x_forwarded_scheme_headers;
  if (ep.proxy_protocol) {
    o.proxy_protocol.enabled = true;
    o.proxy_protocol.insecure = ep.proxy_protocol->insecure;
    auto pp = IpNetSet::parse(ep.proxy_protocol->trusted_ips);
    if (!pp) return pp.error().prefixed("entryPoints." + ep.name + ".proxyProtocol.trustedIPs");
    o.proxy_protocol.trusted_ips = std::move(*pp);
  }
  o.udp = ep.listen.protocol == config::Protocol::kUdp;
  o.udp_timeout = ep.udp_timeout;
  char host[256] = {0};
  if (::gethostname(host, sizeof(host) - 1) == 0) o.forwarded.hostname = host;
  return o;
}

Gateway::Gateway(config::StaticConfig cfg) : cfg_(std::move(cfg)) {}

Gateway::~Gateway() {
  for (auto& p : providers_) p->stop();
  for (auto& w : workers_) w->stop();
  if (access_log_) access_log_->flush();
}

Result<std::unique_ptr<Gateway>> Gateway::create(config::StaticConfig cfg) {
  std::unique_ptr<Gateway> g(new Gateway(std::move(cfg)));
  auto logger = log::get("gateway");
  // Entrypoints in name order: the index is the position in every snapshot.
  // UDP entrypoints are numbered separately (Snapshot::udp_entrypoints).
  for (const auto& [name, ep] : g->cfg_.entry_points) {
    bool udp = ep.listen.protocol == config::Protocol::kUdp;
    auto& order = udp ? g->udp_order_ : g->ep_order_;
    auto o = entrypoint_options(ep, order.size());
    if (!o) return o.error();
    order.push_back(&ep);
    (udp ? g->udp_eps_ : g->eps_)
        .push_back(std::make_unique<entrypoint::EntryPointOptions>(std::move(*o)));
  }
  unsigned n = g->cfg_.core.workers > 0 ? unsigned(g->cfg_.core.workers)
                                        : std::max(1u, std::thread::hardware_concurrency());
  if (g->cfg_.access_log) {
    observability::AccessLogOptions ao;
    ao.file_path = g->cfg_.access_log->file_path;
    ao.format = g->cfg_.access_log->format;
    ao.buffering_size = static_cast<size_t>(std::max<int64_t>(0, g->cfg_.access_log->buffering_size));
    ao.status_filter = g->cfg_.access_log->status_codes;
    ao.min_duration = g->cfg_.access_log->min_duration;
    auto al = observability::AccessLog::open(ao);
    if (!al) return al.error();
    g->access_log_ = std::move(*al);
  }
  for (unsigned i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>(i);
    for (const auto& ep : g->eps_) {
      auto r = w->listen(*ep);
      if (!r) return r.error();
    }
    for (const auto& ep : g->udp_eps_) {
      auto r = w->listen_udp(*ep);
      if (!r) return r.error();
    }
    w->state().access_log = g->access_log_.get();
    g->workers_.push_back(std::move(w));
  }
  tls::TlsManagerOptions tls_options;
  tls_options.served_alpn = entrypoint::served_alpn_protocols();
  g->tls_ = std::make_unique<tls::TlsManager>(std::move(tls_options));
  g->build_options_.tls = g->tls_.get();
  g->build_options_.entrypoints = g->ep_order_;
  g->build_options_.workers = n;
  g->build_options_.default_transport = g->cfg_.servers_transport;
  g->build_options_.udp_entrypoints = g->udp_order_;
  g->build_options_.default_tcp_transport = g->cfg_.tcp_servers_transport;
  g->build_options_.rule_cache = &g->rule_cache_;
  g->build_options_.cache = &g->build_cache_;
  g->build_options_.health = &g->health_registry_;
  g->build_options_.middleware_state = &g->middleware_state_;

  // Certificate resolvers: stored certificates are published before anything is served (the
  // first snapshot below already holds them).
  g->acme_ = std::make_unique<acme::CertificateResolvers>(g->cfg_, g->control_.get_executor(),
                                                          g->acme_hooks());
  g->build_options_.internal_routes = g->acme_->internal_routes();
  g->acme_->start();
  // From now on a resolver's new certificates are served by a rebuild (existing connections keep
  // the certificate they were established with).
  g->tls_->set_on_change([gw = g.get()] { gw->schedule_apply(); });

  // The providers' table: one line per provider (conventions: explicit registration).
  const auto& pc = g->cfg_.providers;
  if (pc.file) {
    // 10 ms of quiet is enough to coalesce an editor's burst of writes; an atomic rename is one
    // event. Longer settling would dominate the reload latency (target: well under 100 ms).
    g->providers_.push_back(
        std::make_unique<provider::FileProvider>(*pc.file, std::chrono::milliseconds(10)));
  }
  if (pc.http) g->providers_.push_back(std::make_unique<provider::HttpProvider>(*pc.http));
  if (pc.docker) g->providers_.push_back(std::make_unique<provider::DockerProvider>(*pc.docker));
  if (pc.kubernetes_ingress)
    g->providers_.push_back(std::make_unique<provider::KubernetesProvider>(
        provider::KubernetesProvider::Kind::kIngress, *pc.kubernetes_ingress));
  if (pc.kubernetes_crd)
    g->providers_.push_back(std::make_unique<provider::KubernetesProvider>(
        provider::KubernetesProvider::Kind::kCrd, *pc.kubernetes_crd));
  if (pc.kubernetes_gateway) {
    std::vector<provider::kubernetes::EntryPointPort> ports;
    for (const auto& [name, ep] : g->cfg_.entry_points)
      if (ep.listen.protocol == config::Protocol::kTcp) ports.push_back({name, ep.listen.port});
    g->providers_.push_back(std::make_unique<provider::KubernetesProvider>(
        provider::KubernetesProvider::Kind::kGateway, *pc.kubernetes_gateway, std::move(ports)));
    g->build_options_.internal_services.emplace(
        std::string(provider::kubernetes::kInvalidBackendService),
        std::make_shared<service::StatusService>(500, "Internal Server Error"));
    http::HeaderMap grpc_unavailable;
    grpc_unavailable.add("Content-Type", "application/grpc");
    grpc_unavailable.add("Grpc-Status", "14"); // UNAVAILABLE
    grpc_unavailable.add("Grpc-Message", "Service Unavailable");
    g->build_options_.internal_services.emplace(
        std::string(provider::kubernetes::kInvalidGrpcBackendService),
        std::make_shared<service::StatusService>(200, "", std::move(grpc_unavailable)));
  }
  using KvStore = provider::KvProvider::Store;
  if (pc.etcd)
    g->providers_.push_back(std::make_unique<provider::KvProvider>(KvStore::kEtcd, *pc.etcd));
  if (pc.redis)
    g->providers_.push_back(std::make_unique<provider::KvProvider>(KvStore::kRedis, *pc.redis));
  if (pc.zookeeper)
    g->providers_.push_back(
        std::make_unique<provider::KvProvider>(KvStore::kZooKeeper, *pc.zookeeper));
  if (pc.rest) {
    auto rest = std::make_unique<provider::RestProvider>(*pc.rest);
    g->build_options_.internal_services.emplace(std::string(provider::RestProvider::kServiceName),
                                                rest->service());
    if (pc.rest->insecure) g->build_options_.internal_routes.push_back(rest->internal_route());
    g->providers_.push_back(std::move(rest));
  }
  // Until a provider publishes, workers serve an empty configuration (404 everywhere).
  auto empty = config::build_snapshot(config::DynamicConfig{}, g->build_options_, 0);
  for (auto& w : g->workers_) w->post_snapshot(empty);

  g->aggregator_ = std::make_unique<provider::Aggregator>(
      g->control_.get_executor(), g->cfg_.providers.providers_throttle_duration,
      [gw = g.get()](const std::map<std::string, provider::Aggregator::Tree>& trees) {
        gw->rebuild(trees);
      });
  logger->info("{} worker(s), {} entrypoint(s)", n, g->eps_.size() + g->udp_eps_.size());
  return g;
}


void Gateway::rebuild(const std::map<std::string, provider::Aggregator::Tree>& trees) {
  auto started = Clock::now();
  auto logger = log::get("builder");
  std::vector<config::DynamicConfig> retired;
  // What changed since the last apply(), while only incremental decodings happened.
  config::ChangeSet changes;
  bool changes_known = true;
  // Per provider: a configuration that does not decode keeps that provider's last good one.
  // Only trees that changed since the last rebuild are decoded; the others keep their decoded
  // form (a 10,000-router file is not decoded again because another provider changed).
  for (const auto& [name, tree] : trees) {
    auto& seen = decoded_trees_[name];
    if (seen == tree) continue;
    seen = tree;
    // Only the objects that changed since the last good tree are decoded when that is possible
    // (one changed key among 10,000 KV routers); otherwise the whole tree.
    auto good = last_good_.find(name);
    auto& good_tree = good_trees_[name];
    if (good != last_good_.end() && good_tree &&
        config::decode_changes(*good_tree, *tree, name, good->second, &changes)) {
      good_tree = tree;
      continue;
    }
    auto decoded = config::decode_dynamic(*tree, name);
    auto errors = config::rejecting_errors(decoded);
    if (errors.empty()) {
      // The replaced configuration is freed at the end, once workers have the new snapshot.
      retired.push_back(std::exchange(last_good_[name], std::move(decoded)));
      good_tree = tree;
      changes_known = false;
      continue;
    }
    for (const auto& e : errors) logger->error("provider {}: {}", name, e);
    logger->error("provider {}: configuration rejected, keeping the last good one", name);
  }
  for (auto it = last_good_.begin(); it != last_good_.end();) {
    if (!trees.count(it->first)) {
      it = last_good_.erase(it);
      changes_known = false;
    } else {
      ++it;
    }
  }
  for (auto it = decoded_trees_.begin(); it != decoded_trees_.end();) {
    if (!trees.count(it->first)) it = decoded_trees_.erase(it);
    else ++it;
  }
  for (auto it = good_trees_.begin(); it != good_trees_.end();) {
    if (!trees.count(it->first)) it = good_trees_.erase(it);
    else ++it;
  }
  logger->info("configuration {}: decode {:.1f} ms", generation_ + 1,
               std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count() / 1000.0);
  apply(changes_known ? &changes : nullptr);
  // `retired` (the replaced decoded configurations) is freed here, after the workers got the new
  // snapshot.
}

acme::ResolverHooks Gateway::acme_hooks() {
  acme::ResolverHooks hooks;
  tls::TlsManager* tls = tls_.get();
  hooks.on_certificates = [this](const std::string& resolver,
                                 const std::vector<acme::StoredCertificate>& certs) {
    publish_resolver_certificates(resolver, certs);
  };
  // Traefik skips names a served certificate already covers: user certificates (tls.certificates)
  // and other resolvers' ones. The current TLS state is the one just built for the configuration
  // the resolvers are evaluating (apply() builds before calling on_configuration).
  hooks.covered_elsewhere = [tls](std::string_view domain) {
    const auto& current = tls->current();
    return current && current->store().covers(domain);
  };
  // TLS-ALPN-01: the RFC 8737 certificate answers handshakes offering acme-tls/1 for the name on
  // every entrypoint at once, without a rebuild (ChallengeCertificates is thread-safe).
  hooks.tls_alpn.put = [tls](const std::string& domain, const acme::PemPair& pem) -> Result<void> {
    auto cert = tls::Certificate::from_pem(pem.cert, pem.key);
    if (!cert) return cert.error().prefixed("TLS-ALPN-01 certificate for " + domain);
    tls->challenges().put(domain, *cert);
    return {};
  };
  hooks.tls_alpn.remove = [tls](const std::string& domain) { tls->challenges().remove(domain); };
  return hooks;
}

void Gateway::publish_resolver_certificates(const std::string& resolver,
                                            const std::vector<acme::StoredCertificate>& certs) {
  // Parsed once per content: an unchanged certificate keeps its object, so the TLS manager sees
  // only real changes (a renewal of one certificate among fifty rebuilds nothing for the rest).
  auto& cache = resolver_cert_cache_[resolver];
  std::map<std::string, tls::CertificatePtr> next;
  std::vector<tls::CertificatePtr> parsed;
  for (const auto& c : certs) {
    std::string key = c.certificate;
    key.push_back('\0');
    key += c.key;
    tls::CertificatePtr cert;
    if (auto it = cache.find(key); it != cache.end()) {
      cert = it->second;
    } else {
      auto loaded = tls::Certificate::from_pem(c.certificate, c.key);
      if (!loaded) {
        log::get("acme")->error("resolver {}: the certificate for {} cannot be served: {}",
                                resolver, c.main, loaded.error().message);
        continue;
      }
      cert = *loaded;
    }
    next.emplace(std::move(key), cert);
    parsed.push_back(std::move(cert));
  }
  cache = std::move(next);
  log::get("acme")->debug("resolver {}: serving {} certificate(s)", resolver, parsed.size());
  tls_->set_resolver_certificates(resolver, std::move(parsed));
}

void Gateway::schedule_apply() {
  if (apply_pending_) return;
  apply_pending_ = true;
  // Posted, not run inside the resolver's callback: certificates that arrive together are served
  // by one rebuild.
  asio::post(control_, [this] {
    apply_pending_ = false;
    // Before the first provider configuration there is nothing to rebuild: that configuration's
    // build takes the resolvers' certificates anyway.
    if (shutting_down_ || (generation_ == 0 && !providers_.empty())) return;
    apply();
  });
}

// Builds and posts a snapshot from the providers' last good configurations (after a provider
// change, or when the TLS manager's certificates changed).
void Gateway::apply(const config::ChangeSet* changes) {
  auto started = Clock::now();
  auto logger = log::get("builder");
  // One provider (the common case) is built from its decoded form in place; several are merged
  // into a copy.
  std::optional<config::DynamicConfig> merged;
  const config::DynamicConfig* dyn_ptr = nullptr;
  static const config::DynamicConfig kEmpty;
  if (last_good_.empty()) {
    dyn_ptr = &kEmpty;
  } else if (last_good_.size() == 1) {
    dyn_ptr = &last_good_.begin()->second;
  } else {
    std::vector<config::DynamicConfig> parts;
    parts.reserve(last_good_.size());
    for (const auto& [name, d] : last_good_) parts.push_back(d);
    merged = config::merge(std::move(parts));
    dyn_ptr = &*merged;
  }
  const config::DynamicConfig& dyn = *dyn_ptr;
  auto t_merge = Clock::now();
  std::vector<service::HealthCheckTarget> health_checks;
  build_options_.health_checks = &health_checks;
  build_options_.changes = changes;
  auto snapshot = config::build_snapshot(dyn, build_options_, ++generation_);
  build_options_.health_checks = nullptr;
  build_options_.changes = nullptr;
  if (!health_checks.empty() && !health_checker_)
    health_checker_ = std::make_unique<service::HealthChecker>();
  if (health_checker_) health_checker_->update(std::move(health_checks));
  auto t_build = Clock::now();
  auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count() / 1000.0; };
  const auto& reuse = build_cache_.last_build();
  logger->info("configuration {}: merge {:.1f} ms, build {:.1f} ms (routers {} built, {} reused; "
               "services {} built, {} reused; middlewares {} built, {} reused)",
               generation_ + 0, ms(t_merge - started), ms(t_build - t_merge),
               reuse.routers_built, reuse.routers_reused, reuse.services_built,
               reuse.services_reused, reuse.middlewares_built, reuse.middlewares_reused);
  for (auto& w : workers_) w->post_snapshot(snapshot, control_.get_executor());
  auto t_posted = Clock::now();
  if (acme_) acme_->on_configuration(dyn, ep_order_);
  auto t_acme = Clock::now();
  auto errors = config::collect_errors(dyn, *snapshot);
  for (const auto& e : errors) logger->error("{}", e);
  logger->debug("configuration {}: posted to the workers in {:.1f} ms, then certificate "
                "resolvers {:.1f} ms, errors collected {:.1f} ms",
                generation_, ms(t_posted - t_build), ms(t_acme - t_posted),
                ms(Clock::now() - t_acme));
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count();
  logger->info("configuration {} applied: {} route(s), {} TCP route(s), {} error(s), built in {} us",
               generation_, snapshot->router_count, snapshot->tcp_router_count, errors.size(), us);
  schedule_memory_release();
}

void Gateway::schedule_memory_release() {
  // After a quiet second: purging returns the pages, and the next change has to fault fresh
  // ones in (measured: with 10,000 routers, purging after every change made each change 2-4x
  // slower), so a series of changes runs on warm pages and RSS settles once it is over.
  // Re-armed by each change. A request that outlives it keeps its snapshot; that memory waits
  // for jemalloc's own decay (10 s).
  constexpr auto kQuiet = std::chrono::seconds(1);
  if (!memory_timer_) memory_timer_ = std::make_unique<turnpike::SteadyTimer>(control_);
  memory_timer_->expires_after(kQuiet);
  memory_timer_->async_wait([](boost::system::error_code ec) {
    if (!ec) release_freed_memory();
  });
}

void Gateway::begin_shutdown() {
  if (shutting_down_) {
    // Second signal: stop now.
    log::get("gateway")->warn("second signal: stopping without waiting for in-flight requests");
    control_.stop();
    return;
  }
  shutting_down_ = true;
  Duration grace = Duration::zero();
  Duration accept_grace = Duration::zero();
  for (const auto& ep : eps_) {
    grace = std::max(grace, ep->grace_timeout);
    accept_grace = std::max(accept_grace, ep->request_accept_grace_timeout);
  }
  for (const auto& ep : udp_eps_) {
    grace = std::max(grace, ep->grace_timeout);
    accept_grace = std::max(accept_grace, ep->request_accept_grace_timeout);
  }
  log::get("gateway")->info("shutting down: draining for up to {} ms",
                            std::chrono::duration_cast<std::chrono::milliseconds>(grace).count());
  for (auto& p : providers_) p->stop();
  if (acme_) acme_->stop();
  tls_->stop();
  shutdown_deadline_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(accept_grace + grace);
  shutdown_timer_ = std::make_unique<turnpike::SteadyTimer>(control_);
  auto close_and_drain = [this] {
    for (auto& w : workers_) {
      w->post_close_listeners();
      w->post_drain();
    }
    check_drained();
  };
  if (accept_grace.count() > 0) {
    shutdown_timer_->expires_after(accept_grace);
    shutdown_timer_->async_wait([close_and_drain](boost::system::error_code ec) {
      if (!ec) close_and_drain();
    });
  } else {
    close_and_drain();
  }
}

void Gateway::check_drained() {
  uint64_t open = 0;
  for (auto& w : workers_) open += w->open_connections();
  if (open == 0 || Clock::now() >= shutdown_deadline_) {
    if (open) log::get("gateway")->warn("grace period over: closing {} connection(s)", open);
    control_.stop();
    return;
  }
  // Busy connections may have become idle: drain again (idle ones close at once).
  for (auto& w : workers_) w->post_drain();
  shutdown_timer_->expires_after(std::chrono::milliseconds(50));
  shutdown_timer_->async_wait([this](boost::system::error_code ec) {
    if (!ec) check_drained();
  });
}

int Gateway::run() {
  tls_->start(control_.get_executor());
  for (auto& w : workers_) w->start();
  for (auto& p : providers_) {
    auto started = p->start(control_.get_executor(), aggregator_->publisher());
    if (!started) {
      log::get("gateway")->critical("provider {}: {}", p->name(), started.error().message);
      for (auto& w : workers_) w->stop();
      return 1;
    }
  }
  signals_.add(SIGTERM);
  signals_.add(SIGINT);
  std::function<void()> wait_signal = [this, &wait_signal] {
    signals_.async_wait([this, &wait_signal](boost::system::error_code ec, int) {
      if (ec) return;
      begin_shutdown();
      wait_signal();
    });
  };
  wait_signal();
  auto guard = asio::make_work_guard(control_);
  control_.run();
  for (auto& w : workers_) w->stop();
  if (access_log_) access_log_->flush();
  log::get("gateway")->info("stopped");
  return 0;
}

}  // namespace turnpike::runtime
