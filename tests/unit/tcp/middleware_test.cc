// TCP middlewares' decoding and the shared inFlightConn counter; smooth WRR per worker.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "common/ipnet.h"
#include "common/wrr.h"
#include "tcp/in_flight_conn.h"
#include "tcp/middleware.h"

namespace turnpike::tcp {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

boost::asio::ip::address ip(const char* s) {
  return *parse_ip(s);
}

std::vector<std::string> decode_errors(std::string_view type, const std::string& yaml) {
  auto tree = config::parse_yaml(yaml, "mw.yml");
  EXPECT_TRUE(tree.has_value());
  config::Errors errors;
  config::Decoder dec(*tree, "tcp.middlewares.m@file." + std::string(type), errors);
  auto wrap = find_middleware(type)->factory(dec);
  EXPECT_EQ(static_cast<bool>(wrap), errors.empty());
  return errors.list();
}

TEST(TcpMiddlewares, Registry) {
  EXPECT_NE(find_middleware("ipAllowList"), nullptr);
  EXPECT_NE(find_middleware("IPWHITELIST"), nullptr);
  EXPECT_NE(find_middleware("inflightconn"), nullptr);
  EXPECT_EQ(find_middleware("rateLimit"), nullptr);
}

TEST(TcpMiddlewares, Decoding) {
  EXPECT_TRUE(decode_errors("ipAllowList", "sourceRange: [10.0.0.0/8, \"::1\"]").empty());
  EXPECT_THAT(decode_errors("ipAllowList", "{}"),
              ElementsAre(HasSubstr("sourceRange: is required and cannot be empty")));
  EXPECT_THAT(decode_errors("ipAllowList", "sourceRange: [nope]"),
              ElementsAre(HasSubstr("sourceRange: invalid IP address \"nope\"")));
  EXPECT_THAT(decode_errors("ipAllowList", "sourceRange: [1.2.3.4]\nipStrategy: {depth: 1}"),
              ElementsAre(HasSubstr("ipStrategy: unknown key")));
  EXPECT_TRUE(decode_errors("inFlightConn", "amount: 3").empty());
  EXPECT_THAT(decode_errors("inFlightConn", "{}"), ElementsAre(HasSubstr("amount: is required")));
  EXPECT_THAT(decode_errors("inFlightConn", "amount: 0"), ElementsAre(HasSubstr("must be > 0")));
  EXPECT_THAT(decode_errors("inFlightConn", "amount: x"), ElementsAre(HasSubstr("amount")));
}

TEST(ConnectionCounter, PerAddressLimit) {
  ConnectionCounter c(2);
  EXPECT_TRUE(c.try_acquire(ip("10.0.0.1")));
  EXPECT_TRUE(c.try_acquire(ip("::ffff:10.0.0.1"))); // the same client, v4-mapped
  EXPECT_FALSE(c.try_acquire(ip("10.0.0.1")));
  EXPECT_TRUE(c.try_acquire(ip("10.0.0.2")));
  EXPECT_EQ(c.count(ip("10.0.0.1")), 2);
  c.release(ip("10.0.0.1"));
  EXPECT_TRUE(c.try_acquire(ip("10.0.0.1")));
  c.release(ip("10.0.0.1"));
  c.release(ip("10.0.0.1"));
  EXPECT_EQ(c.count(ip("10.0.0.1")), 0);
}

TEST(ConnectionCounter, SharedByThreadsNeverExceedsTheLimit) {
  ConnectionCounter c(3);
  std::atomic<int> held{0}, max_held{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        if (!c.try_acquire(ip("192.0.2.1")))
          continue;
        int now = ++held;
        int prev = max_held.load();
        while (now > prev && !max_held.compare_exchange_weak(prev, now)) {
        }
        --held;
        c.release(ip("192.0.2.1"));
      }
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_LE(max_held.load(), 3);
  EXPECT_EQ(c.count(ip("192.0.2.1")), 0);
}

TEST(WeightedRoundRobin, SmoothPerWorker) {
  WeightedRoundRobin wrr({3, 0, 1}, 2);
  std::string w0, w1;
  for (int i = 0; i < 8; ++i)
    w0 += char('a' + wrr.pick(0));
  for (int i = 0; i < 4; ++i)
    w1 += char('a' + wrr.pick(1));
  EXPECT_EQ(w0, "aacaaaca"); // weight 0 never picked, 3:1 interleaved
  EXPECT_EQ(w1, "aaca");     // each worker runs its own cursor
  EXPECT_TRUE(WeightedRoundRobin({0, 0}, 1).empty());
  EXPECT_EQ(WeightedRoundRobin({5}, 1).pick(0), 0u);
}

} // namespace
} // namespace turnpike::tcp
