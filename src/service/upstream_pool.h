#pragma once
// Per-worker keep-alive pools of upstream HTTP/1.1 connections, keyed by the server's address and
// transport. Worker-confined (one pool per worker, no locks). An idle connection is closed after
// its transport's idleConnTimeout (via the worker's deadline scanner); at most
// maxIdleConnsPerHost idle connections are kept per key.

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "common/deadline.h"
#include "http/message.h"

namespace turnpike::service {

// One upstream connection. Owned by the pool while idle, by the exchange while in use.
struct UpstreamConnection {
  UpstreamConnection(boost::asio::ip::tcp::socket s, DeadlineScanner& scanner, std::string k);

  boost::asio::ip::tcp::socket socket;
  Deadline deadline;          // dial/response/idle timeouts: expiry closes the socket
  std::string key;            // pool key
  std::string buffer;         // read buffer; [begin, end) holds unread bytes
  size_t begin = 0;
  size_t end = 0;
  std::string out;            // request head being written (capacity reused)
  http::Response response;    // response head being read (capacity reused)
  uint64_t requests = 0;      // requests served on this connection
  bool timed_out = false;     // set by the deadline before it closes the socket
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
  DeadlineScanner& scanner() { return scanner_; }
  // Closes every idle connection (graceful shutdown).
  void close_all();
  size_t idle_count() const;

 private:
  DeadlineScanner& scanner_;
  std::unordered_map<std::string, std::vector<std::unique_ptr<UpstreamConnection>>> idle_;
};

}  // namespace turnpike::service
