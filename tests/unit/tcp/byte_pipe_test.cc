// BytePipe over real loopback sockets: both directions, half-close, termination delay, idle
// timeout; the scanner and the sockets run on one io_context like a worker.

#include "common/asio_types.h"
#include "tcp/byte_pipe.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>

namespace turnpike::tcp {
namespace {

namespace asio = boost::asio;
using Socket = turnpike::TcpSocket;
using namespace std::chrono_literals;

// Two connected socket pairs: client <-> client_side (gateway's) and upstream_side <-> upstream.
struct Sockets {
  explicit Sockets(asio::io_context& io)
      : client(io), client_side(io), upstream_side(io), upstream(io) {
    connect_pair(io, client, client_side);
    connect_pair(io, upstream_side, upstream);
  }
  static void connect_pair(asio::io_context& io, Socket& a, Socket& b) {
    turnpike::TcpAcceptor acc(io, {asio::ip::make_address("127.0.0.1"), 0});
    a.connect(acc.local_endpoint());
    acc.accept(b);
  }
  Socket client, client_side, upstream_side, upstream;
};

struct PipeRun {
  bool done = false;
  PipeStats stats;
  Clock::time_point ended;
};

void start_pipe(asio::io_context& io, DeadlineScanner& scanner, Sockets& s, PipeOptions o,
                PipeRun& run) {
  asio::co_spawn(
      io,
      [&, o]() -> Task<void> {
        ConnectionInfo info;
        info.deadlines = &scanner;
        StreamConnection<Socket> conn(s.client_side, info);
        run.stats = co_await conn.pipe(s.upstream_side, o);
        run.done = true;
        run.ended = Clock::now();
      },
      asio::detached);
}

std::string read_to_eof(asio::io_context& io, Socket& s) {
  std::string out;
  std::array<char, 4096> buf;
  for (;;) {
    boost::system::error_code ec;
    while (s.available(ec) == 0 && !ec) {
      io.run_for(5ms);
      char c;
      ssize_t n = ::recv(s.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n == 0)
        return out; // EOF
      if (n > 0)
        break;
    }
    size_t n = s.read_some(asio::buffer(buf), ec);
    if (ec)
      return out;
    out.append(buf.data(), n);
  }
}

void run_until(asio::io_context& io, const bool& flag, std::chrono::milliseconds limit) {
  auto end = Clock::now() + limit;
  while (!flag && Clock::now() < end)
    io.run_for(5ms);
}

class BytePipeTest : public ::testing::Test {
protected:
  asio::io_context io{1};
  DeadlineScanner scanner{io.get_executor(), std::chrono::milliseconds(20)};
  Sockets s{io};
  PipeRun run;
  void SetUp() override { scanner.start(); }
};

TEST_F(BytePipeTest, HalfCloseForwardsTheRestOfTheAnswer) {
  PipeOptions o;
  o.termination_delay = -1ns; // unlimited: the upstream may answer long after the client's FIN
  start_pipe(io, scanner, s, o, run);
  std::string big(1 << 20, 'q');
  asio::write(s.client, asio::buffer(big));
  s.client.shutdown(Socket::shutdown_send);
  EXPECT_EQ(read_to_eof(io, s.upstream), big); // the client's FIN reached the upstream
  asio::write(s.upstream, asio::buffer(std::string("answer after FIN")));
  s.upstream.shutdown(Socket::shutdown_send);
  EXPECT_EQ(read_to_eof(io, s.client), "answer after FIN");
  run_until(io, run.done, 2000ms);
  ASSERT_TRUE(run.done);
  EXPECT_EQ(run.stats.to_upstream, big.size());
  EXPECT_EQ(run.stats.to_client, 16u);
}

TEST_F(BytePipeTest, TerminationDelayEndsTheOtherDirection) {
  PipeOptions o;
  o.termination_delay = 100ms;
  start_pipe(io, scanner, s, o, run);
  s.client.shutdown(Socket::shutdown_send);
  auto t0 = Clock::now();
  EXPECT_EQ(read_to_eof(io, s.upstream), "");
  // The upstream never closes: both sides are closed once the delay has passed.
  run_until(io, run.done, 3000ms);
  ASSERT_TRUE(run.done);
  EXPECT_GE(run.ended - t0, 90ms);
  EXPECT_LT(run.ended - t0, 1000ms);
  EXPECT_EQ(read_to_eof(io, s.client), "");
}

TEST_F(BytePipeTest, IdleTimeoutClosesBothSides) {
  PipeOptions o;
  o.idle_timeout = 200ms;
  start_pipe(io, scanner, s, o, run);
  auto t0 = Clock::now();
  // Traffic keeps it alive...
  for (int i = 0; i < 4; ++i) {
    asio::write(s.client, asio::buffer("x", 1));
    char c;
    while (s.upstream.available() == 0)
      io.run_for(5ms);
    s.upstream.read_some(asio::buffer(&c, 1));
    auto next = Clock::now() + 100ms;
    while (Clock::now() < next)
      io.run_for(5ms);
  }
  EXPECT_FALSE(run.done);
  // ...silence ends it.
  run_until(io, run.done, 3000ms);
  ASSERT_TRUE(run.done);
  EXPECT_GE(run.ended - t0, 480ms); // last byte at ~300 ms + 200 ms idle
  EXPECT_EQ(read_to_eof(io, s.client), "");
  EXPECT_EQ(read_to_eof(io, s.upstream), "");
}

TEST_F(BytePipeTest, NoIdleTimeoutByDefault) {
  start_pipe(io, scanner, s, PipeOptions{}, run);
  auto end = Clock::now() + 500ms;
  while (Clock::now() < end)
    io.run_for(10ms);
  EXPECT_FALSE(run.done);
  s.client.close();
  s.upstream.close();
  run_until(io, run.done, 2000ms);
  EXPECT_TRUE(run.done);
}

} // namespace
} // namespace turnpike::tcp
