#include "provider/aggregator.h"

#include <optional>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/asio_types.h"
#include "common/log.h"

namespace turnpike::provider {

// Shared with pending handlers so that destroying the aggregator while a timer or a posted
// rebuild is in flight is safe: the handler finds `stopped` and does nothing.
struct Aggregator::State : std::enable_shared_from_this<State> {
  State(turnpike::Executor ex, Duration t, Rebuild r)
      : executor(std::move(ex)), timer(executor), throttle(t), rebuild(std::move(r)) {}

  void schedule() {
    if (scheduled)
      return; // the pending rebuild will see the latest trees
    scheduled = true;
    auto now = std::chrono::steady_clock::now();
    scheduled_at = now;
    if (!last_rebuild || now - *last_rebuild >= throttle) {
      boost::asio::post(executor, [self = shared_from_this()] { self->fire(); });
      return;
    }
    timer.expires_at(*last_rebuild + throttle);
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec)
        self->fire();
    });
  }

  void fire() {
    if (stopped)
      return;
    scheduled = false;
    if (last_rebuild && same_as_built()) {
      log::get("aggregator")->debug("configuration back to the last built state; no rebuild");
      return;
    }
    // The trees replaced since the last rebuild are released after it, not before: freeing a
    // large tree is work the new configuration should not wait for.
    auto previous = std::exchange(built, trees);
    last_rebuild = std::chrono::steady_clock::now();
    ++rebuilds;
    log::get("aggregator")
        ->debug("rebuilding from {} provider(s), {} us after the change was published",
                trees.size(),
                std::chrono::duration_cast<std::chrono::microseconds>(*last_rebuild - scheduled_at)
                    .count());
    rebuild(built);
  }

  // True when every provider's tree equals the one the last rebuild saw (publishes within one
  // throttle window that cancel out). Pointers first: only trees published since are compared.
  bool same_as_built() const {
    if (trees.size() != built.size())
      return false;
    for (auto a = trees.begin(), b = built.begin(); a != trees.end(); ++a, ++b) {
      if (a->first != b->first)
        return false;
      if (a->second != b->second && !(*a->second == *b->second))
        return false;
    }
    return true;
  }

  turnpike::Executor executor;
  turnpike::SteadyTimer timer;
  Duration throttle;
  Rebuild rebuild;
  std::map<std::string, Aggregator::Tree> trees;
  std::map<std::string, Aggregator::Tree> built; // what the last rebuild saw (shared, not copied)
  std::optional<std::chrono::steady_clock::time_point> last_rebuild;
  bool scheduled = false;
  std::chrono::steady_clock::time_point scheduled_at; // the publish that scheduled the rebuild
  bool stopped = false;
  uint64_t rebuilds = 0;
};

Aggregator::Aggregator(turnpike::Executor executor, Duration throttle, Rebuild rebuild)
    : state_(std::make_shared<State>(std::move(executor), throttle, std::move(rebuild))) {}

Aggregator::~Aggregator() {
  stop();
}

void Aggregator::stop() {
  state_->stopped = true;
  state_->timer.cancel();
}

void Aggregator::publish(std::string provider, Tree tree) {
  auto& s = state_;
  if (s->stopped)
    return;
  auto started = std::chrono::steady_clock::now();
  auto it = s->trees.find(provider);
  if (it != s->trees.end() && (it->second == tree || *it->second == *tree)) {
    log::get("aggregator")->debug("provider {}: configuration unchanged, skipped", provider);
    return;
  }
  log::get("aggregator")
      ->debug("provider {}: new configuration (compared in {} us)", provider,
              std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now() - started)
                  .count());
  s->trees[std::move(provider)] = std::move(tree);
  s->schedule();
}

Publish Aggregator::publisher() {
  return [this](std::string provider, Tree tree) {
    publish(std::move(provider), std::move(tree));
  };
}

uint64_t Aggregator::rebuild_count() const {
  return state_->rebuilds;
}

} // namespace turnpike::provider
