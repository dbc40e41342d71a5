// The kv clients against the real stores: an etcd 3.4 and a redis-server started by the test on
// kernel-chosen ports (testrig.md section 4). Each test runs on both backends; a backend whose
// server binary is missing is skipped (scripts/install-deps.sh test installs them).

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "kv/kv.h"
#include "kv/kv_internal.h"

namespace turnpike::kv {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

bool port_open(int port) {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(s);
  return ok;
}

template <class F>
bool eventually(F f, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return f();
}

// A store process; killed (by its PID) when destroyed.
class Server {
 public:
  virtual ~Server() { stop(); }
  virtual std::unique_ptr<Client> client(std::vector<std::string> endpoints = {}) = 0;
  virtual std::string name() const = 0;
  virtual void start() = 0;
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }
  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

 protected:
  void spawn(const std::vector<std::string>& args, const fs::path& log) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    ASSERT_EQ(posix_spawnp(&pid_, argv[0], &fa, nullptr, argv.data(), environ), 0) << args[0];
    posix_spawn_file_actions_destroy(&fa);
    ASSERT_TRUE(eventually([&] { return port_open(port_); }, 20s)) << args[0] << " did not start";
  }

  pid_t pid_ = -1;
  int port_ = 0;
  fs::path dir_;
};

class EtcdServer final : public Server {
 public:
  EtcdServer() {
    dir_ = fs::temp_directory_path() / ("kv_test_etcd_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    port_ = free_port();
    peer_port_ = free_port();
  }
  ~EtcdServer() override {
    stop();
    fs::remove_all(dir_);
  }
  std::string name() const override { return "etcd"; }
  void start() override {
    std::string client = "http://127.0.0.1:" + std::to_string(port_);
    std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
    spawn({"etcd", "--name", "kvtest", "--data-dir", (dir_ / "data").string(), "--logger", "zap",
           "--log-level", "warn", "--listen-client-urls", client, "--advertise-client-urls", client,
           "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster",
           "kvtest=" + peer},
          dir_ / "etcd.log");
    // Ready when a request succeeds (the port opens before the server is elected).
    auto c = this->client();
    ASSERT_TRUE(eventually([&] { return c->get("ready").has_value(); }, 20s));
  }
  std::unique_ptr<Client> client(std::vector<std::string> endpoints = {}) override {
    EtcdOptions o;
    o.endpoints = endpoints.empty() ? std::vector<std::string>{endpoint()} : endpoints;
    o.timeout = 2s;
    auto c = make_etcd_client(o);
    EXPECT_TRUE(c) << c.error().message;
    return std::move(*c);
  }

 private:
  int peer_port_ = 0;
};

// A CA with a server certificate for 127.0.0.1 and a client certificate, made by the openssl
// CLI in `dir` (ca.pem, server.pem/-key.pem, client.pem/-key.pem); `name` tells CAs apart.
void make_pki(const fs::path& dir, const std::string& name) {
  fs::create_directories(dir);
  std::string script = "cd '" + dir.string() + "' && exec >openssl.log 2>&1 && set -e && " +
                       "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                       "-keyout ca-key.pem -out ca.pem -days 2 -subj '/CN=" + name + " CA' && "
                       "for who in server client; do "
                       "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                       "-keyout $who-key.pem -out $who.csr -subj /CN=$who && "
                       "printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,"
                       "clientAuth\\n' > $who.ext && "
                       "openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca-key.pem "
                       "-CAcreateserial -days 2 -extfile $who.ext -out $who.pem; done";
  ASSERT_EQ(std::system(script.c_str()), 0) << "openssl in " << dir;
}

class RedisServer final : public Server {
 public:
  // `tls`: TLS only (no plain port), client certificates required.
  explicit RedisServer(std::string password = {}, bool tls = false)
      : password_(std::move(password)), tls_(tls) {
    dir_ = fs::temp_directory_path() / ("kv_test_redis_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    port_ = free_port();
    if (tls_) make_pki(dir_ / "pki", "kv test");
  }
  fs::path pki() const { return dir_ / "pki"; }
  ~RedisServer() override {
    stop();
    fs::remove_all(dir_);
  }
  std::string name() const override { return "redis"; }
  void start() override {
    std::vector<std::string> args{"redis-server", "--bind", "127.0.0.1", "--dir", dir_.string(),
                                  "--save", "", "--appendonly", "no", "--daemonize", "no"};
    if (tls_) {
      args.insert(args.end(), {"--port", "0", "--tls-port", std::to_string(port_),
                               "--tls-cert-file", (pki() / "server.pem").string(),
                               "--tls-key-file", (pki() / "server-key.pem").string(),
                               "--tls-ca-cert-file", (pki() / "ca.pem").string(),
                               "--tls-auth-clients", "yes"});
    } else {
      args.insert(args.end(), {"--port", std::to_string(port_)});
    }
    if (!password_.empty()) {
      args.push_back("--requirepass");
      args.push_back(password_);
    }
    spawn(args, dir_ / "redis.log");
  }
  std::unique_ptr<Client> client(std::vector<std::string> endpoints = {}) override {
    RedisOptions o;
    o.endpoints = endpoints.empty() ? std::vector<std::string>{endpoint()} : endpoints;
    o.timeout = 2s;
    o.password = password_;
    o.db = 2;
    if (tls_)
      o.tls = TlsOptions{(pki() / "ca.pem").string(), (pki() / "client.pem").string(),
                         (pki() / "client-key.pem").string(), false};
    auto c = make_redis_client(o);
    EXPECT_TRUE(c) << c.error().message;
    return std::move(*c);
  }

 private:
  std::string password_;
  bool tls_ = false;
};

bool have(const char* binary) {
  std::string cmd = std::string("command -v ") + binary + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// Events a watch delivered, for assertions from the test thread.
struct Recorder {
  std::mutex mu;
  std::vector<WatchEvent> events;
  void operator()(const WatchEvent& e) {
    std::lock_guard lock(mu);
    events.push_back(e);
  }
  bool has(WatchEvent::Type type, const std::string& key = {}, const std::string& value = {}) {
    std::lock_guard lock(mu);
    for (const auto& e : events)
      if (e.type == type && e.key == key && (value.empty() || e.value == value)) return true;
    return false;
  }
  size_t count(WatchEvent::Type type) {
    std::lock_guard lock(mu);
    return std::count_if(events.begin(), events.end(), [&](const auto& e) { return e.type == type; });
  }
};

class KvTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "etcd") {
      if (!have("etcd")) GTEST_SKIP() << "etcd is not installed";
      server_ = std::make_unique<EtcdServer>();
    } else {
      if (!have("redis-server")) GTEST_SKIP() << "redis-server is not installed";
      server_ = std::make_unique<RedisServer>("s3cret", GetParam() == "redis_tls");
    }
    server_->start();
    client_ = server_->client();
  }

  std::unique_ptr<Server> server_;
  std::unique_ptr<Client> client_;
};

TEST_P(KvTest, PutGetListErase) {
  auto& c = *client_;
  ASSERT_TRUE(c.put("app/a", "1"));
  ASSERT_TRUE(c.put("app/b/c", std::string("bin\0ary", 7)));
  ASSERT_TRUE(c.put("app/empty", ""));
  ASSERT_TRUE(c.put("apq", "outside the prefix"));
  auto a = c.get("app/a");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->value_or("?"), "1");
  auto missing = c.get("app/none");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());
  auto empty = c.get("app/empty");
  ASSERT_TRUE(empty && empty->has_value());
  EXPECT_EQ(**empty, "");

  auto all = c.list("app/");
  ASSERT_TRUE(all) << all.error().message;
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].key, "app/a");
  EXPECT_EQ((*all)[1].key, "app/b/c");
  EXPECT_EQ((*all)[1].value, std::string("bin\0ary", 7));
  EXPECT_EQ((*all)[2].key, "app/empty");

  auto erased = c.erase("app/a");
  ASSERT_TRUE(erased);
  EXPECT_TRUE(*erased);
  auto again = c.erase("app/a");
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
  EXPECT_EQ(c.list("app/")->size(), 2u);
  // A glob character in a prefix is literal.
  ASSERT_TRUE(c.put("g*/x", "1"));
  EXPECT_EQ(c.list("g*/")->size(), 1u);
  EXPECT_EQ(c.list("g")->size(), 1u);
}

TEST_P(KvTest, LockPrimitives) {
  auto& c = *client_;
  auto first = c.put_if_absent("lock/a", "owner-1", 2s);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(*first);
  auto second = c.put_if_absent("lock/a", "owner-2", 2s);
  ASSERT_TRUE(second);
  EXPECT_FALSE(*second);
  EXPECT_EQ(c.get("lock/a")->value_or(""), "owner-1");

  EXPECT_TRUE(*c.refresh("lock/a", "owner-1", 2s));
  EXPECT_FALSE(*c.refresh("lock/a", "owner-2", 2s));
  EXPECT_FALSE(*c.compare_and_delete("lock/a", "owner-2"));
  EXPECT_TRUE(c.get("lock/a")->has_value());
  EXPECT_TRUE(*c.compare_and_delete("lock/a", "owner-1"));
  EXPECT_FALSE(c.get("lock/a")->has_value());
  EXPECT_TRUE(*c.put_if_absent("lock/a", "owner-2", 0ms));

  // Not refreshed: expires, and someone else can take it.
  ASSERT_TRUE(*c.put_if_absent("lock/b", "owner-1", 1s));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(eventually([&] { return !c.get("lock/b")->has_value(); }, 15s));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 500ms);
  EXPECT_TRUE(*c.put_if_absent("lock/b", "owner-2", 1s));
  EXPECT_FALSE(*c.refresh("lock/b", "owner-1", 1s));

  // Refreshed: outlives its time to live several times over.
  ASSERT_TRUE(*c.put_if_absent("lock/c", "owner-1", 2s));
  for (int i = 0; i < 8; ++i) {
    std::this_thread::sleep_for(500ms);
    ASSERT_TRUE(*c.refresh("lock/c", "owner-1", 2s)) << i;
  }
  EXPECT_EQ(c.get("lock/c")->value_or(""), "owner-1");
}

TEST_P(KvTest, WatchFollowsPutsDeletesAndExpiry) {
  Recorder rec;
  auto w = client_->watch("w/", std::ref(rec));
  ASSERT_TRUE(eventually([&] { return rec.count(WatchEvent::Type::kReset) == 1; }));
  auto& c = *client_;
  ASSERT_TRUE(c.put("other/x", "not watched"));
  ASSERT_TRUE(c.put("w/one", "v1"));
  EXPECT_TRUE(eventually([&] { return rec.has(WatchEvent::Type::kPut, "w/one", "v1"); }));
  ASSERT_TRUE(c.put("w/one", "v2"));
  EXPECT_TRUE(eventually([&] { return rec.has(WatchEvent::Type::kPut, "w/one", "v2"); }));
  ASSERT_TRUE(c.erase("w/one"));
  EXPECT_TRUE(eventually([&] { return rec.has(WatchEvent::Type::kDelete, "w/one"); }));
  // Changes in quick succession: the last event tells the final state (Redis reads the value
  // when the notification arrives, so intermediate values may be skipped).
  ASSERT_TRUE(c.put("w/fast", "a"));
  ASSERT_TRUE(c.put("w/fast", "b"));
  ASSERT_TRUE(c.put("w/fast", "c"));
  EXPECT_TRUE(eventually([&] {
    std::lock_guard lock(rec.mu);
    for (auto it = rec.events.rbegin(); it != rec.events.rend(); ++it)
      if (it->key == "w/fast") return it->type == WatchEvent::Type::kPut && it->value == "c";
    return false;
  }));
  ASSERT_TRUE(*c.put_if_absent("w/lease", "me", 1s));
  EXPECT_TRUE(eventually([&] { return rec.has(WatchEvent::Type::kPut, "w/lease", "me"); }));
  // The time to live runs out: a delete event (the failover signal of a lock).
  EXPECT_TRUE(eventually([&] { return rec.has(WatchEvent::Type::kDelete, "w/lease"); }, 15s));
  EXPECT_FALSE(rec.has(WatchEvent::Type::kPut, "other/x"));
  w->stop();
  size_t n = rec.events.size();
  ASSERT_TRUE(c.put("w/after", "stopped"));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(rec.events.size(), n);
}

TEST_P(KvTest, UnavailableIsAnErrorAndRecoveryIsAutomatic) {
  Recorder rec;
  auto w = client_->watch("r/", std::ref(rec));
  ASSERT_TRUE(eventually([&] { return rec.count(WatchEvent::Type::kReset) == 1; }));
  ASSERT_TRUE(client_->put("r/k", "before"));
  server_->stop();
  auto r = client_->get("r/k");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, KvErrorKind::kUnavailable) << r.error().message;
  EXPECT_NE(r.error().message.find(server_->name()), std::string::npos) << r.error().message;
  EXPECT_FALSE(client_->put_if_absent("r/lock", "x", 1s));
  EXPECT_TRUE(eventually([&] { return rec.count(WatchEvent::Type::kLost) == 1; }));

  server_->start();  // same port and (etcd) data directory
  EXPECT_TRUE(eventually([&] { return client_->put("r/k2", "after").has_value(); }, 20s));
  EXPECT_TRUE(eventually([&] { return rec.count(WatchEvent::Type::kReset) == 2; }, 20s));
  ASSERT_TRUE(client_->put("r/k3", "followed again"));
  EXPECT_TRUE(eventually([&] { return rec.has(WatchEvent::Type::kPut, "r/k3", "followed again"); }));
}

TEST_P(KvTest, FailsOverToTheNextEndpoint) {
  auto c = server_->client({"127.0.0.1:" + std::to_string(free_port()), server_->endpoint()});
  ASSERT_TRUE(c->put("f/k", "v"));
  EXPECT_EQ(c->get("f/k")->value_or(""), "v");
  auto none = server_->client({"127.0.0.1:" + std::to_string(free_port())});
  auto r = none->get("f/k");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().unavailable());
}

TEST_P(KvTest, AsyncPostsTheResultToTheExecutor) {
  ASSERT_TRUE(client_->put("async/k", "v"));
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);  // the result is posted from another thread
  std::optional<std::string> got;
  std::thread::id ran_on;
  client_->async<std::optional<std::string>>(
      [](Client& c) { return c.get("async/k"); }, io.get_executor(),
      [&](KvResult<std::optional<std::string>> r) {
        ran_on = std::this_thread::get_id();
        if (r && *r) got = **r;
        work.reset();
      });
  io.run_for(5s);
  EXPECT_EQ(got.value_or(""), "v");
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

INSTANTIATE_TEST_SUITE_P(Backends, KvTest, ::testing::Values("etcd", "redis", "redis_tls"),
                         [](const auto& info) { return info.param; });

TEST(KvRedis, WrongPasswordIsRejectedNotUnavailable) {
  if (!have("redis-server")) GTEST_SKIP() << "redis-server is not installed";
  RedisServer server("right");
  server.start();
  RedisOptions o;
  o.endpoints = {server.endpoint()};
  o.password = "wrong";
  auto c = make_redis_client(o);
  ASSERT_TRUE(c);
  auto r = (*c)->get("k");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, KvErrorKind::kRejected) << r.error().message;
}

// A command that timed out on a pooled connection may still run on the server: it must not be sent
// again on a new connection (only a connection the server closed is retried).
TEST(KvRedis, ACommandThatTimedOutIsNotSentTwice) {
  if (!have("redis-server")) GTEST_SKIP() << "redis-server is not installed";
  RedisServer server;
  server.start();
  RedisOptions o;
  o.endpoints = {server.endpoint()};
  o.timeout = 200ms;
  auto c = make_redis_client(o);
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE((*c)->put("runs", "0"));  // a pooled connection
  // Counts its runs, then keeps the server busy for 600 ms (three times the timeout).
  const char* slow =
      "redis.call('incr', KEYS[1]) local s = redis.call('time') "
      "repeat local n = redis.call('time') "
      "until (n[1] - s[1]) * 1000000 + (n[2] - s[2]) > 600000 return 1";
  auto r = (*c)->eval(slow, {"runs"}, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, KvErrorKind::kUnavailable) << r.error().message;
  EXPECT_NE(r.error().message.find("timed out"), std::string::npos) << r.error().message;
  std::this_thread::sleep_for(1500ms);  // anything queued behind the script has run by now
  auto runs = (*c)->get("runs");
  ASSERT_TRUE(runs) << runs.error().message;
  ASSERT_TRUE(*runs);
  EXPECT_EQ(**runs, "1");
}

// Redis over TLS: what the server and the client refuse, and what each refusal says.
class KvRedisTls : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have("redis-server")) GTEST_SKIP() << "redis-server is not installed";
    server_ = std::make_unique<RedisServer>("", true);
    server_->start();
  }
  KvResult<std::optional<std::string>> get_with(TlsOptions tls, std::string endpoint = {}) {
    RedisOptions o;
    o.endpoints = {endpoint.empty() ? server_->endpoint() : endpoint};
    o.timeout = 2s;
    o.tls = std::move(tls);
    auto c = make_redis_client(o);
    EXPECT_TRUE(c) << c.error().message;
    if (!c) return c.error();
    return (*c)->get("k");
  }
  TlsOptions good() const {
    auto p = server_->pki();
    return {(p / "ca.pem").string(), (p / "client.pem").string(), (p / "client-key.pem").string(),
            false};
  }
  std::unique_ptr<RedisServer> server_;
};

TEST_F(KvRedisTls, ServesWithTheRightCaAndClientCertificate) {
  auto r = get_with(good());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->has_value());
}

TEST_F(KvRedisTls, AnotherCaIsRefusedWithAClearError) {
  auto other = server_->pki().parent_path() / "other";
  make_pki(other, "other");
  TlsOptions t = good();
  t.ca = (other / "ca.pem").string();
  auto r = get_with(t);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, KvErrorKind::kUnavailable);
  EXPECT_NE(r.error().message.find("redis 127.0.0.1:"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("certificate verify failed"), std::string::npos)
      << r.error().message;
  // insecureSkipVerify accepts it (the client certificate is still the server's business).
  t.insecure_skip_verify = true;
  auto skip = get_with(t);
  EXPECT_TRUE(skip) << skip.error().message;
}

TEST_F(KvRedisTls, TheServerNameIsChecked) {
  // The certificate is for IP 127.0.0.1, not for the name "localhost".
  auto r = get_with(good(), "localhost:" + server_->endpoint().substr(10));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("certificate verify failed"), std::string::npos)
      << r.error().message;
}

TEST_F(KvRedisTls, WithoutAClientCertificateTheServerRefuses) {
  TlsOptions t = good();
  t.cert.clear();
  t.key.clear();
  auto r = get_with(t);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().unavailable()) << r.error().message;
}

TEST_F(KvRedisTls, PlainTextToATlsPortFails) {
  RedisOptions o;
  o.endpoints = {server_->endpoint()};
  o.timeout = 1s;
  auto c = make_redis_client(o);
  ASSERT_TRUE(c);
  auto r = (*c)->get("k");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().unavailable()) << r.error().message;
}

TEST_P(KvTest, EvalRunsAScriptOnRedisOnly) {
  auto& c = *client_;
  const std::string script =
      "redis.call('set', KEYS[1], ARGV[1]) return {tonumber(ARGV[1]) + 1, #KEYS, -5}";
  auto r = c.eval(script, {"eval/k"}, {"41"});
  if (GetParam() == "etcd") {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, KvErrorKind::kRejected);
    return;
  }
  ASSERT_TRUE(r) << r.error().message;  // first use: NOSCRIPT, then EVAL
  EXPECT_EQ(*r, (std::vector<int64_t>{42, 1, -5}));
  EXPECT_EQ(c.get("eval/k")->value_or("?"), "41");
  auto again = c.eval(script, {"eval/k"}, {"1"});  // EVALSHA now finds it
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->front(), 2);
  auto one = c.eval("return 7", {}, {});
  ASSERT_TRUE(one) << one.error().message;
  EXPECT_EQ(*one, std::vector<int64_t>{7});
  auto bad = c.eval("return redis.call('nosuchcommand')", {}, {});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, KvErrorKind::kRejected);
  auto text = c.eval("return 'text'", {}, {});
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().kind, KvErrorKind::kProtocol);
}

// Debian's zookeeperd run directly with java, with its own zoo.cfg and data directory.
class ZooKeeperServer final : public Server {
 public:
  ZooKeeperServer() {
    dir_ = fs::temp_directory_path() / ("kv_test_zk_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "data");
    port_ = free_port();
    std::ofstream(dir_ / "zoo.cfg") << "tickTime=500\ndataDir=" << (dir_ / "data").string()
                                    << "\nclientPort=" << port_
                                    << "\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n";
  }
  ~ZooKeeperServer() override {
    stop();
    fs::remove_all(dir_);
  }
  static bool available() { return have("java") && fs::exists("/usr/share/java/zookeeper.jar"); }
  std::string name() const override { return "zookeeper"; }
  void start() override {
    spawn({"java", "-Xmx256m", "-cp", dir_.string() + ":/usr/share/java/zookeeper.jar",
           "org.apache.zookeeper.server.quorum.QuorumPeerMain", (dir_ / "zoo.cfg").string()},
          dir_ / "zookeeper.log");
    auto c = this->client();
    ASSERT_TRUE(eventually([&] { return c->get("ready").has_value(); }, 30s));
  }
  std::unique_ptr<Client> client(std::vector<std::string> endpoints = {}) override {
    ZooKeeperOptions o;
    o.endpoints = endpoints.empty() ? std::vector<std::string>{endpoint()} : endpoints;
    o.timeout = 2s;
    auto c = make_zookeeper_client(o);
    EXPECT_TRUE(c) << c.error().message;
    return std::move(*c);
  }
};

TEST(KvZooKeeper, PutGetListEraseWatch) {
  if (!ZooKeeperServer::available()) GTEST_SKIP() << "zookeeperd is not installed";
  ZooKeeperServer server;
  server.start();
  auto c = server.client();
  Recorder rec;
  auto w = c->watch("app/", std::ref(rec));
  ASSERT_TRUE(eventually([&] { return rec.count(WatchEvent::Type::kReset) == 1; }));
  ASSERT_TRUE(c->put("app/a", "1"));
  ASSERT_TRUE(c->put("app/b/c", std::string("bin\0ary", 7)));  // creates the znode app/b
  ASSERT_TRUE(c->put("app/empty", ""));
  ASSERT_TRUE(c->put("apq", "outside the prefix"));
  EXPECT_EQ(c->get("app/a")->value_or("?"), "1");
  EXPECT_FALSE(c->get("app/none")->has_value());
  auto all = c->list("app/");
  ASSERT_TRUE(all) << all.error().message;
  ASSERT_EQ(all->size(), 3u);  // app/b is a directory, not a key
  EXPECT_EQ((*all)[0].key, "app/a");
  EXPECT_EQ((*all)[1].key, "app/b/c");
  EXPECT_EQ((*all)[1].value, std::string("bin\0ary", 7));
  EXPECT_EQ((*all)[2].key, "app/empty");
  EXPECT_TRUE(eventually([&] { return rec.has(WatchEvent::Type::kPut, "app/b/c"); }));
  ASSERT_TRUE(c->put("app/a", "2"));
  EXPECT_TRUE(eventually([&] { return rec.has(WatchEvent::Type::kPut, "app/a", "2"); }));
  EXPECT_TRUE(*c->erase("app/a"));
  EXPECT_FALSE(*c->erase("app/a"));
  EXPECT_TRUE(eventually([&] { return rec.has(WatchEvent::Type::kDelete, "app/a"); }));
  EXPECT_FALSE(rec.has(WatchEvent::Type::kPut, "apq"));
  // What a ZooKeeper client cannot do is refused, not faked.
  auto lock = c->put_if_absent("app/lock", "x", 1s);
  ASSERT_FALSE(lock);
  EXPECT_EQ(lock.error().kind, KvErrorKind::kRejected);
  // The server goes away and comes back: kLost, then kReset, then changes are followed again.
  server.stop();
  auto r = c->get("app/empty");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, KvErrorKind::kUnavailable) << r.error().message;
  EXPECT_TRUE(eventually([&] { return rec.count(WatchEvent::Type::kLost) == 1; }, 20s));
  server.start();
  EXPECT_TRUE(eventually([&] { return rec.count(WatchEvent::Type::kReset) == 2; }, 30s));
  ASSERT_TRUE(c->put("app/later", "v"));
  EXPECT_TRUE(eventually([&] { return rec.has(WatchEvent::Type::kPut, "app/later", "v"); }));
}

TEST(KvOptions, BadOptionsAreRefused) {
  EXPECT_FALSE(make_etcd_client({}));
  EXPECT_FALSE(make_redis_client({}));
  EXPECT_FALSE(make_zookeeper_client({}));
  RedisOptions r;
  r.endpoints = {"127.0.0.1:6379"};
  r.tls = TlsOptions{"/nonexistent/ca.pem", "", "", false};
  auto tls = make_redis_client(r);
  ASSERT_FALSE(tls);
  EXPECT_NE(tls.error().message.find("/nonexistent/ca.pem"), std::string::npos);
  r.tls = TlsOptions{"", "/nonexistent/client.pem", "", false};
  EXPECT_FALSE(make_redis_client(r));
  r.tls = TlsOptions{};  // the system roots
  EXPECT_TRUE(make_redis_client(r));
  EtcdOptions e;
  e.endpoints = {"127.0.0.1:2379"};
  e.tls = TlsOptions{"/nonexistent/ca.pem", "", "", false};
  EXPECT_FALSE(make_etcd_client(e));
}

TEST(KvJsonStream, SplitsConcatenatedObjects) {
  std::string buf = R"({"a":{"b":"}{"}}
{"c":1}{"d":"\"}"} {"partial":)";
  std::vector<std::string> out;
  extract_json_objects(buf, out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], R"({"a":{"b":"}{"}})");
  EXPECT_EQ(out[1], R"({"c":1})");
  EXPECT_EQ(out[2], R"({"d":"\"}"})");
  EXPECT_EQ(buf, R"({"partial":)");
  buf += "2}";
  out.clear();
  extract_json_objects(buf, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(buf.empty());
}

}  // namespace
}  // namespace turnpike::kv
