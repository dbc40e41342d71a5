#pragma once
// The bidirectional byte pipe between a client stream and an upstream stream (each a TCP socket
// or a TLS stream), and the Connection implementation over any of them (StreamConnection).
//
// Behaviour (Traefik's tcp.Proxy connCopy):
//   - each direction copies until its source ends (EOF, reset, error) or its destination fails,
//     then forwards the end as a half-close (FIN) to its destination: a client that shuts down
//     its sending side still receives the rest of the upstream's answer;
//   - once one direction has ended, the other has `termination_delay` to end too (negative: no
//     limit), after which both sides are closed;
//   - with `idle_timeout` > 0, no byte in either direction for that long closes both sides.
// Timeouts use the worker's coarse DeadlineScanner (250 ms precision): arming one is a field
// write per chunk.
//
// No allocation per chunk: each direction has one 16 KiB buffer in the pipe, which lives in the
// connection's coroutine frame; Asio's per-thread recycling allocator serves the operations.
//
// Worker-confined, like the streams it moves bytes between.

#include <array>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/asio_types.h"
#include "common/drained_read.h"
#include "tcp/handler.h"
#include "tls/tls_stream.h"

namespace turnpike::tcp {

// How the pipe ends a stream's sending side and aborts it. The default suits anything whose
// lowest layer is a TCP socket; a TLS stream specialises close_write to send close_notify first.
template <class Stream> struct StreamOps {
  static Task<void> close_write(Stream& s) {
    boost::system::error_code ec;
    s.lowest_layer().shutdown(turnpike::TcpSocket::shutdown_send, ec);
    co_return;
  }
  static void abort(Stream& s) {
    boost::system::error_code ec;
    s.lowest_layer().close(ec);
  }
};

// TLS: the end of a direction is a close_notify, then a FIN (the other direction keeps reading:
// TLS allows a half-closed connection).
template <> struct StreamOps<tls::TlsStream> {
  static Task<void> close_write(tls::TlsStream& s) {
    s.shutdown_send();
    co_return;
  }
  static void abort(tls::TlsStream& s) {
    boost::system::error_code ec;
    s.lowest_layer().close(ec);
  }
};

template <class ClientStream, class UpstreamStream> class BytePipe {
public:
  static constexpr size_t kChunk = 16 * 1024;

  BytePipe(ClientStream& client, UpstreamStream& upstream, DeadlineScanner& deadlines,
           const PipeOptions& options)
      : client_(client), upstream_(upstream), options_(options),
        deadline_(deadlines, [this] { abort(); }) {}

  // Runs until both directions have ended.
  Task<PipeStats> run() {
    using namespace boost::asio::experimental::awaitable_operators;
    touch();
    co_await (pump(client_, upstream_, to_upstream_buf_, stats_.to_upstream) &&
              pump(upstream_, client_, to_client_buf_, stats_.to_client));
    deadline_.clear();
    co_return stats_;
  }

private:
  template <class From, class To>
  Task<void> pump(From& from, To& to, std::array<char, kChunk>& buf, uint64_t& count) {
    constexpr auto kNoThrow = boost::asio::as_tuple(turnpike::use_task);
    for (;;) {
      auto [ec, n] = co_await turnpike::read_some(from, boost::asio::buffer(buf), kNoThrow);
      if (n > 0) {
        count += n;
        touch();
        auto [wec, written] =
            co_await boost::asio::async_write(to, boost::asio::buffer(buf.data(), n), kNoThrow);
        if (wec)
          break;
      }
      if (ec)
        break;
    }
    co_await StreamOps<To>::close_write(to);
    direction_done();
  }

  // Activity: push the idle deadline back, unless a direction has ended and the termination
  // delay is running.
  void touch() {
    bool terminating = ended_ > 0 && options_.termination_delay.count() >= 0;
    if (!terminating && options_.idle_timeout.count() > 0)
      deadline_.expire_after(std::chrono::duration_cast<Clock::duration>(options_.idle_timeout));
  }

  void direction_done() {
    if (++ended_ == 2) {
      deadline_.clear();
      return;
    }
    if (options_.termination_delay.count() >= 0) {
      deadline_.expire_after(
          std::chrono::duration_cast<Clock::duration>(options_.termination_delay));
      if (options_.termination_delay.count() == 0)
        abort();
    } else if (options_.idle_timeout.count() <= 0) {
      deadline_.clear();
    }
  }

  void abort() {
    StreamOps<ClientStream>::abort(client_);
    StreamOps<UpstreamStream>::abort(upstream_);
  }

  ClientStream& client_;
  UpstreamStream& upstream_;
  PipeOptions options_;
  Deadline deadline_;
  int ended_ = 0;
  PipeStats stats_;
  std::array<char, kChunk> to_upstream_buf_;
  std::array<char, kChunk> to_client_buf_;
};

// Connection over a client stream the caller owns: the accepted turnpike::TcpSocket (plain TCP, TLS
// passthrough) or the tls::TlsStream of a TCP router that terminates TLS.
template <class Stream> class StreamConnection final : public Connection {
public:
  StreamConnection(Stream& stream, ConnectionInfo info)
      : Connection(std::move(info)), stream_(stream) {}

  Task<PipeStats> pipe(turnpike::TcpSocket& upstream,
                       const PipeOptions& options) override {
    return run_pipe(upstream, options);
  }
  Task<PipeStats> pipe(tls::TlsStream& upstream, const PipeOptions& options) override {
    return run_pipe(upstream, options);
  }
  void close() override { StreamOps<Stream>::abort(stream_); }

private:
  template <class Upstream> Task<PipeStats> run_pipe(Upstream& upstream, PipeOptions options) {
    BytePipe<Stream, Upstream> pipe(stream_, upstream, *info().deadlines, options);
    auto stats = co_await pipe.run();
    co_return stats;
  }

  Stream& stream_;
};

} // namespace turnpike::tcp
