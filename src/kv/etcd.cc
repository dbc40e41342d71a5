// etcd v3 through its JSON gateway (etcd 3.4: `/v3/...` over HTTP or HTTPS), with libcurl.
//
// The gateway's JSON is protobuf's mapping: keys and values are base64, int64 values are strings,
// and false or zero fields are omitted (a failed txn has no "succeeded", an empty value no
// "value"). A key with a time to live is bound to a lease of its own, granted just before the
// create-if-absent transaction and revoked when the key is compare-deleted.
//
// Failover: requests go to the endpoint that answered last; on a transport failure the next one
// is tried, and only when every endpoint failed is the operation kUnavailable.

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <thread>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <curl/curl.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include "common/log.h"
#include "kv/kv.h"
#include "kv/kv_internal.h"

namespace turnpike::kv {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

const std::shared_ptr<spdlog::logger>& logger() {
  static auto l = log::get("kv");
  return l;
}

std::once_flag g_curl_init;

std::string b64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> unb64(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out(3 * in.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as decoded zero bytes.
  size_t pad = 0;
  if (!in.empty() && in.back() == '=') ++pad;
  if (in.size() > 1 && in[in.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

// The end of a prefix range: the prefix with its last byte incremented (dropping trailing 0xff
// bytes); "\0" (everything) for an empty prefix, as etcdctl --prefix.
std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto c = static_cast<unsigned char>(end.back());
    if (c < 0xff) {
      end.back() = static_cast<char>(c + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

// A string field of the gateway's JSON, or "" when omitted.
std::string str_field(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
  return it->dump();
}

int64_t int_field(const json& j, const char* name) {
  auto s = str_field(j, name);
  if (s.empty()) return 0;
  try {
    return std::stoll(s);
  } catch (...) {
    return 0;
  }
}

size_t append_body(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

// curl's detailed message ("SSL certificate problem: unable to get local issuer certificate")
// when it wrote one, else the generic one for `rc`.
std::string curl_failure(CURLcode rc, const char* detail) {
  return detail[0] ? std::string(detail) : std::string(curl_easy_strerror(rc));
}

struct Reply {
  long status = 0;
  std::string body;
};

class EtcdClient final : public Client {
 public:
  explicit EtcdClient(EtcdOptions options, std::vector<std::string> bases)
      : options_(std::move(options)), bases_(std::move(bases)) {}

  ~EtcdClient() override {
    stopped_ = true;
    async_pool_.join();
    for (CURL* h : handles_) curl_easy_cleanup(h);
  }

  std::string describe() const override {
    std::string out = "etcd ";
    for (size_t i = 0; i < options_.endpoints.size(); ++i) {
      if (i) out += ',';
      out += options_.endpoints[i];
    }
    return out;
  }

  KvResult<std::optional<std::string>> get(std::string_view key) override {
    auto r = call("/v3/kv/range", json{{"key", b64(key)}});
    if (!r) return r.error();
    const auto& kvs = r->find("kvs");
    if (kvs == r->end() || !kvs->is_array() || kvs->empty()) return std::optional<std::string>{};
    auto value = decode_value((*kvs)[0]);
    if (!value) return value.error();
    return std::optional<std::string>(std::move(*value));
  }

  KvResult<std::vector<Entry>> list(std::string_view prefix) override {
    std::string key = prefix.empty() ? std::string(1, '\0') : std::string(prefix);
    auto r = call("/v3/kv/range", json{{"key", b64(key)}, {"range_end", b64(prefix_end(prefix))}});
    if (!r) return r.error();
    std::vector<Entry> out;
    auto kvs = r->find("kvs");
    if (kvs == r->end() || !kvs->is_array()) return out;
    for (const auto& kv : *kvs) {
      auto k = unb64(str_field(kv, "key"));
      auto v = decode_value(kv);
      if (!k || !v) return protocol("a key or value in a range reply is not base64");
      out.push_back(Entry{std::move(*k), std::move(*v)});
    }
    std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.key < b.key; });
    return out;
  }

  KvResult<void> put(std::string_view key, std::string_view value) override {
    auto r = call("/v3/kv/put", json{{"key", b64(key)}, {"value", b64(value)}});
    if (!r) return r.error();
    return {};
  }

  KvResult<bool> erase(std::string_view key) override {
    auto r = call("/v3/kv/deleterange", json{{"key", b64(key)}});
    if (!r) return r.error();
    return int_field(*r, "deleted") > 0;
  }

  KvResult<bool> put_if_absent(std::string_view key, std::string_view value,
                               std::chrono::milliseconds ttl) override {
    std::string lease;
    if (ttl.count() > 0) {
      auto seconds = std::max<int64_t>(1, (ttl.count() + 999) / 1000);
      auto g = call("/v3/lease/grant", json{{"TTL", std::to_string(seconds)}});
      if (!g) return g.error();
      lease = str_field(*g, "ID");
      if (lease.empty()) return protocol("lease grant returned no ID");
    }
    json put_req{{"key", b64(key)}, {"value", b64(value)}};
    if (!lease.empty()) put_req["lease"] = lease;
    json txn{{"compare", json::array({json{{"key", b64(key)},
                                            {"target", "CREATE"},
                                            {"result", "EQUAL"},
                                            {"create_revision", "0"}}})},
             {"success", json::array({json{{"request_put", put_req}}})}};
    auto r = call("/v3/kv/txn", txn);
    bool created = r && r->value("succeeded", false);
    if (!created && !lease.empty()) revoke(lease);
    if (!r) return r.error();
    return created;
  }

  KvResult<bool> refresh(std::string_view key, std::string_view value,
                         std::chrono::milliseconds) override {
    // etcd renews a lease for the TTL it was granted with; `ttl` cannot change it.
    auto r = call("/v3/kv/range", json{{"key", b64(key)}});
    if (!r) return r.error();
    auto kvs = r->find("kvs");
    if (kvs == r->end() || !kvs->is_array() || kvs->empty()) return false;
    auto current = decode_value((*kvs)[0]);
    if (!current) return current.error();
    if (*current != value) return false;
    std::string lease = str_field((*kvs)[0], "lease");
    if (lease.empty() || lease == "0") return true;  // no time to live
    auto k = call("/v3/lease/keepalive", json{{"ID", lease}});
    if (!k) return k.error();
    const json& res = k->contains("result") ? (*k)["result"] : *k;
    return int_field(res, "TTL") > 0;
  }

  KvResult<bool> compare_and_delete(std::string_view key, std::string_view value) override {
    json txn{{"compare", json::array({json{{"key", b64(key)},
                                            {"target", "VALUE"},
                                            {"result", "EQUAL"},
                                            {"value", b64(value)}}})},
             {"success", json::array({json{{"request_range", json{{"key", b64(key)}}}},
                                      json{{"request_delete_range", json{{"key", b64(key)}}}}})}};
    auto r = call("/v3/kv/txn", txn);
    if (!r) return r.error();
    if (!r->value("succeeded", false)) return false;
    // The key's lease would otherwise live on until its TTL: revoke it (best effort).
    try {
      const auto& kv = (*r)["responses"][0]["response_range"]["kvs"][0];
      std::string lease = str_field(kv, "lease");
      if (!lease.empty() && lease != "0") revoke(lease);
    } catch (const std::exception&) {
    }
    return true;
  }

  std::unique_ptr<Watch> watch(std::string prefix,
                               std::function<void(const WatchEvent&)> callback) override;

  // One streaming POST to /v3/watch on `base`; `on_object` gets each JSON object of the stream.
  // Returns when the stream ends, fails, or `stop` is set.
  KvResult<void> stream_watch(const std::string& base, const std::string& body,
                              const std::atomic<bool>& stop,
                              const std::function<bool(const json&)>& on_object);

  size_t endpoint_count() const { return bases_.size(); }
  size_t preferred() const { return preferred_; }
  const std::string& base(size_t i) const { return bases_[i % bases_.size()]; }

 protected:
  void run_detached(std::function<void()> job) override {
    boost::asio::post(async_pool_, std::move(job));
  }

 private:
  KvError protocol(std::string what) const {
    return KvError{KvErrorKind::kProtocol, describe() + ": " + what};
  }

  KvResult<std::string> decode_value(const json& kv) const {
    auto v = unb64(str_field(kv, "value"));
    if (!v) return protocol("a value is not base64");
    return std::move(*v);
  }

  void revoke(const std::string& lease) {
    auto r = call("/v3/lease/revoke", json{{"ID", lease}});
    if (!r) logger()->debug("{}: revoking lease {}: {}", describe(), lease, r.error().message);
  }

  CURL* take_handle() {
    {
      std::lock_guard lock(handles_mu_);
      if (!handles_.empty()) {
        CURL* h = handles_.back();
        handles_.pop_back();
        return h;
      }
    }
    std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    return curl_easy_init();
  }

  void give_back(CURL* h) {
    std::lock_guard lock(handles_mu_);
    handles_.push_back(h);
  }

 public:
  // Sets what every request to etcd shares: TLS, timeouts, the JSON content type and the token.
  void prepare(CURL* h, const std::string& url, const std::string& body, curl_slist*& headers,
               const std::string& token, bool streaming) const {
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(options_.timeout).count();
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::max<int64_t>(ms, 1)));
    if (!streaming) curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<int64_t>(ms, 1)));
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 5L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 5L);
    if (options_.tls) {
      const auto& t = *options_.tls;
      if (!t.ca.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, t.ca.c_str());
      if (!t.cert.empty()) curl_easy_setopt(h, CURLOPT_SSLCERT, t.cert.c_str());
      if (!t.key.empty()) curl_easy_setopt(h, CURLOPT_SSLKEY, t.key.c_str());
      if (t.insecure_skip_verify) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
      }
    }
    headers = curl_slist_append(nullptr, "Content-Type: application/json");
    if (!token.empty()) headers = curl_slist_append(headers, ("Authorization: " + token).c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  }

  // The authentication token, fetched on first use (and again after `stale` was rejected).
  KvResult<std::string> token(const std::string& base, const std::string& stale = {}) {
    if (options_.username.empty()) return std::string();
    std::lock_guard lock(token_mu_);
    if (!token_.empty() && token_ != stale) return token_;
    json body{{"name", options_.username}, {"password", options_.password}};
    auto r = post_once(base, "/v3/auth/authenticate", body.dump(), {});
    if (!r) return r.error();
    auto j = json::parse(r->body, nullptr, false);
    if (r->status != 200 || j.is_discarded() || str_field(j, "token").empty())
      return KvError{KvErrorKind::kRejected,
                     describe() + ": authentication as \"" + options_.username +
                         "\" failed: " + (j.is_discarded() ? r->body : str_field(j, "message"))};
    token_ = str_field(j, "token");
    return token_;
  }

 private:
  KvResult<Reply> post_once(const std::string& base, std::string_view path, const std::string& body,
                            const std::string& token) {
    if (stopped_) return KvError{KvErrorKind::kStopped, describe() + ": stopped"};
    CURL* h = take_handle();
    if (!h) return KvError{KvErrorKind::kUnavailable, describe() + ": cannot create a curl handle"};
    Reply reply;
    curl_slist* headers = nullptr;
    std::string url = base + std::string(path);
    prepare(h, url, body, headers, token, false);
    char detail[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, detail);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply.body);
    CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(headers);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply.status);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);  // `detail` dies here; the handle lives on
    give_back(h);
    if (rc != CURLE_OK) return KvError{KvErrorKind::kUnavailable, url + ": " + curl_failure(rc, detail)};
    return reply;
  }

  // POST `body` to `path`, failing over between endpoints; the parsed reply of a 200.
  KvResult<json> call(std::string_view path, const json& body) {
    std::string text = body.dump();
    std::string last;
    size_t first = preferred_;
    for (size_t i = 0; i < bases_.size(); ++i) {
      size_t idx = (first + i) % bases_.size();
      const std::string& base = bases_[idx];
      auto tok = token(base);
      if (!tok) {
        if (tok.error().unavailable()) {
          last = tok.error().message;
          continue;
        }
        return tok.error();
      }
      auto r = post_once(base, path, text, *tok);
      if (r && r->status != 200 && !tok->empty() && is_auth_failure(r->body)) {
        // The token expired (etcd's simple tokens last 5 minutes by default): once more.
        auto fresh = token(base, *tok);
        if (!fresh) return fresh.error();
        r = post_once(base, path, text, *fresh);
      }
      if (!r) {
        if (r.error().kind == KvErrorKind::kStopped) return r.error();
        last = r.error().message;
        continue;
      }
      preferred_ = idx;
      auto j = json::parse(r->body, nullptr, false);
      if (r->status != 200) {
        std::string msg = j.is_discarded() ? r->body : str_field(j, "message");
        if (r->status >= 500 && r->status != 501 && bases_.size() > 1 &&
            msg.find("no leader") != std::string::npos) {
          // A member cut off from its cluster: another one may serve.
          last = base + ": " + msg;
          continue;
        }
        return KvError{KvErrorKind::kRejected, describe() + ": " + std::string(path) + ": HTTP " +
                                                   std::to_string(r->status) + ": " + msg};
      }
      if (j.is_discarded() || !j.is_object())
        return protocol(std::string(path) + ": reply is not a JSON object");
      return KvResult<json>(boost::system::in_place_value, std::move(j));
    }
    return KvError{KvErrorKind::kUnavailable, describe() + ": unavailable: " + last};
  }

  static bool is_auth_failure(const std::string& body) {
    return body.find("invalid auth token") != std::string::npos ||
           body.find("user name is empty") != std::string::npos;
  }

  EtcdOptions options_;
  std::vector<std::string> bases_;  // "http://host:port"
  std::atomic<size_t> preferred_{0};
  std::atomic<bool> stopped_{false};
  std::mutex token_mu_;
  std::string token_;
  std::mutex handles_mu_;
  std::vector<CURL*> handles_;
  boost::asio::thread_pool async_pool_{2};
};

struct StreamState {
  std::string buffer;
  const std::function<bool(const json&)>* on_object = nullptr;
  const std::atomic<bool>* stop = nullptr;
  bool abort = false;
};

size_t on_stream(char* data, size_t size, size_t n, void* user) {
  auto* s = static_cast<StreamState*>(user);
  s->buffer.append(data, size * n);
  std::vector<std::string> objects;
  extract_json_objects(s->buffer, objects);
  for (const auto& o : objects) {
    auto j = json::parse(o, nullptr, false);
    if (j.is_discarded()) continue;
    if (!(*s->on_object)(j)) {
      s->abort = true;
      return 0;
    }
  }
  return size * n;
}

int on_stream_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* s = static_cast<StreamState*>(user);
  return s->stop->load() ? 1 : 0;
}

KvResult<void> EtcdClient::stream_watch(const std::string& base, const std::string& body,
                                        const std::atomic<bool>& stop,
                                        const std::function<bool(const json&)>& on_object) {
  auto tok = token(base);
  if (!tok) return tok.error();
  CURL* h = curl_easy_init();
  if (!h) return KvError{KvErrorKind::kUnavailable, "cannot create a curl handle"};
  curl_slist* headers = nullptr;
  prepare(h, base + "/v3/watch", body, headers, *tok, true);
  char detail[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, detail);
  StreamState state;
  state.on_object = &on_object;
  state.stop = &stop;
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_stream);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &state);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_stream_progress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &state);
  CURLcode rc = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(h);
  if (state.abort) return {};
  if (rc != CURLE_OK)
    return KvError{KvErrorKind::kUnavailable, base + "/v3/watch: " + curl_failure(rc, detail)};
  if (status != 200)
    return KvError{KvErrorKind::kRejected,
                   base + "/v3/watch: HTTP " + std::to_string(status) + ": " + state.buffer};
  return KvError{KvErrorKind::kUnavailable, base + "/v3/watch: the stream ended"};
}

// One thread per watch: a streaming request, re-established with backoff when it breaks.
class EtcdWatch final : public ThreadedWatch {
 public:
  EtcdWatch(EtcdClient& client, std::string prefix, std::function<void(const WatchEvent&)> callback)
      : ThreadedWatch(std::move(prefix), std::move(callback)), client_(client) {
    launch();
  }
  ~EtcdWatch() override { stop(); }

 private:
  void run() override {
    std::string key = prefix_.empty() ? std::string(1, '\0') : prefix_;
    json create{{"create_request", json{{"key", b64(key)}, {"range_end", b64(prefix_end(prefix_))}}}};
    std::string body = create.dump();
    Backoff backoff;
    size_t idx = client_.preferred();
    bool connected = false;  // a kReset was delivered and no kLost since
    while (!stopped_) {
      bool established = false;
      auto on_object = [&](const json& j) -> bool {
        if (stopped_) return false;
        auto res = j.find("result");
        if (res == j.end()) {
          logger()->warn("{}: watch on \"{}\": {}", client_.describe(), prefix_, j.dump());
          return false;
        }
        if (res->value("canceled", false)) {
          logger()->warn("{}: watch on \"{}\" canceled: {}", client_.describe(), prefix_,
                         str_field(*res, "cancel_reason"));
          return false;
        }
        if (res->value("created", false)) {
          established = true;
          connected = true;
          backoff.reset();
          callback_(WatchEvent{WatchEvent::Type::kReset, {}, {}});
        }
        auto events = res->find("events");
        if (events != res->end() && events->is_array()) {
          for (const auto& ev : *events) {
            const auto& kv = ev.contains("kv") ? ev["kv"] : json::object();
            auto k = unb64(str_field(kv, "key"));
            auto v = unb64(str_field(kv, "value"));
            if (!k || !v) continue;
            bool del = str_field(ev, "type") == "DELETE";
            callback_(WatchEvent{del ? WatchEvent::Type::kDelete : WatchEvent::Type::kPut,
                                 std::move(*k), del ? std::string() : std::move(*v)});
          }
        }
        return true;
      };
      auto r = client_.stream_watch(client_.base(idx), body, stopped_, on_object);
      if (stopped_) break;
      if (connected) {
        connected = false;
        callback_(WatchEvent{WatchEvent::Type::kLost, {}, {}});
      }
      if (!r)
        logger()->warn("{}: watch on \"{}\" interrupted: {}", client_.describe(), prefix_,
                       r.error().message);
      if (!established) ++idx;  // try the next endpoint
      pause(backoff.next());
    }
  }

  EtcdClient& client_;
};

std::unique_ptr<Watch> EtcdClient::watch(std::string prefix,
                                         std::function<void(const WatchEvent&)> callback) {
  return std::make_unique<EtcdWatch>(*this, std::move(prefix), std::move(callback));
}

}  // namespace

void extract_json_objects(std::string& buffer, std::vector<std::string>& out) {
  size_t start = std::string::npos, consumed = 0;
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < buffer.size(); ++i) {
    char c = buffer[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"' && depth > 0) {
      in_string = true;
    } else if (c == '{') {
      if (depth++ == 0) start = i;
    } else if (c == '}' && depth > 0) {
      if (--depth == 0) {
        out.push_back(buffer.substr(start, i + 1 - start));
        consumed = i + 1;
      }
    } else if (depth == 0) {
      consumed = i + 1;  // whitespace or separators between objects
    }
  }
  buffer.erase(0, consumed);
}

std::chrono::milliseconds Backoff::next() {
  auto d = current_;
  current_ = std::min(current_ * 2, kMax);
  return d;
}

KvResult<std::unique_ptr<Client>> make_etcd_client(EtcdOptions options) {
  if (options.endpoints.empty())
    return KvError{KvErrorKind::kRejected, "etcd: endpoints: at least one is required"};
  if (options.tls) {
    for (const auto* file : {&options.tls->ca, &options.tls->cert, &options.tls->key}) {
      if (file->empty()) continue;
      std::ifstream in(*file);
      if (!in) return KvError{KvErrorKind::kRejected, "etcd: tls: cannot read \"" + *file + "\""};
    }
    if (options.tls->cert.empty() != options.tls->key.empty())
      return KvError{KvErrorKind::kRejected, "etcd: tls: cert and key go together"};
  }
  std::vector<std::string> bases;
  for (const auto& e : options.endpoints) {
    if (e.find("://") != std::string::npos) {
      std::string b = e;
      while (!b.empty() && b.back() == '/') b.pop_back();
      bases.push_back(b);
    } else {
      bases.push_back((options.tls ? "https://" : "http://") + e);
    }
  }
  return std::unique_ptr<Client>(std::make_unique<EtcdClient>(std::move(options), std::move(bases)));
}

}  // namespace turnpike::kv
