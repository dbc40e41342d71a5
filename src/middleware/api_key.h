#pragma once
// apiKey (Traefik Hub's API Key middleware): admits requests that carry one of the configured API
// keys, which are stored only as hashes.
//
//   http.middlewares.<name>.apiKey:
//     keySource:
//       header: Authorization       # where the key is looked for, in this order:
//       headerAuthScheme: Bearer    #   header (after this scheme, when set),
//       query: api_key              #   query parameter,
//       cookie: api_key             #   cookie
//     secretValues:                 # hashes of the accepted keys (htpasswd formats:
//       - "$2y$10$..."              #   bcrypt, {SHA}, $apr1$), optionally base64-encoded
//     secretNonBase64Encoded: false # true: the values are given as they are, never base64
//
// A request without a key, or whose key matches no value, is answered 401 "Unauthorized" and never
// reaches the service. The key is removed from the request (header, query parameter or cookie)
// before it is forwarded. Successful bcrypt verifications are remembered (VerifiedSecrets), so a
// client repeating a valid key pays the bcrypt cost once per eviction.

#include <memory>
#include <string>
#include <vector>

#include "middleware/credential_source.h"
#include "middleware/middleware.h"
#include "middleware/password_hash.h"

namespace turnpike::middleware {

struct ApiKeyOptions {
  CredentialSource source;
  std::vector<PasswordHash> secrets;
};

class ApiKey final : public http::Handler {
public:
  ApiKey(std::shared_ptr<const ApiKeyOptions> options, HandlerPtr next);
  http::Task<void> handle(http::Exchange& ex) const override;

private:
  bool valid(std::string_view key) const;

  std::shared_ptr<const ApiKeyOptions> options_;
  HandlerPtr next_;
  mutable VerifiedSecrets verified_;
};

// Factory registered as "apiKey".
Wrap build_api_key(config::Decoder& dec, BuildContext& ctx);

} // namespace turnpike::middleware
