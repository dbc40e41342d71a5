#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/asio_types.h"
#include "harness.h"
#include "middleware/in_flight_req.h"

namespace turnpike::middleware {
namespace {

using testing::make_request;

// An upstream that holds every request until the test opens the gate.
class Gate final : public http::Handler {
 public:
  explicit Gate(boost::asio::io_context& io) : timer_(io) {
    timer_.expires_at(turnpike::SteadyTimer::time_point::max());
  }
  http::Task<void> handle(http::Exchange& ex) const override {
    ++waiting;
    auto [ec] = co_await timer_.async_wait(boost::asio::as_tuple(turnpike::use_task));
    (void)ec;
    co_await http::send_response(ex, 200, "ok");
  }
  void open() { timer_.cancel(); }
  mutable int waiting = 0;

 private:
  mutable turnpike::SteadyTimer timer_;
};

// One in-flight exchange with its own request, body and writer.
struct Flight {
  http::Request req;
  testing::MemoryBody body;
  testing::RecordingWriter writer;
  int status() const { return writer.heads.empty() ? 0 : writer.heads.back().status; }
};

Wrap decode(std::string_view yaml, config::Errors& errors) {
  auto node = config::parse_yaml(yaml, "dynamic.yml");
  EXPECT_TRUE(node);
  config::Decoder dec(*node, "http.middlewares.t@file.inFlightReq", errors);
  testing::FakeBuildContext ctx;
  return find("inFlightReq")->factory(dec, ctx);
}

// Starts one exchange per request on `io` and runs until every one is finished or waiting.
void start(boost::asio::io_context& io, const http::Handler& h, std::vector<Flight>& flights) {
  for (auto& f : flights) {
    boost::asio::co_spawn(
        io,
        [&h, &f]() -> http::Task<void> {
          http::Exchange ex = testing::make_exchange(f.req, f.body, f.writer);
          co_await h.handle(ex);
        },
        boost::asio::detached);
  }
  io.poll();
}

TEST(InFlightReq, LimitsConcurrentRequestsPerSource) {
  boost::asio::io_context io;
  config::Errors errors;
  Wrap wrap = decode("amount: 2", errors);
  ASSERT_TRUE(wrap) << errors.joined();
  auto gate = std::make_shared<Gate>(io);
  auto handler = wrap(gate);
  const auto& mw = static_cast<const InFlightReq&>(*handler);

  std::vector<Flight> flights(4);
  for (auto& f : flights) f.req = make_request("GET", "/");
  flights[3].req.client_addr = boost::asio::ip::make_address("192.0.2.99");  // another source
  start(io, *handler, flights);
  EXPECT_EQ(gate->waiting, 3);  // two from 192.0.2.10, one from 192.0.2.99
  EXPECT_EQ(flights[2].status(), 429);
  EXPECT_EQ(flights[2].writer.body, "Too Many Requests");
  EXPECT_EQ(mw.table().count("192.0.2.10"), 2);
  EXPECT_EQ(mw.table().count("192.0.2.99"), 1);

  gate->open();
  io.run();
  EXPECT_EQ(flights[0].status(), 200);
  EXPECT_EQ(flights[1].status(), 200);
  EXPECT_EQ(flights[3].status(), 200);
  EXPECT_EQ(mw.table().count("192.0.2.10"), 0);  // released when the responses finished
  EXPECT_EQ(mw.table().count("192.0.2.99"), 0);
}

TEST(InFlightReq, SourceCriteria) {
  struct Case {
    std::string desc, config;
    std::vector<std::pair<std::string, std::string>> a, b;  // headers of two requests
    bool same_source;
  };
  const std::vector<Case> cases = {
      {"header", "amount: 1\nsourceCriterion: {requestHeaderName: X-Key}", {{"X-Key", "k1"}},
       {{"X-Key", "k2"}}, false},
      {"same header", "amount: 1\nsourceCriterion: {requestHeaderName: X-Key}", {{"X-Key", "k1"}},
       {{"X-Key", "k1"}}, true},
      {"host", "amount: 1\nsourceCriterion: {requestHost: true}", {{"Host", "a.example"}},
       {{"Host", "b.example"}}, false},
      {"depth", "amount: 1\nsourceCriterion: {ipStrategy: {depth: 1}}",
       {{"X-Forwarded-For", "10.0.0.1"}}, {{"X-Forwarded-For", "10.0.0.2"}}, false},
      {"depth, same address", "amount: 1\nsourceCriterion: {ipStrategy: {depth: 1}}",
       {{"X-Forwarded-For", "10.0.0.9, 10.0.0.1"}}, {{"X-Forwarded-For", "10.0.0.1"}}, true},
      {"default is the peer, XFF ignored", "amount: 1", {{"X-Forwarded-For", "10.0.0.1"}},
       {{"X-Forwarded-For", "10.0.0.2"}}, true},
      {"ipStrategy wins over header",
       "amount: 1\nsourceCriterion: {ipStrategy: {}, requestHeaderName: X-Key}",
       {{"X-Key", "k1"}}, {{"X-Key", "k2"}}, true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.desc);
    boost::asio::io_context io;
    config::Errors errors;
    Wrap wrap = decode(c.config, errors);
    ASSERT_TRUE(wrap) << errors.joined();
    auto gate = std::make_shared<Gate>(io);
    auto handler = wrap(gate);
    std::vector<Flight> flights(2);
    for (size_t i = 0; i < 2; ++i) {
      flights[i].req = make_request("GET", "/");
      for (const auto& [k, v] : i == 0 ? c.a : c.b) {
        flights[i].req.headers.set(k, v);
        if (k == "Host") flights[i].req.authority = v;
      }
    }
    start(io, *handler, flights);
    EXPECT_EQ(gate->waiting, c.same_source ? 1 : 2);
    EXPECT_EQ(flights[1].status(), c.same_source ? 429 : 0);
    gate->open();
    io.run();
  }
}

TEST(InFlightTable, ManySourcesOverflowAndRelease) {
  InFlightTable table(1);
  std::vector<InFlightTable::Ticket> tickets;
  const int n = 3 * static_cast<int>(InFlightTable::kSlots);  // more sources than slots
  for (int i = 0; i < n; ++i) {
    tickets.push_back(table.acquire("s" + std::to_string(i)));
    ASSERT_TRUE(tickets.back().admitted) << i;
  }
  for (int i = 0; i < n; i += 997) EXPECT_FALSE(table.acquire("s" + std::to_string(i)).admitted);
  for (auto& t : tickets) table.release(t);
  for (int i = 0; i < n; i += 997) EXPECT_EQ(table.count("s" + std::to_string(i)), 0);
  auto t = table.acquire("s1");
  EXPECT_TRUE(t.admitted);
  table.release(t);
}

TEST(InFlightTable, ConcurrentWorkersStayNearTheLimit) {
  // Four threads each hold up to three tickets of the same two sources at once: the number of
  // admitted tickets never exceeds amount + (threads - 1), and the counts return to zero.
  constexpr int kAmount = 2, kThreads = 4;
  InFlightTable table(kAmount);
  std::array<std::atomic<int>, 2> holding{};
  std::atomic<int> over{0}, admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) {
        const int s = (i + t) % 2;
        const std::string source = "src" + std::to_string(s);
        std::array<InFlightTable::Ticket, 3> tickets;
        for (auto& ticket : tickets) {
          ticket = table.acquire(source);
          if (!ticket.admitted) continue;
          ++admitted;
          if (++holding[static_cast<size_t>(s)] > kAmount + kThreads - 1) ++over;
        }
        for (auto& ticket : tickets) {
          if (ticket.admitted) --holding[static_cast<size_t>(s)];
          table.release(ticket);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(over.load(), 0);
  EXPECT_GT(admitted.load(), 20000);
  for (int s = 0; s < 2; ++s) EXPECT_EQ(table.count("src" + std::to_string(s)), 0);
}

TEST(InFlightReq, Errors) {
  testing::expect_decode_error("inFlightReq", "{}", "inFlightReq.amount: is required");
  testing::expect_decode_error("inFlightReq", "amount: 0", "inFlightReq.amount: must be between");
  testing::expect_decode_error("inFlightReq", "amount: -1", "inFlightReq.amount");
  testing::expect_decode_error("inFlightReq", "amount: 1\nsourceCriterion: {requestHeader: x}",
                               "sourceCriterion.requestHeader");
  testing::expect_decode_error("inFlightReq",
                               "amount: 1\nsourceCriterion: {ipStrategy: {excludedIPs: [nope]}}",
                               "sourceCriterion.ipStrategy.excludedIPs");
  testing::expect_decode_error("inFlightReq",
                               "amount: 1\nsourceCriterion: {requestHeaderName: 'a b'}",
                               "sourceCriterion.requestHeaderName");
}

}  // namespace
}  // namespace turnpike::middleware
