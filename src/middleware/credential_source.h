#pragma once
// Where a credential (API key, bearer token) travels in a request, and taking it out: shared by
// apiKey, jwt and oAuthIntrospection. Immutable once decoded.

#include <string>
#include <string_view>

#include "config/tree/decoder.h"
#include "http/message.h"

namespace turnpike::middleware {

struct CredentialSource {
  std::string header;             // e.g. "Authorization"
  std::string header_auth_scheme; // e.g. "Bearer": the credential follows it in `header`
  std::string query;              // query parameter name
  std::string cookie;             // cookie name

  // Reads {header, headerAuthScheme, query, cookie} from `dec` (the keySource / tokenSource map).
  static CredentialSource decode(config::Decoder& dec);
  bool empty() const { return header.empty() && query.empty() && cookie.empty(); }

  // The credential, looked for in the header, then the query, then the cookie; empty when none.
  std::string find(const http::Request& req) const;
  // Removes the credential's carriers from `req` (the header, the query parameter, the cookie).
  void strip(http::Request& req) const;
};

} // namespace turnpike::middleware
