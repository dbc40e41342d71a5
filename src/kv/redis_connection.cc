#include "kv/redis_connection.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <hiredis/hiredis.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "common/openssl_errors.h"

namespace turnpike::kv {
namespace {

using Clock = std::chrono::steady_clock;

RedisReply copy_reply(const redisReply* r) {
  RedisReply out;
  out.type = r->type;
  out.integer = r->integer;
  if (r->str) out.str.assign(r->str, r->len);
  for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(copy_reply(r->element[i]));
  return out;
}

// The oldest queued OpenSSL error, or `fallback`; clears the queue.
std::string ssl_error(const char* fallback) {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return fallback;
  const char* reason = ERR_reason_error_string(e);
  return reason ? reason : fallback;
}

bool is_ip_address(const std::string& host) {
  in6_addr a6;
  in_addr a4;
  return inet_pton(AF_INET, host.c_str(), &a4) == 1 || inet_pton(AF_INET6, host.c_str(), &a6) == 1;
}

int remaining_ms(Clock::time_point until) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(left);
}

// Connects the non-blocking socket `fd` to `a`, waiting at most until `until`; errno-style
// message on failure.
std::optional<std::string> connect_within(int fd, const addrinfo* a, Clock::time_point until) {
  if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) return std::nullopt;
  if (errno != EINPROGRESS) return std::string(std::strerror(errno));
  pollfd p{fd, POLLOUT, 0};
  int n;
  do {
    n = ::poll(&p, 1, remaining_ms(until));
  } while (n < 0 && errno == EINTR);
  if (n == 0) return std::string("connect timed out");
  if (n < 0) return std::string(std::strerror(errno));
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return std::string(std::strerror(err));
  return std::nullopt;
}

// Dead peers are found within ~30 s even when idle (hiredis's redisEnableKeepAlive did this).
void tune_socket(int fd) {
  int one = 1, idle = 15, interval = 5, count = 3;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

// OpenSSL writes to the socket with write(), which raises SIGPIPE when the server has closed the
// connection (plain TCP uses send(MSG_NOSIGNAL)). While a guard lives, SIGPIPE is blocked on this
// thread, and one raised meanwhile is consumed, so the write fails with EPIPE instead of ending
// a program that does not ignore SIGPIPE (the gateway does; unit tests and tools may not).
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeGuard() {
    if (!was_pending_) {
      timespec zero{0, 0};
      while (sigtimedwait(&pipe_, nullptr, &zero) == SIGPIPE) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t pipe_, old_;
  bool was_pending_ = false;
};

}  // namespace

KvResult<SslCtxPtr> make_redis_tls_context(const TlsOptions& tls) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return KvError{KvErrorKind::kRejected, "tls: " + ssl_error("cannot create a context")};
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  if (tls.insecure_skip_verify) {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  } else {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    int ok = tls.ca.empty() ? SSL_CTX_set_default_verify_paths(ctx.get())
                            : SSL_CTX_load_verify_locations(ctx.get(), tls.ca.c_str(), nullptr);
    if (ok != 1)
      return KvError{KvErrorKind::kRejected,
                     "tls: ca: cannot load \"" + tls.ca + "\": " + ssl_error("no certificate")};
  }
  if (tls.cert.empty() != tls.key.empty())
    return KvError{KvErrorKind::kRejected, "tls: cert and key go together"};
  if (!tls.cert.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.cert.c_str()) != 1)
      return KvError{KvErrorKind::kRejected,
                     "tls: cert: cannot load \"" + tls.cert + "\": " + ssl_error("unreadable")};
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), tls.key.c_str(), SSL_FILETYPE_PEM) != 1)
      return KvError{KvErrorKind::kRejected,
                     "tls: key: cannot load \"" + tls.key + "\": " + ssl_error("unreadable")};
    if (SSL_CTX_check_private_key(ctx.get()) != 1)
      return KvError{KvErrorKind::kRejected, "tls: key \"" + tls.key +
                                                 "\" does not match the certificate \"" +
                                                 tls.cert + "\""};
  }
  return ctx;
}

RedisConnection::RedisConnection(int fd, Duration timeout)
    : fd_(fd), timeout_(timeout), reader_(redisReaderCreate()) {}

RedisConnection::~RedisConnection() {
  if (ssl_) {
    // Best effort: the close_notify, without waiting for the server's (and none after a failed
    // handshake, where SSL_shutdown must not be called).
    if (SSL_is_init_finished(ssl_)) {
      SigpipeGuard guard;
      SSL_shutdown(ssl_);
    }
    SSL_free(ssl_);
  }
  if (reader_) redisReaderFree(reader_);
  if (fd_ >= 0) ::close(fd_);
}

KvResult<std::unique_ptr<RedisConnection>> RedisConnection::open(const std::string& host, int port,
                                                                 Duration timeout, SSL_CTX* tls) {
  auto until = Clock::now() + timeout;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0)
    return KvError{KvErrorKind::kUnavailable, std::string("cannot resolve: ") + gai_strerror(rc)};
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, ::freeaddrinfo);
  std::string last = "no address";
  for (const addrinfo* a = found; a; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last = std::strerror(errno);
      continue;
    }
    if (auto err = connect_within(fd, a, until)) {
      ::close(fd);
      last = *err;
      continue;
    }
    tune_socket(fd);
    std::unique_ptr<RedisConnection> c(new RedisConnection(fd, timeout));
    if (!c->reader_) return KvError{KvErrorKind::kUnavailable, "out of memory"};
    if (tls) {
      auto hs = c->handshake(tls, host);
      if (!hs) return hs.error();
    }
    return c;
  }
  return KvError{KvErrorKind::kUnavailable, last};
}

KvResult<void> RedisConnection::handshake(SSL_CTX* tls, const std::string& host) {
  ssl_ = SSL_new(tls);
  if (!ssl_ || SSL_set_fd(ssl_, fd_) != 1)
    return KvError{KvErrorKind::kUnavailable, "TLS: " + ssl_error("cannot create a session")};
  if (is_ip_address(host)) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl_, host.c_str());
    SSL_set1_host(ssl_, host.c_str());
  }
  auto until = deadline();
  SigpipeGuard guard;
  for (;;) {
    clear_openssl_errors();
    int rc = SSL_connect(ssl_);
    if (rc == 1) return {};
    int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      auto w = wait_fd(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, until);
      if (!w) return KvError{KvErrorKind::kUnavailable, "TLS handshake: " + w.error().message};
      continue;
    }
    long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK)
      return KvError{KvErrorKind::kUnavailable,
                     std::string("TLS handshake: certificate verify failed: ") +
                         X509_verify_cert_error_string(verify)};
    std::string why = err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0
                          ? std::string("connection closed by the server")
                          : ssl_error("failed");
    return KvError{KvErrorKind::kUnavailable, "TLS handshake: " + why};
  }
}

KvError RedisConnection::transport_error(const std::string& what) const {
  return KvError{KvErrorKind::kUnavailable, what};
}

KvResult<void> RedisConnection::wait_fd(short events, Deadline until) {
  for (;;) {
    pollfd p{fd_, events, 0};
    int n = ::poll(&p, 1, remaining_ms(until));
    if (n > 0) return {};
    if (n == 0) {
      timed_out_ = true;
      return transport_error("timed out");
    }
    if (errno != EINTR) return transport_error(std::strerror(errno));
  }
}

KvResult<void> RedisConnection::write_all(const std::string& data, Deadline until) {
  size_t done = 0;
  while (done < data.size()) {
    const char* p = data.data() + done;
    size_t left = data.size() - done;
    if (ssl_) {
      SigpipeGuard guard;
      clear_openssl_errors();
      int n = SSL_write(ssl_, p, static_cast<int>(left));
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      int err = SSL_get_error(ssl_, n);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
        return transport_error("TLS write: " + ssl_error("connection lost"));
      auto w = wait_fd(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, until);
      if (!w) return w.error();
    } else {
      ssize_t n = ::send(fd_, p, left, MSG_NOSIGNAL);
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        auto w = wait_fd(POLLOUT, until);
        if (!w) return w.error();
        continue;
      }
      return transport_error(n < 0 ? std::strerror(errno) : "connection lost");
    }
  }
  return {};
}

KvResult<bool> RedisConnection::read_once() {
  char buf[16384];
  for (;;) {
    if (ssl_) {
      SigpipeGuard guard;  // a read may write (a TLS 1.3 key update answer)
      clear_openssl_errors();
      int n = SSL_read(ssl_, buf, sizeof buf);
      if (n > 0) {
        redisReaderFeed(reader_, buf, static_cast<size_t>(n));
        return true;
      }
      int err = SSL_get_error(ssl_, n);
      if (err == SSL_ERROR_ZERO_RETURN) return transport_error("connection closed by the server");
      // WANT_READ also follows records without application data (TLS 1.3 session tickets).
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return false;
      return transport_error("TLS read: " + ssl_error("connection lost"));
    }
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      redisReaderFeed(reader_, buf, static_cast<size_t>(n));
      return true;
    }
    if (n == 0) return transport_error("connection closed by the server");
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
    return transport_error(std::strerror(errno));
  }
}

KvResult<void> RedisConnection::read_some(Deadline until) {
  for (;;) {
    auto got = read_once();
    if (!got) return got.error();
    if (*got) return {};
    // A TLS read wanting to write is a renegotiation, which TLS 1.2+ servers do not start; POLLIN
    // covers everything else.
    auto w = wait_fd(POLLIN, until);
    if (!w) return w.error();
  }
}

KvResult<void> RedisConnection::send(const std::vector<std::string>& argv) {
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const auto& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  char* raw = nullptr;
  int len = redisFormatCommandArgv(&raw, static_cast<int>(args.size()), args.data(), lens.data());
  if (len < 0 || !raw) return KvError{KvErrorKind::kUnavailable, "out of memory"};
  std::string encoded(raw, static_cast<size_t>(len));
  redisFreeCommand(raw);
  return write_all(encoded, deadline());
}

KvResult<std::optional<RedisReply>> RedisConnection::next_buffered() {
  void* raw = nullptr;
  if (redisReaderGetReply(reader_, &raw) != REDIS_OK)
    return KvError{KvErrorKind::kProtocol, std::string("bad reply: ") + reader_->errstr};
  if (!raw) return std::optional<RedisReply>{};
  RedisReply r = copy_reply(static_cast<redisReply*>(raw));
  freeReplyObject(raw);
  return std::optional<RedisReply>(std::move(r));
}

KvResult<bool> RedisConnection::receive(std::chrono::milliseconds wait) {
  // Bytes OpenSSL already decrypted are not visible to poll().
  if (!(ssl_ && SSL_pending(ssl_) > 0)) {
    pollfd p{fd_, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(wait.count()));
    if (n == 0 || (n < 0 && errno == EINTR)) return false;
    if (n < 0) return transport_error(std::strerror(errno));
  }
  return read_once();
}

KvResult<RedisReply> RedisConnection::run(const std::vector<std::string>& argv) {
  auto sent = send(argv);
  if (!sent) return sent.error();
  auto until = deadline();
  for (;;) {
    auto next = next_buffered();
    if (!next) return next.error();
    if (*next) {
      if ((*next)->type == REDIS_REPLY_ERROR)
        return KvError{KvErrorKind::kRejected, std::move((*next)->str)};
      return std::move(**next);
    }
    auto r = read_some(until);
    if (!r) return r.error();
  }
}

}  // namespace turnpike::kv
