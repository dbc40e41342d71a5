#pragma once
// Accept loop of one entrypoint on one worker. Every worker opens its own listening socket on the
// entrypoint's address with SO_REUSEPORT, so the kernel spreads connections across workers and a
// connection stays on the worker that accepted it. Worker-confined.

#include <memory>

#include <boost/asio/ip/tcp.hpp>

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
  Listener(boost::asio::ip::tcp::acceptor acceptor, const EntryPointOptions& ep)
      : acceptor_(std::move(acceptor)), ep_(ep) {}
  http::Task<void> accept_loop(WorkerState& worker);

  boost::asio::ip::tcp::acceptor acceptor_;
  const EntryPointOptions& ep_;
};

// Parses "[host]:port" (":80", "127.0.0.1:8080", "[::1]:443", with an optional "/tcp" suffix).
Result<std::pair<std::string, uint16_t>> parse_listen_address(std::string_view address);

}  // namespace turnpike::entrypoint
