#pragma once
// The KV providers (Traefik's `providers.etcd`, `providers.redis`, `providers.zooKeeper`): the
// dynamic configuration as keys under `rootKey` (kv_config.h has the layout), read with the
// shared KV client (kv/kv.h).
//
// Watch-driven: the provider watches `rootKey/`; when the watch is in place (kReset: at start
// and after every reconnection) it lists the keys, then applies each watch event to its
// in-memory key map and publishes the configuration rebuilt from it. Events that arrive together
// are applied together (one publish), and the aggregator's throttle coalesces a longer burst.
// When the store goes away (kLost) nothing is published, so routes stay as they were; the
// client reconnects with backoff and the kReset that follows re-lists.
//
// Redis follows changes through keyspace notifications. When they are off on the server and
// the client cannot turn them on (CONFIG SET refused), the provider says so in the log and
// falls back to listing every kPollInterval.
//
// Errors name the key at fault and disable only the object they concern.
//
// Threads: provider.h. The store is read on the provider's own thread (SourceThread); watch
// callbacks only queue events for it.

#include <deque>
#include <memory>
#include <mutex>

#include "common/asio_types.h"
#include "config/static_config.h"
#include "kv/kv.h"
#include "provider/provider.h"
#include "provider/source_thread.h"

namespace turnpike::provider {

class KvProvider : public Provider {
public:
  enum class Store { kEtcd, kRedis, kZooKeeper };

  // Listing interval when the store cannot notify changes (Redis without keyspace events).
  static constexpr auto kPollInterval = std::chrono::seconds(2);
  // How long the first list waits for the watch to be established (its first kReset).
  static constexpr auto kFirstWatchWait = std::chrono::seconds(1);

  KvProvider(Store store, config::KvProviderConfig options);
  ~KvProvider() override;

  // "etcd", "redis", "zookeeper" (Traefik's names: `router@zookeeper`).
  std::string_view name() const override;
  // Errors: bad options (no endpoints, unreadable TLS files, TLS for a store without it).
  Result<void> start(turnpike::Executor executor, Publish publish) override;
  void stop() override;

private:
  void loop(SourceThread& t);

  Store store_;
  config::KvProviderConfig options_;
  std::unique_ptr<kv::Client> client_;
  std::unique_ptr<SourceThread> thread_;
  std::mutex mu_;
  std::deque<kv::WatchEvent> events_; // guarded by mu_: from the watch thread to the loop
  // guarded by mu_: when the oldest queued event arrived (the debug log's "received ... ago")
  std::chrono::steady_clock::time_point first_event_at_{};
};

} // namespace turnpike::provider
