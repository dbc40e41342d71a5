#pragma once
// Per-worker keep-alive pools of upstream HTTP/1.1 connections (plain TCP or TLS), keyed by the
// server (scheme and address) and its transport (name, plus the TLS configuration's
// fingerprint). Worker-confined (one pool per worker, no locks). An idle connection is closed
// after its transport's idleConnTimeout (via the worker's deadline scanner). maxIdleConnsPerHost
// idle connections are kept per key; above that, connections returned during a burst stay for
// kOverflowLinger only (at most kOverflowFactor times the limit), so a burst is served by the
// connections the previous burst used instead of dialling again.

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>

#include "common/asio_types.h"
#include "common/deadline.h"
#include "http/message.h"
#include "service/upstream_tls.h"

namespace turnpike::service {

// TLS over the connection's socket (the socket stays a member of the connection so that the
// deadline can close it whatever the protocol).
using TlsStream = boost::asio::ssl::stream<turnpike::TcpSocket&>;

// One upstream connection. Owned by the pool while idle, by the exchange while in use (or by an
// HTTP/2 session, see h2_client.h).
struct UpstreamConnection {
  UpstreamConnection(turnpike::TcpSocket s, DeadlineScanner& scanner, std::string k);

  turnpike::TcpSocket socket;
  TlsSessionTarget session_target;  // declared before `tls`: the SSL object refers to it
  std::unique_ptr<TlsStream> tls;   // https:// servers; null for plain TCP
  Deadline deadline;          // dial/response/idle timeouts: expiry closes the socket
  std::string key;            // pool key
  std::string buffer;         // read buffer; [begin, end) holds unread bytes
  size_t begin = 0;
  size_t end = 0;
  std::string out;            // request head being written (capacity reused)
  http::Response response;    // response head being read (capacity reused)
  uint64_t requests = 0;      // requests served on this connection
  bool timed_out = false;     // set by the deadline before it closes the socket
  // While idle in a pool: that pool's count of its connections closed by their deadline.
  size_t* closed_in_pool = nullptr;
};

class UpstreamPool {
 public:
  explicit UpstreamPool(DeadlineScanner& scanner) : scanner_(scanner) {}

  // An idle connection for `key`, or null. The most recently used one is returned (LIFO keeps
  // the working set small and warm).
  std::unique_ptr<UpstreamConnection> take(const std::string& key);
  // Returns a connection after a complete exchange. `idle_timeout` 0 = no timeout.
  void put(std::unique_ptr<UpstreamConnection> conn, Clock::duration idle_timeout,
           size_t max_idle);
  // Whether an idle connection for `key` is waiting (an https server that chose HTTP/1.1 in
  // ALPN has some; see proxy_http2.cc).
  bool has_idle(const std::string& key) const;
  DeadlineScanner& scanner() { return scanner_; }
  // Closes every idle connection (graceful shutdown).
  void close_all();
  size_t idle_count() const;

 private:
  static constexpr Clock::duration kOverflowLinger = std::chrono::seconds(1);
  static constexpr size_t kOverflowFactor = 4;

  struct IdleList {
    std::vector<std::unique_ptr<UpstreamConnection>> conns;  // oldest first
    // How many of `conns` their idle deadline has closed: put() sweeps only when there are
    // some, instead of scanning a list of hundreds on every return during a burst.
    size_t closed = 0;
  };

  DeadlineScanner& scanner_;
  // Node-based: a connection keeps a pointer to its list's `closed` counter while idle.
  std::unordered_map<std::string, IdleList> idle_;
};

}  // namespace turnpike::service
