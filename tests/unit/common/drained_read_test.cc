#include "common/drained_read.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include "common/asio_types.h"

// Counts the receives Asio makes (Asio's own reads call ::recv, DrainedRead ::recvmsg; these
// definitions in the test executable take precedence over libc's), to see which reads try the
// socket before waiting.
std::atomic<int> g_recv_calls{0};
extern "C" ssize_t recv(int fd, void* buf, size_t n, int flags) {
  using Recv = ssize_t (*)(int, void*, size_t, int);
  static const auto real = reinterpret_cast<Recv>(dlsym(RTLD_NEXT, "recv"));
  ++g_recv_calls;
  return real(fd, buf, n, flags);
}
extern "C" ssize_t recvmsg(int fd, struct msghdr* msg, int flags) {
  using Recvmsg = ssize_t (*)(int, struct msghdr*, int);
  static const auto real = reinterpret_cast<Recvmsg>(dlsym(RTLD_NEXT, "recvmsg"));
  ++g_recv_calls;
  return real(fd, msg, flags);
}

namespace turnpike {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// A connected loopback pair: `server` is read with DrainedRead, `peer` writes.
struct Pair {
  asio::io_context io;
  TcpSocket server{io.get_executor()};
  TcpSocket peer{io.get_executor()};
  // `hint`: TCP_INQ on the listening socket, which the accepted one inherits (as the gateway's
  // listeners do).
  explicit Pair(bool hint = true) {
    TcpAcceptor acceptor(io.get_executor(), tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    if (hint)
      enable_drain_hint(acceptor);
    peer.connect(acceptor.local_endpoint());
    server = acceptor.accept();
  }
  void send(std::string_view s) { asio::write(peer, asio::buffer(s)); }

  // One read (a DrainedRead unless told otherwise) into a buffer of `room` bytes; runs the loop
  // until it completes (or 5 s).
  template <class Buffer = DrainedRead>
  std::optional<std::string> read(size_t room, boost::system::error_code* error = nullptr) {
    std::string buf(room, '\0');
    std::optional<std::string> got;
    server.async_read_some(Buffer(asio::buffer(buf)), [&](boost::system::error_code ec, size_t n) {
      if (error)
        *error = ec;
      got = buf.substr(0, n);
    });
    io.restart();
    for (auto end = std::chrono::steady_clock::now() + 5s;
         !got && std::chrono::steady_clock::now() < end;)
      io.run_for(10ms);
    return got;
  }
};

TEST(DrainedRead, BytesArrivingAfterAShortReadAreDelivered) {
  Pair p;
  p.send("first");
  EXPECT_EQ(p.read(64), "first"); // short: the socket is marked drained
  // The next read waits for the new bytes instead of trying at once; they must still arrive,
  // whether they are sent before the read starts or while it waits.
  p.send("second");
  EXPECT_EQ(p.read(64), "second");
  std::optional<std::string> got;
  std::string buf(64, '\0');
  p.server.async_read_some(DrainedRead(asio::buffer(buf)),
                           [&](boost::system::error_code, size_t n) { got = buf.substr(0, n); });
  p.io.restart();
  p.io.run_for(20ms);
  EXPECT_FALSE(got) << "nothing was sent";
  p.send("third");
  for (int i = 0; i < 500 && !got; ++i)
    p.io.run_for(10ms);
  EXPECT_EQ(got, "third");
}

// What DrainedRead is for: after a read that emptied the socket, the next read waits for the
// socket's next event instead of starting with a receive that fails with EAGAIN. A plain buffer
// (Asio's default), or a DrainedRead without the kernel's hint, makes that receive; the
// comparison shows the count can tell them apart.
template <class Buffer> int receives_before_data_arrives(bool hint = true) {
  Pair p(hint);
  p.send("request");
  EXPECT_EQ(p.template read<Buffer>(64), "request");
  g_recv_calls = 0;
  std::string buf(64, '\0');
  std::optional<std::string> got;
  p.server.async_read_some(Buffer(asio::buffer(buf)),
                           [&](boost::system::error_code, size_t n) { got = buf.substr(0, n); });
  p.io.restart();
  p.io.run_for(20ms);
  EXPECT_FALSE(got);
  int before = g_recv_calls;
  p.send("next");
  for (int i = 0; i < 500 && !got; ++i)
    p.io.run_for(10ms);
  EXPECT_EQ(got, "next");
  return before;
}

TEST(DrainedRead, NoReceiveBeforeTheNextEventAfterAShortRead) {
  EXPECT_EQ(receives_before_data_arrives<DrainedRead>(), 0);
  EXPECT_EQ(receives_before_data_arrives<asio::mutable_buffer>(), 1);
  EXPECT_EQ(receives_before_data_arrives<DrainedRead>(/*hint=*/false), 1);
}

TEST(DrainedRead, AFullBufferLeavesTheRestReadable) {
  Pair p;
  p.send("0123456789abcdef");
  EXPECT_EQ(p.read(10), "0123456789"); // full: more may be waiting, and it is
  EXPECT_EQ(p.read(10), "abcdef");
}

TEST(DrainedRead, AFinReadWithTheLastBytesStillEndsTheStream) {
  // The bytes and the FIN are both queued before the read, which consumes both: no event follows,
  // so the read must not say "drained" (the kernel's hint reports the FIN) or the next read would
  // wait forever for an end of stream that already came.
  Pair p;
  p.send("request and FIN");
  p.peer.shutdown(tcp::socket::shutdown_send);
  std::this_thread::sleep_for(20ms); // both have arrived
  // The reactor takes their event before anything reads (a timer keeps the loop polling).
  SteadyTimer timer(p.io.get_executor(), 20ms);
  timer.async_wait([](boost::system::error_code) {});
  p.io.restart();
  p.io.run();
  EXPECT_EQ(p.read(64), "request and FIN");
  boost::system::error_code ec;
  EXPECT_EQ(p.read(64, &ec), "");
  EXPECT_EQ(ec, asio::error::eof);
}

TEST(DrainedRead, EndOfStreamIsReported) {
  Pair p;
  p.send("last");
  EXPECT_EQ(p.read(64), "last");
  p.peer.shutdown(tcp::socket::shutdown_send);
  boost::system::error_code ec;
  EXPECT_EQ(p.read(64, &ec), "");
  EXPECT_EQ(ec, asio::error::eof);
}

TEST(DrainedRead, ManyShortExchangesNeverStall) {
  // Request/response rhythm of a keep-alive connection: every read is short.
  Pair p;
  for (int i = 0; i < 200; ++i) {
    std::string msg = "request " + std::to_string(i);
    p.send(msg);
    ASSERT_EQ(p.read(4096), msg) << "exchange " << i;
  }
}

} // namespace
} // namespace turnpike
