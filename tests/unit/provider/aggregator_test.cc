#include "common/asio_types.h"
#include "provider/aggregator.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>

namespace turnpike::provider {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

Tree tree(const std::string& value) {
  config::Node n = config::Node::map();
  n.child("v") = config::Node::scalar(value);
  return std::make_shared<const config::Node>(std::move(n));
}

struct Rebuild {
  Clock::time_point at;
  std::map<std::string, config::Node> trees;
};

class AggregatorTest : public ::testing::Test {
protected:
  std::unique_ptr<Aggregator> make(Duration throttle) {
    return std::make_unique<Aggregator>(io_.get_executor(), throttle,
                                        [this](const std::map<std::string, Aggregator::Tree>& trees) {
                                          Rebuild r{Clock::now(), {}};
                                          for (const auto& [name, t] : trees) r.trees[name] = *t;
                                          rebuilds_.push_back(std::move(r));
                                        });
  }
  // Runs the loop for `d` of wall time (run_for alone returns early when there is no work).
  void run_for(std::chrono::milliseconds d) {
    turnpike::SteadyTimer keep_busy(io_, d);
    keep_busy.async_wait([](boost::system::error_code) {});
    io_.run_for(d);
    io_.restart();
  }
  // Runs the loop until `n` rebuilds happened, or 5 s (then the assertion that follows fails).
  // Waiting for the event rather than a fixed time keeps the test right on a loaded machine.
  void run_until_rebuilds(size_t n) {
    const auto deadline = Clock::now() + 5s;
    while (rebuilds_.size() < n && Clock::now() < deadline)
      run_for(2ms);
  }
  // Calls `fn` on the executor after `delay` (publishers run on the executor too).
  void at(std::chrono::milliseconds delay, std::function<void()> fn) {
    auto t = std::make_shared<turnpike::SteadyTimer>(io_, delay);
    t->async_wait([t, fn](boost::system::error_code) { fn(); });
  }
  std::string value(size_t i, const std::string& provider) const {
    return rebuilds_.at(i).trees.at(provider).find("v")->text();
  }

  boost::asio::io_context io_;
  std::vector<Rebuild> rebuilds_;
};

// Timing bounds are one-sided where load can only make things later: "immediate" is "well
// before the throttle would allow", "throttled" is "not before the window's end".
TEST_F(AggregatorTest, FirstChangeImmediateThenThrottledLatestWins) {
  auto agg = make(300ms);
  auto start = Clock::now();
  agg->publish("file", tree("1"));
  EXPECT_TRUE(rebuilds_.empty()); // never from inside publish()
  run_until_rebuilds(1);
  ASSERT_EQ(rebuilds_.size(), 1u);
  EXPECT_LT(rebuilds_[0].at - start, 300ms); // posted, not waiting for a throttle window
  EXPECT_EQ(value(0, "file"), "1");

  // A burst inside the window: one rebuild at the window's end with the latest state.
  at(20ms, [&] { agg->publish("file", tree("2")); });
  at(40ms, [&] { agg->publish("docker", tree("a")); });
  at(60ms, [&] { agg->publish("file", tree("3")); });
  run_until_rebuilds(2);
  ASSERT_EQ(rebuilds_.size(), 2u);
  EXPECT_GE(rebuilds_[1].at - rebuilds_[0].at, 300ms);
  EXPECT_EQ(value(1, "file"), "3");
  EXPECT_EQ(value(1, "docker"), "a");
  run_for(100ms); // and no other rebuild for the burst
  EXPECT_EQ(agg->rebuild_count(), 2u);

  // After a quiet period the next change is immediate again.
  run_for(350ms);
  auto before = Clock::now();
  agg->publish("file", tree("4"));
  run_until_rebuilds(3);
  ASSERT_EQ(rebuilds_.size(), 3u);
  EXPECT_LT(rebuilds_[2].at - before, 300ms);
}

TEST_F(AggregatorTest, UnchangedTreesAndRevertsAreDropped) {
  auto agg = make(100ms);
  agg->publish("file", tree("1"));
  run_for(20ms);
  ASSERT_EQ(rebuilds_.size(), 1u);
  agg->publish("file", tree("1")); // same tree
  run_for(200ms);
  EXPECT_EQ(rebuilds_.size(), 1u);
  agg->publish("file", tree("2")); // inside the window...
  agg->publish("file", tree("1")); // ...and reverted before it ends
  run_for(200ms);
  EXPECT_EQ(rebuilds_.size(), 1u);
}

TEST_F(AggregatorTest, SameTurnPublishesCoalesce) {
  auto agg = make(0ms);
  agg->publish("a", tree("1"));
  agg->publish("b", tree("2"));
  run_for(20ms);
  ASSERT_EQ(rebuilds_.size(), 1u);
  EXPECT_EQ(rebuilds_[0].trees.size(), 2u);
  agg->publish("a", tree("3"));
  run_for(20ms);
  EXPECT_EQ(rebuilds_.size(), 2u);
}

TEST_F(AggregatorTest, NothingAfterStopOrDestruction) {
  auto agg = make(100ms);
  agg->publish("file", tree("1"));
  run_for(20ms);
  agg->publish("file", tree("2")); // pending on the timer
  agg.reset();
  run_for(200ms);
  EXPECT_EQ(rebuilds_.size(), 1u);

  auto stopped = make(0ms);
  auto publish = stopped->publisher();
  publish("file", tree("1"));
  stopped->stop();
  run_for(20ms);
  EXPECT_EQ(rebuilds_.size(), 1u);
}

} // namespace
} // namespace turnpike::provider
