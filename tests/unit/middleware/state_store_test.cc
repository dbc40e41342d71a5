#include "middleware/state_store.h"

#include <gtest/gtest.h>

#include "config/tree/node.h"
#include "harness.h"

namespace turnpike::middleware {
namespace {

using testing::make_request;
using testing::serve;

// A build context whose slots use one StateStore, as the snapshot builder's do.
class StoreContext : public testing::FakeBuildContext {
 public:
  StoreContext(StateStore& store, std::string_view yaml) : store_(store) {
    options_ = *config::parse_yaml(yaml, "dynamic.yml");
  }
  StateSlot state_slot() override { return StateSlot(&store_, "limit@file/rateLimit", options_); }

 private:
  StateStore& store_;
  config::Node options_;
};

// One "build" of a router chain using the rateLimit below; the handler it returns.
testing::Built build_in(StateStore& store, std::string_view yaml, std::string chain = "r@file web") {
  StoreContext ctx(store, yaml);
  store.enter_chain(std::move(chain));
  auto b = testing::build("rateLimit", yaml, &ctx);
  return b;
}

int get(const testing::Built& b) {
  auto req = make_request("GET", "/");
  return serve(*b.handler, req).status;
}

constexpr std::string_view kSlow = "average: 1\nperiod: 1h\nburst: 2\n";

TEST(StateStore, UnchangedOptionsKeepTheBuckets) {
  StateStore store;
  auto first = build_in(store, kSlow);
  store.end_build();
  EXPECT_EQ(get(first), 200);
  EXPECT_EQ(get(first), 200);
  EXPECT_EQ(get(first), 429);
  // A reload with the same options: the new handler shares the exhausted bucket.
  auto second = build_in(store, kSlow);
  store.end_build();
  EXPECT_EQ(get(second), 429);
  // Another chain has its own instance.
  auto other = build_in(store, kSlow, "other@file web");
  EXPECT_EQ(get(other), 200);
}

TEST(StateStore, ChangedOptionsStartFresh) {
  StateStore store;
  auto first = build_in(store, kSlow);
  store.end_build();
  for (int i = 0; i < 2; ++i) EXPECT_EQ(get(first), 200);
  EXPECT_EQ(get(first), 429);
  auto changed = build_in(store, "average: 1\nperiod: 1h\nburst: 3\n");
  store.end_build();
  EXPECT_EQ(get(changed), 200);
}

TEST(StateStore, ABuildWithoutTheInstanceForgetsIt) {
  StateStore store;
  auto first = build_in(store, kSlow);
  store.end_build();
  for (int i = 0; i < 2; ++i) EXPECT_EQ(get(first), 200);
  store.end_build();  // a build in which the router was gone
  EXPECT_EQ(store.size(), 0u);
  auto back = build_in(store, kSlow);
  EXPECT_EQ(get(back), 200);
}

TEST(StateStore, TheSameMiddlewareTwiceInOneChainHasTwoInstances) {
  StateStore store;
  auto n = config::Node::scalar("x");
  int made = 0;
  auto make = [&] {
    ++made;
    return std::make_shared<int>(made);
  };
  store.enter_chain("r@file web");
  auto a = StateSlot(&store, "m@file/t", n).get<int>(make);
  auto b = StateSlot(&store, "m@file/t", n).get<int>(make);
  store.end_build();
  EXPECT_NE(a, b);
  store.enter_chain("r@file web");
  EXPECT_EQ(StateSlot(&store, "m@file/t", n).get<int>(make), a);
  EXPECT_EQ(StateSlot(&store, "m@file/t", n).get<int>(make), b);
  EXPECT_EQ(made, 2);
}

}  // namespace
}  // namespace turnpike::middleware
