#include "entrypoint/connection_dispatch.h"

#include <sys/socket.h>

#include <cerrno>
#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/asio_types.h"
#include "common/deadline.h"
#include "common/log.h"
#include "entrypoint/drainable.h"
#include "entrypoint/http1_connection.h"
#include "entrypoint/http2_connection.h"
#include "entrypoint/tcp_stage.h"
#include "tls/tls_stream.h"

namespace turnpike::entrypoint {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
constexpr auto kNoThrow = asio::as_tuple(turnpike::use_task);
constexpr unsigned char kTlsHandshakeRecord = 0x16;
constexpr auto kMaxHandshakeTimeout = std::chrono::seconds(10);

const std::shared_ptr<spdlog::logger>& logger() {
  static auto l = log::get("entrypoint");
  return l;
}

enum class FirstByte { kTls, kPlain, kClosed };

// A connection that has no protocol handler yet: graceful draining closes it like an idle one.
class PendingConnection final : public Drainable {
public:
  explicit PendingConnection(turnpike::TcpSocket& socket) : socket_(socket) {}
  void drain() override {
    boost::system::error_code ec;
    socket_.cancel(ec);
  }

private:
  turnpike::TcpSocket& socket_;
};

http::Task<FirstByte> peek_first_byte(turnpike::TcpSocket& socket, WorkerState& worker,
                                      const EntryPointOptions& ep,
                                      std::optional<Deadline>& deadline,
                                      PendingConnection& pending) {
  for (;;) {
    unsigned char first = 0;
    ssize_t n = ::recv(socket.native_handle(), &first, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 1)
      co_return first == kTlsHandshakeRecord ? FirstByte::kTls : FirstByte::kPlain;
    if (n == 0)
      co_return FirstByte::kClosed;
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      co_return FirstByte::kClosed;
    if (worker.ctx.draining)
      co_return FirstByte::kClosed;
    if (!deadline) {
      // Created on first use: usually the first bytes are already there and none is needed.
      deadline.emplace(worker.ctx.deadlines, [&socket] {
        boost::system::error_code ec;
        socket.cancel(ec);
      });
      deadline->owner = static_cast<Drainable*>(&pending);
      deadline->expire_after(std::chrono::duration_cast<Clock::duration>(ep.idle_timeout));
    }
    auto [ec] = co_await socket.async_wait(turnpike::TcpSocket::wait_read, kNoThrow);
    if (ec)
      co_return FirstByte::kClosed;
  }
}

http::Task<void> serve_tls(turnpike::TcpSocket socket, WorkerState& worker, const EntryPointOptions& ep,
                           std::optional<Deadline>& deadline,
                           std::optional<tcp::endpoint> client) {
  // The snapshot current at accept provides the certificates and options of this handshake;
  // later snapshots serve later handshakes (live certificate changes).
  std::shared_ptr<const config::Snapshot> snapshot = worker.snapshot;
  const tls::EntryPointTls* tls_state = snapshot && ep.index < snapshot->entrypoints.size()
                                            ? snapshot->entrypoints[ep.index].tls.get()
                                            : nullptr;
  if (!tls_state)
    co_return; // no TLS state (no certificate at all): close
  boost::system::error_code ec;
  auto remote = client ? *client : socket.remote_endpoint(ec);
  tls::TlsStream stream(std::move(socket), *tls_state);
  if (!stream.valid())
    co_return;
  // The deadline cancels `socket`, now moved into the stream: re-point it.
  deadline.reset();
  deadline.emplace(worker.ctx.deadlines, [&stream] { stream.cancel(); });
  PendingConnection handshaking(stream.socket());
  deadline->owner = static_cast<Drainable*>(&handshaking);
  deadline->expire_after(std::chrono::duration_cast<Clock::duration>(handshake_timeout(ep)));
  auto failed = co_await stream.handshake();
  deadline.reset();
  snapshot.reset();
  if (failed) {
    logger()->debug("{}: TLS handshake from {} failed: {}", ep.name,
                    ec ? std::string("?") : remote.address().to_string(),
                    stream.failure().empty() ? failed.message() : std::string(stream.failure()));
    co_return;
  }
  std::string_view alpn = stream.alpn();
  if (alpn == tls::kAcmeTlsAlpn) {
    stream.close(); // the TLS-ALPN-01 challenge is answered by the handshake itself
    co_return;
  }
  if (alpn == "h2") {
    co_await serve_http2(std::move(stream), worker, ep, {}, client);
    co_return;
  }
  // HTTP/1.1 (ALPN "http/1.1" or none; a client that sends the HTTP/2 preface without ALPN is
  // handed on to HTTP/2 from there).
  co_await serve_http1(std::move(stream), worker, ep, client);
}

} // namespace

std::vector<std::string> served_alpn_protocols() {
  return {"h2", "http/1.1"};
}

Duration handshake_timeout(const EntryPointOptions& ep) {
  Duration limit = std::chrono::duration_cast<Duration>(kMaxHandshakeTimeout);
  if (ep.read_timeout.count() > 0 && ep.read_timeout < limit)
    return ep.read_timeout;
  return limit;
}

http::Task<void> serve_connection(turnpike::TcpSocket socket, WorkerState& worker,
                                  const EntryPointOptions& ep) {
  std::optional<tcp::endpoint> client;
  if (tcp_stage_needed(worker, ep)) {
    auto accepted = co_await run_tcp_stage(std::move(socket), worker, ep);
    if (!accepted)
      co_return; // served by a TCP router, or closed
    socket = std::move(accepted->socket);
    client = accepted->client;
  }
  std::optional<Deadline> deadline;
  PendingConnection pending(socket);
  auto first = co_await peek_first_byte(socket, worker, ep, deadline, pending);
  if (first == FirstByte::kClosed)
    co_return;
  if (first == FirstByte::kTls) {
    co_await serve_tls(std::move(socket), worker, ep, deadline, client);
    co_return;
  }
  deadline.reset();
  co_await serve_http1(std::move(socket), worker, ep, client);
}

} // namespace turnpike::entrypoint
