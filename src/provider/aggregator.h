#pragma once
// Collects every provider's latest configuration and decides when to rebuild.
//
//   - keeps the latest tree per provider; a tree equal to the one it already has is dropped
//     (equality is structural: see config::Node::operator==, which ignores line numbers);
//   - throttles with `providers.providersThrottleDuration`: the first change after a quiet period
//     is applied at once (posted, so changes published in the same executor turn coalesce); later
//     changes inside the window wait for its end and only the latest state is built; at most one
//     rebuild per window;
//   - a window that ends with the same state as the last rebuild (a change and its revert)
//     triggers nothing.
//
// Threads: control-plane only. Construct, publish() and destroy on the executor's thread; the
// executor must not run handlers concurrently (a single-threaded io_context or a strand).
// `rebuild` is invoked from a handler on the executor, never from inside publish(), and never
// after the aggregator is destroyed or stop()ped.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "common/asio_types.h"
#include "common/duration.h"
#include "config/tree/node.h"
#include "provider/provider.h"

namespace turnpike::provider {

class Aggregator {
public:
  // Trees are shared, immutable and identified by pointer: a provider whose pointer did not change
  // since the last rebuild did not change, so the receiver can keep what it derived from it
  // (the gateway keeps the decoded configuration).
  using Tree = provider::Tree;
  // Receives every provider's current tree (provider name -> tree); typically
  // config::decode_providers() then the snapshot builder.
  using Rebuild = std::function<void(const std::map<std::string, Tree>& trees)>;

  Aggregator(turnpike::Executor executor, Duration throttle, Rebuild rebuild);
  ~Aggregator();
  Aggregator(const Aggregator&) = delete;
  Aggregator& operator=(const Aggregator&) = delete;

  // Records `tree` as `provider`'s whole configuration.
  void publish(std::string provider, Tree tree);

  // A Publish callback for Provider::start() that forwards to publish(). It must not be called
  // after the aggregator is destroyed (stop the providers first).
  Publish publisher();

  // Cancels a pending rebuild; publish() is ignored afterwards. Idempotent.
  void stop();

  // Number of rebuilds triggered so far (tests, metrics).
  uint64_t rebuild_count() const;

private:
  struct State;
  std::shared_ptr<State> state_;
};

} // namespace turnpike::provider
