#include "acme/resolver.h"

#include <algorithm>
#include <random>
#include <thread>

#include <boost/asio/post.hpp>

#include "common/asio_types.h"
#include "common/log.h"
#include "common/strings.h"

namespace turnpike::acme {
namespace {

namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;

const std::shared_ptr<spdlog::logger>& logger() {
  static auto l = log::get("acme");
  return l;
}

std::string join(const std::vector<std::string>& v, std::string_view sep = ", ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : std::string(sep)) + s;
  return out;
}

// "https://host:port/path" -> "host:port"
std::string url_host(std::string_view url) {
  auto scheme = url.find("://");
  if (scheme != std::string_view::npos) url.remove_prefix(scheme + 3);
  auto slash = url.find('/');
  return to_lower(url.substr(0, slash));
}

// lego's names for Account.KeyType (written for Traefik versions that read it).
std::string lego_key_type(KeyType t) {
  switch (t) {
    case KeyType::kEC256: return "P256";
    case KeyType::kEC384: return "P384";
    case KeyType::kRSA2048: return "2048";
    case KeyType::kRSA4096: return "4096";
    case KeyType::kRSA8192: return "8192";
  }
  return "4096";
}

AcmeError acme_error(std::string message) { return AcmeError{std::move(message), {}, {}}; }

std::string when(std::time_t t) { return t ? format_rfc3339(t) : "now"; }

bool valid_wildcard(std::string_view d) {
  // Only one leading "*." label: "*.*.example.com" and "a.*.example.com" are rejected (Traefik).
  if (!d.starts_with("*.")) return d.find('*') == std::string_view::npos;
  return d.substr(2).find('*') == std::string_view::npos && d.size() > 2;
}

}  // namespace

std::chrono::seconds renew_period(int64_t duration_hours) {
  using std::chrono::hours;
  using std::chrono::minutes;
  constexpr int64_t kDay = 24;
  if (duration_hours >= 365 * kDay) return hours(4 * 30 * 24);
  if (duration_hours >= 90 * kDay) return hours(30 * 24);
  if (duration_hours >= 30 * kDay) return hours(10 * 24);
  if (duration_hours >= 6 * kDay) return hours(2 * 24);
  if (duration_hours >= kDay) return hours(6);
  return minutes(20);
}

std::time_t renewal_time(std::time_t not_before, std::time_t not_after, int64_t duration_hours) {
  auto period = renew_period(duration_hours).count();
  // A certificate much shorter than certificatesDuration says (a test CA, a profile) is renewed
  // once two thirds of its life are gone rather than at once.
  if (not_after > not_before) period = std::min<int64_t>(period, (not_after - not_before) / 3);
  return not_after - period;
}

bool names_cover(const std::vector<std::string>& cert_names, std::string_view domain) {
  std::string d = to_lower(domain);
  for (const auto& n : cert_names) {
    if (n == d) return true;
    if (n.starts_with("*.") && !d.starts_with("*.")) {
      auto dot = d.find('.');
      if (dot != std::string::npos && std::string_view(d).substr(dot + 1) == std::string_view(n).substr(2))
        return true;
    }
  }
  return false;
}

// ---- construction ------------------------------------------------------------------------------

Resolver::Resolver(std::string name, const config::AcmeResolverConfig& config, ResolverDeps deps)
    : name_(std::move(name)), config_(config), deps_(std::move(deps)) {}

Resolver::~Resolver() {
  stop_->stop();
  if (http_) http_->stop();
}

Result<std::shared_ptr<Resolver>> Resolver::create(std::string name,
                                                   const config::AcmeResolverConfig& config,
                                                   ResolverDeps deps) {
  std::shared_ptr<Resolver> r(new Resolver(std::move(name), config, std::move(deps)));
  std::string path = "certificatesResolvers." + r->name_ + ".acme";
  auto kt = parse_key_type(config.key_type);
  if (!kt) return make_error(path + ".keyType: invalid value \"" + config.key_type + "\"");
  r->key_type_ = *kt;
  if (!r->deps_.env) r->deps_.env = process_env();
  const auto& env = r->deps_.env;

  HttpClientOptions ho;
  ho.ca_certificates = config.ca_certificates;
  // lego's variables, which Traefik honours too.
  if (ho.ca_certificates.empty()) {
    if (auto v = env("LEGO_CA_CERTIFICATES"); v && !v->empty())
      for (auto part : split(*v, ':'))
        if (!part.empty()) ho.ca_certificates.emplace_back(part);
  }
  ho.ca_system_cert_pool = config.ca_system_cert_pool;
  if (!ho.ca_system_cert_pool)
    if (auto v = env("LEGO_CA_SYSTEM_CERT_POOL"); v && (*v == "true" || *v == "1"))
      ho.ca_system_cert_pool = true;
  ho.ca_server_name = config.ca_server_name;
  if (ho.ca_server_name.empty())
    if (auto v = env("LEGO_CA_SERVER_NAME"); v) ho.ca_server_name = *v;
  ho.timeout = config.client_timeout;
  ho.response_header_timeout = config.client_response_header_timeout;
  ho.user_agent = "turnpike/acme";
  auto http = HttpClient::create(ho);
  if (!http) return http.error().prefixed(path);
  r->http_ = *http;
  r->client_ = std::make_unique<AcmeClient>(r->http_, config.ca_server, r->stop_);

  if (config.http_challenge) {
    if (!r->deps_.http01) return make_error(path + ".httpChallenge: not available");
    r->http01_ = make_http01_solver(r->deps_.http01, config.http_challenge->delay);
  }
  if (config.tls_challenge) {
    if (!r->deps_.tls_alpn)
      return make_error(path + ".tlsChallenge: TLS-ALPN-01 is not available (no TLS serving)");
    r->tls_alpn01_ = make_tls_alpn01_solver(r->deps_.tls_alpn, config.tls_challenge->delay);
  }
  if (config.dns_challenge) {
    const auto& dc = *config.dns_challenge;
    auto provider = make_dns_provider(dc.provider, env);
    if (!provider) return provider.error().prefixed(path + ".dnsChallenge");
    PropagationOptions po;
    for (const auto& s : dc.resolvers) {
      auto server = parse_dns_server(s);
      if (!server) return server.error().prefixed(path + ".dnsChallenge.resolvers");
      po.resolvers.push_back(*server);
    }
    po.delay_before_checks = dc.delay_before_checks;
    po.disable_checks = dc.disable_checks;
    po.disable_ans_checks = dc.disable_ans_checks;
    po.require_all_rns = dc.require_all_rns;
    if (auto v = env("LEGO_DISABLE_CNAME_SUPPORT"); v && (*v == "true" || *v == "1"))
      po.follow_cname = false;
    r->dns01_ = make_dns01_solver(std::shared_ptr<DnsProvider>(std::move(*provider)), po);
  }
  return r;
}

// ---- control thread ----------------------------------------------------------------------------

Result<void> Resolver::start() {
  const bool shared = deps_.storage->shared();
  auto loaded = deps_.storage->load(name_);
  if (!loaded && !shared) return loaded.error();
  if (!loaded) {
    // Shared storage down at start: nothing to serve yet, and nothing is ordered without the
    // cluster lock; the store's data arrives through follow() once it is reachable.
    logger()->error("resolver {}: {}: starting without stored certificates until the store is "
                    "reachable",
                    name_, loaded.error().message);
    loaded = ResolverData{};
  }
  data_ = std::move(*loaded);
  auto now = deps_.now();
  bool changed = false;
  for (auto& [key, entry] : data_.ledger) {
    // In a cluster an open attempt is usually another instance's order in progress: it is
    // recovered by whoever takes the set's lock after the holder is gone (join_cluster).
    if (shared || !entry.attempt_open) continue;
    bool had_order = std::any_of(data_.orders.begin(), data_.orders.end(), [&](const PendingOrder& o) {
      return domain_set_key(o.domains) == key;
    });
    recover_interrupted(entry, now, had_order, deps_.policy);
    changed = true;
    logger()->warn("resolver {}: the previous process stopped while ordering a certificate for "
                   "{}{}",
                   name_, key, had_order ? "; the order will be resumed" : "");
  }
  if (changed) {
    auto saved = deps_.storage->save(name_, data_);
    if (!saved) return saved.error();
  }
  for (const auto& [key, entry] : data_.ledger) {
    auto decision = may_order(entry, now, deps_.policy);
    if (decision.allowed) continue;
    // The ledger survives restarts: a crash-looping process keeps waiting.
    not_before_[key] = decision.not_before;
    logger()->warn("resolver {}: not ordering a certificate for {} before {}: {}", name_, key,
                   when(decision.not_before), decision.reason);
  }
  if (!data_.account || data_.account->private_key.empty()) {
    // No account yet: make its key in the background now, so that the first order does not wait
    // for it. Registration stays lazy (nothing is sent to the CA until a certificate is needed).
    asio::post(*deps_.pool, [self = shared_from_this()] { (void)self->account_key(); });
  }
  certificates_ = data_.certificates;
  track_certificates();
  if (!certificates_.empty())
    logger()->info("resolver {}: {} stored certificate(s) from {}", name_, certificates_.size(),
                   deps_.storage->describe());
  if (deps_.on_certificates) deps_.on_certificates(name_, certificates_);
  timer_ = std::make_unique<turnpike::SteadyTimer>(deps_.control);
  if (shared) {
    std::weak_ptr<Resolver> weak = weak_from_this();
    StorageFollower follower;
    follower.changed = [weak, pool = deps_.pool] {
      auto self = weak.lock();
      if (!self || self->reload_pending_.exchange(true)) return;
      asio::post(*pool, [self] { self->reload(); });
    };
    follower.challenge = [weak, pool = deps_.pool](const SharedChallenge& c, bool present) {
      if (auto self = weak.lock())
        asio::post(*pool, [self, c, present] { self->apply_shared_challenge(c, present); });
    };
    deps_.storage->follow(name_, std::move(follower));
  }
  evaluate();
  return {};
}

void Resolver::adopt(std::vector<StoredCertificate> certificates, uint64_t version) {
  if (stopped_ || version <= published_version_) return;
  published_version_ = version;
  auto same = [](const std::vector<StoredCertificate>& a, const std::vector<StoredCertificate>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (a[i].certificate != b[i].certificate || a[i].key != b[i].key) return false;
    return true;
  };
  if (!same(certificates, certificates_)) {
    logger()->info("resolver {}: {} certificate(s) from {}", name_, certificates.size(),
                   deps_.storage->describe());
    certificates_ = std::move(certificates);
    track_certificates();
    if (deps_.on_certificates) deps_.on_certificates(name_, certificates_);
  }
  evaluate();
}

void Resolver::stop() {
  stopped_ = true;
  stop_->stop();
  http_->stop();
  if (timer_) timer_->cancel();
  if (deps_.storage->shared()) deps_.storage->stop();
}

void Resolver::set_requests(std::vector<DomainRequest> requests) {
  for (auto& r : requests)
    for (auto& d : r.domains) d = to_lower(d);
  requests_ = std::move(requests);
  evaluate();
}

void Resolver::track_certificates() {
  std::map<std::string, Tracked> next;
  for (const auto& c : certificates_) {
    auto key = domain_set_key(c.domains());
    Tracked t;
    if (auto it = tracked_.find(key); it != tracked_.end()) t = it->second;
    auto info = inspect_certificate(c.certificate);
    if (!info) {
      logger()->error("resolver {}: stored certificate for {} is unreadable ({}); it will be "
                      "ordered again",
                      name_, key, info.error().message);
      t.renew_at = 0;
    } else {
      if (info->ari_id != t.ari_id) t.ari_renew_at.reset();
      t.renew_at = renewal_time(info->not_before, info->not_after, config_.certificates_duration);
      t.ari_id = info->ari_id;
    }
    next[key] = t;
  }
  tracked_ = std::move(next);
  for (const auto& [key, t] : tracked_)
    if (!t.ari_id.empty() && !t.ari_renew_at) check_ari(key, t.ari_id);
}

bool Resolver::covered(std::string_view domain) const {
  for (const auto& c : certificates_)
    if (names_cover(c.domains(), domain)) return true;
  return deps_.covered_elsewhere && deps_.covered_elsewhere(domain);
}

void Resolver::evaluate() {
  if (stopped_) return;
  auto now = deps_.now();
  std::time_t next = 0;
  auto consider = [&](std::time_t t) {
    if (t > now && (next == 0 || t < next)) next = t;
  };
  auto blocked = [&](const std::string& key) {
    if (in_flight_.count(key)) return true;
    auto it = not_before_.find(key);
    if (it != not_before_.end() && it->second > now) {
      consider(it->second);
      return true;
    }
    return false;
  };
  // Who needs each set, for the logs of renewals.
  auto requester_of = [&](const std::vector<std::string>& domains) {
    for (const auto& r : requests_)
      for (const auto& d : r.domains)
        if (names_cover(domains, d)) return r.requester;
    return std::string("stored certificate");
  };

  // Renewals: every stored certificate, used or not (Traefik renews them all).
  for (const auto& c : certificates_) {
    auto key = domain_set_key(c.domains());
    const Tracked& t = tracked_[key];
    std::time_t at = t.ari_renew_at.value_or(t.renew_at);
    if (at > now) {
      consider(at);
      continue;
    }
    if (blocked(key)) continue;
    launch(Job{c.domains(), key, requester_of(c.domains()), t.ari_id, true});
  }

  // New certificates for the domains no certificate covers.
  std::set<std::string> busy_domains;
  for (const auto& key : in_flight_)
    for (auto d : split(key, ',')) busy_domains.emplace(d);
  for (const auto& r : requests_) {
    std::vector<std::string> need;
    for (const auto& d : r.domains)
      if (!covered(d) && std::find(need.begin(), need.end(), d) == need.end()) need.push_back(d);
    if (need.empty()) continue;
    std::string problem;
    for (const auto& d : need) {
      if (!valid_wildcard(d)) {
        problem = "invalid domain \"" + d + "\" (one leading \"*.\" label at most)";
      } else if (d.starts_with("*.") && !dns01_) {
        problem = "wildcard domain \"" + d + "\" needs dnsChallenge (wildcards can only be "
                  "validated by DNS-01)";
      }
    }
    if (!problem.empty()) {
      if (reported_.insert(r.requester + problem).second)
        logger()->error("resolver {}: {}: {}", name_, r.requester, problem);
      continue;
    }
    auto key = domain_set_key(need);
    if (blocked(key)) continue;
    if (std::any_of(need.begin(), need.end(), [&](const std::string& d) { return busy_domains.count(d); }))
      continue;  // re-evaluated when the other order ends
    for (const auto& d : need) busy_domains.insert(d);
    launch(Job{need, key, r.requester, "", false});
  }
  schedule(next);
}

void Resolver::schedule(std::time_t at) {
  if (!timer_) return;
  timer_at_ = at;
  timer_->cancel();
  if (at == 0) return;
  auto delay = std::chrono::seconds(std::max<std::time_t>(0, at - deps_.now()));
  // Wake up at least daily: certificates are re-checked even if the clock jumped.
  delay = std::min<std::chrono::seconds>(delay, std::chrono::hours(24));
  timer_->expires_after(delay + std::chrono::milliseconds(50));
  timer_->async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->evaluate();
  });
}

void Resolver::launch(Job job) {
  in_flight_.insert(job.key);
  logger()->info("resolver {}: {} certificate for {} ({})", name_,
                 job.renewal ? "renewing the" : "ordering a", join(job.domains), job.requester);
  asio::post(*deps_.pool, [self = shared_from_this(), job = std::move(job)]() mutable {
    Outcome out;
    try {
      out = self->run(job);
    } catch (const std::exception& e) {
      out.kind = Outcome::Kind::kFailed;
      out.message = std::string("internal error: ") + e.what();
      out.not_before = self->deps_.now() + 60;
    }
    asio::post(self->deps_.control, [self, job = std::move(job), out = std::move(out)]() mutable {
      self->finish(job, std::move(out));
    });
  });
}

void Resolver::finish(const Job& job, Outcome out) {
  in_flight_.erase(job.key);
  if (stopped_) return;
  switch (out.kind) {
    case Outcome::Kind::kIssued:
      not_before_.erase(job.key);
      logger()->info("resolver {}: certificate {} for {} ({}), valid until {}", name_,
                     out.elsewhere ? "obtained by another instance" : "obtained",
                     join(job.domains), job.requester, when(out.not_after));
      // A job that finished later may have posted a newer list already (it holds this one too).
      if (out.version > published_version_) {
        published_version_ = out.version;
        certificates_ = std::move(out.certificates);
        track_certificates();
        if (deps_.on_certificates) deps_.on_certificates(name_, certificates_);
      }
      break;
    case Outcome::Kind::kFailed:
      not_before_[job.key] = out.not_before;
      logger()->error("resolver {}: unable to obtain a certificate for {} ({}): {}; next attempt "
                      "not before {}",
                      name_, join(job.domains), job.requester, out.message, when(out.not_before));
      break;
    case Outcome::Kind::kDeferred:
      not_before_[job.key] = out.not_before;
      logger()->warn("resolver {}: not ordering a certificate for {} ({}) before {}: {}", name_,
                     join(job.domains), job.requester, when(out.not_before), out.message);
      break;
    case Outcome::Kind::kStopped:
      return;
  }
  evaluate();
}

void Resolver::check_ari(const std::string& key, const std::string& cert_id) {
  asio::post(*deps_.pool, [self = shared_from_this(), key, cert_id] {
    auto dir = self->client_->directory();
    if (!dir || dir->renewal_info.empty()) return;
    auto info = self->client_->renewal_info(cert_id);
    if (!info) {
      logger()->debug("resolver {}: renewalInfo for {}: {}", self->name_, key, info.error().message);
      return;
    }
    // RFC 9773 §4.2: a uniformly random time within the suggested window.
    std::time_t span = std::max<std::time_t>(0, info->window_end - info->window_start);
    std::mt19937_64 rng(std::random_device{}());
    std::time_t at = info->window_start + (span ? std::time_t(rng() % uint64_t(span)) : 0);
    asio::post(self->deps_.control, [self, key, cert_id, at] {
      auto it = self->tracked_.find(key);
      if (it == self->tracked_.end() || it->second.ari_id != cert_id) return;
      it->second.ari_renew_at = at;
      logger()->info("resolver {}: renewal of {} scheduled at {} (ACME renewal information)",
                     self->name_, key, when(at));
      self->evaluate();
    });
  });
}

// ---- pool --------------------------------------------------------------------------------------

Result<void> Resolver::persist() {
  uint64_t ticket;
  {
    std::lock_guard lock(data_mu_);
    ticket = deps_.storage->stage(name_, data_);
  }
  // The write happens without data_mu_: other jobs keep going, and their saves join this one.
  return deps_.storage->flush(ticket);
}

void Resolver::reload() {
  reload_pending_ = false;
  std::vector<StoredCertificate> certs;
  uint64_t version;
  {
    std::lock_guard lock(data_mu_);
    auto loaded = deps_.storage->load(name_);
    if (!loaded) {
      logger()->error("resolver {}: {}", name_, loaded.error().message);
      return;
    }
    // A store that comes back without a certificate this instance serves (a Redis restarted
    // without persistence, a prefix wiped) does not take it away: it is kept, and written back
    // with the next save.
    std::set<std::string> have;
    for (const auto& c : loaded->certificates) have.insert(domain_set_key(c.domains()));
    for (auto& c : data_.certificates)
      if (!have.count(domain_set_key(c.domains()))) {
        logger()->warn("resolver {}: {} lost the certificate for {}; keeping it", name_,
                       deps_.storage->describe(), domain_set_key(c.domains()));
        loaded->certificates.push_back(std::move(c));
      }
    data_ = std::move(*loaded);
    certs = data_.certificates;
    version = ++certificates_version_;
  }
  asio::post(deps_.control, [self = shared_from_this(), certs = std::move(certs), version]() mutable {
    self->adopt(std::move(certs), version);
  });
}

void Resolver::apply_shared_challenge(const SharedChallenge& c, bool present) {
  ChallengeSolver* solver = c.type == "http-01" ? http01_.get() : tls_alpn01_.get();
  if (!solver) {
    logger()->warn("resolver {}: another instance uses {} for {}, which this instance does not "
                   "have configured: it cannot answer that challenge",
                   name_, c.type, c.domain);
    return;
  }
  ChallengeContext ctx{c.domain, false, c.token, c.key_authorization};
  if (!present) {
    solver->cleanup(ctx);
    return;
  }
  auto r = solver->present(ctx);
  if (!r)
    logger()->error("resolver {}: cannot answer the shared {} challenge for {}: {}", name_, c.type,
                    c.domain, r.error().message);
}

std::optional<Resolver::Outcome> Resolver::join_cluster(const Job& job,
                                                        std::unique_ptr<StorageLock>& held) {
  Outcome out;
  out.kind = Outcome::Kind::kDeferred;
  auto lock = deps_.storage->lock(name_, "order/" + job.key);
  if (!lock) {
    out.not_before = deps_.now() + 5;
    out.message = "no order without the cluster lock: " + lock.error().message;
    return out;
  }
  if (!*lock) {
    // The holder's certificate arrives through the storage's watch; if the holder dies, its lock
    // expires and a later attempt here takes over (resuming the stored order).
    out.not_before = deps_.now() + 3;
    out.message = "another instance is obtaining it";
    return out;
  }
  held = std::move(*lock);
  std::lock_guard data_lock(data_mu_);
  auto loaded = deps_.storage->load(name_);
  if (!loaded) {
    out.not_before = deps_.now() + 5;
    out.message = loaded.error().message;
    return out;
  }
  data_ = std::move(*loaded);
  auto now = deps_.now();
  for (const auto& c : data_.certificates) {
    if (domain_set_key(c.domains()) != job.key) continue;
    auto info = inspect_certificate(c.certificate);
    if (!info) break;
    // Obtained (or renewed) by another instance since this one decided to order it.
    if (!job.renewal ||
        renewal_time(info->not_before, info->not_after, config_.certificates_duration) > now) {
      out.kind = Outcome::Kind::kIssued;
      out.elsewhere = true;
      out.certificates = data_.certificates;
      out.version = ++certificates_version_;
      out.not_after = info->not_after;
      return out;
    }
  }
  auto& entry = data_.ledger[job.key];
  if (entry.attempt_open) {
    // The instance that held the lock stopped in the middle of this set's attempt.
    bool had_order = std::any_of(data_.orders.begin(), data_.orders.end(), [&](const PendingOrder& o) {
      return domain_set_key(o.domains) == job.key;
    });
    recover_interrupted(entry, now, had_order, deps_.policy);
    logger()->warn("resolver {}: another instance stopped while ordering a certificate for {}{}",
                   name_, job.key, had_order ? "; its order is resumed here" : "");
  }
  return std::nullopt;
}

Resolver::Outcome Resolver::run(const Job& job) {
  Outcome out;
  std::unique_ptr<StorageLock> cluster_lock;  // held until the job ends
  if (deps_.storage->shared()) {
    auto joined = join_cluster(job, cluster_lock);
    if (joined) return std::move(*joined);
  }
  {
    std::lock_guard lock(data_mu_);
    auto decision = may_order(data_.ledger[job.key], deps_.now(), deps_.policy);
    if (!decision.allowed) {
      out.kind = Outcome::Kind::kDeferred;
      out.not_before = decision.not_before;
      out.message = decision.reason;
      return out;
    }
  }
  // The account first: a process killed while it generates its key has asked the CA nothing, so
  // that must not count as an interrupted attempt.
  auto account = ensure_account();
  if (!account) {
    out.kind = stop_->stopped() ? Outcome::Kind::kStopped : Outcome::Kind::kFailed;
    out.message = account.error().message;
    auto wait = std::max<std::chrono::seconds>(std::chrono::minutes(1),
                                               account.error().retry_after.value_or(std::chrono::seconds(0)));
    out.not_before = deps_.now() + wait.count();
    return out;
  }
  auto now = deps_.now();
  {
    std::lock_guard lock(data_mu_);
    record_attempt(data_.ledger[job.key], now);
  }
  // Nothing is ordered unless the attempt is on disk: a crash loop must find it.
  auto saved = persist();
  if (!saved) {
    {
      std::lock_guard lock(data_mu_);
      record_abandoned(data_.ledger[job.key]);
    }
    out.kind = Outcome::Kind::kFailed;
    out.message = "cannot write " + deps_.storage->describe() + ": " + saved.error().message;
    out.not_before = now + 60;
    return out;
  }
  auto cert = issue(job);
  std::unique_lock lock(data_mu_);
  auto& entry = data_.ledger[job.key];
  auto end = deps_.now();
  if (cert) {
    auto same = [&](const StoredCertificate& c) { return domain_set_key(c.domains()) == job.key; };
    auto it = std::find_if(data_.certificates.begin(), data_.certificates.end(), same);
    if (it != data_.certificates.end()) {
      *it = std::move(*cert);
    } else {
      data_.certificates.push_back(std::move(*cert));
    }
    std::erase_if(data_.orders, [&](const PendingOrder& o) { return domain_set_key(o.domains) == job.key; });
    record_success(entry, end, deps_.policy);
    out.kind = Outcome::Kind::kIssued;
    out.certificates = data_.certificates;
    out.version = ++certificates_version_;
    for (const auto& c : data_.certificates)
      if (same(c))
        if (auto info = inspect_certificate(c.certificate)) out.not_after = info->not_after;
    lock.unlock();
    auto stored = persist();
    if (!stored)
      logger()->error("resolver {}: the certificate for {} is served but could not be stored: {}",
                      name_, job.key, stored.error().message);
    return out;
  }
  if (stop_->stopped()) {
    // Stopping: the order (if any) stays stored and is resumed by the next process.
    record_abandoned(entry);
    lock.unlock();
    (void)persist();
    out.kind = Outcome::Kind::kStopped;
    return out;
  }
  const AcmeError& err = cert.error();
  record_failure(entry, end, err.message, err.retry_after, deps_.policy);
  out.kind = Outcome::Kind::kFailed;
  out.message = err.message;
  out.not_before = entry.next_attempt;
  lock.unlock();
  auto stored = persist();
  if (!stored) logger()->error("resolver {}: cannot store the failure: {}", name_, stored.error().message);
  return out;
}

Result<PrivateKey> Resolver::account_key() {
  std::lock_guard lock(account_key_mu_);
  if (!spare_account_key_) {
    // Traefik's account keys are RSA-4096 whatever keyType says (keyType is for certificates);
    // keeping that makes our acme.json usable by Traefik. Generating one takes seconds.
    auto k = PrivateKey::generate(KeyType::kRSA4096);
    if (!k) return k.error();
    spare_account_key_ = std::move(*k);
  }
  return spare_account_key_;
}

AcmeResult<void> Resolver::ensure_account() {
  std::lock_guard account_lock(account_mu_);
  if (client_->has_account()) return {};
  std::unique_ptr<StorageLock> cluster_lock;
  if (deps_.storage->shared()) {
    // One account for the cluster: register under the "account" lock, or wait for the instance
    // that holds it to store the account.
    auto usable = [&] {
      std::lock_guard lock(data_mu_);
      auto loaded = deps_.storage->load(name_);
      if (loaded) data_ = std::move(*loaded);
      return data_.account && !data_.account->private_key.empty() &&
             url_host(data_.account->uri()) == url_host(config_.ca_server);
    };
    auto deadline = SteadyClock::now() + std::chrono::seconds(60);
    while (!usable()) {
      auto l = deps_.storage->lock(name_, "account");
      if (!l) return acme_error("no account registration without the cluster lock: " + l.error().message);
      if (*l) {
        cluster_lock = std::move(*l);
        (void)usable();  // what was stored before the lock was free
        break;
      }
      if (stop_->stopped()) return acme_error("stopped");
      if (SteadyClock::now() > deadline)
        return acme_error("another instance is registering the ACME account");
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  StoredAccount acc;
  {
    std::lock_guard lock(data_mu_);
    if (data_.account) acc = *data_.account;
  }
  PrivateKey key;
  if (!acc.private_key.empty()) {
    auto k = PrivateKey::from_der(acc.private_key);
    if (k) {
      key = std::move(*k);
    } else {
      logger()->warn("resolver {}: stored account key unreadable ({}), creating a new account",
                     name_, k.error().message);
    }
  }
  // Traefik re-registers when the stored account belongs to another CA.
  if (key && !acc.uri().empty() && url_host(acc.uri()) == url_host(config_.ca_server)) {
    client_->use_account(acc.uri(), key);
    return {};
  }
  if (!key) {
    auto k = account_key();
    if (!k) return acme_error(k.error().message);
    key = std::move(*k);
  }
  std::optional<ExternalAccountBinding> eab;
  if (config_.eab) eab = ExternalAccountBinding{config_.eab->kid, config_.eab->hmac_encoded};
  auto registered = client_->register_account(key, config_.email, eab);
  if (!registered) return registered.error();
  logger()->info("resolver {}: ACME account {} at {}", name_, registered->url, config_.ca_server);
  StoredAccount stored;
  stored.email = config_.email;
  stored.registration = nlohmann::ordered_json::object();
  stored.registration["body"] = nlohmann::ordered_json::parse(registered->body.dump());
  stored.registration["uri"] = registered->url;
  stored.private_key = key.to_der();
  stored.key_type = lego_key_type(key_type_);
  {
    std::lock_guard lock(data_mu_);
    data_.account = std::move(stored);
  }
  auto saved = persist();
  if (!saved) return acme_error("cannot store the account: " + saved.error().message);
  return {};
}

ChallengeSolver* Resolver::solver_for(const Authorization& authz) {
  // Wildcards can only be proven through DNS; otherwise HTTP-01 first (cheapest), then
  // TLS-ALPN-01, then DNS-01, among those configured and offered by the CA.
  std::vector<ChallengeSolver*> order;
  if (authz.wildcard) {
    order = {dns01_.get()};
  } else {
    order = {http01_.get(), tls_alpn01_.get(), dns01_.get()};
  }
  for (auto* s : order)
    if (s && authz.find(s->type())) return s;
  return nullptr;
}

AcmeResult<StoredCertificate> Resolver::issue(const Job& job) {
  auto deadline_after = [](Duration d) {
    return SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(d);
  };
  Duration challenge_timeout = std::max<Duration>(config_.client_timeout, std::chrono::seconds(30));
  Duration certificate_timeout =
      std::max<Duration>(config_.certificate_timeout, std::chrono::seconds(5));

  Order order;
  PrivateKey cert_key;
  bool resumed = false;
  std::optional<PendingOrder> pending;
  bool interrupted = false;
  {
    std::lock_guard lock(data_mu_);
    for (const auto& o : data_.orders)
      if (domain_set_key(o.domains) == job.key) pending = o;
    interrupted = data_.ledger[job.key].interrupted > 0;
  }
  auto drop_pending = [&] {
    {
      std::lock_guard lock(data_mu_);
      std::erase_if(data_.orders, [&](const PendingOrder& o) { return domain_set_key(o.domains) == job.key; });
    }
    (void)persist();
  };
  if (pending) {
    auto o = client_->get_order(pending->url);
    // Unreachable CA: keep the stored order for the next attempt.
    if (!o && !o.error().problem) return o.error();
    auto k = PrivateKey::from_pem(pending->key);
    if (o && k && (o->status == "pending" || o->status == "ready" || o->status == "processing" ||
                   o->status == "valid")) {
      order = std::move(*o);
      cert_key = std::move(*k);
      resumed = true;
      logger()->info("resolver {}: resuming order {} ({}) for {}", name_, order.url, order.status,
                     job.key);
    } else {
      logger()->info("resolver {}: stored order {} for {} cannot be resumed ({}); ordering again",
                     name_, pending->url, job.key, o ? o->status : o.error().message);
      drop_pending();
    }
  }
  if (!resumed && interrupted) {
    // The previous process died between creating an order and storing its URL. A CA that lists
    // an account's orders lets us find it instead of creating another; a pending or ready one
    // can be finished with a new key (the key only matters from finalization on).
    auto urls = client_->list_orders();
    if (urls) {
      for (auto it = urls->rbegin(); it != urls->rend() && !resumed; ++it) {
        auto o = client_->get_order(*it);
        if (!o || (o->status != "pending" && o->status != "ready")) continue;
        if (domain_set_key(o->identifiers) != job.key) continue;
        order = std::move(*o);
        resumed = true;
        logger()->info("resolver {}: found the interrupted order {} for {}", name_, order.url, job.key);
      }
    }
  }
  if (!cert_key) {
    auto k = PrivateKey::generate(key_type_);
    if (!k) return acme_error(k.error().message);
    cert_key = std::move(*k);
  }
  if (!resumed) {
    auto o = client_->new_order(job.domains, config_.profile, job.replaces);
    if (!o && o.error().problem && o.error().problem->is("accountDoesNotExist")) {
      // The CA forgot the account (a test CA restarted, an account was deactivated).
      logger()->warn("resolver {}: the CA does not know the stored account, registering again", name_);
      client_->use_account("", {});
      {
        std::lock_guard lock(data_mu_);
        if (data_.account) data_.account->registration = nullptr;
      }
      auto again = ensure_account();
      if (!again) return again.error();
      o = client_->new_order(job.domains, config_.profile, job.replaces);
    }
    if (!o && !job.replaces.empty()) {
      // A CA may refuse "replaces" (already replaced, unknown); a plain order still renews.
      o = client_->new_order(job.domains, config_.profile, "");
    }
    if (!o) return o.error();
    order = std::move(*o);
  }
  if (!pending || pending->url != order.url) {
    {
      std::lock_guard lock(data_mu_);
      std::erase_if(data_.orders, [&](const PendingOrder& p) { return domain_set_key(p.domains) == job.key; });
      data_.orders.push_back(PendingOrder{job.domains, order.url, cert_key.to_pem(), deps_.now()});
    }
    auto saved = persist();
    if (!saved)
      logger()->error("resolver {}: cannot store order {}: {}", name_, order.url, saved.error().message);
  }

  auto order_error = [&](const Order& o, std::string what) {
    if (o.error) {
      AcmeError e{what + ": " + o.error->describe(), o.error, std::nullopt};
      return e;
    }
    return acme_error(what);
  };
  if (order.status == "invalid") {
    drop_pending();
    return order_error(order, "order " + order.url + " is invalid");
  }

  if (order.status == "pending") {
    struct Presented {
      ChallengeSolver* solver;
      ChallengeContext ctx;
      Challenge challenge;
      std::string authz_url;
    };
    std::vector<Presented> presented;
    std::vector<SharedChallenge> shared;  // published to the other instances
    struct Cleanup {
      std::vector<Presented>& list;
      std::vector<SharedChallenge>& shared;
      Storage& storage;
      const std::string& resolver;
      ~Cleanup() {
        for (auto& c : shared) storage.unshare_challenge(resolver, c);
        for (auto& p : list) p.solver->cleanup(p.ctx);
      }
    } cleanup{presented, shared, *deps_.storage, name_};
    for (const auto& url : order.authorizations) {
      auto a = client_->get_authorization(url);
      if (!a) return a.error();
      if (a->status == "valid") continue;
      if (a->status != "pending") {
        auto p = a->challenge_error();
        return AcmeError{"authorization for " + a->identifier + " is " + a->status +
                             (p ? ": " + p->describe() : ""),
                         p, std::nullopt};
      }
      ChallengeSolver* solver = solver_for(*a);
      if (!solver) {
        std::string offered;
        for (const auto& c : a->challenges) offered += (offered.empty() ? "" : ", ") + c.type;
        return acme_error("no configured challenge can prove " +
                          std::string(a->wildcard ? "*." : "") + a->identifier + " (the CA offers " +
                          offered + ")");
      }
      const Challenge* ch = a->find(solver->type());
      ChallengeContext ctx{a->identifier, a->wildcard, ch->token,
                           client_->key_authorization(ch->token)};
      auto shown = solver->present(ctx);
      if (!shown)
        return acme_error(std::string(solver->type()) + " for " + a->identifier + ": " +
                          shown.error().message);
      presented.push_back(Presented{solver, ctx, *ch, url});
      if (deps_.storage->shared() && solver->type() != "dns-01") {
        // Whichever instance the CA reaches must answer: the proof goes to the store before the
        // challenge is triggered.
        SharedChallenge sc{std::string(solver->type()), ctx.domain, ctx.token, ctx.key_authorization};
        auto published = deps_.storage->share_challenge(name_, sc);
        if (!published)
          return acme_error("cannot share the " + sc.type + " challenge for " + sc.domain +
                            " with the other instances: " + published.error().message);
        shared.push_back(std::move(sc));
      }
    }
    for (auto& p : presented) {
      auto ready = p.solver->wait_ready(p.ctx, *stop_);
      if (!ready) return acme_error(ready.error().message);
    }
    for (auto& p : presented) {
      auto r = client_->respond(p.challenge);
      if (!r) return r.error();
    }
    for (auto& p : presented) {
      auto a = client_->wait_authorization(p.authz_url, deadline_after(challenge_timeout));
      if (!a) return a.error();
      if (a->status != "valid") {
        auto prob = a->challenge_error();
        drop_pending();  // an invalid authorization makes the order invalid
        return AcmeError{std::string(p.solver->type()) + " challenge for " + a->identifier +
                             " failed" + (prob ? ": " + prob->describe() : " (" + a->status + ")"),
                         prob, std::nullopt};
      }
    }
    auto o = client_->wait_order(order.url, {"ready", "valid", "processing"},
                                 deadline_after(challenge_timeout));
    if (!o) return o.error();
    order = std::move(*o);
    if (order.status == "invalid") {
      drop_pending();
      return order_error(order, "order " + order.url + " became invalid");
    }
  }
  if (order.status == "ready") {
    auto csr = make_csr(cert_key, job.domains, !config_.disable_common_name, config_.email_addresses);
    if (!csr) return acme_error(csr.error().message);
    auto o = client_->finalize(order, *csr);
    if (!o) return o.error();
    order = std::move(*o);
  }
  if (order.status != "valid") {
    auto o = client_->wait_order(order.url, {"valid"}, deadline_after(certificate_timeout));
    if (!o) return o.error();
    order = std::move(*o);
  }
  if (order.status != "valid" || order.certificate.empty()) {
    if (order.status == "invalid") drop_pending();
    return order_error(order, "order " + order.url + " ended " + order.status);
  }
  auto chain = client_->download(order.certificate, config_.preferred_chain);
  if (!chain) return chain.error();
  if (!key_matches_certificate(cert_key, *chain)) {
    // A resumed order finished by an earlier process with another key: that certificate is
    // useless without its key, order afresh next time.
    drop_pending();
    return acme_error("the issued certificate does not match the stored key of order " + order.url);
  }
  StoredCertificate sc;
  sc.main = job.domains.front();
  sc.sans.assign(job.domains.begin() + 1, job.domains.end());
  sc.certificate = std::move(*chain);
  sc.key = cert_key.to_pem();
  return sc;
}

}  // namespace turnpike::acme
