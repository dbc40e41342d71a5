#include "entrypoint/udp_listener.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/asio_types.h"
#include "common/log.h"
#include "entrypoint/listener.h"

namespace turnpike::entrypoint {
namespace {

namespace asio = boost::asio;
using udp = asio::ip::udp;
constexpr auto kNoThrow = asio::as_tuple(turnpike::use_task);

constexpr size_t kMaxDatagram = 65536;
// Datagrams kept while a session resolves its backend's host name; more are dropped.
constexpr size_t kMaxPending = 16;
// Datagrams handled in a row before letting the worker's other work run.
constexpr int kBatch = 64;

const std::shared_ptr<spdlog::logger>& logger() {
  static auto l = log::get("udp");
  return l;
}

bool would_block(const boost::system::error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

} // namespace

struct UdpListener::Session {
  Session(turnpike::Executor ex, DeadlineScanner& deadlines, const udp::endpoint& c)
      : upstream(ex), client(c), deadline(deadlines, [this] {
          expired = true;
          boost::system::error_code ignored;
          upstream.close(ignored);
        }) {}

  turnpike::UdpSocket upstream;
  udp::endpoint client;
  Deadline deadline; // udp.timeout without a datagram either way closes the upstream socket
  std::string router;
  ServerAddress server;
  bool ready = false;               // upstream socket connected
  bool expired = false;             // timed out (or the listener closed)
  std::vector<std::string> pending; // datagrams received while resolving the backend
};

size_t UdpListener::EndpointHash::operator()(const udp::endpoint& e) const {
  const auto* raw = reinterpret_cast<const char*>(e.data());
  return std::hash<std::string_view>()(std::string_view(raw, e.size()));
}

UdpListener::UdpListener(turnpike::UdpSocket socket, const EntryPointOptions& ep)
    : socket_(std::move(socket)), ep_(ep), from_clients_(new char[kMaxDatagram]),
      from_servers_(new char[kMaxDatagram]) {}

UdpListener::~UdpListener() {
  close();
}

Result<std::unique_ptr<UdpListener>> UdpListener::open(asio::io_context& io,
                                                       const EntryPointOptions& ep) {
  auto address = listen_address(io, ep);
  if (!address)
    return address.error();
  udp::endpoint endpoint(*address, ep.port);
  turnpike::UdpSocket socket(io);
  boost::system::error_code ec;
  socket.open(endpoint.protocol(), ec);
  if (!ec)
    ec = share_port(socket, ep);
  if (!ec)
    socket.bind(endpoint, ec);
  if (!ec)
    socket.non_blocking(true, ec);
  if (ec)
    return make_error(cannot_listen(ep, ec));
  return std::unique_ptr<UdpListener>(new UdpListener(std::move(socket), ep));
}

void UdpListener::start(WorkerState& worker) {
  worker_ = &worker;
  asio::co_spawn(socket_.get_executor(), receive_loop(), log_failure("UDP receive loop"));
}

void UdpListener::close() {
  boost::system::error_code ignored;
  socket_.close(ignored);
  for (auto& [client, session] : sessions_) {
    session->expired = true;
    session->upstream.close(ignored);
  }
}

uint16_t UdpListener::local_port() const {
  boost::system::error_code ec;
  auto ep = socket_.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

http::Task<void> UdpListener::receive_loop() {
  for (;;) {
    auto [ec] = co_await socket_.async_wait(turnpike::UdpSocket::wait_read, kNoThrow);
    if (!socket_.is_open())
      co_return;
    if (ec)
      continue;
    // Drain until the kernel has nothing left (epoll is edge-triggered), yielding now and then.
    for (int batch = 1;; ++batch) {
      if (batch % kBatch == 0) {
        co_await asio::post(socket_.get_executor(), turnpike::use_task);
        if (!socket_.is_open())
          co_return;
      }
      udp::endpoint from;
      boost::system::error_code rec;
      size_t n =
          socket_.receive_from(asio::buffer(from_clients_.get(), kMaxDatagram), from, 0, rec);
      if (rec)
        break;
      on_datagram(from, n);
    }
  }
}

void UdpListener::on_datagram(const udp::endpoint& from, size_t size) {
  auto it = sessions_.find(from);
  Session* session = it != sessions_.end() ? it->second.get() : open_session(from);
  if (session)
    forward(*session, from_clients_.get(), size);
}

UdpListener::Session* UdpListener::open_session(const udp::endpoint& client) {
  if (!accepting_)
    return nullptr;
  const auto& snapshot = worker_->snapshot;
  if (!snapshot || ep_.index >= snapshot->udp_entrypoints.size())
    return nullptr;
  const auto& route = snapshot->udp_entrypoints[ep_.index];
  if (!route.service) {
    logger()->debug("{}: datagram from {} dropped: no UDP router", ep_.name,
                    client.address().to_string());
    return nullptr;
  }
  const ServerAddress* server = route.service->pick(worker_->ctx.id);
  if (!server) {
    logger()->error("{}: UDP router {}: the service has no server", ep_.name, route.router);
    return nullptr;
  }
  auto session = std::make_unique<Session>(socket_.get_executor(), worker_->ctx.deadlines, client);
  session->router = route.router;
  session->server = *server;
  session->deadline.expire_after(std::chrono::duration_cast<Clock::duration>(ep_.udp_timeout));
  Session* raw = session.get();
  sessions_.emplace(client, std::move(session));
  ++worker_->open_connections;
  asio::co_spawn(socket_.get_executor(), run_session(*raw), log_failure("UDP session"));
  return raw;
}

void UdpListener::forward(Session& s, const char* data, size_t size) {
  if (!s.ready) {
    if (s.pending.size() < kMaxPending)
      s.pending.emplace_back(data, size);
    return;
  }
  boost::system::error_code ec;
  s.upstream.send(asio::buffer(data, size), 0, ec);
  if (ec == asio::error::connection_refused) {
    // The backend's port is closed (ICMP); end the session as Traefik's copy loop does.
    boost::system::error_code ignored;
    s.upstream.close(ignored);
    return;
  }
  s.deadline.expire_after(std::chrono::duration_cast<Clock::duration>(ep_.udp_timeout));
}

http::Task<void> UdpListener::run_session(Session& s) {
  boost::system::error_code ec;
  udp::endpoint backend;
  if (s.server.ip) {
    backend = udp::endpoint(*s.server.ip, s.server.port);
  } else {
    udp::resolver resolver(socket_.get_executor());
    auto [rec, results] =
        co_await resolver.async_resolve(s.server.host, std::to_string(s.server.port), kNoThrow);
    if (rec || results.empty())
      ec = rec ? rec : asio::error::host_not_found;
    else
      backend = results.begin()->endpoint();
  }
  if (!ec && s.expired)
    ec = asio::error::operation_aborted; // timed out while resolving
  if (!ec)
    s.upstream.open(backend.protocol(), ec);
  if (!ec)
    s.upstream.non_blocking(true, ec);
  if (!ec)
    s.upstream.connect(backend, ec);
  if (ec) {
    logger()->error("{}: UDP router {}: backend {}: {}", ep_.name, s.router, s.server.address,
                    ec.message());
  } else {
    logger()->debug("{}: UDP session {} -> {} via {}", ep_.name, s.client.address().to_string(),
                    s.server.address, s.router);
    s.ready = true;
    for (const auto& d : s.pending)
      forward(s, d.data(), d.size());
    s.pending.clear();
  }
  while (!ec && !s.expired) {
    auto [wec] = co_await s.upstream.async_wait(turnpike::UdpSocket::wait_read, kNoThrow);
    if (wec || !s.upstream.is_open())
      break;
    for (int batch = 1;; ++batch) {
      if (batch % kBatch == 0) {
        co_await asio::post(socket_.get_executor(), turnpike::use_task);
        if (!s.upstream.is_open())
          break;
      }
      boost::system::error_code rec;
      size_t n = s.upstream.receive(asio::buffer(from_servers_.get(), kMaxDatagram), 0, rec);
      if (would_block(rec))
        break;
      if (rec) { // connection refused (ICMP) and the like: the session is over
        ec = rec;
        break;
      }
      boost::system::error_code sec;
      socket_.send_to(asio::buffer(from_servers_.get(), n), s.client, 0, sec);
      s.deadline.expire_after(std::chrono::duration_cast<Clock::duration>(ep_.udp_timeout));
    }
  }
  logger()->debug("{}: UDP session {} closed", ep_.name, s.client.address().to_string());
  --worker_->open_connections;
  sessions_.erase(s.client); // destroys `s`
}

} // namespace turnpike::entrypoint
