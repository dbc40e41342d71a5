#pragma once
// A plain (cleartext) client connection with the same shape as tls::TlsStream, so protocol code
// is written once as a template over both. Every member forwards to the socket's own Asio
// operation and returns its awaitable unchanged: the plain path costs exactly what it did before
// the template existed. Worker-confined.

#include <array>
#include <tuple>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/asio_types.h"
#include "common/drained_read.h"
#include "http/tls_info.h"

namespace turnpike::entrypoint {

class PlainStream {
public:
  static constexpr bool kTls = false;

  explicit PlainStream(turnpike::TcpSocket socket) : socket_(std::move(socket)) {}

  auto async_read_some(boost::asio::mutable_buffer buffer) {
    return socket_.async_read_some(turnpike::DrainedRead(buffer),
                                   boost::asio::as_tuple(turnpike::use_task));
  }
  template <class Buffers> auto async_write(const Buffers& buffers) {
    return boost::asio::async_write(socket_, buffers,
                                    boost::asio::as_tuple(turnpike::use_task));
  }

  void cancel() {
    boost::system::error_code ec;
    socket_.cancel(ec);
  }
  void close() {
    boost::system::error_code ec;
    socket_.close(ec);
  }
  void shutdown_send() {
    boost::system::error_code ec;
    socket_.shutdown(turnpike::TcpSocket::shutdown_send, ec);
  }

  turnpike::TcpSocket& socket() { return socket_; }
  const http::TlsInfo* info() const { return nullptr; }

private:
  turnpike::TcpSocket socket_;
};

} // namespace turnpike::entrypoint
