// Redis over TCP or TLS: our own transport (redis_connection.h: a socket with OpenSSL, since
// Debian 12's hiredis 0.14 has no TLS), hiredis's encoder and reply parser.
//
// Operations take a connection from a small pool (one per concurrent caller), run one command
// and give it back; a connection that failed is dropped, and a pooled connection that turns out
// dead (the server restarted) empties the pool: the operation is tried once more on a new
// connection before it fails with kUnavailable.
// The compare operations are Lua scripts, atomic on the server. A watch is PSUBSCRIBE to the
// keyspace notifications of the prefix on a connection of its own; it enables the notification
// classes it needs (K, g, $, x, e) with CONFIG SET when the server allows it.

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include "common/hex.h"
#include "common/log.h"
#include "kv/kv.h"
#include "kv/kv_internal.h"
#include "kv/redis_connection.h"

namespace turnpike::kv {
namespace {

using Clock = std::chrono::steady_clock;

const std::shared_ptr<spdlog::logger>& logger() {
  static auto l = log::get("kv");
  return l;
}

// Lowercase hex SHA-1 of a script: its name for EVALSHA.
std::string script_sha1(std::string_view script) { return digest_hex(EVP_sha1(), script); }

// Refresh / compare-and-delete: only when the key still holds the caller's value.
constexpr const char* kRefreshScript =
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
constexpr const char* kCompareDeleteScript =
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('del', KEYS[1]) else return 0 end";

using Reply = RedisReply;
using Context = std::unique_ptr<RedisConnection>;

// "*", "?", "[", "]" and "\" are glob characters in PSUBSCRIBE and SCAN MATCH patterns.
std::string glob_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::pair<std::string, int> split_endpoint(const std::string& e) {
  auto colon = e.rfind(':');
  if (colon == std::string::npos) return {e, 6379};
  try {
    return {e.substr(0, colon), std::stoi(e.substr(colon + 1))};
  } catch (...) {
    return {e, 6379};
  }
}

class RedisClient final : public Client {
 public:
  RedisClient(RedisOptions options, SslCtxPtr tls)
      : options_(std::move(options)), tls_(std::move(tls)) {}
  ~RedisClient() override {
    stopped_ = true;
    async_pool_.join();
  }

  std::string describe() const override {
    std::string out = "redis ";
    for (size_t i = 0; i < options_.endpoints.size(); ++i) {
      if (i) out += ',';
      out += options_.endpoints[i];
    }
    return out + "/" + std::to_string(options_.db);
  }

  KvResult<std::optional<std::string>> get(std::string_view key) override {
    auto r = command({"GET", std::string(key)});
    if (!r) return r.error();
    if (r->type == REDIS_REPLY_NIL) return std::optional<std::string>{};
    if (r->type != REDIS_REPLY_STRING) return protocol("GET");
    return std::optional<std::string>(std::move(r->str));
  }

  KvResult<std::vector<Entry>> list(std::string_view prefix) override {
    std::vector<std::string> keys;
    std::string cursor = "0";
    std::string pattern = glob_escape(prefix) + "*";
    do {
      auto r = command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
      if (!r) return r.error();
      if (r->type != REDIS_REPLY_ARRAY || r->elements.size() != 2) return protocol("SCAN");
      cursor = r->elements[0].str;
      for (auto& k : r->elements[1].elements) keys.push_back(std::move(k.str));
    } while (cursor != "0");
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    std::vector<Entry> out;
    constexpr size_t kBatch = 256;
    for (size_t i = 0; i < keys.size(); i += kBatch) {
      std::vector<std::string> argv{"MGET"};
      size_t end = std::min(keys.size(), i + kBatch);
      argv.insert(argv.end(), keys.begin() + static_cast<ptrdiff_t>(i),
                  keys.begin() + static_cast<ptrdiff_t>(end));
      auto r = command(argv);
      if (!r) return r.error();
      if (r->type != REDIS_REPLY_ARRAY || r->elements.size() != end - i) return protocol("MGET");
      for (size_t j = i; j < end; ++j) {
        auto& v = r->elements[j - i];
        if (v.type == REDIS_REPLY_STRING)  // nil: deleted since SCAN saw it
          out.push_back(Entry{keys[j], std::move(v.str)});
      }
    }
    return out;
  }

  KvResult<void> put(std::string_view key, std::string_view value) override {
    auto r = command({"SET", std::string(key), std::string(value)});
    if (!r) return r.error();
    return {};
  }

  KvResult<bool> erase(std::string_view key) override {
    auto r = command({"DEL", std::string(key)});
    if (!r) return r.error();
    return r->integer > 0;
  }

  KvResult<bool> put_if_absent(std::string_view key, std::string_view value,
                               std::chrono::milliseconds ttl) override {
    std::vector<std::string> argv{"SET", std::string(key), std::string(value), "NX"};
    if (ttl.count() > 0) {
      argv.push_back("PX");
      argv.push_back(std::to_string(ttl.count()));
    }
    auto r = command(argv);
    if (!r) return r.error();
    return r->type == REDIS_REPLY_STATUS;  // +OK; nil when the key exists
  }

  KvResult<bool> refresh(std::string_view key, std::string_view value,
                         std::chrono::milliseconds ttl) override {
    auto r = command({"EVAL", kRefreshScript, "1", std::string(key), std::string(value),
                      std::to_string(std::max<int64_t>(1, ttl.count()))});
    if (!r) return r.error();
    return r->integer == 1;
  }

  KvResult<bool> compare_and_delete(std::string_view key, std::string_view value) override {
    auto r = command({"EVAL", kCompareDeleteScript, "1", std::string(key), std::string(value)});
    if (!r) return r.error();
    return r->integer == 1;
  }

  std::unique_ptr<Watch> watch(std::string prefix,
                               std::function<void(const WatchEvent&)> callback) override;

  KvResult<std::vector<int64_t>> eval(std::string_view script,
                                      const std::vector<std::string>& keys,
                                      const std::vector<std::string>& args) override {
    // EVALSHA sends 40 bytes instead of the script; a server that does not have it (first use,
    // restart, SCRIPT FLUSH) answers NOSCRIPT and gets the script once with EVAL.
    std::vector<std::string> argv{"EVALSHA", script_sha1(script), std::to_string(keys.size())};
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = command(argv);
    if (!r && r.error().kind == KvErrorKind::kRejected &&
        r.error().message.find("NOSCRIPT") != std::string::npos) {
      argv[0] = "EVAL";
      argv[1] = std::string(script);
      r = command(argv);
    }
    if (!r) return r.error();
    std::vector<int64_t> out;
    if (r->type == REDIS_REPLY_INTEGER) {
      out.push_back(r->integer);
      return out;
    }
    if (r->type != REDIS_REPLY_ARRAY) return protocol("EVAL");
    for (const auto& e : r->elements) {
      if (e.type != REDIS_REPLY_INTEGER) return protocol("EVAL");
      out.push_back(e.integer);
    }
    return out;
  }

  // Keyspace notifications for string writes and deletions: K with A (all classes) or g and $.
  // The watch turns them on when CONFIG SET is allowed; this reads what the server has now.
  KvResult<std::optional<std::string>> watch_unsupported() override {
    auto r = command({"CONFIG", "GET", "notify-keyspace-events"});
    if (!r) return r.error();
    std::string flags = r->elements.size() == 2 ? r->elements[1].str : std::string();
    auto has = [&](char f) { return flags.find(f) != std::string::npos; };
    if (has('K') && (has('A') || (has('g') && has('$')))) return std::optional<std::string>();
    return std::optional<std::string>("keyspace notifications are off (notify-keyspace-events \"" +
                                      flags + "\"; \"KEA\" or \"Kg$\" turns them on)");
  }

  // A new connection (AUTH and SELECT done) to the first endpoint that accepts one.
  KvResult<Context> connect() {
    std::string last;
    for (const auto& e : options_.endpoints) {
      auto [host, port] = split_endpoint(e);
      auto opened = RedisConnection::open(host, port, options_.timeout, tls_.get());
      if (!opened) {
        last = e + ": " + opened.error().message;
        continue;
      }
      Context c = std::move(*opened);
      if (!options_.password.empty()) {
        std::vector<std::string> auth{"AUTH"};
        if (!options_.username.empty()) auth.push_back(options_.username);
        auth.push_back(options_.password);
        auto r = run(c.get(), auth);
        if (!r) {
          if (r.error().kind == KvErrorKind::kRejected)
            return KvError{KvErrorKind::kRejected, describe() + ": AUTH: " + r.error().message};
          last = e + ": " + r.error().message;
          continue;
        }
      }
      if (options_.db != 0) {
        auto r = run(c.get(), {"SELECT", std::to_string(options_.db)});
        if (!r) {
          if (r.error().kind == KvErrorKind::kRejected)
            return KvError{KvErrorKind::kRejected, describe() + ": SELECT: " + r.error().message};
          last = e + ": " + r.error().message;
          continue;
        }
      }
      return c;
    }
    return KvError{KvErrorKind::kUnavailable, describe() + ": unavailable: " + last};
  }

  // One command on connection `c`. Transport failures are kUnavailable (and leave `c` unusable),
  // error replies kRejected.
  static KvResult<Reply> run(RedisConnection* c, const std::vector<std::string>& argv) {
    return c->run(argv);
  }

  const RedisOptions& options() const { return options_; }

 protected:
  void run_detached(std::function<void()> job) override {
    boost::asio::post(async_pool_, std::move(job));
  }

 private:
  KvError protocol(std::string_view what) const {
    return KvError{KvErrorKind::kProtocol, describe() + ": unexpected reply to " + std::string(what)};
  }

  // `argv` on a pooled connection; a dead pooled connection empties the pool and is replaced once.
  KvResult<Reply> command(const std::vector<std::string>& argv) {
    if (stopped_) return KvError{KvErrorKind::kStopped, describe() + ": stopped"};
    for (int attempt = 0; attempt < 2; ++attempt) {
      Context c;
      bool pooled = false;
      {
        std::lock_guard lock(mu_);
        if (!idle_.empty()) {
          c = std::move(idle_.back());
          idle_.pop_back();
          pooled = true;
        }
      }
      if (!c) {
        auto fresh = connect();
        if (!fresh) return fresh.error();
        c = std::move(*fresh);
      }
      auto r = run(c.get(), argv);
      if (!r && r.error().unavailable()) {
        if (pooled && !c->timed_out()) {
          // A connection from before a server restart: the other idle ones date from before
          // it too, so drop them all and try a new connection, rather than fail the caller
          // on the next dead one. Not after a timeout: a slow server may have run the command
          // (a lock's SET NX sent twice would find its own key and report the lock taken).
          std::lock_guard lock(mu_);
          idle_.clear();
          continue;
        }
        return KvError{KvErrorKind::kUnavailable, describe() + ": " + r.error().message};
      }
      // An error reply leaves the connection usable; a reply it could not parse does not.
      if (r || r.error().kind == KvErrorKind::kRejected) {
        std::lock_guard lock(mu_);
        if (idle_.size() < kMaxIdle) idle_.push_back(std::move(c));
      }
      if (!r) return KvError{r.error().kind, describe() + ": " + argv[0] + ": " + r.error().message};
      return r;
    }
    return KvError{KvErrorKind::kUnavailable, describe() + ": unavailable"};
  }

  static constexpr size_t kMaxIdle = 8;

  RedisOptions options_;
  SslCtxPtr tls_;  // null: plain TCP
  std::atomic<bool> stopped_{false};
  std::mutex mu_;
  std::vector<Context> idle_;
  boost::asio::thread_pool async_pool_{2};
};

// The keyspace notification classes a watch needs: K (keyspace channel), g (del, expire...),
// $ (string commands), x (expired), e (evicted).
constexpr std::string_view kNotifyClasses = "Kg$xe";

class RedisWatch final : public ThreadedWatch {
 public:
  RedisWatch(RedisClient& client, std::string prefix, std::function<void(const WatchEvent&)> callback)
      : ThreadedWatch(std::move(prefix), std::move(callback)), client_(client) {
    launch();
  }
  ~RedisWatch() override { stop(); }

 private:
  void run() override {
    Backoff backoff;
    while (!stopped_) {
      bool established = false;
      auto r = session(established, backoff);
      if (stopped_) break;
      if (established) callback_(WatchEvent{WatchEvent::Type::kLost, {}, {}});
      if (!r)
        logger()->warn("{}: watch on \"{}\" interrupted: {}", client_.describe(), prefix_,
                       r.error().message);
      pause(backoff.next());
    }
  }

  void enable_notifications(RedisConnection* c) {
    auto current = RedisClient::run(c, {"CONFIG", "GET", "notify-keyspace-events"});
    std::string flags;
    if (current && current->elements.size() == 2) flags = current->elements[1].str;
    bool all = flags.find('A') != std::string::npos;
    std::string wanted = flags;
    for (char f : kNotifyClasses)
      if (wanted.find(f) == std::string::npos && !(all && f != 'K')) wanted.push_back(f);
    if (wanted == flags) return;
    auto set = RedisClient::run(c, {"CONFIG", "SET", "notify-keyspace-events", wanted});
    if (!set && !warned_) {
      warned_ = true;
      logger()->warn("{}: cannot enable keyspace notifications ({}): set notify-keyspace-events "
                     "to include \"{}\" on the server, or changes are not followed",
                     client_.describe(), set.error().message, kNotifyClasses);
    }
  }

  // One subscription: connect, subscribe, deliver messages until the connection breaks or stop.
  KvResult<void> session(bool& established, Backoff& backoff) {
    auto conn = client_.connect();
    if (!conn) return conn.error();
    RedisConnection* c = conn->get();
    enable_notifications(c);
    std::string channel_prefix = "__keyspace@" + std::to_string(client_.options().db) + "__:";
    std::string pattern = channel_prefix + glob_escape(prefix_) + "*";
    if (auto sent = c->send({"PSUBSCRIBE", pattern}); !sent) return sent.error();
    auto last_data = Clock::now();
    auto last_ping = Clock::now();
    constexpr auto kPingEvery = std::chrono::seconds(5);
    constexpr auto kDeadAfter = std::chrono::seconds(15);
    while (!stopped_) {
      // Replies already read.
      for (;;) {
        auto next = c->next_buffered();
        if (!next) return next.error();
        if (!*next) break;
        Reply& r = **next;
        if (r.type != REDIS_REPLY_ARRAY || r.elements.empty()) continue;
        const std::string& kind = r.elements[0].str;
        if (kind == "psubscribe") {
          established = true;
          backoff.reset();
          callback_(WatchEvent{WatchEvent::Type::kReset, {}, {}});
        } else if (kind == "pmessage" && r.elements.size() == 4) {
          const std::string& ch = r.elements[2].str;
          if (ch.compare(0, channel_prefix.size(), channel_prefix) != 0) continue;
          deliver(ch.substr(channel_prefix.size()), r.elements[3].str);
        }
      }
      auto got = c->receive(std::chrono::milliseconds(200));
      if (!got) return got.error();
      auto now = Clock::now();
      if (*got) {
        last_data = now;
        continue;
      }
      if (now - last_data > kDeadAfter)
        return KvError{KvErrorKind::kUnavailable, "no reply to PING"};
      if (now - last_ping > kPingEvery) {
        // Allowed in subscribed mode; its reply proves the connection is alive.
        if (auto sent = c->send({"PING"}); !sent) return sent.error();
        last_ping = now;
      }
    }
    return {};
  }

  void deliver(std::string key, const std::string& event) {
    if (event == "expire" || event == "pexpire") return;  // a time to live renewed: same value
    if (event == "del" || event == "expired" || event == "evicted") {
      callback_(WatchEvent{WatchEvent::Type::kDelete, std::move(key), {}});
      return;
    }
    // Notifications carry no value: read it (nil when it changed again since).
    auto v = client_.get(key);
    if (!v) {
      logger()->warn("{}: watch: reading \"{}\": {}", client_.describe(), key, v.error().message);
      return;  // the connection is likely going: the kReset after reconnecting re-reads all
    }
    if (*v)
      callback_(WatchEvent{WatchEvent::Type::kPut, std::move(key), std::move(**v)});
    else
      callback_(WatchEvent{WatchEvent::Type::kDelete, std::move(key), {}});
  }

  RedisClient& client_;
  bool warned_ = false;
};

std::unique_ptr<Watch> RedisClient::watch(std::string prefix,
                                          std::function<void(const WatchEvent&)> callback) {
  return std::make_unique<RedisWatch>(*this, std::move(prefix), std::move(callback));
}

}  // namespace

KvResult<std::unique_ptr<Client>> make_redis_client(RedisOptions options) {
  if (options.endpoints.empty())
    return KvError{KvErrorKind::kRejected, "redis: endpoints: at least one is required"};
  if (options.db < 0) return KvError{KvErrorKind::kRejected, "redis: db: must be >= 0"};
  SslCtxPtr tls;
  if (options.tls) {
    auto ctx = make_redis_tls_context(*options.tls);
    if (!ctx) return KvError{ctx.error().kind, "redis: " + ctx.error().message};
    tls = std::move(*ctx);
  }
  return std::unique_ptr<Client>(std::make_unique<RedisClient>(std::move(options), std::move(tls)));
}

}  // namespace turnpike::kv
