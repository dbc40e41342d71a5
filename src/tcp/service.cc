#include "tcp/service.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/asio_types.h"
#include "common/drained_read.h"
#include "common/ipnet.h"
#include "common/log.h"
#include "common/proxy_protocol.h"
#include "service/upstream_tls.h"
#include "tls/tls_stream.h"

namespace turnpike::tcp {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
constexpr auto kNoThrow = asio::as_tuple(turnpike::use_task);

const std::shared_ptr<spdlog::logger>& logger() {
  static auto l = log::get("tcp");
  return l;
}

// Replays the client's Postgres SSLRequest to a passthrough backend and swallows its 'S', so
// that the backend sees the STARTTLS negotiation the client already had with the gateway.
Task<bool> replay_postgres_starttls(turnpike::TcpSocket& upstream) {
  auto [wec, wn] =
      co_await asio::async_write(upstream, asio::buffer(kPostgresSslRequest), kNoThrow);
  if (wec)
    co_return false;
  char reply = 0;
  auto [rec, rn] = co_await asio::async_read(upstream, asio::buffer(&reply, 1), kNoThrow);
  co_return !rec && reply == kPostgresSslAccepted;
}

// The last TLS session per backend, for resumption. One per worker thread (connections stay on
// the worker that accepted them), so no lock; bounded by TlsSessionCache itself.
service::TlsSessionCache& session_cache() {
  thread_local service::TlsSessionCache cache;
  return cache;
}

// The TLS handshake with a `tls: true` server over the dialled socket, within what is left of the
// dial timeout (Go's tls.Dialer: the timeout covers connect and handshake as a whole).
// `target` must outlive the stream (the SSL refers to it). On failure, the error says why.
Task<Result<std::unique_ptr<tls::TlsStream>>>
handshake_with(turnpike::TcpSocket socket, const Server& server, const Transport& transport,
               service::TlsSessionTarget& target, DeadlineScanner& deadlines,
               Clock::time_point dial_started) {
  if (!transport.tls)
    co_return make_error("no TLS configuration on serversTransport " + transport.name);
  target = service::TlsSessionTarget{&session_cache(),
                                     transport.tls->fingerprint() + "|" + server.address};
  SSL* ssl = transport.tls->new_ssl(server.host, service::Alpn::kNone, target);
  auto stream = std::make_unique<tls::TlsStream>(std::move(socket), ssl);
  if (!stream->valid())
    co_return make_error("creating the TLS session failed");
  bool timed_out = false;
  Deadline deadline(deadlines, [&] {
    timed_out = true;
    stream->cancel();
  });
  if (transport.dial_timeout.count() > 0) {
    auto left = std::chrono::duration_cast<Clock::duration>(transport.dial_timeout) -
                (Clock::now() - dial_started);
    deadline.expire_after(std::max<Clock::duration>(left, std::chrono::milliseconds(1)));
  }
  auto ec = co_await stream->handshake();
  deadline.clear();
  std::string why;
  if (ec)
    why = timed_out ? std::string("timeout")
                    : service::describe_tls_failure(stream->native_handle(), ec);
  else
    why = transport.tls->check_peer(stream->native_handle());
  if (!why.empty()) {
    // A session that no longer works (a backend restarted with new keys) is not offered again.
    session_cache().erase(target.key);
    co_return make_error("TLS handshake with " + server.address + ": " + why);
  }
  co_return std::move(stream);
}

} // namespace

void set_keep_alive(turnpike::TcpSocket& socket, Duration period) {
  if (period.count() < 0)
    return;
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(period).count();
  int interval = period.count() == 0 ? 15 : static_cast<int>(std::max<int64_t>(1, secs));
  int one = 1;
  int fd = socket.native_handle();
  // Go's net.Dialer.KeepAlive: the idle time before the first probe and the probe interval.
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &interval, sizeof(interval));
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
}

Task<Result<turnpike::TcpSocket>> dial(turnpike::Executor executor, DeadlineScanner& deadlines,
                               const Server& server, Duration timeout) {
  turnpike::TcpSocket socket(executor);
  tcp::resolver resolver(executor);
  bool timed_out = false;
  Deadline deadline(deadlines, [&] {
    timed_out = true;
    resolver.cancel();
    boost::system::error_code ignored;
    socket.close(ignored);
  });
  if (timeout.count() > 0)
    deadline.expire_after(std::chrono::duration_cast<Clock::duration>(timeout));
  boost::system::error_code ec;
  if (server.ip) {
    std::tie(ec) = co_await socket.async_connect(tcp::endpoint(*server.ip, server.port), kNoThrow);
  } else {
    auto [rec, results] =
        co_await resolver.async_resolve(server.host, std::to_string(server.port), kNoThrow);
    if (rec) {
      co_return make_error("resolve " + server.host + ": " +
                           (timed_out ? std::string("timeout") : rec.message()));
    }
    tcp::endpoint ep;
    std::tie(ec, ep) = co_await asio::async_connect(socket, results, kNoThrow);
  }
  if (ec)
    co_return make_error("dial " + server.address + ": " +
                         (timed_out ? std::string("timeout") : ec.message()));
  deadline.clear();
  socket.set_option(tcp::no_delay(true), ec);
  turnpike::enable_drain_hint(socket);
  co_return std::move(socket);
}

LoadBalancer::LoadBalancer(std::string name, std::vector<Server> servers,
                           std::shared_ptr<const Transport> transport, int proxy_protocol_version,
                           unsigned workers)
    : name_(std::move(name)), servers_(std::move(servers)), transport_(std::move(transport)),
      proxy_protocol_version_(proxy_protocol_version), wrr_(weights_of(servers_), workers) {}

Task<void> LoadBalancer::serve(Connection& conn) const {
  const auto& info = conn.info();
  if (wrr_.empty()) {
    logger()->error("service {}: no server to forward the connection from {} to", name_,
                    info.client.address().to_string());
    conn.close();
    co_return;
  }
  const Server& server = servers_[wrr_.pick(info.worker_id)];
  auto dial_started = Clock::now();
  auto dialled = co_await dial(*info.executor, *info.deadlines, server, transport_->dial_timeout);
  if (!dialled) {
    logger()->error("service {}: {}", name_, dialled.error().message);
    conn.close();
    co_return;
  }
  turnpike::TcpSocket upstream = std::move(*dialled);
  set_keep_alive(upstream, transport_->dial_keep_alive);
  int version =
      proxy_protocol_version_ ? proxy_protocol_version_ : transport_->proxy_protocol_version;
  if (version) {
    std::string header = proxy_protocol::encode(version, info.client, info.local);
    auto [ec, n] = co_await asio::async_write(upstream, asio::buffer(header), kNoThrow);
    if (ec) {
      logger()->error("service {}: writing the PROXY header to {}: {}", name_, server.address,
                      ec.message());
      conn.close();
      co_return;
    }
  }
  if (info.postgres_starttls) {
    auto replayed = co_await replay_postgres_starttls(upstream);
    if (!replayed) {
      logger()->error("service {}: {} refused the Postgres STARTTLS request", name_,
                      server.address);
      conn.close();
      co_return;
    }
  }
  PipeOptions options;
  options.termination_delay = transport_->termination_delay;
  options.idle_timeout = transport_->idle_timeout;
  PipeStats stats;
  if (server.tls) {
    service::TlsSessionTarget target; // outlives the stream, whose SSL refers to it
    auto secured = co_await handshake_with(std::move(upstream), server, *transport_, target,
                                           *info.deadlines, dial_started);
    if (!secured) {
      logger()->error("service {}: {}", name_, secured.error().message);
      conn.close();
      co_return;
    }
    logger()->debug("{}: {} -> {} (TLS) via {}", info.entrypoint, info.client.address().to_string(),
                    server.address, name_);
    stats = co_await conn.pipe(**secured, options);
  } else {
    logger()->debug("{}: {} -> {} via {}", info.entrypoint, info.client.address().to_string(),
                    server.address, name_);
    stats = co_await conn.pipe(upstream, options);
  }
  logger()->debug("{}: {} -> {} closed ({} bytes up, {} bytes down)", info.entrypoint,
                  info.client.address().to_string(), server.address, stats.to_upstream,
                  stats.to_client);
}

Weighted::Weighted(std::string name, std::vector<Child> children, unsigned workers)
    : name_(std::move(name)), children_(std::move(children)), wrr_(weights_of(children_), workers) {
}

Task<void> Weighted::serve(Connection& conn) const {
  if (wrr_.empty()) {
    logger()->error("service {}: no service to forward the connection to", name_);
    conn.close();
    co_return;
  }
  co_await children_[wrr_.pick(conn.info().worker_id)].handler->serve(conn);
}

} // namespace turnpike::tcp
