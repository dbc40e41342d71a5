#include "entrypoint/listener.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/asio_types.h"
#include "common/drained_read.h"
#include "common/ipnet.h"
#include "common/log.h"
#include "common/strings.h"
#include "entrypoint/connection_dispatch.h"

namespace turnpike::entrypoint {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

Result<asio::ip::address> listen_address(asio::io_context& io, const EntryPointOptions& ep) {
  if (ep.host.empty()) return asio::ip::address(asio::ip::address_v6::any());  // dual-stack
  if (auto ip = parse_ip(ep.host)) return *ip;
  // A host name: resolve once at start-up (blocking is fine here, before serving).
  tcp::resolver resolver(io);
  boost::system::error_code ec;
  auto results = resolver.resolve(ep.host, std::to_string(ep.port), ec);
  if (ec || results.empty())
    return make_error("entryPoints." + ep.name + ".address: cannot resolve \"" + ep.host + "\"");
  return results.begin()->endpoint().address();
}

std::string cannot_listen(const EntryPointOptions& ep, const boost::system::error_code& ec) {
  return "entryPoints." + ep.name + ".address: cannot listen on " +
         (ep.host.empty() ? std::string("*") : ep.host) + ":" + std::to_string(ep.port) + ": " +
         ec.message();
}

std::function<void(std::exception_ptr)> log_failure(const char* what) {
  return [what](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log::get("entrypoint")->error("{} failed: {}", what, ex.what());
    }
  };
}

Result<std::unique_ptr<Listener>> Listener::open(asio::io_context& io, const EntryPointOptions& ep) {
  auto address = listen_address(io, ep);
  if (!address) return address.error();
  tcp::endpoint endpoint(*address, ep.port);
  turnpike::TcpAcceptor acceptor(io);
  boost::system::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) ec = share_port(acceptor, ep);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(4096, ec);
  if (ec) return make_error(cannot_listen(ep, ec));
  turnpike::enable_drain_hint(acceptor); // every accepted connection's DrainedReads

  return std::unique_ptr<Listener>(new Listener(std::move(acceptor), ep));
}

void Listener::start(WorkerState& worker) {
  asio::co_spawn(acceptor_.get_executor(), accept_loop(worker), log_failure("accept loop"));
}

void Listener::close() {
  boost::system::error_code ec;
  acceptor_.close(ec);
}

uint16_t Listener::local_port() const {
  boost::system::error_code ec;
  auto ep = acceptor_.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

http::Task<void> Listener::accept_loop(WorkerState& worker) {
  auto logger = log::get("entrypoint");
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(turnpike::use_task));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      // EMFILE and friends: back off briefly instead of spinning.
      logger->warn("{}: accept failed: {}", ep_.name, ec.message());
      turnpike::SteadyTimer t(acceptor_.get_executor(), std::chrono::milliseconds(50));
      co_await t.async_wait(asio::as_tuple(turnpike::use_task));
      continue;
    }
    asio::co_spawn(acceptor_.get_executor(), serve_connection(std::move(socket), worker, ep_),
                   log_failure("connection"));
  }
}

}  // namespace turnpike::entrypoint
