#include "tls/tls_stream.h"

#include <openssl/bio.h>
#include <openssl/err.h>

#include <cstring>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/asio_types.h"
#include "common/openssl_errors.h"

namespace turnpike::tls {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
constexpr auto kNoThrow = asio::as_tuple(turnpike::use_task);
// Largest TLS record payload: a gathered write is cut into records of this size.
constexpr size_t kRecordSize = 16384;

class SslCategory final : public boost::system::error_category {
public:
  const char* name() const noexcept override { return "tls"; }
  std::string message(int value) const override {
    const char* reason = ERR_reason_error_string(static_cast<unsigned long>(value));
    if (reason)
      return reason;
    char buf[256];
    ERR_error_string_n(static_cast<unsigned long>(value), buf, sizeof(buf));
    return buf;
  }
};

} // namespace

// OpenSSL's view of TlsStream::Input: reads take buffered ciphertext; an empty buffer is "retry"
// (SSL_ERROR_WANT_READ), and after EOF a read returns 0.
BIO* TlsStream::input_bio(Input& in) {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "turnpike input");
    BIO_meth_set_read_ex(m, [](BIO* b, char* out, size_t size, size_t* read) -> int {
      auto* in = static_cast<Input*>(BIO_get_data(b));
      BIO_clear_retry_flags(b);
      size_t avail = in->end - in->begin;
      if (avail == 0) {
        *read = 0;
        if (!in->eof)
          BIO_set_retry_read(b);
        return 0;
      }
      size_t n = std::min(avail, size);
      std::memcpy(out, in->data.get() + in->begin, n);
      in->begin += n;
      *read = n;
      return 1;
    });
    BIO_meth_set_ctrl(m, [](BIO* b, int cmd, long, void*) -> long {
      auto* in = static_cast<Input*>(BIO_get_data(b));
      switch (cmd) {
      case BIO_CTRL_PENDING:
        return static_cast<long>(in->end - in->begin);
      case BIO_CTRL_EOF:
        return in->eof && in->begin == in->end;
      case BIO_CTRL_FLUSH:
        return 1;
      default:
        return 0;
      }
    });
    BIO_meth_set_create(m, [](BIO* b) -> int {
      BIO_set_init(b, 1);
      return 1;
    });
    return m;
  }();
  BIO* bio = BIO_new(method);
  if (bio)
    BIO_set_data(bio, &in);
  return bio;
}

bool TlsStream::filled(error_code ec, size_t n) {
  in_->end += n;
  if (ec == asio::error::eof) {
    in_->eof = true;
    return true;
  }
  return !ec || n > 0;
}

const boost::system::error_category& ssl_category() {
  static SslCategory category;
  return category;
}

TlsStream::TlsStream(turnpike::TcpSocket socket, const EntryPointTls& ep)
    : socket_(std::move(socket)), state_(std::make_unique<ConnectionState>()) {
  boost::system::error_code ec;
  socket_.non_blocking(true, ec); // OpenSSL's socket BIO must never block the worker
  if (ec)
    return;
  // Before the handshake: a flight must not wait for the client's delayed ACK.
  socket_.set_option(tcp::no_delay(true), ec);
  ssl_ = new_server_ssl(ep, *state_);
  if (!ssl_)
    return;
  attach_bios();
}

void TlsStream::attach_bios() {
  in_ = std::make_unique<Input>();
  BIO* rbio = input_bio(*in_);
  BIO* wbio = BIO_new_socket(socket_.native_handle(), BIO_NOCLOSE);
  if (!rbio || !wbio) {
    BIO_free(rbio);
    BIO_free(wbio);
    SSL_free(ssl_);
    ssl_ = nullptr;
    return;
  }
  SSL_set_bio(ssl_, rbio, wbio);
}

TlsStream::TlsStream(turnpike::TcpSocket socket, SSL* client_ssl)
    : socket_(std::move(socket)), state_(std::make_unique<ConnectionState>()), ssl_(client_ssl) {
  if (!ssl_)
    return;
  boost::system::error_code ec;
  socket_.non_blocking(true, ec);
  // Same write and read behaviour as the server side (see build_context_with in server_tls.cc),
  // set on this SSL only: the context may be shared with other users.
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_set_read_ahead(ssl_, 1);
  SSL_set_connect_state(ssl_);
  if (ec) {
    SSL_free(ssl_);
    ssl_ = nullptr;
    return;
  }
  attach_bios();
}

TlsStream::TlsStream(TlsStream&& other) noexcept
    : socket_(std::move(other.socket_)), state_(std::move(other.state_)),
      in_(std::move(other.in_)), ssl_(std::exchange(other.ssl_, nullptr)), pending_(std::move(other.pending_)),
      handshake_done_(other.handshake_done_), close_notify_sent_(other.close_notify_sent_) {}

TlsStream::~TlsStream() {
  if (!ssl_)
    return;
  // A connection that ends normally says so (close_notify) before the socket closes.
  if (socket_.is_open())
    send_close_notify();
  // Otherwise OpenSSL drops the session of a connection that did not end with close_notify
  // (a client that just closed, a timeout) from the cache; TLS >= 1.1 does not require that, and
  // like nginx we keep such sessions resumable.
  SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  SSL_free(ssl_); // the socket BIO does not own the descriptor; socket_ closes it
}

error_code TlsStream::to_error(int ssl_error, int ret) {
  switch (ssl_error) {
  case SSL_ERROR_ZERO_RETURN:
    return asio::error::eof;
  case SSL_ERROR_SYSCALL:
    if (ret == 0 || errno == 0)
      return asio::error::eof;
    return error_code(errno, boost::system::system_category());
  case SSL_ERROR_SSL: {
    unsigned long e = ERR_peek_error();
    ERR_clear_error();
    // ERR_PACK keeps the library in bits 23-30 and the reason below: it fits an int.
    return error_code(static_cast<int>(e & 0x7fffffff), ssl_category());
  }
  default:
    return asio::error::fault;
  }
}

http::Task<error_code> TlsStream::handshake() {
  if (!ssl_)
    co_return asio::error::no_memory;
  for (;;) {
    turnpike::clear_openssl_errors();
    int r = SSL_do_handshake(ssl_);
    if (r == 1)
      break;
    int e = SSL_get_error(ssl_, r);
    if (wants_io(e)) {
      auto ec = co_await wait(e);
      if (ec)
        co_return ec;
      continue;
    }
    error_code ec = to_error(e, r);
    if (state_->failure.empty())
      state_->failure = ec.message();
    co_return ec;
  }
  handshake_done_ = true;
  if (SSL_is_server(ssl_))
    record_handshake(ssl_, *state_);
  co_return error_code();
}

http::Task<TlsStream::IoResult> TlsStream::async_read_some(asio::mutable_buffer buffer) {
  for (;;) {
    int e = SSL_ERROR_NONE, r = 0;
    size_t n = try_read(buffer, e, r);
    if (e == SSL_ERROR_NONE)
      co_return IoResult{error_code(), n};
    if (!wants_io(e))
      co_return IoResult{to_error(e, r), 0};
    auto ec = co_await wait(e);
    if (ec)
      co_return IoResult{ec, 0};
  }
}

http::Task<error_code> TlsStream::wait(int ssl_error) {
  if (ssl_error == SSL_ERROR_WANT_WRITE) {
    auto [ec] = co_await socket_.async_wait(turnpike::TcpSocket::wait_write, kNoThrow);
    co_return ec;
  }
  auto [ec, n] = co_await socket_.async_read_some(turnpike::DrainedRead(in_->room()), kNoThrow);
  co_return filled(ec, n) ? error_code() : ec;
}

http::Task<TlsStream::IoResult> TlsStream::write_all(const char* data, size_t size) {
  size_t done = 0;
  while (done < size) {
    int e = SSL_ERROR_NONE, r = 0;
    done += try_write(asio::const_buffer(data + done, size - done), e, r);
    if (e == SSL_ERROR_NONE)
      continue;
    if (!wants_io(e))
      co_return IoResult{to_error(e, r), done};
    auto ec = co_await wait(e);
    if (ec)
      co_return IoResult{ec, done};
  }
  co_return IoResult{error_code(), done};
}

http::Task<TlsStream::IoResult> TlsStream::async_write(asio::const_buffer buffer) {
  co_return co_await write_all(static_cast<const char*>(buffer.data()), buffer.size());
}

http::Task<TlsStream::IoResult>
TlsStream::async_write(std::span<const asio::const_buffer> buffers) {
  // Pieces smaller than a record are gathered in pending_ so that records are full; a piece of
  // at least a record with nothing pending goes out directly, without a copy.
  size_t total = 0;
  pending_.clear();
  for (const auto& b : buffers) {
    const char* p = static_cast<const char*>(b.data());
    size_t left = b.size();
    while (left > 0) {
      if (pending_.empty() && left >= kRecordSize) {
        size_t direct = left - left % kRecordSize;
        auto [ec, n] = co_await write_all(p, direct);
        total += n;
        if (ec)
          co_return IoResult{ec, total};
        p += direct;
        left -= direct;
        continue;
      }
      size_t take = std::min(left, kRecordSize - pending_.size());
      pending_.append(p, take);
      p += take;
      left -= take;
      if (pending_.size() == kRecordSize) {
        auto [ec, n] = co_await write_all(pending_.data(), pending_.size());
        total += n;
        pending_.clear();
        if (ec)
          co_return IoResult{ec, total};
      }
    }
  }
  if (!pending_.empty()) {
    auto [ec, n] = co_await write_all(pending_.data(), pending_.size());
    total += n;
    pending_.clear();
    if (ec)
      co_return IoResult{ec, total};
  }
  co_return IoResult{error_code(), total};
}

size_t TlsStream::try_read(asio::mutable_buffer buffer, int& ssl_error, int& ret) {
  turnpike::clear_openssl_errors();
  size_t n = 0;
  ret = SSL_read_ex(ssl_, buffer.data(), buffer.size(), &n);
  ssl_error = ret == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, ret);
  return ret == 1 ? n : 0;
}

size_t TlsStream::try_write(asio::const_buffer buffer, int& ssl_error, int& ret) {
  const char* data = static_cast<const char*>(buffer.data());
  size_t done = 0;
  ssl_error = SSL_ERROR_NONE;
  while (done < buffer.size()) {
    turnpike::clear_openssl_errors();
    size_t n = 0;
    ret = SSL_write_ex(ssl_, data + done, buffer.size() - done, &n);
    if (ret != 1) {
      ssl_error = SSL_get_error(ssl_, ret);
      break;
    }
    done += n;
  }
  return done;
}

void TlsStream::cancel() {
  error_code ec;
  socket_.cancel(ec);
}

void TlsStream::send_close_notify() {
  if (!ssl_ || !handshake_done_ || close_notify_sent_)
    return;
  close_notify_sent_ = true;
  // Best effort and non-blocking: queue close_notify if the socket takes it, never wait for the
  // peer's (HTTP frames its own messages, so a missing close_notify cannot truncate one).
  turnpike::clear_openssl_errors();
  SSL_shutdown(ssl_);
  turnpike::clear_openssl_errors();
}

void TlsStream::close() {
  send_close_notify();
  error_code ec;
  socket_.close(ec);
}

void TlsStream::shutdown_send() {
  send_close_notify();
  error_code ec;
  socket_.shutdown(turnpike::TcpSocket::shutdown_send, ec);
}

} // namespace turnpike::tls
