#pragma once
// A server-side TLS connection over an accepted TCP socket, with the same shape as the plain
// socket the HTTP/1.1 connection uses (async_read_some / async_write / cancel / close), so the
// connection code is one template over both.
//
// OpenSSL reads and writes the socket itself (a socket BIO on the non-blocking descriptor):
// ciphertext goes kernel -> OpenSSL's record buffer -> plaintext into the caller's buffer, with no
// intermediate copy; when OpenSSL needs the socket to be readable or writable the coroutine waits
// for it on the worker's reactor and retries. Writes from several buffers are coalesced into full
// records (a response head and a small body leave as one record and one write(2)).
//
// Worker-confined. One reader and one writer may be outstanding at a time (the WebSocket tunnel
// pumps both directions); OpenSSL allows interleaving them on one thread.

#include <array>
#include <memory>
#include <span>
#include <string>
#include <tuple>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include "http/exchange.h"
#include "tls/server_tls.h"

namespace turnpike::tls {

// Errors from OpenSSL (SSL_ERROR_SSL): the value is OpenSSL's packed error code.
const boost::system::error_category& ssl_category();

class TlsStream {
public:
  static constexpr bool kTls = true;
  using IoResult = std::tuple<boost::system::error_code, size_t>;

  // Takes the accepted socket and prepares the server side of the handshake for `ep`, which must
  // stay alive until handshake() returns. valid() is false when OpenSSL could not allocate.
  TlsStream(boost::asio::ip::tcp::socket socket, const EntryPointTls& ep);
  TlsStream(TlsStream&& other) noexcept;
  TlsStream& operator=(TlsStream&&) = delete;
  ~TlsStream();

  bool valid() const { return ssl_ != nullptr; }

  // Runs the handshake (SNI, options, certificate, ALPN: see server_tls.h). On failure the
  // error says why (also in failure() for logs); the caller closes.
  http::Task<boost::system::error_code> handshake();
  std::string_view failure() const { return state_->failure; }

  http::Task<IoResult> async_read_some(boost::asio::mutable_buffer buffer);
  // Writes everything (or fails).
  http::Task<IoResult> async_write(boost::asio::const_buffer buffer);
  http::Task<IoResult> async_write(std::span<const boost::asio::const_buffer> buffers);
  template <size_t N>
  http::Task<IoResult> async_write(const std::array<boost::asio::const_buffer, N>& buffers) {
    return async_write(std::span<const boost::asio::const_buffer>(buffers.data(), N));
  }

  // Makes pending operations complete with operation_aborted (timeouts).
  void cancel();
  // Sends close_notify when possible (never waits for it) and closes the socket.
  void close();
  // Sends close_notify and shuts the socket down for sending (end of a tunnel direction).
  void shutdown_send();

  boost::asio::ip::tcp::socket& socket() { return socket_; }
  // TLS facts for the exchanges (valid after a successful handshake).
  const http::TlsInfo* info() const { return &state_->info; }
  std::string_view server_name() const { return state_->server_name; }
  std::string_view alpn() const { return state_->info.alpn; }
  // The connection's TLS options, as selected for its SNI (an index into the handshake's
  // ServerTls; meaningful only with that snapshot).
  int options_index() const { return state_->options; }

private:
  http::Task<IoResult> write_all(const char* data, size_t size);
  boost::system::error_code to_error(int ssl_error, int ret);
  void send_close_notify();

  boost::asio::ip::tcp::socket socket_;
  std::unique_ptr<ConnectionState> state_;
  SSL* ssl_ = nullptr;
  std::string pending_; // coalescing buffer for gathered writes (at most one record)
  bool handshake_done_ = false;
  bool close_notify_sent_ = false;
};

} // namespace turnpike::tls
