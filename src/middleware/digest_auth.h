#pragma once
// digestAuth (Traefik's DigestAuth, go-http-auth): HTTP Digest authentication (RFC 7616, MD5,
// qop=auth, as Traefik).
//
//   http.middlewares.<name>.digestAuth:
//     users: ["test:traefik:a2688e031edb4be6a3797f3882655c05"]   #
//     user:realm:MD5(user:realm:password) usersFile: /path/to/file         # same format, one per
//     line (htdigest writes it) realm: traefik                   # default headerField:
//     X-WebAuth-User      # the authenticated user name goes upstream in it removeHeader: false #
//     true: the Authorization header is not forwarded
//
// A request without valid credentials gets 401 with `WWW-Authenticate: Digest realm=..., nonce=...,
// opaque=..., algorithm=MD5, qop="auth"`. Nonces are stateless: an expiry time and an HMAC of it
// under a per-instance random key, valid for 5 minutes; an expired nonce with otherwise correct
// credentials is answered 401 with `stale=true`, so browsers retry without asking the user. The
// nonce count is not tracked (a replayed request within the nonce's life is accepted, as with
// basicAuth). Only users of the configured realm are accepted.
// Immutable; shared by every worker.

#include <array>
#include <map>
#include <memory>
#include <string>

#include "middleware/middleware.h"

namespace turnpike::middleware {

struct DigestAuthOptions {
  std::map<std::string, std::string, std::less<>> users; // user -> HA1 (hex), for `realm`
  std::string realm = "traefik";
  std::string header_field;
  bool remove_header = false;
};

class DigestAuth final : public http::Handler {
public:
  DigestAuth(std::shared_ptr<const DigestAuthOptions> options, HandlerPtr next);
  http::Task<void> handle(http::Exchange& ex) const override;

  // A fresh nonce valid until `expiry_s` (unix seconds), and whether one is ours and unexpired.
  std::string nonce(int64_t expiry_s) const;
  enum class NonceState { kValid, kStale, kForged };
  NonceState check_nonce(std::string_view nonce, int64_t now_s) const;

private:
  std::shared_ptr<const DigestAuthOptions> options_;
  HandlerPtr next_;
  std::array<unsigned char, 32> key_{};
  std::string opaque_;
};

// MD5 of `data` as 32 lower-case hex digits.
std::string md5_hex(std::string_view data);

// Factory registered as "digestAuth".
Wrap build_digest_auth(config::Decoder& dec, BuildContext& ctx);

} // namespace turnpike::middleware
