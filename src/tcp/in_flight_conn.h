#pragma once
// TCP inFlightConn: limits the simultaneous connections of one client IP (after the PROXY
// protocol, when trusted). A connection over the limit is closed at once.
//
//   tcp.middlewares.<name>.inFlightConn:
//     amount: 10    # required, > 0
//
// As in Traefik the count is global to the gateway, not per worker: ConnectionCounter is shared
// by every worker (see below). Like Traefik, a configuration change that rebuilds the middleware
// starts a new count for new connections; connections still open on the previous configuration
// are released against the counter they were taken from.

#include <array>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include <boost/asio/ip/address.hpp>

#include "tcp/middleware.h"

namespace turnpike::tcp {

// Open connections per client IP, shared by every worker. The table is split in 16 shards, each a
// mutex and a hash map from address to count; a connection takes one shard's lock twice (open and
// close) for a few tens of nanoseconds, and workers serving different clients rarely meet on the
// same shard, so the lock is effectively uncontended (cheaper and simpler than a lock-free map,
// which would need tombstones to delete entries). An entry is erased when its count drops to 0:
// memory is bounded by the number of clients with open connections.
class ConnectionCounter {
public:
  explicit ConnectionCounter(int64_t limit) : limit_(limit) {}
  // Counts a connection from `ip` unless it already has `limit` open ones. Any thread.
  bool try_acquire(const boost::asio::ip::address& ip);
  // Uncounts a connection taken with try_acquire. Any thread.
  void release(const boost::asio::ip::address& ip);
  int64_t count(const boost::asio::ip::address& ip);

private:
  using Key = std::array<unsigned char, 16>; // IPv6 bytes; IPv4 as IPv4-mapped
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  struct alignas(64) Shard {
    std::mutex mutex;
    std::unordered_map<Key, int64_t, KeyHash> counts;
  };
  static Key key_of(const boost::asio::ip::address& ip);
  Shard& shard_of(const Key& key);

  int64_t limit_;
  std::array<Shard, 16> shards_;
};

class InFlightConn final : public Handler {
public:
  InFlightConn(std::shared_ptr<ConnectionCounter> counter, HandlerPtr next)
      : counter_(std::move(counter)), next_(std::move(next)) {}
  Task<void> serve(Connection& conn) const override;

private:
  std::shared_ptr<ConnectionCounter> counter_;
  HandlerPtr next_;
};

// One counter per configured middleware: every router using it shares the count, as in Traefik.
Wrap build_in_flight_conn(config::Decoder& dec);

} // namespace turnpike::tcp
