#pragma once
// The thread a network provider (http, docker, KV, Kubernetes) runs its blocking loop on, and
// the hand-over of its trees to the control executor (provider.h: publish is only called from
// the executor).
//
// The loop reads its source with `client()`, sleeps with sleep_for() (interrupted by stop()),
// and calls publish() with its whole configuration; publish() drops a tree equal to the last one
// it handed over, so a poll that finds nothing new costs the control thread nothing. When the
// source goes away the loop keeps the last published tree in force (it publishes nothing) and
// retries with `Backoff`.
//
// Threads: construct, start(), stop() and destroy on the control thread; the loop and publish()
// run on the source thread. stop() wakes the loop (sleep and transfer) and joins it; after it
// returns nothing more is posted.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "common/asio_types.h"
#include "common/duration.h"
#include "config/tree/node.h"
#include "provider/provider.h"
#include "provider/source_client.h"

namespace turnpike::provider {

// Exponential backoff for reconnecting to a source: 100 ms, doubling, capped at `max`, with
// +-20 % jitter so that gateways restarted together do not reconnect in step. Not thread-safe.
class Backoff {
public:
  explicit Backoff(Duration initial = std::chrono::milliseconds(100),
                   Duration max = std::chrono::seconds(10))
      : initial_(initial), max_(max), next_(initial) {}
  Duration next();
  void reset() { next_ = initial_; }

private:
  Duration initial_, max_, next_;
  std::minstd_rand rng_{std::random_device{}()};
};

class SourceThread {
public:
  SourceThread(std::string provider, turnpike::Executor executor, Publish publish);
  ~SourceThread();
  SourceThread(const SourceThread&) = delete;
  SourceThread& operator=(const SourceThread&) = delete;

  // Starts `loop` on a new thread. The loop should return once stopped() is true.
  void start(std::function<void(SourceThread&)> loop);
  void stop();
  bool stopped() const { return client_.stopped(); }

  // Waits `d` or until stop(); false when stopped.
  bool sleep_for(Duration d);

  // "Something changed": wakes wait_notified(). Any thread (watch threads of a provider that
  // follows several streams).
  void notify();
  // Waits for notify() (consuming it), at most `d`; false when stopped.
  bool wait_notified(Duration d);

  // Hands `tree` to the control executor unless it equals the last one handed over. Source
  // thread only.
  void publish(config::Node tree);

  // Logs the errors of a build that were not in the previous build's list (a broken object is
  // reported once, not at every rebuild), and remembers the list. Source thread only.
  void report(std::vector<std::string> errors);

  SourceClient& client() { return client_; }
  // A second client for a request made while client() is busy (a list from inside an events
  // stream's callback); stop() interrupts both.
  SourceClient& side_client() { return side_client_; }
  const std::string& provider() const { return provider_; }

private:
  struct Shared; // what posted handlers need: the publish callback and the stopped flag
  std::string provider_;
  turnpike::Executor executor_;
  std::shared_ptr<Shared> shared_;
  SourceClient client_;
  SourceClient side_client_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
  bool notified_ = false; // guarded by mu_
  std::set<std::string> reported_;
  Tree last_;
};

} // namespace turnpike::provider
