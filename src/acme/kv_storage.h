#pragma once
// The shared storage of distributedAcme: a resolver's data in etcd or Redis (kv/kv.h), used by
// several gateway instances at once, with the cluster coordination the Storage interface
// declares (locks, following changes, shared challenges).
//
// Layout under <prefix>/<resolver>/, one key per item so that instances working on different
// domain sets never overwrite each other's writes:
//   account                     Traefik's Account object (JSON)
//   certificates/<set key>      one Traefik Certificates entry (JSON: domain, certificate, key)
//   orders/<set key>            an order in progress (Turnpike's orders entry)
//   ledger/<set key>            the issuance ledger entry of the set
//   locks/<name>                a cluster lock: "<instance id>" with a time to live
//   challenges/<type>/<token>   a challenge proof: {domain, token, keyAuthorization}
// The set key is domain_set_key() ("a.example.com,b.example.com").
//
// Consistency: load() reads the store (one list) and remembers what it returned; stage() writes
// only the items that differ from what this instance last loaded or wrote, so an instance never
// deletes or rewrites an item it did not change. A mirror of the items, updated by load(),
// stage() and the watch, tells the watch's real changes from this instance's own writes coming
// back. Items that do not parse (corrupt, written by something else) are logged once and skipped.
//
// Thread-safe. Blocking calls (load at start, flush, lock, share_challenge) run on the ACME pool;
// the watch and lock renewals run on threads of their own.

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "acme/storage.h"
#include "config/static_config.h"
#include "kv/kv.h"

namespace turnpike::acme {

class KvStorage final : public Storage, public std::enable_shared_from_this<KvStorage> {
 public:
  // Creates the client for `config` (nothing is contacted yet). Errors: bad options.
  static Result<std::shared_ptr<KvStorage>> open(const config::AcmeSharedStorage& config);
  // For tests: an existing client.
  static std::shared_ptr<KvStorage> with_client(std::unique_ptr<kv::Client> client,
                                                std::string prefix, Duration lock_ttl);
  ~KvStorage() override;

  std::string describe() const override;
  // The resolver's data as the store has it now (a list, blocking). With the store unreachable: an
  // error (at start the resolver then starts empty and follows the store once it is back).
  Result<ResolverData> load(const std::string& resolver) override;
  uint64_t stage(const std::string& resolver, const ResolverData& data) override;
  Result<void> flush(uint64_t ticket) override;

  bool shared() const override { return true; }
  Result<std::unique_ptr<StorageLock>> lock(const std::string& resolver,
                                            const std::string& name) override;
  void follow(const std::string& resolver, StorageFollower follower) override;
  Result<void> share_challenge(const std::string& resolver, const SharedChallenge& c) override;
  void unshare_challenge(const std::string& resolver, const SharedChallenge& c) override;
  void stop() override;

  // This instance's identity in lock values: "<hostname>/<pid>/<random>".
  const std::string& instance_id() const { return instance_; }

 private:
  KvStorage(std::unique_ptr<kv::Client> client, std::string prefix, Duration lock_ttl);

  struct Op {
    uint64_t ticket;
    std::string key;
    std::optional<std::string> value;  // nullopt = erase
  };
  class Lock;
  struct Followed;

  std::string root(const std::string& resolver) const { return prefix_ + "/" + resolver + "/"; }
  // Lists the resolver's items into the mirror (replacing what it had). Blocking.
  kv::KvResult<void> relist(const std::string& resolver);
  // Applies one watched change to the mirror; what it means for the follower.
  void on_event(const std::string& resolver, const kv::WatchEvent& e);
  // Checks that an item parses; logs a bad one once.
  bool valid_item(const std::string& key, const std::string& value);

  std::unique_ptr<kv::Client> client_;
  std::string prefix_;
  Duration lock_ttl_;
  std::string instance_;

  mutable std::mutex mu_;
  // By resolver: relative key ("certificates/a.example.com") -> value, as the store has it.
  std::map<std::string, std::map<std::string, std::string>> mirror_;
  // By resolver: what this instance last loaded or staged, per item (the base of stage's diff).
  std::map<std::string, std::map<std::string, std::string>> base_;
  std::vector<Op> queue_;  // staged, not yet written
  uint64_t staged_ = 0;
  uint64_t durable_ = 0;
  std::set<std::string> reported_;  // bad items already logged ("key\0value-hash")

  std::mutex flush_mu_;  // one writer at a time, in ticket order
  std::mutex follow_mu_;
  std::map<std::string, std::unique_ptr<Followed>> followed_;

  // Challenge keys this instance published, waiting for the watch to echo them.
  std::mutex echo_mu_;
  std::condition_variable echo_cv_;
  std::set<std::string> echoed_;
};

}  // namespace turnpike::acme
