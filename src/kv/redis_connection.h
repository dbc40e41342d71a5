#pragma once
// The Redis client's transport (redis.cc): one connection to one server, over TCP or TLS, speaking
// RESP. Not part of the kv interface.
//
// Debian 12's hiredis (0.14) has no TLS, so the socket and OpenSSL are ours; hiredis keeps what it
// does well: redisFormatCommandArgv encodes a command and redisReader parses replies. The socket
// is non-blocking and every wait is a poll() bounded by the connection's timeout, so TLS (whose
// reads may need writes and the reverse) and plain TCP share one code path.
//
// Threads: a connection is used by one thread at a time (the pool hands it out; a watch owns
// its own). A write to a connection the server closed fails with EPIPE, never SIGPIPE: plain
// TCP sends with MSG_NOSIGNAL, and OpenSSL's calls run with SIGPIPE blocked on the thread.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <openssl/ssl.h>

#include "kv/kv.h"

struct redisReader;

namespace turnpike::kv {

// A reply, copied out of hiredis's redisReply (type is REDIS_REPLY_*).
struct RedisReply {
  int type = 0;
  std::string str;
  long long integer = 0;
  std::vector<RedisReply> elements;
};

struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

// The client context for `tls`: verification against `ca` (or the system roots) unless
// insecure_skip_verify, and the client certificate when given. Errors (kRejected) name the file
// that cannot be used.
KvResult<SslCtxPtr> make_redis_tls_context(const TlsOptions& tls);

class RedisConnection {
 public:
  // Connects to `host`:`port` within `timeout` (every address getaddrinfo gives, in order) and,
  // with `tls`, completes the handshake: SNI and the certificate's name checked against `host` (an
  // IP address is checked as one) unless the context skips verification. `tls` must outlive the
  // connection. Errors are kUnavailable and say what failed ("connection refused", "TLS
  // handshake: certificate verify failed: ...").
  static KvResult<std::unique_ptr<RedisConnection>> open(const std::string& host, int port,
                                                         Duration timeout, SSL_CTX* tls);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Sends `argv` and reads its reply. Transport failures are kUnavailable and leave the
  // connection unusable; an error reply is kRejected with the server's message.
  KvResult<RedisReply> run(const std::vector<std::string>& argv);
  // Whether a failure was a wait running out of time: the server may still have run the command
  // (only slowly), so it must not be sent again elsewhere. Any other transport failure (the
  // connection closed or reset) is what a server restart leaves on pooled connections.
  bool timed_out() const { return timed_out_; }

  // For subscribed mode (the watch): send a command without waiting for its reply ...
  KvResult<void> send(const std::vector<std::string>& argv);
  // ... take the next reply already received (nullopt when none is complete) ...
  KvResult<std::optional<RedisReply>> next_buffered();
  // ... and wait up to `wait` for more data: true when some arrived (then next_buffered()),
  // false when none did (or only TLS records without data). A closed connection is kUnavailable.
  KvResult<bool> receive(std::chrono::milliseconds wait);

 private:
  RedisConnection(int fd, Duration timeout);
  using Deadline = std::chrono::steady_clock::time_point;
  Deadline deadline() const { return std::chrono::steady_clock::now() + timeout_; }
  KvResult<void> handshake(SSL_CTX* tls, const std::string& host);
  KvResult<void> write_all(const std::string& data, Deadline until);
  // Reads what is there into the reader: false when nothing was (it would block).
  KvResult<bool> read_once();
  KvResult<void> read_some(Deadline until);
  KvResult<void> wait_fd(short events, Deadline until);
  KvError transport_error(const std::string& what) const;

  int fd_ = -1;
  Duration timeout_;
  SSL* ssl_ = nullptr;
  redisReader* reader_ = nullptr;
  bool timed_out_ = false;
};

}  // namespace turnpike::kv
