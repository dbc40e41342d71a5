#pragma once
// oAuthIntrospection (Traefik Hub's OAuth 2.0 Token Introspection middleware, RFC 7662): asks an
// authorization server whether the request's token is active, caching the answers.
//
//   http.middlewares.<name>.oAuthIntrospection:
//     clientConfig:
//       url: https://idp/oauth2/introspect    # required
//       headers: {Authorization: "Basic ..."} # sent with each introspection request
//       tokenTypeHint: access_token           # optional token_type_hint
//       tls: {ca, cert, key, insecureSkipVerify}
//     tokenSource: {header: Authorization, headerAuthScheme: Bearer, query: "", cookie: ""}
//     claims: "Contains(`scope`, `read`)"     # on the introspection response (jwt.h language)
//     forwardHeaders: {X-User: sub}
//     usernameClaim: sub
//
// The introspection request is `POST url` with `token=...&token_type_hint=...` (form encoded)
// and the configured headers, through the middlewares' HTTP client (pooled, non-blocking). An
// answer {"active": true, ...} admits the request (403 when `claims` does not hold); anything
// else, a missing token or an unreachable server is 401 (failures are not cached). The token is
// forwarded as it came (the upstream may need it).
//
// Caching: answers are kept per token (by SHA-256) in a table shared by every worker: active
// answers until their `exp` and at most 5 minutes, inactive ones for 30 seconds; at most 10000
// tokens (the oldest half is dropped when full).

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "middleware/credential_source.h"
#include "middleware/http_client.h"
#include "middleware/jwt.h"
#include "middleware/middleware.h"
#include "middleware/predicate.h"

namespace turnpike::middleware {

struct IntrospectionOptions {
  std::shared_ptr<const HttpClient> client;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string token_type_hint;
  CredentialSource token_source;
  ClaimsOptions claims;
};

// Introspection answers by token digest. Any thread.
class IntrospectionCache {
public:
  static constexpr size_t kMaxEntries = 10000;
  struct Entry {
    bool active = false;
    std::string document; // the JSON answer
    int64_t expires_ns = 0;
  };
  std::optional<Entry> get(const std::string& digest, int64_t now_ns) const;
  void put(const std::string& digest, Entry entry);

private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
};

class OAuthIntrospection final : public http::Handler {
public:
  OAuthIntrospection(std::shared_ptr<const IntrospectionOptions> options,
                     std::shared_ptr<IntrospectionCache> cache, HandlerPtr next);
  http::Task<void> handle(http::Exchange& ex) const override;

private:
  std::shared_ptr<const IntrospectionOptions> options_;
  std::shared_ptr<IntrospectionCache> cache_;
  HandlerPtr next_;
};

// Factory registered as "oAuthIntrospection".
Wrap build_oauth_introspection(config::Decoder& dec, BuildContext& ctx);

} // namespace turnpike::middleware
