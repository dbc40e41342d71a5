#pragma once
// A TLS connection over a TCP socket, with the same shape as the plain socket the HTTP/1.1
// connection uses (async_read_some / async_write / cancel / close), so the connection code is one
// template over both. Server side (accepted connections, the handshake of server_tls.h) or client
// side (TLS to TCP backends, with an SSL made by service::UpstreamTls).
//
// Reading: ciphertext arrives through Asio's own async_read_some into a per-connection input
// buffer, which OpenSSL reads through a small BIO of ours (input_bio). Waiting for readability as
// a read (rather than async_wait plus OpenSSL's socket BIO) keeps Asio's speculative path: an
// async_wait re-arms the descriptor with epoll_ctl on every wait, which cost one extra system
// call per request. Writing: OpenSSL writes the socket itself (a socket BIO on the non-blocking
// descriptor) and the coroutine waits for writability only when the socket buffer is full.
// Writes from several buffers are coalesced into full records (a response head and a small body
// leave as one record and one write(2)).
//
// Worker-confined. One reader and one writer may be outstanding at a time (the WebSocket tunnel
// pumps both directions); OpenSSL allows interleaving them on one thread.

#include <array>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>

#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include "common/asio_types.h"
#include "common/drained_read.h"
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
  TlsStream(turnpike::TcpSocket socket, const EntryPointTls& ep);
  // Client side over a connected socket: takes ownership of `client_ssl` (configured by the
  // caller: SNI, verification, session); null makes an invalid stream.
  TlsStream(turnpike::TcpSocket socket, SSL* client_ssl);
  TlsStream(TlsStream&& other) noexcept;
  TlsStream& operator=(TlsStream&&) = delete;
  ~TlsStream();

  bool valid() const { return ssl_ != nullptr; }

  // A TCP router that terminates TLS chose these options (an index into the entrypoint's
  // ServerTls, or kBrokenOptions) before the handshake: see ConnectionState::route_options.
  void use_route_options(int options) { state_->route_options = options; }

  // Runs the handshake (server side: SNI, options, certificate, ALPN, see server_tls.h). On
  // failure the error says why (also in failure() for logs); the caller closes.
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

  // Asio AsyncReadStream / AsyncWriteStream, for code written against Asio's stream concept
  // (asio::async_write, the HTTP/2 connection): any completion token. An operation that needs
  // no waiting completes inside the initiating call, which use_awaitable handles; write_some
  // writes as many records as the socket takes without waiting.
  using executor_type = turnpike::TcpSocket::executor_type;
  executor_type get_executor() { return socket_.get_executor(); }
  turnpike::TcpSocket& lowest_layer() { return socket_; }
  template <class MutableBufferSequence, class Token>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code, size_t)>(
        IoOp<false>{this, first_buffer<boost::asio::mutable_buffer>(buffers)}, token, socket_);
  }
  template <class ConstBufferSequence, class Token>
  auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code, size_t)>(
        IoOp<true>{this, first_buffer<boost::asio::const_buffer>(buffers)}, token, socket_);
  }

  // Makes pending operations complete with operation_aborted (timeouts).
  void cancel();
  // Sends close_notify when possible (never waits for it) and closes the socket.
  void close();
  // Sends close_notify and shuts the socket down for sending (end of a tunnel direction).
  void shutdown_send();

  turnpike::TcpSocket& socket() { return socket_; }
  SSL* native_handle() { return ssl_; }
  // TLS facts for the exchanges (valid after a successful handshake).
  const http::TlsInfo* info() const { return &state_->info; }
  std::string_view server_name() const { return state_->server_name; }
  std::string_view alpn() const { return state_->info.alpn; }
  // The connection's TLS options, as selected for its SNI (an index into the handshake's
  // ServerTls; meaningful only with that snapshot).
  int options_index() const { return state_->options; }

private:
  http::Task<IoResult> write_all(const char* data, size_t size);
  // Waits for what OpenSSL asked for: writability, or more input (read into in_).
  http::Task<boost::system::error_code> wait(int ssl_error);

  template <class Buffer, class Sequence> static Buffer first_buffer(const Sequence& buffers) {
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it)
      if (Buffer b(*it); b.size() > 0)
        return b;
    return Buffer();
  }
  // One SSL_read (or as many SSL_writes as the socket takes); 0 bytes and ssl_error set when
  // OpenSSL waits for the socket (SSL_ERROR_WANT_READ/WRITE) or failed.
  size_t try_read(boost::asio::mutable_buffer buffer, int& ssl_error, int& ret);
  size_t try_write(boost::asio::const_buffer buffer, int& ssl_error, int& ret);
  static bool wants_io(int ssl_error) {
    return ssl_error == SSL_ERROR_WANT_READ || ssl_error == SSL_ERROR_WANT_WRITE;
  }

  // Ciphertext read from the socket and not yet taken by OpenSSL (input_bio reads it).
  struct Input {
    // The largest TLS record (16 KiB of data plus up to 2 KiB of expansion and its header):
    // OpenSSL always finds a whole record's room.
    static constexpr size_t kCapacity = 18 * 1024 + 5;
    std::unique_ptr<char[]> data = std::make_unique<char[]>(kCapacity);
    size_t begin = 0;
    size_t end = 0;
    bool eof = false;
    boost::asio::mutable_buffer room() {
      if (begin > 0) { // OpenSSL takes what it needs at once: little or nothing to move
        std::memmove(data.get(), data.get() + begin, end - begin);
        end -= begin;
        begin = 0;
      }
      return boost::asio::buffer(data.get() + end, kCapacity - end);
    }
  };
  static BIO* input_bio(Input& in);
  // Reads through in_ (input_bio), writes straight to the socket; frees ssl_ when that fails.
  void attach_bios();
  // After an async_read_some into in_->room(): records the bytes (or EOF); true when the caller
  // may retry OpenSSL, false when `ec` is an error to report.
  bool filled(boost::system::error_code ec, size_t n);

  template <bool kWrite> struct IoOp {
    TlsStream* self;
    std::conditional_t<kWrite, boost::asio::const_buffer, boost::asio::mutable_buffer> buffer;
    bool reading = false; // resumed by an input read (not by a writability wait)
    template <class Self>
    void operator()(Self& op, boost::system::error_code ec = {}, size_t filled = 0) {
      if (reading) {
        reading = false;
        if (!self->filled(ec, filled))
          return op.complete(ec, 0);
        ec = {};
      }
      if (ec)
        return op.complete(ec, 0);
      if (buffer.size() == 0)
        return op.complete(boost::system::error_code(), 0);
      int ssl_error = SSL_ERROR_NONE, ret = 0;
      size_t n = 0;
      if constexpr (kWrite)
        n = self->try_write(buffer, ssl_error, ret);
      else
        n = self->try_read(buffer, ssl_error, ret);
      if (n > 0)
        return op.complete(boost::system::error_code(), n);
      if (ssl_error == SSL_ERROR_WANT_WRITE) {
        self->socket_.async_wait(turnpike::TcpSocket::wait_write, std::move(op));
        return;
      }
      if (ssl_error == SSL_ERROR_WANT_READ) {
        reading = true;
        self->socket_.async_read_some(turnpike::DrainedRead(self->in_->room()), std::move(op));
        return;
      }
      op.complete(self->to_error(ssl_error, ret), 0);
    }
  };
  boost::system::error_code to_error(int ssl_error, int ret);
  void send_close_notify();

  turnpike::TcpSocket socket_;
  std::unique_ptr<ConnectionState> state_;
  std::unique_ptr<Input> in_; // stable address: input_bio points at it
  SSL* ssl_ = nullptr;
  std::string pending_; // coalescing buffer for gathered writes (at most one record)
  bool handshake_done_ = false;
  bool close_notify_sent_ = false;
};

} // namespace turnpike::tls
