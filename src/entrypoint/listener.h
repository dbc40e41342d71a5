#pragma once
// Accept loop of one entrypoint on one worker. Every worker opens its own listening socket on the
// entrypoint's address with SO_REUSEPORT, so the kernel spreads connections across workers and a
// connection stays on the worker that accepted it. Worker-confined.

#include <sys/socket.h>

#include <cerrno>
#include <functional>
#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>

#include "common/asio_types.h"
#include "common/result.h"
#include "entrypoint/entrypoint_options.h"
#include "entrypoint/worker_state.h"

namespace turnpike::entrypoint {

class Listener {
 public:
  // Binds and listens (on the calling thread, before the worker runs); errors name the address.
  static Result<std::unique_ptr<Listener>> open(boost::asio::io_context& io,
                                                const EntryPointOptions& ep);
  // Starts accepting on the worker's io_context.
  void start(WorkerState& worker);
  // Stops accepting (graceful shutdown); open connections are not touched.
  void close();
  uint16_t local_port() const;

 private:
  Listener(turnpike::TcpAcceptor acceptor, const EntryPointOptions& ep)
      : acceptor_(std::move(acceptor)), ep_(ep) {}
  http::Task<void> accept_loop(WorkerState& worker);

  turnpike::TcpAcceptor acceptor_;
  const EntryPointOptions& ep_;
};

// Binding helpers shared with the UDP listener (udp_listener.h), for start-up only:
// The address to bind for `ep`: its IP, its host name resolved (blocking), or IPv6-any (dual
// stack) when the address has no host.
Result<boost::asio::ip::address> listen_address(boost::asio::io_context& io,
                                                const EntryPointOptions& ep);
// Sets the options every listening socket gets: dual-stack for IPv6-any, SO_REUSEADDR, and
// SO_REUSEPORT (one socket per worker on the same address).
template <class Socket>
boost::system::error_code share_port(Socket& socket, const EntryPointOptions& ep) {
  boost::system::error_code ec;
  if (ep.host.empty()) socket.set_option(boost::asio::ip::v6_only(false), ec);
  if (!ec) socket.set_option(typename Socket::reuse_address(true), ec);
  int one = 1;
  if (!ec && ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
    ec = boost::system::error_code(errno, boost::system::system_category());
  return ec;
}
// "entryPoints.web.address: cannot listen on *:80: Address already in use".
std::string cannot_listen(const EntryPointOptions& ep, const boost::system::error_code& ec);
// A co_spawn completion handler that logs "<what> failed: <exception>".
std::function<void(std::exception_ptr)> log_failure(const char* what);

}  // namespace turnpike::entrypoint
