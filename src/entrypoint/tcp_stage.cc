#include "entrypoint/tcp_stage.h"

#include <array>
#include <unordered_set>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/asio_types.h"
#include "common/ipnet.h"
#include "common/log.h"
#include "common/proxy_protocol.h"
#include "entrypoint/connection_dispatch.h"
#include "entrypoint/socket_peek.h"
#include "tcp/byte_pipe.h"
#include "tcp/service.h"
#include "tls/client_hello.h"
#include "tls/tls_stream.h"

namespace turnpike::entrypoint {
namespace {

namespace asio = boost::asio;
using Socket = turnpike::TcpSocket;
using Endpoint = asio::ip::tcp::endpoint;
constexpr auto kNoThrow = asio::as_tuple(turnpike::use_task);

// The PROXY header always has a deadline, even when readTimeout is 0 (no limit for HTTP).
constexpr auto kProxyHeaderTimeoutWhenUnlimited = std::chrono::seconds(60);
// Keep-alive on client connections a TCP router takes (Go's listener default).
constexpr auto kClientKeepAlive = std::chrono::seconds(15);

// One peek buffer per worker thread: a peek copies what is queued and it is parsed before the
// coroutine suspends again, so connections on the same worker can share it.
constexpr size_t kPeekBuffer = tls::kMaxClientHelloPeek;
static_assert(kPeekBuffer >= proxy_protocol::kMaxLength);
thread_local std::array<char, kPeekBuffer> t_peek;

struct Stage;
// The stages of this worker waiting for a client's first bytes (drain_tcp_stage). Each worker
// thread has its own set, as each connection lives on one worker.
thread_local std::unordered_set<Stage*> t_waiting;

const std::shared_ptr<spdlog::logger>& logger() {
  static auto l = log::get("entrypoint");
  return l;
}

// The state of one connection going through the stage.
struct Stage {
  Stage(Socket& s, WorkerState& w, const EntryPointOptions& e)
      : socket(s), worker(w), ep(e), deadline(w.ctx.deadlines, [this] {
          timed_out = true;
          boost::system::error_code ignored;
          socket.cancel(ignored);
        }) {}

  Socket& socket;
  WorkerState& worker;
  const EntryPointOptions& ep;
  Endpoint client;
  Endpoint local;
  bool proxied = false; // client/local come from a trusted PROXY header
  Deadline deadline;
  bool timed_out = false;
  bool postgres = false;

  std::string peer() const { return client.address().to_string(); }
};

// Marks a stage as waiting for bytes while in scope.
struct Waiting {
  explicit Waiting(Stage& s) : stage(&s) { t_waiting.insert(stage); }
  ~Waiting() { t_waiting.erase(stage); }
  Stage* stage;
};

// Step 1: reads and applies the PROXY header, if any. False: close the connection.
http::Task<bool> read_proxy_header(Stage& st) {
  Waiting waiting(st);
  auto timeout = st.ep.read_timeout.count() > 0 ? st.ep.read_timeout
                                                : Duration(kProxyHeaderTimeoutWhenUnlimited);
  st.deadline.expire_after(std::chrono::duration_cast<Clock::duration>(timeout));
  std::span<char> buf(t_peek.data(), proxy_protocol::kMaxLength);
  size_t need = 1;
  for (;;) {
    auto peeked = co_await peek_at_least(st.socket, buf, need);
    if (peeked.ec) {
      logger()->debug("{}: {}: no PROXY header: {}", st.ep.name, st.peer(),
                      st.timed_out ? "timeout" : peeked.ec.message());
      co_return false;
    }
    auto r = proxy_protocol::parse(std::string_view(buf.data(), peeked.size));
    using Status = proxy_protocol::ParseResult::Status;
    if (r.status == Status::kNotProxy)
      co_return true;
    if (r.status == Status::kInvalid) {
      logger()->debug("{}: {}: {}", st.ep.name, st.peer(), r.error);
      co_return false;
    }
    if (r.status == Status::kIncomplete) {
      if (peeked.peer_closed)
        co_return false;
      need = r.need;
      continue;
    }
    proxy_protocol::Header header = r.header;
    // Consume exactly the header: the bytes after it are the client's.
    auto [ec, n] =
        co_await asio::async_read(st.socket, asio::buffer(buf.data(), r.length), kNoThrow);
    if (ec)
      co_return false;
    bool trusted = st.ep.proxy_protocol.insecure ||
                   st.ep.proxy_protocol.trusted_ips.contains(st.client.address());
    if (!trusted) {
      logger()->debug("{}: {} is not in proxyProtocol.trustedIPs: its PROXY header is ignored",
                      st.ep.name, st.peer());
    } else if (header.source && header.destination) {
      st.client = Endpoint(canonical_ip(header.source->address()), header.source->port());
      st.local = *header.destination;
      st.proxied = true;
    }
    co_return true;
  }
}

// What the first bytes say (step 2).
struct FirstBytes {
  bool ok = false; // false: timeout, error, or nothing sent
  bool tls = false;
  tls::ClientHelloInfo hello;
};

// Peeks until the first bytes are classified; answers a Postgres SSLRequest on the way.
http::Task<FirstBytes> classify(Stage& st) {
  Waiting waiting(st);
  FirstBytes out;
  std::span<char> buf(t_peek.data(), t_peek.size());
  size_t need = 1;
  for (;;) {
    auto peeked = co_await peek_at_least(st.socket, buf, need);
    if (peeked.ec || peeked.size == 0)
      co_return out;
    std::string_view data(buf.data(), peeked.size);
    std::string_view pg = tcp::kPostgresSslRequest;
    if (!st.postgres && pg.starts_with(data.substr(0, std::min(data.size(), pg.size())))) {
      if (data.size() < pg.size()) {
        if (peeked.peer_closed)
          co_return out;
        need = pg.size();
        continue;
      }
      // Postgres STARTTLS: accept it, drop the request, then route on the ClientHello.
      st.postgres = true;
      char request[8];
      auto [rec, rn] = co_await asio::async_read(st.socket, asio::buffer(request), kNoThrow);
      if (rec)
        co_return out;
      auto [wec, wn] = co_await asio::async_write(
          st.socket, asio::buffer(&tcp::kPostgresSslAccepted, 1), kNoThrow);
      if (wec)
        co_return out;
      need = 1;
      continue;
    }
    auto scan = tls::scan_client_hello(data);
    if (scan.state == tls::HelloScan::State::kNeedMore && !peeked.peer_closed) {
      need = scan.need;
      continue;
    }
    out.ok = true;
    // A hello cut short by the client closing: TLS without SNI once the record header is in.
    out.tls =
        scan.state == tls::HelloScan::State::kTls ||
        (scan.state == tls::HelloScan::State::kNeedMore && data.size() >= tls::kRecordHeaderLength);
    if (scan.state == tls::HelloScan::State::kTls && !scan.parsed)
      logger()->debug("{}: {}: unreadable ClientHello: {}", st.ep.name, st.peer(), scan.error);
    out.hello = std::move(scan.hello);
    co_return out;
  }
}

// A TCP router that terminates TLS: the handshake with the router's TLS options (certificate
// from the store by SNI, as for HTTPS), then the handler pipes the decrypted bytes.
http::Task<void> serve_terminated(Stage& st, const router::TcpRoute& route,
                                  const tls::EntryPointTls* ept, tcp::ConnectionInfo info) {
  if (!ept)
    co_return; // no TLS state in this snapshot: close
  tls::TlsStream stream(std::move(st.socket), *ept);
  if (!stream.valid())
    co_return;
  stream.use_route_options(route.tls_options);
  Deadline deadline(st.worker.ctx.deadlines, [&stream] { stream.cancel(); });
  deadline.expire_after(std::chrono::duration_cast<Clock::duration>(handshake_timeout(st.ep)));
  auto failed = co_await stream.handshake();
  deadline.clear();
  if (failed) {
    logger()->debug("{}: TLS handshake from {} for tcp router {} failed: {}", st.ep.name, st.peer(),
                    route.name,
                    stream.failure().empty() ? failed.message() : std::string(stream.failure()));
    co_return;
  }
  // The backend gets the decrypted protocol: a Postgres STARTTLS ends here.
  info.postgres_starttls = false;
  tcp::StreamConnection<tls::TlsStream> conn(stream, std::move(info));
  co_await route.handler->serve(conn);
}

// Hands the connection to a TCP router's handler and serves it to its end.
http::Task<void> serve_tcp(Stage& st, const router::TcpRoute& route, std::string server_name,
                           const tls::EntryPointTls* ept = nullptr) {
  st.deadline.clear();
  tcp::set_keep_alive(st.socket, kClientKeepAlive);
  tcp::ConnectionInfo info;
  info.client = st.client;
  info.local = st.local;
  info.entrypoint = st.ep.name;
  info.server_name = std::move(server_name);
  info.worker_id = st.worker.ctx.id;
  info.deadlines = &st.worker.ctx.deadlines;
  info.executor = st.socket.get_executor();
  info.postgres_starttls = st.postgres;
  logger()->debug("{}: {} (SNI \"{}\") -> tcp router {}{}", st.ep.name, st.peer(), info.server_name,
                  route.name, route.terminate ? " (TLS terminated)" : "");
  if (route.terminate) {
    co_await serve_terminated(st, route, ept, std::move(info));
    co_return;
  }
  tcp::StreamConnection<Socket> conn(st.socket, std::move(info));
  co_await route.handler->serve(conn);
}

bool offers_acme_tls(const tls::ClientHelloInfo& hello) {
  for (const auto& p : hello.alpn)
    if (p == tls::kAcmeTlsAlpn)
      return true;
  return false;
}

bool has_tcp_routes(const WorkerState& worker, const EntryPointOptions& ep) {
  const auto& snap = worker.snapshot;
  return snap && ep.index < snap->entrypoints.size() && !snap->entrypoints[ep.index].tcp.empty();
}

// Where a connection goes after step 1 (step 2's decision); serves it when a TCP router takes
// it. True: hand it on to HTTP handling.
http::Task<bool> route_tcp(Stage& st, const config::EntryPointRoutes& ep_routes) {
  const config::TcpEntryPointRoutes& routes = ep_routes.tcp;
  router::ConnectionFacts facts{{}, st.client.address(), {}};
  // Only non-TLS TCP routers: route before reading anything (server-first protocols).
  if (!routes.tcp.empty() && routes.tls.empty() && routes.https.empty()) {
    if (const auto* route = routes.tcp.match(facts)) {
      co_await serve_tcp(st, *route, "");
      co_return false;
    }
  }
  if (st.ep.read_timeout.count() > 0)
    st.deadline.expire_after(std::chrono::duration_cast<Clock::duration>(st.ep.read_timeout));
  auto first = co_await classify(st);
  if (!first.ok) {
    logger()->debug("{}: {}: connection closed before routing{}", st.ep.name, st.peer(),
                    st.timed_out ? " (readTimeout)" : "");
    co_return false;
  }
  facts.server_name = first.hello.server_name;
  facts.alpn = first.hello.alpn;
  const router::TcpRoute* route = nullptr;
  if (st.postgres) {
    // After STARTTLS only TLS routers make sense (Traefik's servePostgres).
    route = first.tls ? routes.tls.match(facts) : nullptr;
    if (!route)
      co_return false;
  } else if (!first.tls) {
    route = routes.tcp.match(facts);
    if (!route)
      co_return true;
  } else if (offers_acme_tls(first.hello)) {
    // TLS-ALPN-01 is answered by the gateway's handshake, before any TCP router (Traefik's
    // acmeTLSALPNHandler, without allowACMEByPass).
    co_return true;
  } else {
    // Traefik's order: an HTTPS router for this very SNI, a TCP TLS router (passthrough or
    // terminating), an HTTPS router without a host, a TCP TLS catch-all, then HTTPS handling.
    const auto* https = routes.https.match(facts);
    route = routes.tls.match(facts);
    bool https_specific = https && !https->rule->catch_all();
    if (https_specific || !route || (route->rule->catch_all() && https))
      co_return true;
  }
  co_await serve_tcp(st, *route, first.hello.server_name, ep_routes.tls.get());
  co_return false;
}

} // namespace

void drain_tcp_stage() {
  for (Stage* st : std::vector<Stage*>(t_waiting.begin(), t_waiting.end())) {
    boost::system::error_code ignored;
    st->socket.cancel(ignored); // the peek ends; the connection is closed
  }
}

bool tcp_stage_needed(const WorkerState& worker, const EntryPointOptions& ep) {
  return ep.proxy_protocol.enabled || has_tcp_routes(worker, ep);
}

http::Task<std::optional<AcceptedConnection>> run_tcp_stage(Socket socket, WorkerState& worker,
                                                            const EntryPointOptions& ep) {
  std::optional<AcceptedConnection> to_http;
  boost::system::error_code ec;
  Stage st(socket, worker, ep);
  st.client = socket.remote_endpoint(ec);
  if (!ec)
    st.local = socket.local_endpoint(ec);
  if (ec)
    co_return to_http;
  st.client = Endpoint(canonical_ip(st.client.address()), st.client.port());
  ++worker.open_connections;
  struct Uncount {
    WorkerState& w;
    ~Uncount() { --w.open_connections; }
  } uncount{worker};

  if (ep.proxy_protocol.enabled) {
    auto ok = co_await read_proxy_header(st);
    if (!ok)
      co_return to_http;
  }
  // The snapshot current now routes this connection; holding it keeps the routes alive.
  std::shared_ptr<const config::Snapshot> snapshot = worker.snapshot;
  bool http = true;
  if (snapshot && ep.index < snapshot->entrypoints.size() &&
      !snapshot->entrypoints[ep.index].tcp.empty()) {
    http = co_await route_tcp(st, snapshot->entrypoints[ep.index]);
  }
  if (!http)
    co_return to_http;
  st.deadline.clear();
  to_http.emplace(AcceptedConnection{std::move(socket), std::nullopt});
  if (st.proxied)
    to_http->client = st.client;
  co_return to_http;
}

} // namespace turnpike::entrypoint
