#include "acme/kv_storage.h"

#include <unistd.h>

#include <random>

#include "common/hex.h"
#include "common/log.h"

namespace turnpike::acme {
namespace {

using ojson = nlohmann::ordered_json;
using namespace std::chrono_literals;

const std::shared_ptr<spdlog::logger>& logger() {
  static auto l = log::get("acme");
  return l;
}

constexpr std::string_view kAccount = "account";
constexpr std::string_view kCertificates = "certificates/";
constexpr std::string_view kOrders = "orders/";
constexpr std::string_view kLedger = "ledger/";
constexpr std::string_view kLocks = "locks/";
constexpr std::string_view kChallenges = "challenges/";

bool is_data_item(std::string_view rel) {
  return rel == kAccount || rel.starts_with(kCertificates) || rel.starts_with(kOrders) ||
         rel.starts_with(kLedger);
}

// A resolver's data as one item per key (kv_storage.h), in Traefik's JSON for each piece.
std::map<std::string, std::string> items_of(const ResolverData& data) {
  std::map<std::string, std::string> out;
  ojson j = resolver_to_json(data);
  if (data.account) out[std::string(kAccount)] = j["Account"].dump();
  const auto& certs = j["Certificates"];
  for (size_t i = 0; i < data.certificates.size() && i < certs.size(); ++i)
    out[std::string(kCertificates) + domain_set_key(data.certificates[i].domains())] = certs[i].dump();
  if (auto t = j.find("Turnpike"); t != j.end()) {
    const auto& orders = (*t)["orders"];
    for (size_t i = 0; i < data.orders.size() && i < orders.size(); ++i)
      out[std::string(kOrders) + domain_set_key(data.orders[i].domains)] = orders[i].dump();
    for (auto it = (*t)["ledger"].begin(); it != (*t)["ledger"].end(); ++it)
      out[std::string(kLedger) + it.key()] = it.value().dump();
  }
  return out;
}

// The acme.json object of a resolver holding exactly these items; invalid JSON is an error.
Result<ojson> assemble(const std::map<std::string, std::string>& items) {
  ojson doc = ojson::object();
  doc["Account"] = nullptr;
  doc["Certificates"] = ojson::array();
  ojson orders = ojson::array(), ledger = ojson::object();
  for (const auto& [rel, value] : items) {
    ojson v = ojson::parse(value, nullptr, false);
    if (v.is_discarded()) return make_error(rel + ": not JSON");
    if (rel == kAccount) {
      doc["Account"] = std::move(v);
    } else if (rel.starts_with(kCertificates)) {
      doc["Certificates"].push_back(std::move(v));
    } else if (rel.starts_with(kOrders)) {
      orders.push_back(std::move(v));
    } else if (rel.starts_with(kLedger)) {
      if (!v.is_object()) return make_error(rel + ": not an object");
      ledger[rel.substr(kLedger.size())] = std::move(v);
    }
  }
  if (!orders.empty() || !ledger.empty()) doc["Turnpike"] = ojson{{"orders", orders}, {"ledger", ledger}};
  return Result<ojson>(boost::system::in_place_value, std::move(doc));
}

std::optional<SharedChallenge> parse_challenge(const std::string& value) {
  auto j = nlohmann::json::parse(value, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  SharedChallenge c;
  c.type = j.value("type", "");
  c.domain = j.value("domain", "");
  c.token = j.value("token", "");
  c.key_authorization = j.value("keyAuthorization", "");
  if ((c.type != "http-01" && c.type != "tls-alpn-01") || c.domain.empty() || c.token.empty() ||
      c.key_authorization.empty())
    return std::nullopt;
  return c;
}

std::string challenge_key(const SharedChallenge& c) {
  return std::string(kChallenges) + c.type + "/" + c.token;
}

}  // namespace

// ---- locks -------------------------------------------------------------------------------------

// Renews its key every third of the time to live on a thread of its own; a renewal that finds
// the key gone or taken (the store lost it, or it expired while unreachable) marks it lost.
class KvStorage::Lock final : public StorageLock {
 public:
  Lock(std::shared_ptr<KvStorage> storage, std::string key, std::string value)
      : storage_(std::move(storage)), key_(std::move(key)), value_(std::move(value)) {
    thread_ = std::thread([this] { renew(); });
  }
  ~Lock() override {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
    if (held_) {
      auto r = storage_->client_->compare_and_delete(key_, value_);
      if (!r)
        logger()->warn("{}: releasing lock {}: {} (it expires by itself)", storage_->describe(),
                       key_, r.error().message);
    }
  }
  bool held() const override { return held_; }

 private:
  void renew() {
    auto ttl = std::chrono::duration_cast<std::chrono::milliseconds>(storage_->lock_ttl_);
    auto every = ttl / 3;
    auto last_ok = std::chrono::steady_clock::now();
    std::unique_lock lock(mu_);
    while (!done_) {
      cv_.wait_for(lock, every, [this] { return done_; });
      if (done_) break;
      lock.unlock();
      auto r = storage_->client_->refresh(key_, value_, ttl);
      lock.lock();
      if (r && *r) {
        last_ok = std::chrono::steady_clock::now();
        continue;
      }
      if (r || std::chrono::steady_clock::now() - last_ok > ttl) {
        held_ = false;
        logger()->error("{}: cluster lock {} lost ({}); another instance may take over",
                        storage_->describe(), key_,
                        r ? "taken or expired" : r.error().message);
        break;
      }
    }
  }

  std::shared_ptr<KvStorage> storage_;
  std::string key_, value_;
  std::atomic<bool> held_{true};
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

struct KvStorage::Followed {
  StorageFollower follower;
  std::unique_ptr<kv::Watch> watch;
  std::map<std::string, SharedChallenge> challenges;  // by key, as last seen
};

// ---- construction ------------------------------------------------------------------------------

KvStorage::KvStorage(std::unique_ptr<kv::Client> client, std::string prefix, Duration lock_ttl)
    : client_(std::move(client)), prefix_(std::move(prefix)), lock_ttl_(lock_ttl) {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  instance_ = std::string(host) + "/" + std::to_string(::getpid()) + "/" + random_hex(4);
}

KvStorage::~KvStorage() { stop(); }

Result<std::shared_ptr<KvStorage>> KvStorage::open(const config::AcmeSharedStorage& config) {
  std::optional<kv::TlsOptions> tls;
  if (config.tls)
    tls = kv::TlsOptions{config.tls->ca, config.tls->cert, config.tls->key,
                         config.tls->insecure_skip_verify};
  kv::KvResult<std::unique_ptr<kv::Client>> client = kv::KvError{};
  if (config.backend == config::AcmeSharedStorage::Backend::kEtcd) {
    kv::EtcdOptions o;
    o.endpoints = config.endpoints;
    o.username = config.username;
    o.password = config.password;
    o.tls = tls;
    client = kv::make_etcd_client(std::move(o));
  } else {
    kv::RedisOptions o;
    o.endpoints = config.endpoints;
    o.username = config.username;
    o.password = config.password;
    o.db = config.db;
    o.tls = tls;
    client = kv::make_redis_client(std::move(o));
  }
  if (!client) return make_error(client.error().message);
  return with_client(std::move(*client), config.prefix, config.lock_ttl);
}

std::shared_ptr<KvStorage> KvStorage::with_client(std::unique_ptr<kv::Client> client,
                                                  std::string prefix, Duration lock_ttl) {
  return std::shared_ptr<KvStorage>(new KvStorage(std::move(client), std::move(prefix), lock_ttl));
}

std::string KvStorage::describe() const { return client_->describe() + " (" + prefix_ + "/)"; }

void KvStorage::stop() {
  std::map<std::string, std::unique_ptr<Followed>> followed;
  {
    std::lock_guard lock(follow_mu_);
    followed.swap(followed_);
  }
  for (auto& [name, f] : followed)
    if (f->watch) f->watch->stop();
}

// ---- data --------------------------------------------------------------------------------------

bool KvStorage::valid_item(const std::string& key, const std::string& value) {
  std::map<std::string, std::string> one{{key, value}};
  auto doc = assemble(one);
  Result<ResolverData> data = doc ? resolver_from_json(*doc) : Result<ResolverData>(doc.error());
  if (data) return true;
  std::lock_guard lock(mu_);
  if (reported_.insert(key + '\0' + std::to_string(std::hash<std::string>{}(value))).second)
    logger()->error("{}: {}: ignoring a value that is not Turnpike's ({})", describe(), key,
                    data.error().message);
  return false;
}

kv::KvResult<void> KvStorage::relist(const std::string& resolver) {
  auto entries = client_->list(root(resolver));
  if (!entries) return entries.error();
  std::map<std::string, std::string> items;
  for (auto& e : *entries) {
    std::string rel = e.key.substr(root(resolver).size());
    if (!is_data_item(rel)) continue;
    if (!valid_item(rel, e.value)) continue;
    items[rel] = std::move(e.value);
  }
  std::lock_guard lock(mu_);
  mirror_[resolver] = std::move(items);
  return {};
}

Result<ResolverData> KvStorage::load(const std::string& resolver) {
  // Always from the store, not from the mirror the watch maintains: after taking a set's lock an
  // instance must see what the previous holder wrote, even if its watch lags behind.
  auto r = relist(resolver);
  if (!r) return make_error(r.error().message);
  std::map<std::string, std::string> items;
  {
    std::lock_guard lock(mu_);
    items = mirror_[resolver];
    base_[resolver] = items;
  }
  auto doc = assemble(items);
  if (!doc) return doc.error();
  auto data = resolver_from_json(*doc);
  if (!data) return make_error(describe() + ": " + data.error().message);
  return data;
}

uint64_t KvStorage::stage(const std::string& resolver, const ResolverData& data) {
  auto items = items_of(data);
  std::lock_guard lock(mu_);
  uint64_t ticket = ++staged_;
  auto& base = base_[resolver];
  auto& mirror = mirror_[resolver];
  for (const auto& [rel, value] : items) {
    auto it = base.find(rel);
    if (it != base.end() && it->second == value) continue;
    queue_.push_back(Op{ticket, root(resolver) + rel, value});
    mirror[rel] = value;
  }
  for (const auto& [rel, value] : base) {
    if (items.count(rel)) continue;
    queue_.push_back(Op{ticket, root(resolver) + rel, std::nullopt});
    mirror.erase(rel);
  }
  base = std::move(items);
  return ticket;
}

Result<void> KvStorage::flush(uint64_t ticket) {
  std::lock_guard writer(flush_mu_);
  std::vector<Op> ops;
  uint64_t upto;
  {
    std::lock_guard lock(mu_);
    if (durable_ >= ticket) return {};
    ops.swap(queue_);
    upto = staged_;
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    const Op& op = ops[i];
    kv::KvResult<void> r;
    if (op.value) {
      r = client_->put(op.key, *op.value);
    } else {
      auto e = client_->erase(op.key);
      if (!e) r = e.error();
    }
    if (!r) {
      // Kept, in order, ahead of what was staged meanwhile: the next flush writes them.
      std::lock_guard lock(mu_);
      queue_.insert(queue_.begin(), ops.begin() + static_cast<ptrdiff_t>(i), ops.end());
      return make_error(r.error().message);
    }
  }
  std::lock_guard lock(mu_);
  durable_ = std::max(durable_, upto);
  return {};
}

// ---- coordination ------------------------------------------------------------------------------

Result<std::unique_ptr<StorageLock>> KvStorage::lock(const std::string& resolver,
                                                     const std::string& name) {
  std::string key = root(resolver) + std::string(kLocks) + name;
  std::string value = instance_ + "/" + random_hex(4);
  auto ttl = std::chrono::duration_cast<std::chrono::milliseconds>(lock_ttl_);
  auto r = client_->put_if_absent(key, value, ttl);
  if (!r) return make_error(r.error().message);
  if (!*r) return std::unique_ptr<StorageLock>();
  return std::unique_ptr<StorageLock>(std::make_unique<Lock>(shared_from_this(), key, value));
}

void KvStorage::follow(const std::string& resolver, StorageFollower follower) {
  std::lock_guard lock(follow_mu_);
  auto& f = followed_[resolver];
  if (f) return;
  f = std::make_unique<Followed>();
  f->follower = std::move(follower);
  std::weak_ptr<KvStorage> weak = weak_from_this();
  f->watch = client_->watch(root(resolver), [weak, resolver](const kv::WatchEvent& e) {
    if (auto self = weak.lock()) self->on_event(resolver, e);
  });
}

void KvStorage::on_event(const std::string& resolver, const kv::WatchEvent& e) {
  Followed* f;
  {
    std::lock_guard lock(follow_mu_);
    auto it = followed_.find(resolver);
    if (it == followed_.end()) return;
    f = it->second.get();
  }
  switch (e.type) {
    case kv::WatchEvent::Type::kLost:
      logger()->error("resolver {}: {} is unreachable: serving the certificates in memory, no "
                      "new order until it is back",
                      resolver, describe());
      return;
    case kv::WatchEvent::Type::kReset: {
      auto r = relist(resolver);
      if (!r) {
        logger()->error("resolver {}: {}: {}", resolver, describe(), r.error().message);
        return;
      }
      // Challenges present now; those that went away while disconnected are withdrawn.
      auto all = client_->list(root(resolver) + std::string(kChallenges));
      std::map<std::string, SharedChallenge> now;
      if (all)
        for (const auto& entry : *all)
          if (auto c = parse_challenge(entry.value))
            now[entry.key.substr(root(resolver).size())] = *c;
      for (const auto& [key, c] : f->challenges)
        if (!now.count(key) && f->follower.challenge) f->follower.challenge(c, false);
      for (const auto& [key, c] : now)
        if (!f->challenges.count(key) && f->follower.challenge) f->follower.challenge(c, true);
      f->challenges = std::move(now);
      logger()->info("resolver {}: following {}", resolver, describe());
      if (f->follower.changed) f->follower.changed();
      return;
    }
    case kv::WatchEvent::Type::kPut:
    case kv::WatchEvent::Type::kDelete:
      break;
  }
  if (!e.key.starts_with(root(resolver))) return;
  std::string rel = e.key.substr(root(resolver).size());
  bool put = e.type == kv::WatchEvent::Type::kPut;
  if (rel.starts_with(kChallenges)) {
    if (put) {
      auto c = parse_challenge(e.value);
      if (!c) {
        logger()->error("{}: {}: ignoring a value that is not a challenge", describe(), e.key);
        return;
      }
      f->challenges[rel] = *c;
      if (f->follower.challenge) f->follower.challenge(*c, true);
      {
        std::lock_guard lock(echo_mu_);
        echoed_.insert(e.key);
      }
      echo_cv_.notify_all();
    } else if (auto it = f->challenges.find(rel); it != f->challenges.end()) {
      SharedChallenge c = it->second;
      f->challenges.erase(it);
      if (f->follower.challenge) f->follower.challenge(c, false);
    }
    return;
  }
  if (!is_data_item(rel)) return;  // locks, and keys that are none of ours
  if (put && !valid_item(rel, e.value)) return;
  {
    std::lock_guard lock(mu_);
    auto& mirror = mirror_[resolver];
    auto it = mirror.find(rel);
    if (put) {
      if (it != mirror.end() && it->second == e.value) return;  // our own write coming back
      mirror[rel] = e.value;
    } else {
      if (it == mirror.end()) return;
      mirror.erase(it);
    }
  }
  if (f->follower.changed) f->follower.changed();
}

Result<void> KvStorage::share_challenge(const std::string& resolver, const SharedChallenge& c) {
  std::string key = root(resolver) + challenge_key(c);
  nlohmann::json j{{"type", c.type},
                   {"domain", c.domain},
                   {"token", c.token},
                   {"keyAuthorization", c.key_authorization}};
  {
    std::lock_guard lock(echo_mu_);
    echoed_.erase(key);
  }
  auto r = client_->put(key, j.dump());
  if (!r) return make_error(r.error().message);
  bool following;
  {
    std::lock_guard lock(follow_mu_);
    following = followed_.count(resolver) > 0;
  }
  // The store notifies every watcher at once: when this instance's watch sees the proof, the
  // others' see it too. A short margin covers their applying it (a TLS-ALPN-01 certificate is
  // generated there).
  std::unique_lock lock(echo_mu_);
  if (following) echo_cv_.wait_for(lock, 3s, [&] { return echoed_.count(key) > 0; });
  echoed_.erase(key);
  lock.unlock();
  std::this_thread::sleep_for(following ? 150ms : 500ms);
  return {};
}

void KvStorage::unshare_challenge(const std::string& resolver, const SharedChallenge& c) {
  auto r = client_->erase(root(resolver) + challenge_key(c));
  if (!r)
    logger()->warn("{}: removing challenge {}: {}", describe(), challenge_key(c), r.error().message);
}

}  // namespace turnpike::acme
