#pragma once
// basicAuth (Traefik's BasicAuth): HTTP Basic authentication against htpasswd-style users.
//
//   http.middlewares.<name>.basicAuth:
//     users: ["alice:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/", "bob:$2y$05$..."]
//     usersFile: /etc/turnpike/users   # one "user:hash" per line; blank and '#' lines skipped
//     realm: traefik                   # in WWW-Authenticate: Basic realm="traefik"
//     headerField: X-WebAuth-User      # when set, the authenticated user name goes upstream in it
//     removeHeader: false              # true: the Authorization header is not forwarded
//
// Hashes: see password_hash.h (bcrypt, MD5 $apr1$, {SHA}); an unsupported hash or a malformed
// line is a configuration error (Traefik would load it and never authenticate anyone with it).
// When a user appears twice the later entry wins; inline `users` come after the file's lines, so
// they win (Traefik's code does this; its documentation says the reverse).
//
// Requests without valid credentials are answered 401 with the WWW-Authenticate challenge. The
// user name from the credentials goes to ex.username (the access log's ClientUsername) whether or
// not they are valid, as in Traefik.
//
// Cost: a bcrypt verification blocks the worker for its cost (cost 10: ~50-100 ms). Successful
// verifications are remembered in a small lock-free table (VerifiedSecrets, per handler), so a
// client repeating valid credentials pays once per eviction.
// Failed attempts are never remembered: brute force costs CPU, put a rateLimit in front.
// The handler is otherwise immutable and shared by every worker.

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "middleware/middleware.h"
#include "middleware/password_hash.h"

namespace turnpike::middleware {

struct BasicAuthOptions {
  std::map<std::string, PasswordHash, std::less<>> users;
  std::string realm = "traefik";
  std::string header_field;
  bool remove_header = false;
};

class BasicAuth final : public http::Handler {
 public:
  BasicAuth(std::shared_ptr<const BasicAuthOptions> options, HandlerPtr next);
  http::Task<void> handle(http::Exchange& ex) const override;

 private:
   bool check(std::string_view user, std::string_view password) const;

   std::shared_ptr<const BasicAuthOptions> options_;
   HandlerPtr next_;
   std::string challenge_; // WWW-Authenticate value
   // Recently verified (user, password) pairs (password_hash.h).
   mutable VerifiedSecrets verified_;
};

// Parses "Authorization: Basic base64(user:password)" (scheme case-insensitive, strict base64).
// False when absent or malformed.
bool parse_basic_credentials(std::string_view authorization, std::string& user,
                             std::string& password);

// Factory registered as "basicAuth".
Wrap build_basic_auth(config::Decoder& dec, BuildContext& ctx);

}  // namespace turnpike::middleware
