#pragma once
// TLS session resumption state shared by every worker and kept across configuration snapshots
// (a reload must not make every client do a full handshake again):
//
// - TicketKeys: the keys that encrypt session tickets (TLS 1.2 tickets, TLS 1.3 PSKs). The
//   control thread rotates them (rotate(), every kTicketKeyRotation); the newest encrypts, the
//   previous ones still decrypt (and the ticket is then renewed) until they age out, so a ticket
//   stays usable for at most kTicketKeyRotation * kTicketKeysKept. Workers read the current key
//   set through an atomic shared_ptr: no lock on the handshake path.
//
// - SessionCache: server-side sessions for clients that resume by session ID (TLS 1.2 without
//   tickets) and for stateful TLS 1.3 tickets (options with disableSessionTickets). One cache for
//   all workers (a client's next connection may land on another worker), split into shards with
//   one mutex each; a handshake touches one shard once, so contention stays negligible. Bounded:
//   the oldest sessions of a full shard are evicted.
//
// Both are attached to every SSL_CTX the TLS layer builds (attach()).

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <openssl/ssl.h>

namespace turnpike::tls {

inline constexpr std::chrono::hours kTicketKeyRotation{1};
inline constexpr size_t kTicketKeysKept = 3; // the current key and two previous ones
// Lifetime of a session (and the ticket lifetime hint): as long as the oldest key decrypts.
inline constexpr long kSessionTimeoutSeconds = 2 * 3600;

class TicketKeys {
public:
  struct Key {
    std::array<unsigned char, 16> name;
    std::array<unsigned char, 32> aes_key;
    std::array<unsigned char, 32> hmac_key;
  };

  TicketKeys(); // starts with one fresh key
  // Adds a fresh key in front and drops the oldest beyond kTicketKeysKept. Control thread.
  void rotate();
  // The current set, newest first. Any thread.
  std::shared_ptr<const std::vector<Key>> current() const {
    return keys_.load(std::memory_order_acquire);
  }

private:
  std::atomic<std::shared_ptr<const std::vector<Key>>> keys_;
};

class SessionCache {
public:
  explicit SessionCache(size_t capacity = 20480);
  ~SessionCache();
  SessionCache(const SessionCache&) = delete;
  SessionCache& operator=(const SessionCache&) = delete;

  // Sessions currently held (tests, metrics).
  size_t size() const;

  // OpenSSL callbacks (registered by attach()).
  int add(SSL* ssl, SSL_SESSION* session);
  SSL_SESSION* get(const unsigned char* id, int length);
  void remove(SSL_SESSION* session);

private:
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, SSL_SESSION*> sessions;
    std::deque<std::string> order; // insertion order, for eviction (may hold removed ids)
  };
  Shard& shard_for(std::string_view id);

  size_t shard_capacity_;
  std::array<Shard, 16> shards_;
};

// Registers the ticket key callback, the external session cache and the session timeout on `ctx`.
// `keys` and `cache` must outlive the context (the TLS manager owns both for the process).
void attach(SSL_CTX* ctx, TicketKeys* keys, SessionCache* cache);

} // namespace turnpike::tls
