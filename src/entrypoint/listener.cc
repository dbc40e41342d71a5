#include "entrypoint/listener.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/ipnet.h"
#include "common/log.h"
#include "common/strings.h"
#include "entrypoint/connection_dispatch.h"

namespace turnpike::entrypoint {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

Result<std::pair<std::string, uint16_t>> parse_listen_address(std::string_view address) {
  std::string_view a = address;
  if (auto slash = a.rfind('/'); slash != std::string_view::npos) {
    auto proto = a.substr(slash + 1);
    if (iequals(proto, "udp")) return make_error("UDP entrypoints are not supported yet");
    if (!iequals(proto, "tcp")) return make_error("unknown protocol \"" + std::string(proto) + "\"");
    a = a.substr(0, slash);
  }
  auto colon = a.rfind(':');
  if (colon == std::string_view::npos)
    return make_error("address \"" + std::string(address) + "\" has no port");
  std::string host(a.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  auto port = parse_uint(a.substr(colon + 1));
  if (!port || *port > 65535)
    return make_error("address \"" + std::string(address) + "\" has an invalid port");
  return std::pair{host, static_cast<uint16_t>(*port)};
}

Result<std::unique_ptr<Listener>> Listener::open(asio::io_context& io, const EntryPointOptions& ep) {
  tcp::endpoint endpoint;
  if (ep.host.empty()) {
    endpoint = tcp::endpoint(tcp::v6(), ep.port);  // dual-stack: v4 and v6
  } else {
    auto ip = parse_ip(ep.host);
    if (!ip) {
      // A host name: resolve once at start-up (blocking is fine here, before serving).
      tcp::resolver resolver(io);
      boost::system::error_code ec;
      auto results = resolver.resolve(ep.host, std::to_string(ep.port), ec);
      if (ec || results.empty())
        return make_error("entryPoints." + ep.name + ".address: cannot resolve \"" + ep.host + "\"");
      endpoint = results.begin()->endpoint();
    } else {
      endpoint = tcp::endpoint(*ip, ep.port);
    }
  }
  tcp::acceptor acceptor(io);
  boost::system::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec && endpoint.address().is_v6() && ep.host.empty())
    acceptor.set_option(asio::ip::v6_only(false), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) {
    int one = 1;
    if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
      ec = boost::system::error_code(errno, boost::system::system_category());
  }
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(4096, ec);
  if (ec) {
    return make_error("entryPoints." + ep.name + ".address: cannot listen on " +
                      (ep.host.empty() ? std::string("*") : ep.host) + ":" +
                      std::to_string(ep.port) + ": " + ec.message());
  }
  return std::unique_ptr<Listener>(new Listener(std::move(acceptor), ep));
}

void Listener::start(WorkerState& worker) {
  asio::co_spawn(acceptor_.get_executor(), accept_loop(worker), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log::get("entrypoint")->error("accept loop failed: {}", ex.what());
    }
  });
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
    auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      // EMFILE and friends: back off briefly instead of spinning.
      logger->warn("{}: accept failed: {}", ep_.name, ec.message());
      asio::steady_timer t(acceptor_.get_executor(), std::chrono::milliseconds(50));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    asio::co_spawn(acceptor_.get_executor(), serve_connection(std::move(socket), worker, ep_),
                   [](std::exception_ptr e) {
                     if (!e) return;
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& ex) {
                       log::get("entrypoint")->error("connection failed: {}", ex.what());
                     }
                   });
  }
}

}  // namespace turnpike::entrypoint
