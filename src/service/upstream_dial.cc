#include "service/upstream_dial.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/asio_types.h"
#include "common/drained_read.h"
#include "common/log.h"
#include "service/worker_context.h"

namespace turnpike::service {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using http::ProxyError;
constexpr auto kNoThrow = asio::as_tuple(turnpike::use_task);
constexpr size_t kBufferSize = 16 * 1024;
// Go's (hence Traefik's) TLSHandshakeTimeout.
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);

const std::shared_ptr<spdlog::logger>& logger() {
  static auto l = log::get("upstream");
  return l;
}

// A broken upstream certificate fails every request: warn, but at most once per second per
// upstream and worker (this only runs on workers, so the map is per thread).
void warn_tls_failure(const Server& server, const std::string& why) {
  thread_local std::unordered_map<std::string, Clock::time_point> last_warned;
  auto now = Clock::now();
  if (last_warned.size() > 4096) last_warned.clear();
  auto& last = last_warned[server.pool_key];
  if (now - last >= std::chrono::seconds(1)) {
    last = now;
    logger()->warn("TLS handshake with {} failed: {}", server.url, why);
  } else {
    logger()->debug("TLS handshake with {} failed: {}", server.url, why);
  }
}

ProxyError connect_error(std::string detail) {
  return ProxyError{ProxyError::Kind::kUpstreamConnect, std::move(detail), true};
}

}  // namespace

http::Task<ProxyError> dial_upstream(WorkerContext& ctx, const Server& server,
                                     const TransportOptions& transport, Alpn alpn,
                                     std::unique_ptr<UpstreamConnection>& out) {
  auto executor = ctx.io.get_executor();
  auto conn = std::make_unique<UpstreamConnection>(turnpike::TcpSocket(executor), ctx.deadlines,
                                                   server.pool_key);
  conn->deadline.expire_after(transport.dial_timeout);
  boost::system::error_code ec;
  if (server.endpoint) {
    std::tie(ec) = co_await conn->socket.async_connect(*server.endpoint, kNoThrow);
  } else {
    tcp::resolver resolver(executor);
    auto [rec, results] =
        co_await resolver.async_resolve(server.host, std::to_string(server.port), kNoThrow);
    if (rec) co_return connect_error("resolve " + server.host + ": " + rec.message());
    tcp::endpoint ep;
    std::tie(ec, ep) = co_await asio::async_connect(conn->socket, results, kNoThrow);
  }
  if (ec) {
    co_return connect_error("dial " + server.authority + ": " +
                            (conn->timed_out ? std::string("timeout") : ec.message()));
  }
  conn->socket.set_option(tcp::no_delay(true), ec);
  turnpike::enable_drain_hint(conn->socket);
  conn->buffer.resize(kBufferSize);

  if (server.scheme == Scheme::kHttps) {
    if (!transport.tls) co_return connect_error("no TLS configuration for " + server.url);
    conn->session_target = TlsSessionTarget{&ctx.tls_sessions, server.pool_key};
    SSL* ssl = transport.tls->new_ssl(server.host, alpn, conn->session_target);
    if (!ssl) co_return connect_error("creating the TLS session failed");
    conn->tls = std::make_unique<TlsStream>(conn->socket, ssl);
    conn->deadline.expire_after(kHandshakeTimeout);
    auto [hec] = co_await conn->tls->async_handshake(asio::ssl::stream_base::client, kNoThrow);
    if (hec) {
      std::string why = conn->timed_out ? std::string("timeout")
                                        : describe_tls_failure(conn->tls->native_handle(), hec);
      // A session that no longer works (server restarted with new keys) is not offered again.
      ctx.tls_sessions.erase(server.pool_key);
      warn_tls_failure(server, why);
      co_return connect_error("tls handshake with " + server.authority + ": " + why);
    }
    if (auto why = transport.tls->check_peer(conn->tls->native_handle()); !why.empty()) {
      ctx.tls_sessions.erase(server.pool_key);
      warn_tls_failure(server, why);
      co_return connect_error("tls: " + why);
    }
  }
  conn->deadline.clear();
  out = std::move(conn);
  co_return ProxyError::none();
}

std::string_view negotiated_protocol(const UpstreamConnection& conn) {
  if (!conn.tls) return {};
  const unsigned char* p = nullptr;
  unsigned int n = 0;
  SSL_get0_alpn_selected(const_cast<TlsStream&>(*conn.tls).native_handle(), &p, &n);
  return {reinterpret_cast<const char*>(p), n};
}

}  // namespace turnpike::service
