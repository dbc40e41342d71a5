#pragma once
// jwt (Traefik Hub's JWT middleware): verifies a JSON Web Token on each request and forwards
// claims as headers.
//
//   http.middlewares.<name>.jwt:
//     signingSecret: "..."              # HS256/384/512 (one key source is required)
//     signingSecretBase64Encoded: false
//     publicKey: "-----BEGIN PUBLIC KEY-----..."   # RS*/PS*/ES*/EdDSA (a certificate works too)
//     jwksFile: /etc/keys/jwks.json     # or the JWKS JSON itself
//     jwksUrl: https://idp/.well-known/jwks.json   # fetched, cached, refreshed
//     clientConfig: {tls: {ca, cert, key, insecureSkipVerify}}   # for jwksUrl
//     tokenKey: ""                      # also take the token from this query parameter
//     claims: "Equals(`grp`, `admin`) && Prefix(`iss`, `https://`)"
//     usernameClaim: sub                # the access log's user
//     forwardHeaders: {X-User: sub, X-Groups: groups}
//     forwardAuthorization: false       # keep the Authorization header for the upstream
//
// The token comes from `Authorization: Bearer <token>` (or the tokenKey query parameter). A
// missing, malformed, badly signed, expired (`exp`) or not yet valid (`nbf`) token is answered
// 401 with `WWW-Authenticate: Bearer`; a valid token whose claims do not satisfy `claims` 403.
// `alg: none` is never accepted, and the algorithm must suit the key (an RSA public key cannot
// be used as an HMAC secret). With a JWKS the key is chosen by the token's `kid` (every suitable
// key is tried when there is none).
//
// Claims functions (predicate.h language, string arguments, dotted paths into objects):
//   Equals(claim, value)  Prefix(claim, prefix)  Contains(claim, value)  (an array element, or a
//   substring)  SplitContains(claim, separator, value)  OneOf(claim, value...)
//
// jwksUrl: fetched with the middlewares' HTTP client (pooled, non-blocking) when a request
// needs it; kept for 15 minutes, and fetched again earlier when a token names a `kid` it does
// not know (at most every 10 seconds). Requests that arrive while the first fetch runs wait for
// it; a failed fetch answers 401 (and keeps the previous keys when there are some).
//
// Immutable apart from the JWKS cache (shared by every worker, swapped atomically).

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <openssl/evp.h>

#include "common/per_worker.h"
#include "middleware/credential_source.h"
#include "middleware/http_client.h"
#include "middleware/middleware.h"
#include "middleware/predicate.h"

namespace turnpike::middleware {

// A verification key: an HMAC secret or a public key.
struct JwtKey {
  std::string kid;
  std::string alg;                      // from the JWK, when given
  std::string secret;                   // HMAC
  std::shared_ptr<EVP_PKEY> public_key; // RSA, EC or Ed25519
};
using JwtKeys = std::vector<JwtKey>;

// Parses a JWKS document ({"keys": [...]}) into keys; keys it cannot use (kty "oct", "use":
// "enc", unknown curves) are skipped. Error when it is not a JWKS at all.
Result<JwtKeys> parse_jwks(std::string_view json);
// A PEM public key or certificate.
Result<std::shared_ptr<EVP_PKEY>> parse_public_key(std::string_view pem);

// The result of verifying a compact JWS against `keys`: the payload's claims, or why not.
struct JwtCheck {
  bool ok = false;
  std::string error;   // for the log
  std::string payload; // JSON
  std::string kid;     // the token's kid (to decide on a JWKS refresh)
};
JwtCheck verify_jwt(std::string_view token, const JwtKeys& keys, int64_t now_seconds);

// The claims language (the functions above), shared with oAuthIntrospection.
Result<Predicate> parse_claims_expression(std::string_view text);
bool claims_hold(const Predicate& expression, const nlohmann::json& claims);
// Sets each forward header from its claim (removing the client's own first) and ex.username from
// `username_claim`.
void forward_claims(http::Exchange& ex, const nlohmann::json& claims,
                    const std::vector<std::pair<std::string, std::string>>& forward_headers,
                    const std::string& username_claim);

// Decodes the `claims`, `forwardHeaders` and `usernameClaim` options (jwt and
// oAuthIntrospection), reporting errors at them.
struct ClaimsOptions {
  std::optional<Predicate> claims;
  std::vector<std::pair<std::string, std::string>> forward_headers; // header, claim path
  std::string username_claim;
  static ClaimsOptions decode(config::Decoder& dec); // call before dec.finish()
};

struct JwtOptions {
  JwtKeys static_keys;
  std::shared_ptr<const HttpClient> jwks_client; // jwksUrl
  CredentialSource token_source; // Authorization: Bearer, and the tokenKey query parameter
  ClaimsOptions claims;
  bool forward_authorization = false;
};

// The keys fetched from jwksUrl. Any thread.
class JwksCache {
public:
  std::shared_ptr<const JwtKeys> keys() const { return keys_.load(); }
  void store(JwtKeys keys, int64_t now_ns);
  int64_t fetched_ns() const { return fetched_ns_.load(); }
  // Claims the right to refresh (one refresh at a time, at most every `min_gap_ns`).
  bool claim_refresh(int64_t now_ns, int64_t min_gap_ns);
  void release_refresh() { refreshing_.store(false); }

private:
  std::atomic<std::shared_ptr<const JwtKeys>> keys_;
  std::atomic<int64_t> fetched_ns_{0};
  std::atomic<int64_t> attempted_ns_{0};
  std::atomic<bool> refreshing_{false};
};

// Tokens one worker verified recently, with their parsed claims: a client that sends the same
// token on every request pays the base64 and JSON decoding and the signature check once. An entry
// is used only while the token's exp and nbf allow it (checked on every use, against the same
// clock as a full verification) and while the JWKS keys it was verified with are still the
// current ones (a refresh makes every entry verify again). Only verified tokens are stored, so
// clients cannot fill it with junk; at most kMaxEntries tokens of at most kMaxTokenBytes each,
// and a full cache is emptied (the next requests verify again). Worker-confined.
class VerifiedTokens {
public:
  static constexpr size_t kMaxEntries = 256;
  static constexpr size_t kMaxTokenBytes = 4096;

  // The claims of `token` when it was verified with `keys` (the JWKS keys then, null without a
  // jwksUrl) and is valid at `now_s`; null otherwise.
  std::shared_ptr<const nlohmann::json> find(const std::string& token, int64_t now_s,
                                             const std::shared_ptr<const JwtKeys>& keys);
  void insert(const std::string& token, std::shared_ptr<const nlohmann::json> claims,
              std::shared_ptr<const JwtKeys> keys);
  size_t size() const { return map_.size(); }

private:
  struct Entry {
    std::shared_ptr<const nlohmann::json> claims;
    std::shared_ptr<const JwtKeys> keys;
    double exp, nbf;  // +inf / -inf when absent
  };
  std::unordered_map<std::string, Entry> map_;
};

class Jwt final : public http::Handler {
public:
  // `workers`: how many per-worker token caches to keep (Exchange::worker_id indexes them).
  Jwt(std::shared_ptr<const JwtOptions> options, std::shared_ptr<JwksCache> cache, HandlerPtr next,
      unsigned workers = 1);
  http::Task<void> handle(http::Exchange& ex) const override;

private:
  http::Task<std::shared_ptr<const JwtKeys>> jwks(http::Exchange& ex, bool unknown_kid) const;

  std::shared_ptr<const JwtOptions> options_;
  std::shared_ptr<JwksCache> cache_;
  HandlerPtr next_;
  mutable PerWorker<VerifiedTokens> verified_;  // one per worker, touched only by that worker
};

// Factory registered as "jwt".
Wrap build_jwt(config::Decoder& dec, BuildContext& ctx);

} // namespace turnpike::middleware
