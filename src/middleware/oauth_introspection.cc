#include "middleware/oauth_introspection.h"

#include <openssl/evp.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/strings.h"
#include "middleware/decode_support.h"
#include "middleware/jwt.h"
#include "middleware/local_reply.h"

namespace turnpike::middleware {
namespace {

using json = nlohmann::json;

constexpr int64_t kSecondNs = 1'000'000'000;
constexpr int64_t kMaxActiveNs = 300 * kSecondNs;
constexpr int64_t kInactiveNs = 30 * kSecondNs;

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string digest(std::string_view token) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(token.data(), token.size(), md, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(md), len);
}

} // namespace

std::optional<IntrospectionCache::Entry> IntrospectionCache::get(const std::string& key,
                                                                 int64_t now) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.expires_ns <= now)
    return std::nullopt;
  return it->second;
}

void IntrospectionCache::put(const std::string& key, Entry entry) {
  std::lock_guard lock(mutex_);
  if (entries_.size() >= kMaxEntries) {
    // Drop expired entries, then arbitrary ones down to half: rare, bounded work.
    const int64_t now = steady_ns();
    std::erase_if(entries_, [&](const auto& e) { return e.second.expires_ns <= now; });
    while (entries_.size() >= kMaxEntries / 2)
      entries_.erase(entries_.begin());
  }
  entries_.insert_or_assign(key, std::move(entry));
}

OAuthIntrospection::OAuthIntrospection(std::shared_ptr<const IntrospectionOptions> options,
                                       std::shared_ptr<IntrospectionCache> cache, HandlerPtr next)
    : options_(std::move(options)), cache_(std::move(cache)), next_(std::move(next)) {}

http::Task<void> OAuthIntrospection::handle(http::Exchange& ex) const {
  const IntrospectionOptions& o = *options_;
  const std::string token = o.token_source.find(ex.request);
  if (token.empty()) {
    co_await reply_unauthorized(ex, "Bearer");
    co_return;
  }
  const std::string key = digest(token);
  const int64_t now = steady_ns();
  auto entry = cache_->get(key, now);
  if (!entry) {
    http::Request req;
    req.method = "POST";
    for (const auto& [name, value] : o.headers)
      req.headers.set(name, value);
    req.headers.set("Content-Type", "application/x-www-form-urlencoded");
    req.headers.set("Accept", "application/json");
    std::string body = "token=" + query_escape(token);
    if (!o.token_type_hint.empty())
      body += "&token_type_hint=" + query_escape(o.token_type_hint);
    auto answer = co_await o.client->call(ex, std::move(req), body);
    if (!answer || answer->head.status != 200) {
      co_await reply_unauthorized(
          ex, "Bearer"); // not cached: the server may be back for the next request
      co_return;
    }
    json doc = json::parse(answer->body, nullptr, false);
    IntrospectionCache::Entry e;
    e.active = doc.is_object() && doc.value("active", false) == true;
    e.document = answer->body;
    e.expires_ns = now + (e.active ? kMaxActiveNs : kInactiveNs);
    if (e.active && doc.contains("exp") && doc["exp"].is_number()) {
      const int64_t unix_now = std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count();
      const int64_t left = static_cast<int64_t>(doc["exp"].get<double>()) - unix_now;
      if (left <= 0)
        e.active = false;
      e.expires_ns = std::min(e.expires_ns, now + std::max<int64_t>(left, 0) * kSecondNs);
    }
    cache_->put(key, e);
    entry = std::move(e);
  }
  if (!entry->active) {
    co_await reply_unauthorized(ex, "Bearer");
    co_return;
  }
  const json claims = json::parse(entry->document, nullptr, false);
  if (o.claims.claims && !claims_hold(*o.claims.claims, claims)) {
    co_await reply(ex, 403, status_text(403));
    co_return;
  }
  forward_claims(ex, claims, o.claims.forward_headers, o.claims.username_claim);
  co_await next_->handle(ex);
}

Wrap build_oauth_introspection(config::Decoder& dec, BuildContext& ctx) {
  ErrorMark mark(dec);
  auto opts = std::make_shared<IntrospectionOptions>();
  std::string url;
  std::optional<service::TlsClientOptions> tls;
  if (const auto* cc = dec.section("clientConfig")) {
    config::Decoder cd(*cc, dec.child_path("clientConfig"), dec.errors());
    cd.get("url", url);
    std::map<std::string, std::string> headers;
    cd.get("headers", headers);
    for (auto& h : headers) {
      if (!is_header_name(h.first) || !is_header_value(h.second))
        cd.fail("headers." + h.first, "invalid header");
      opts->headers.emplace_back(h.first, h.second);
    }
    cd.get("tokenTypeHint", opts->token_type_hint);
    tls = decode_client_tls(cd);
    int64_t unused = 0;
    cd.get("timeoutSeconds", unused);
    cd.get("maxRetries", unused);
    cd.finish();
  }
  opts->token_source.header = "Authorization";
  opts->token_source.header_auth_scheme = "Bearer";
  if (const auto* ts = dec.section("tokenSource")) {
    config::Decoder td(*ts, dec.child_path("tokenSource"), dec.errors());
    opts->token_source = CredentialSource::decode(td);
  }
  opts->claims = ClaimsOptions::decode(dec);
  dec.finish();
  if (url.empty()) {
    dec.fail("clientConfig.url", "is required");
  } else {
    auto client = HttpClient::create(url, tls ? &*tls : nullptr, dec.path(), ctx.workers());
    if (!client)
      dec.fail("clientConfig.url", client.error().message);
    else
      opts->client = std::move(*client);
  }
  if (opts->token_source.empty())
    dec.fail("tokenSource", "one of header, query or cookie is required");
  if (!mark.clean())
    return {};
  auto cache = std::make_shared<IntrospectionCache>();
  return [opts = std::shared_ptr<const IntrospectionOptions>(std::move(opts)),
          cache](HandlerPtr next) -> HandlerPtr {
    return std::make_shared<const OAuthIntrospection>(opts, cache, std::move(next));
  };
}

} // namespace turnpike::middleware
