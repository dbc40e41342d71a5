#pragma once
// A small client for shared key-value stores, with one interface over etcd v3 and Redis. Used by
// distributed ACME (shared certificate storage, the cluster lock, challenge material), and meant
// for the KV configuration providers and distributed rate limits.
//
// The interface is deliberately small: get / list by prefix / put / erase, put_if_absent with a
// time to live plus refresh and compare_and_delete (the three operations of a lease-based lock,
// and of any "expires unless renewed" record), and watch by prefix. Keys and values are byte
// strings; the client adds no prefix of its own (callers own their key layout).
//
//   etcd (etcd.cc): the v3 JSON gateway (`/v3/kv/*`, `/v3/lease/*`, `/v3/watch`) over HTTP(S) with
//       libcurl; several endpoints with failover; username/password through `/v3/auth/
//       authenticate`; TLS with a CA and a client certificate. A key with a time to live is bound
//       to its own lease.
//   ZooKeeper (zookeeper.cc): the C client (libzookeeper-mt), znodes as keys, watches re-armed
//       by walking the tree after each notification; get/list/put/erase/watch only.
//   Redis (redis.cc): RESP over TCP or TLS (redis_connection.h: our socket and OpenSSL, hiredis's
//       encoder and reply parser); SET NX PX for put_if_absent, Lua scripts (EVAL) for the
//       compare operations, SCAN for list, keyspace notifications for watch; db, AUTH (with a
//       username on Redis 6 ACLs); TLS with a CA, the server name checked, a client certificate.
//
// Threads: every operation BLOCKS (network round trips, bounded by the options' timeout) and is
// thread-safe. Call them from a thread of your own or a pool (the ACME pool does), never from a
// worker or the control thread: there, use async(), which runs the operation on the client's own
// threads and posts the result to the executor you give. Watch callbacks run on the watch's own
// thread.
//
// Failures: an operation that cannot reach the store (connection refused, timeout, every endpoint
// down) fails with KvErrorKind::kUnavailable; callers keep what they have and retry later (the
// client reconnects by itself, with backoff for watches). kRejected is the store refusing the
// request (authentication, permissions, a script error); kProtocol is a reply the client does
// not understand. None of them throws.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/result.hpp>

#include "common/asio_types.h"
#include "common/duration.h"

namespace turnpike::kv {

enum class KvErrorKind {
  kUnavailable,  // the store cannot be reached now: retry later
  kRejected,     // the store refused the request (auth, permission, bad argument)
  kProtocol,     // an unexpected reply
  kStopped,      // the client is being shut down
};

struct KvError {
  KvErrorKind kind = KvErrorKind::kUnavailable;
  std::string message;  // names the store: "etcd 127.0.0.1:2379: connection refused"

  bool unavailable() const { return kind == KvErrorKind::kUnavailable; }
};

// Lets result<T, KvError>::value() throw a readable exception.
[[noreturn]] void throw_exception_from_error(const KvError& e, const boost::source_location& loc);

template <class T>
using KvResult = boost::system::result<T, KvError>;

struct Entry {
  std::string key;
  std::string value;
};

// TLS towards the store (Traefik's provider tls section).
struct TlsOptions {
  std::string ca;    // CA file (PEM); empty = the system roots
  std::string cert;  // client certificate file (PEM), optional
  std::string key;   // its key file
  bool insecure_skip_verify = false;
};

struct WatchEvent {
  enum class Type {
    kPut,     // `key` now holds `value`
    kDelete,  // `key` was deleted or expired
    kReset,   // the watch is (re)established: changes may have been missed, so list() again
    kLost,    // the connection to the store is lost; kReset follows when it is back
  };
  Type type = Type::kPut;
  std::string key;
  std::string value;
};

// A running watch; destroying it (or stop()) ends it. The callback is not called after stop()
// returns.
class Watch {
 public:
  virtual ~Watch() = default;
  virtual void stop() = 0;
};

class Client {
 public:
  virtual ~Client() = default;

  // "etcd 127.0.0.1:2379,127.0.0.1:22379", "redis 127.0.0.1:6379/0": for messages.
  virtual std::string describe() const = 0;

  // The value of `key`, or nullopt when it does not exist.
  virtual KvResult<std::optional<std::string>> get(std::string_view key) = 0;
  // Every key starting with `prefix`, sorted by key.
  virtual KvResult<std::vector<Entry>> list(std::string_view prefix) = 0;
  virtual KvResult<void> put(std::string_view key, std::string_view value) = 0;
  // Deletes `key`; false when it did not exist.
  virtual KvResult<bool> erase(std::string_view key) = 0;

  // Creates `key` = `value` only if it does not exist, expiring after `ttl` unless refreshed
  // (ttl 0 = never). True when created. etcd rounds ttl up to whole seconds.
  virtual KvResult<bool> put_if_absent(std::string_view key, std::string_view value,
                                       std::chrono::milliseconds ttl) = 0;
  // If `key` holds `value`, restarts its time to live (`ttl`) and returns true; false when the key
  // is gone or holds something else (the lock was lost).
  virtual KvResult<bool> refresh(std::string_view key, std::string_view value,
                                 std::chrono::milliseconds ttl) = 0;
  // Deletes `key` only if it holds `value` (atomically); true when deleted.
  virtual KvResult<bool> compare_and_delete(std::string_view key, std::string_view value) = 0;

  // Follows changes under `prefix`. `callback` runs on the watch's thread: first kReset once the
  // watch is in place (list() then to get the current state without a gap), then kPut/kDelete
  // events in order. When the connection breaks: kLost, reconnection with backoff, kReset.
  // The last event of a key tells its current state; intermediate values of quick successive
  // changes may be skipped (Redis notifications carry no value: it is read when they arrive).
  virtual std::unique_ptr<Watch> watch(std::string prefix,
                                       std::function<void(const WatchEvent&)> callback) = 0;

  // Runs the Lua `script` atomically in the store with `keys` (KEYS) and `args` (ARGV) and returns
  // its reply read as integers: an integer reply is one element, an array of integers is read in
  // order. Redis only (EVALSHA, sending the script with EVAL when the server does not know it
  // yet); other stores answer kRejected.
  virtual KvResult<std::vector<int64_t>> eval(std::string_view script,
                                              const std::vector<std::string>& keys,
                                              const std::vector<std::string>& args) {
    (void)script, (void)keys, (void)args;
    return KvError{KvErrorKind::kRejected, describe() + ": scripts are not supported"};
  }

  // Why watch() cannot follow changes on this store now, or nullopt when it can (Redis: keyspace
  // notifications are off on the server and could not be turned on). Blocking. Callers that
  // depend on changes then poll with list().
  virtual KvResult<std::optional<std::string>> watch_unsupported() {
    return std::optional<std::string>();
  }

  // Runs `op(*this)` on the client's threads and posts `done(result)` to `executor`. For callers
  // that must not block (workers, the control thread). The client must outlive the operation.
  template <class T>
  void async(std::function<KvResult<T>(Client&)> op, turnpike::Executor executor,
             std::function<void(KvResult<T>)> done) {
    run_detached([this, op = std::move(op), executor = std::move(executor),
                  done = std::move(done)]() mutable {
      auto result = op(*this);
      boost::asio::post(executor, [done = std::move(done), result = std::move(result)]() mutable {
        done(std::move(result));
      });
    });
  }

 protected:
  // Runs `job` on a thread owned by the client (async()).
  virtual void run_detached(std::function<void()> job) = 0;
};

struct EtcdOptions {
  std::vector<std::string> endpoints;  // "host:port" or "http(s)://host:port"; tried in order
  std::string username, password;     // empty = no authentication
  std::optional<TlsOptions> tls;       // https; endpoints without a scheme become https://
  Duration timeout = std::chrono::seconds(5);  // per request and endpoint
};

struct RedisOptions {
  std::vector<std::string> endpoints;  // "host:port"; tried in order
  int db = 0;
  std::string username, password;     // AUTH [username] password
  std::optional<TlsOptions> tls;       // TLS (redis-server --tls-port); the host is verified
  Duration timeout = std::chrono::seconds(5);
};

struct ZooKeeperOptions {
  std::vector<std::string> endpoints;  // "host:port"; the C client picks one and fails over
  std::string username, password;     // digest authentication ("user:password"), optional
  Duration timeout = std::chrono::seconds(5);  // connection wait per operation; session 10 s
};

// Creates a client. Nothing is contacted yet: a store that is down makes operations fail with
// kUnavailable, not the creation. Errors: bad options (no endpoints, unreadable TLS files, a
// key that does not match its certificate).
KvResult<std::unique_ptr<Client>> make_etcd_client(EtcdOptions options);
KvResult<std::unique_ptr<Client>> make_redis_client(RedisOptions options);
// ZooKeeper (zookeeper.cc): keys are znode paths without the leading '/'; list() returns the
// znodes that hold a value or have no children (the directories in between are not keys).
// put_if_absent, refresh and compare_and_delete are not supported (kRejected).
KvResult<std::unique_ptr<Client>> make_zookeeper_client(ZooKeeperOptions options);

}  // namespace turnpike::kv
