#pragma once
// One ACME certificate resolver (`certificatesResolvers.<name>.acme`): which certificates it needs,
// when to order or renew them, and the issuance itself.
//
// Threads:
// - The control thread owns the schedule: the domain requests from the routers, the certificates
//   being served, the sets in flight and the times before which a set must not be retried. It
//   never blocks: issuance runs as jobs on the ACME thread pool, whose results are posted back.
// - Pool jobs run the ACME exchanges, the challenges and every storage write. They share the
//   persisted ResolverData (account, certificates, orders in progress, ledger) under a mutex, and
//   write it through the Storage after each step that must survive a crash: the attempt before
//   any order, the order URL (and the certificate key) before finalization, the certificate and
//   the ledger outcome at the end.
//
// Guarantees: stored certificates are published at start before anything is ordered; at most one
// job per domain set at a time; a failed order never removes a working certificate; a set's
// ledger entry (ledger.h) is consulted before every new order, including after restarts.

#include <atomic>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "acme/challenge.h"
#include "acme/client.h"
#include "acme/dns01.h"
#include "acme/ledger.h"
#include "acme/storage.h"
#include "common/asio_types.h"
#include "config/static_config.h"

namespace turnpike::acme {

// A certificate some configuration object needs: the names (first = main) and who asked.
struct DomainRequest {
  std::vector<std::string> domains;
  std::string requester;  // "router api@file", "entryPoint websecure"
};

// When to renew a certificate without renewal information from the CA: Traefik's schedule from
// certificatesDuration (hours), bounded by a third of the certificate's lifetime.
std::chrono::seconds renew_period(int64_t certificates_duration_hours);
std::time_t renewal_time(std::time_t not_before, std::time_t not_after,
                         int64_t certificates_duration_hours);

// True when `cert_names` (a certificate's DNS names, lower-case) cover `domain`: an exact name,
// or a one-label wildcard ("*.example.com" covers "a.example.com", not "example.com").
bool names_cover(const std::vector<std::string>& cert_names, std::string_view domain);

struct ResolverDeps {
  turnpike::Executor control;  // where callbacks and the schedule run
  boost::asio::thread_pool* pool = nullptr;
  std::shared_ptr<Storage> storage;
  std::shared_ptr<Http01Tokens> http01;
  TlsAlpnHooks tls_alpn;
  EnvLookup env;
  // Called on the control thread with all of the resolver's certificates each time they change
  // (and once at start with the stored ones).
  std::function<void(const std::string& resolver, const std::vector<StoredCertificate>&)>
      on_certificates;
  // Whether a certificate from elsewhere (user certificates, another resolver) covers a domain.
  // Control thread. May be empty.
  std::function<bool(std::string_view domain)> covered_elsewhere;
  std::function<std::time_t()> now = [] { return std::time(nullptr); };
  IssuancePolicy policy;
};

class Resolver : public std::enable_shared_from_this<Resolver> {
 public:
  // Validates what can be validated without I/O (key type, DNS provider variables, CA files).
  static Result<std::shared_ptr<Resolver>> create(std::string name,
                                                  const config::AcmeResolverConfig& config,
                                                  ResolverDeps deps);
  ~Resolver();

  const std::string& name() const { return name_; }

  // Control thread, at start-up: reads the storage (blocking, once), publishes the stored
  // certificates, recovers attempts a previous process left open, and arms the schedule.
  Result<void> start();
  // Control thread: the certificates the current configuration needs. Starts jobs for domains no
  // certificate covers (unless backing off) and keeps renewing the stored ones.
  void set_requests(std::vector<DomainRequest> requests);
  // Control thread: stops waits and transfers; jobs in progress end promptly.
  void stop();

  const std::vector<StoredCertificate>& certificates() const { return certificates_; }

 private:
  Resolver(std::string name, const config::AcmeResolverConfig& config, ResolverDeps deps);

  struct Job {
    std::vector<std::string> domains;
    std::string key;        // domain_set_key(domains)
    std::string requester;  // for logs
    std::string replaces;   // ARI certificate id of the certificate being renewed
    bool renewal = false;
  };
  struct Outcome {
    enum class Kind { kIssued, kFailed, kDeferred, kStopped } kind = Kind::kFailed;
    std::time_t not_before = 0;  // kFailed / kDeferred
    std::string message;
    std::vector<StoredCertificate> certificates;  // kIssued: the resolver's whole list
    uint64_t version = 0;  // of that list: jobs finishing together may post out of order
    std::time_t not_after = 0;
    bool elsewhere = false;  // kIssued: obtained by another instance of the cluster
  };
  struct Tracked {  // per stored certificate, control thread
    std::time_t renew_at = 0;
    std::string ari_id;
    std::optional<std::time_t> ari_renew_at;
  };

  // Control thread.
  void evaluate();
  void schedule(std::time_t at);
  void launch(Job job);
  void finish(const Job& job, Outcome outcome);
  void track_certificates();
  bool covered(std::string_view domain) const;
  void check_ari(const std::string& key, const std::string& cert_id);

  // Control thread: certificates re-read from a shared storage (version as in Outcome).
  void adopt(std::vector<StoredCertificate> certificates, uint64_t version);

  // Pool.
  Outcome run(const Job& job);
  // Shared storage: takes the set's cluster lock and catches up with what other instances did.
  // Returns an outcome when this job must not order (no lock, or the certificate exists now).
  std::optional<Outcome> join_cluster(const Job& job, std::unique_ptr<StorageLock>& lock);
  // Re-reads data_ from the storage and posts the certificates to the control thread.
  void reload();
  // A challenge another instance (or this one) shared: answer it here too.
  void apply_shared_challenge(const SharedChallenge& c, bool present);
  AcmeResult<StoredCertificate> issue(const Job& job);
  AcmeResult<void> ensure_account();
  // The key for a new account: generated once (at start when none is stored), then reused.
  Result<PrivateKey> account_key();
  ChallengeSolver* solver_for(const Authorization& authz);
  // Stages data_ (taking data_mu_) and flushes it; call without data_mu_ held.
  Result<void> persist();

  std::string name_;
  config::AcmeResolverConfig config_;
  ResolverDeps deps_;
  KeyType key_type_ = KeyType::kRSA4096;
  std::shared_ptr<StopSignal> stop_ = std::make_shared<StopSignal>();
  std::shared_ptr<HttpClient> http_;
  std::unique_ptr<AcmeClient> client_;
  std::unique_ptr<ChallengeSolver> http01_, tls_alpn01_, dns01_;

  // Pool side: the persisted state.
  std::mutex data_mu_;
  ResolverData data_;
  std::mutex account_mu_;  // one registration at a time
  std::mutex account_key_mu_;
  PrivateKey spare_account_key_;
  uint64_t certificates_version_ = 0;  // under data_mu_: bumped with each certificate change
  std::atomic<bool> reload_pending_{false};  // coalesces the reloads storage changes ask for

  // Control thread.
  std::vector<StoredCertificate> certificates_;
  uint64_t published_version_ = 0;
  std::map<std::string, Tracked> tracked_;  // by domain-set key
  std::vector<DomainRequest> requests_;
  std::set<std::string> in_flight_;
  std::map<std::string, std::time_t> not_before_;  // by domain-set key
  std::set<std::string> reported_;  // request problems already logged
  std::unique_ptr<turnpike::SteadyTimer> timer_;
  std::time_t timer_at_ = 0;
  bool stopped_ = false;
};

}  // namespace turnpike::acme
