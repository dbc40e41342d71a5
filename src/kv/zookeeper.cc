// ZooKeeper with the C client (Debian 12: libzookeeper-mt 3.8, multi-threaded: synchronous calls
// from any thread, callbacks on its own completion thread).
//
// One session (zhandle) per client, created on first use and again after it expired; the C
// client reconnects a session by itself (and re-sends the digest credentials). Keys are znode
// paths without the leading '/'. put() creates the missing parent znodes.
//
// The 3.8 C client has no persistent recursive watches, so a watch walks the tree under its
// prefix setting one-shot data and child watches on every znode; any of them firing (or the
// session changing state) marks the walk dirty, and the next walk, which re-arms the watches,
// is compared with the previous one to produce kPut/kDelete events.

// The synchronous calls are only declared for the multi-threaded library.
#define THREADED
#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include "common/log.h"
#include "kv/kv.h"
#include "kv/kv_internal.h"

namespace turnpike::kv {
namespace {

const std::shared_ptr<spdlog::logger>& logger() {
  static auto l = log::get("kv");
  return l;
}

void zk_log(const char* message) {
  logger()->debug("zookeeper: {}", message);
}

// Set by the watches' znode watchers: something under the prefix may have changed.
struct WatchState {
  std::mutex mu;
  std::condition_variable cv;
  bool dirty = true;
  bool stopped = false;

  void mark() {
    {
      std::lock_guard lock(mu);
      dirty = true;
    }
    cv.notify_all();
  }
};

void node_watcher(zhandle_t*, int, int, const char*, void* ctx) {
  static_cast<WatchState*>(ctx)->mark();
}

struct HandleCloser {
  void operator()(zhandle_t* zh) const { zookeeper_close(zh); }
};
using Handle = std::shared_ptr<zhandle_t>;

class ZooKeeperClient final : public Client {
public:
  explicit ZooKeeperClient(ZooKeeperOptions options) : options_(std::move(options)) {
    for (const auto& e : options_.endpoints)
      hosts_ += (hosts_.empty() ? "" : ",") + e;
  }
  ~ZooKeeperClient() override {
    async_pool_.join();
    Handle h;
    {
      std::lock_guard lock(mu_);
      h = std::move(handle_);
    }
    // Closed outside mu_: zookeeper_close joins the thread that runs session_watcher, which
    // takes mu_. No watcher runs after this.
    h.reset();
  }

  std::string describe() const override { return "zookeeper " + hosts_; }

  KvResult<std::optional<std::string>> get(std::string_view key) override {
    auto h = handle();
    if (!h)
      return h.error();
    std::string value;
    int rc = read(h->get(), path_of(key), nullptr, value);
    if (rc == ZNONODE)
      return std::optional<std::string>();
    if (rc != ZOK)
      return error(rc);
    return std::optional<std::string>(std::move(value));
  }

  KvResult<std::vector<Entry>> list(std::string_view prefix) override {
    auto h = handle();
    if (!h)
      return h.error();
    std::map<std::string, std::string> found;
    int rc = walk(h->get(), std::string(prefix), nullptr, found);
    if (rc != ZOK)
      return error(rc);
    std::vector<Entry> out;
    for (auto& [k, v] : found)
      if (k.starts_with(prefix))
        out.push_back(Entry{k, std::move(v)});
    return out;
  }

  KvResult<void> put(std::string_view key, std::string_view value) override {
    auto h = handle();
    if (!h)
      return h.error();
    zhandle_t* zh = h->get();
    std::string path = path_of(key);
    // Parents first: ZooKeeper has no implicit directories.
    for (size_t slash = path.find('/', 1); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      int rc = zoo_create(zh, path.substr(0, slash).c_str(), nullptr, -1, acl(), 0, nullptr, 0);
      if (rc != ZOK && rc != ZNODEEXISTS)
        return error(rc);
    }
    int len = static_cast<int>(value.size());
    for (int attempt = 0; attempt < 3; ++attempt) {
      int rc = zoo_set(zh, path.c_str(), value.data(), len, -1);
      if (rc == ZOK)
        return {};
      if (rc != ZNONODE)
        return error(rc);
      rc = zoo_create(zh, path.c_str(), value.data(), len, acl(), 0, nullptr, 0);
      if (rc == ZOK)
        return {};
      if (rc != ZNODEEXISTS) // created meanwhile: set it
        return error(rc);
    }
    return KvError{KvErrorKind::kUnavailable, describe() + ": " + std::string(key) + ": contended"};
  }

  KvResult<bool> erase(std::string_view key) override {
    auto h = handle();
    if (!h)
      return h.error();
    int rc = zoo_delete(h->get(), path_of(key).c_str(), -1);
    if (rc == ZOK)
      return true;
    if (rc == ZNONODE)
      return false;
    return error(rc);
  }

  KvResult<bool> put_if_absent(std::string_view, std::string_view,
                               std::chrono::milliseconds) override {
    return unsupported("put_if_absent");
  }
  KvResult<bool> refresh(std::string_view, std::string_view, std::chrono::milliseconds) override {
    return unsupported("refresh");
  }
  KvResult<bool> compare_and_delete(std::string_view, std::string_view) override {
    return unsupported("compare_and_delete");
  }

  std::unique_ptr<Watch> watch(std::string prefix,
                               std::function<void(const WatchEvent&)> callback) override;

  // A connected session (waiting up to the timeout for it); a new one when it expired.
  KvResult<Handle> handle() {
    Handle expired; // closed after mu_ is released (see the destructor)
    std::unique_lock lock(mu_);
    int state = handle_ ? zoo_state(handle_.get()) : 0;
    if (!handle_ || state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE) {
      if (handle_)
        logger()->info("{}: session {}, starting a new one", describe(),
                       state == ZOO_AUTH_FAILED_STATE ? "authentication failed" : "expired");
      expired = std::move(handle_);
      zhandle_t* zh = zookeeper_init2(hosts_.c_str(), &ZooKeeperClient::session_watcher, 10000,
                                      nullptr, this, 0, &zk_log);
      if (!zh)
        return KvError{KvErrorKind::kUnavailable, describe() + ": cannot create a session"};
      handle_ = Handle(zh, HandleCloser());
      if (!options_.username.empty()) {
        std::string cred = options_.username + ":" + options_.password;
        // Queued before any request of ours; the C client sends it again on reconnection.
        zoo_add_auth(zh, "digest", cred.data(), static_cast<int>(cred.size()), nullptr, nullptr);
      }
    }
    Handle h = handle_;
    bool up = session_cv_.wait_for(lock, options_.timeout,
                                   [&] { return zoo_state(h.get()) == ZOO_CONNECTED_STATE; });
    lock.unlock();
    if (!up)
      return KvError{KvErrorKind::kUnavailable, describe() + ": not connected"};
    return h;
  }

  // Adds every key under `prefix` to `out`, setting watches that mark `state` when given.
  int walk(zhandle_t* zh, const std::string& prefix, WatchState* state,
           std::map<std::string, std::string>& out) {
    // The deepest znode that contains every key with this prefix.
    std::string dir =
        prefix.substr(0, prefix.rfind('/') == std::string::npos ? 0 : prefix.rfind('/'));
    return visit(zh, dir.empty() ? "/" : "/" + dir, state, out);
  }

  int visit(zhandle_t* zh, const std::string& path, WatchState* state,
            std::map<std::string, std::string>& out) {
    if (path == "/zookeeper")
      return ZOK; // the server's own quota and config znodes
    std::string value;
    int rc = read(zh, path, state, value);
    if (rc == ZNONODE) {
      // Not there (yet): watch for its creation.
      if (state) {
        Stat st;
        int erc = zoo_wexists(zh, path.c_str(), node_watcher, state, &st);
        return erc == ZNONODE || erc == ZOK ? ZOK : erc;
      }
      return ZOK;
    }
    if (rc != ZOK)
      return rc;
    String_vector children{0, nullptr};
    rc = state ? zoo_wget_children(zh, path.c_str(), node_watcher, state, &children)
               : zoo_get_children(zh, path.c_str(), 0, &children);
    if (rc == ZNONODE)
      return ZOK; // deleted meanwhile
    if (rc != ZOK)
      return rc;
    std::vector<std::string> names(children.data, children.data + children.count);
    deallocate_String_vector(&children);
    if (path != "/" && (names.empty() || !value.empty()))
      out[path.substr(1)] = std::move(value);
    std::sort(names.begin(), names.end());
    for (const auto& n : names) {
      rc = visit(zh, (path == "/" ? "/" : path + "/") + n, state, out);
      if (rc != ZOK)
        return rc;
    }
    return ZOK;
  }

  KvError error(int rc) const {
    KvErrorKind kind = KvErrorKind::kProtocol;
    if (rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT || rc == ZSESSIONEXPIRED ||
        rc == ZINVALIDSTATE || rc == ZCLOSING || rc == ZSESSIONMOVED)
      kind = KvErrorKind::kUnavailable;
    else if (rc == ZNOAUTH || rc == ZAUTHFAILED || rc == ZBADARGUMENTS || rc == ZNOTEMPTY)
      kind = KvErrorKind::kRejected;
    return KvError{kind, describe() + ": " + zerror(rc)};
  }

  std::shared_ptr<WatchState> new_watch_state() {
    std::lock_guard lock(mu_);
    // Kept until the session is closed: ZooKeeper may still call a watcher of a stopped watch.
    watch_states_.push_back(std::make_shared<WatchState>());
    return watch_states_.back();
  }

protected:
  void run_detached(std::function<void()> job) override {
    boost::asio::post(async_pool_, std::move(job));
  }

private:
  static void session_watcher(zhandle_t*, int type, int, const char*, void* ctx) {
    if (type != ZOO_SESSION_EVENT)
      return;
    auto* self = static_cast<ZooKeeperClient*>(ctx);
    {
      std::lock_guard lock(self->mu_);
      for (auto& s : self->watch_states_)
        if (!s->stopped) {
          std::lock_guard sl(s->mu);
          s->dirty = true;
          s->cv.notify_all();
        }
    }
    self->session_cv_.notify_all();
  }

  static std::string path_of(std::string_view key) {
    std::string p = "/" + std::string(key);
    while (p.size() > 1 && p.ends_with('/'))
      p.pop_back();
    return p;
  }

  const ACL_vector* acl() const {
    return options_.username.empty() ? &ZOO_OPEN_ACL_UNSAFE : &ZOO_CREATOR_ALL_ACL;
  }

  static int read(zhandle_t* zh, const std::string& path, WatchState* state, std::string& value) {
    value.assign(64 * 1024, '\0');
    for (;;) {
      int len = static_cast<int>(value.size());
      Stat st;
      int rc = state ? zoo_wget(zh, path.c_str(), node_watcher, state, value.data(), &len, &st)
                     : zoo_get(zh, path.c_str(), 0, value.data(), &len, &st);
      if (rc != ZOK)
        return rc;
      if (st.dataLength > static_cast<int>(value.size())) {
        value.assign(static_cast<size_t>(st.dataLength), '\0');
        continue;
      }
      value.resize(len < 0 ? 0 : static_cast<size_t>(len));
      return ZOK;
    }
  }

  KvError unsupported(const char* op) const {
    return KvError{KvErrorKind::kRejected, describe() + ": " + op + " is not supported"};
  }

  ZooKeeperOptions options_;
  std::string hosts_;
  std::mutex mu_;
  std::condition_variable session_cv_;
  std::vector<std::shared_ptr<WatchState>> watch_states_; // guarded by mu_
  Handle handle_;                                         // guarded by mu_; closed first
  boost::asio::thread_pool async_pool_{1};
};

class ZooKeeperWatch final : public ThreadedWatch {
public:
  ZooKeeperWatch(ZooKeeperClient& client, std::string prefix,
                 std::function<void(const WatchEvent&)> callback)
      : ThreadedWatch(std::move(prefix), std::move(callback)), client_(client),
        state_(client.new_watch_state()) {
    launch();
  }
  ~ZooKeeperWatch() override { stop(); }

  void stop() override {
    {
      std::lock_guard lock(state_->mu);
      state_->stopped = true;
    }
    state_->cv.notify_all();
    ThreadedWatch::stop();
  }

private:
  void run() override {
    Backoff backoff;
    bool established = false;
    std::map<std::string, std::string> known;
    while (!stopped_) {
      {
        std::lock_guard lock(state_->mu);
        state_->dirty = false;
      }
      std::map<std::string, std::string> now;
      KvError failure;
      bool ok = false;
      if (auto h = client_.handle()) {
        int rc = client_.walk(h->get(), prefix_, state_.get(), now);
        ok = rc == ZOK;
        if (!ok)
          failure = client_.error(rc);
      } else {
        failure = h.error();
      }
      if (stopped_)
        break;
      if (!ok) {
        if (established) {
          callback_(WatchEvent{WatchEvent::Type::kLost, {}, {}});
          logger()->warn("{}: watch on \"{}\" interrupted: {}", client_.describe(), prefix_,
                         failure.message);
        }
        established = false;
        pause(backoff.next());
        continue;
      }
      if (!established) {
        established = true;
        backoff.reset();
        known = std::move(now);
        callback_(WatchEvent{WatchEvent::Type::kReset, {}, {}});
      } else {
        for (const auto& [k, v] : known)
          if (!now.count(k))
            callback_(WatchEvent{WatchEvent::Type::kDelete, k, {}});
        for (const auto& [k, v] : now) {
          auto it = known.find(k);
          if (it == known.end() || it->second != v)
            callback_(WatchEvent{WatchEvent::Type::kPut, k, v});
        }
        known = std::move(now);
      }
      std::unique_lock lock(state_->mu);
      state_->cv.wait(lock, [&] { return state_->dirty || state_->stopped; });
    }
  }

  ZooKeeperClient& client_;
  std::shared_ptr<WatchState> state_;
};

std::unique_ptr<Watch> ZooKeeperClient::watch(std::string prefix,
                                              std::function<void(const WatchEvent&)> callback) {
  return std::make_unique<ZooKeeperWatch>(*this, std::move(prefix), std::move(callback));
}

} // namespace

KvResult<std::unique_ptr<Client>> make_zookeeper_client(ZooKeeperOptions options) {
  if (options.endpoints.empty())
    return KvError{KvErrorKind::kRejected, "zookeeper: endpoints: at least one is required"};
  static std::once_flag quiet;
  // The C client logs to stderr at INFO by default; ours go through zk_log at debug.
  std::call_once(quiet, [] { zoo_set_debug_level(ZOO_LOG_LEVEL_WARN); });
  return std::unique_ptr<Client>(std::make_unique<ZooKeeperClient>(std::move(options)));
}

} // namespace turnpike::kv
