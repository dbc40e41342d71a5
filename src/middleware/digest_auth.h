#pragma once
// digestAuth (Traefik's DigestAuth, go-http-auth): HTTP Digest authentication (RFC 7616, MD5,
// qop=auth, as Traefik).
//
//   http.middlewares.<name>.digestAuth:
//     users: ["test:traefik:a2688e..."]  # user:realm:MD5(user:realm:password)
//     usersFile: /path/to/file           # same format, one per line (htdigest writes it)
//     realm: traefik                     # the default
//     headerField: X-WebAuth-User        # the authenticated user name goes upstream in it
//     removeHeader: false                # true: the Authorization header is not forwarded
//
// A request without valid credentials gets 401 with `WWW-Authenticate: Digest realm=..., nonce=...,
// opaque=..., algorithm=MD5, qop="auth"`. Nonces are stateless: an expiry time, a random part, and
// an HMAC of both under a per-instance random key, valid for 5 minutes; an expired nonce with
// otherwise correct credentials is answered 401 with `stale=true`, so browsers retry without asking
// the user. Only qop=auth is accepted (RFC 7616 makes qop mandatory; without it a request could be
// replayed). Replays are refused: the nonce counts (`nc`) seen for each nonce are tracked, and a
// count seen before (or more than 64 below the highest one) gets 401 with `stale=true`, as does a
// correct response on a nonce of an earlier instance (after a reload). Counts may arrive out of
// order, since a browser spreads requests over several connections. Only users of the configured
// realm are accepted. Immutable; shared by every worker.

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "middleware/middleware.h"

namespace turnpike::middleware {

struct DigestAuthOptions {
  std::map<std::string, std::string, std::less<>> users; // user -> HA1 (hex), for `realm`
  std::string realm = "traefik";
  std::string header_field;
  bool remove_header = false;
};

// The nonce counts seen per nonce, shared by every worker (a client's requests with one nonce
// may arrive on several connections). Bounded: past kMaxNonces, expired nonces are dropped, then
// the half that expires first, whose nonces are from then on answered as stale.
class NonceCounts {
public:
  static constexpr size_t kMaxNonces = 65536;
  // True when `nc` is new for `nonce` (valid until `expiry_s`); it is then recorded.
  bool first_use(std::string_view nonce, int64_t expiry_s, uint32_t nc, int64_t now_s);

private:
  struct Seen {
    int64_t expiry = 0;
    uint32_t max = 0;   // the highest count seen
    uint64_t below = 0; // bit i: count max-1-i seen
  };
  void evict(int64_t now_s);

  std::mutex mu_;
  std::unordered_map<std::string, Seen> seen_;
  int64_t floor_ = 0; // nonces expiring at or before this were evicted
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
  std::string signed_nonce(const std::string& body) const; // body + "-" + its HMAC

  std::shared_ptr<const DigestAuthOptions> options_;
  HandlerPtr next_;
  std::array<unsigned char, 32> key_{};
  std::string opaque_;
  std::shared_ptr<NonceCounts> counts_ = std::make_shared<NonceCounts>();
};

// MD5 of `data` as 32 lower-case hex digits.
std::string md5_hex(std::string_view data);

// Factory registered as "digestAuth".
Wrap build_digest_auth(config::Decoder& dec, BuildContext& ctx);

} // namespace turnpike::middleware
