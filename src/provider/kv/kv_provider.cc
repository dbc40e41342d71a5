#include "provider/kv/kv_provider.h"

#include <algorithm>

#include "common/asio_types.h"
#include "common/log.h"
#include "provider/kv/kv_config.h"

namespace turnpike::provider {
namespace {

kv::TlsOptions kv_tls(const config::ProviderClientTls& t) {
  return kv::TlsOptions{t.ca, t.cert, t.key, t.insecure_skip_verify};
}

} // namespace

KvProvider::KvProvider(Store store, config::KvProviderConfig options)
    : store_(store), options_(std::move(options)) {}

KvProvider::~KvProvider() {
  stop();
}

std::string_view KvProvider::name() const {
  switch (store_) {
  case Store::kEtcd:
    return "etcd";
  case Store::kRedis:
    return "redis";
  case Store::kZooKeeper:
    return "zookeeper";
  }
  return "kv";
}

Result<void> KvProvider::start(turnpike::Executor executor, Publish publish) {
  if (thread_)
    return make_error(std::string(name()) + " provider already started");
  kv::KvResult<std::unique_ptr<kv::Client>> client = kv::KvError{};
  std::optional<kv::TlsOptions> tls;
  if (options_.tls)
    tls = kv_tls(*options_.tls);
  switch (store_) {
  case Store::kEtcd:
    client = kv::make_etcd_client(
        kv::EtcdOptions{options_.endpoints, options_.username, options_.password, tls});
    break;
  case Store::kRedis:
    client = kv::make_redis_client(kv::RedisOptions{options_.endpoints, options_.db,
                                                    options_.username, options_.password, tls});
    break;
  case Store::kZooKeeper:
    client = kv::make_zookeeper_client(
        kv::ZooKeeperOptions{options_.endpoints, options_.username, options_.password});
    break;
  }
  if (!client)
    return make_error("providers." +
                      std::string(store_ == Store::kZooKeeper ? "zooKeeper" : name()) + ": " +
                      client.error().message);
  client_ = std::move(*client);
  thread_ =
      std::make_unique<SourceThread>(std::string(name()), std::move(executor), std::move(publish));
  thread_->start([this](SourceThread& t) { loop(t); });
  return {};
}

void KvProvider::stop() {
  if (thread_)
    thread_->stop();
}

void KvProvider::loop(SourceThread& t) {
  auto log = log::get(std::string(name()));
  // Errors from the client name the store already ("redis 127.0.0.1:6379/0: ..."); `what` names
  // it for the messages of our own.
  const std::string who = "providers." + std::string(name());
  const std::string what = who + ": " + client_->describe();
  KvConfig config(options_.root_key, std::string(name()));
  // The watch's thread only queues; everything else happens here, in order.
  auto watch = client_->watch(options_.root_key + "/", [this, &t](const kv::WatchEvent& e) {
    {
      std::lock_guard lock(mu_);
      if (events_.empty())
        first_event_at_ = std::chrono::steady_clock::now();
      events_.push_back(e);
    }
    t.notify();
  });
  Backoff backoff;
  bool listed = false;   // the key map reflects the store (a list succeeded)
  bool need_list = true; // at start, and after a kReset whose list failed
  bool polling = false;  // the store cannot notify changes: list every kPollInterval
  bool lost = false;
  bool first = true;
  std::string last_error;
  auto list = [&]() -> bool {
    auto entries = client_->list(options_.root_key + "/");
    if (!entries) {
      if (entries.error().message != last_error)
        log->error("{}: {}; routes stay as they are, retrying", who, entries.error().message);
      last_error = entries.error().message;
      return false;
    }
    if (!last_error.empty() || !listed)
      log->info("{}: {} key(s) under {}/", what, entries->size(), options_.root_key);
    last_error.clear();
    config.reset(*entries);
    listed = true;
    return true;
  };
  using Clock = std::chrono::steady_clock;
  auto next_poll = Clock::now();
  while (!t.stopped()) {
    // The first list waits for the watch's first kReset (at most kFirstWatchWait, so that a store
    // that cannot be read is still reported within a second): a list made before the watch is
    // established has to be made again when it is (changes in between would be missed), and with
    // 30,000 keys that second list held the first changes back by ~0.5 s.
    if (first) {
      auto until = Clock::now() + kFirstWatchWait;
      auto reset_queued = [this] {
        std::lock_guard lock(mu_);
        return std::any_of(events_.begin(), events_.end(), [](const kv::WatchEvent& e) {
          return e.type == kv::WatchEvent::Type::kReset;
        });
      };
      while (!t.stopped() && !reset_queued() && Clock::now() < until)
        t.wait_notified(until - Clock::now());
    } else {
      Duration wait = std::chrono::hours(1);
      if (need_list)
        wait = backoff.next();
      else if (polling)
        wait = std::max<Duration>(Duration::zero(), next_poll - Clock::now());
      t.wait_notified(wait);
    }
    first = false;
    if (t.stopped())
      break;
    std::deque<kv::WatchEvent> events;
    Clock::time_point received;
    {
      std::lock_guard lock(mu_);
      events.swap(events_);
      received = first_event_at_;
    }
    bool changed = false;
    // A kReset lists anyway; otherwise list to retry a failed list, or when polling is due.
    bool reset = std::any_of(events.begin(), events.end(), [](const kv::WatchEvent& e) {
      return e.type == kv::WatchEvent::Type::kReset;
    });
    if (!reset && (need_list || (polling && Clock::now() >= next_poll))) {
      next_poll = Clock::now() + kPollInterval;
      if (list()) {
        changed = true;
        need_list = false;
        backoff.reset();
      }
    }
    for (auto& e : events) {
      switch (e.type) {
      case kv::WatchEvent::Type::kReset: {
        if (lost)
          log->info("{}: connected again", what);
        lost = false;
        need_list = true;
        if (list()) {
          need_list = false;
          backoff.reset();
          changed = true;
        }
        // Whether changes will be notified (Redis: keyspace notifications may be off).
        auto unsupported = client_->watch_unsupported();
        if (!unsupported && unsupported.error().unavailable())
          break; // gone again: the next kReset asks again
        bool poll = !unsupported || unsupported->has_value();
        if (poll && !polling) {
          log->error("{}: {}; falling back to listing every {} s", what,
                     unsupported ? **unsupported
                                 : "cannot tell whether changes are notified (" +
                                       unsupported.error().message + ")",
                     std::chrono::duration_cast<std::chrono::seconds>(kPollInterval).count());
        }
        if (poll && !polling)
          next_poll = Clock::now() + kPollInterval;
        polling = poll;
        break;
      }
      case kv::WatchEvent::Type::kLost:
        if (!lost)
          log->error("{}: connection lost; routes stay as they are, reconnecting", what);
        lost = true;
        break;
      case kv::WatchEvent::Type::kPut:
        if (listed)
          changed |= config.put(e.key, e.value);
        break;
      case kv::WatchEvent::Type::kDelete:
        if (listed)
          changed |= config.erase(e.key);
        break;
      }
    }
    if (!changed || !listed)
      continue;
    auto started = Clock::now();
    auto built = config.build();
    auto decoded = built.decoded;
    t.report(std::move(built.errors));
    t.publish(std::move(built.tree));
    // Stage timings of a change (docs/benchmarks.md): the event waited `queued` for this thread,
    // then the tree took `built` to assemble and hand over to the control thread.
    auto us = [](Clock::duration d) {
      return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
    };
    log->debug("{} event(s): {} object(s) decoded again, {} keys; queued {} us, tree built and "
               "handed over in {} us",
               events.size(), decoded, config.key_count(),
               events.empty() ? 0 : us(started - received), us(Clock::now() - started));
  }
  watch->stop();
}

} // namespace turnpike::provider
