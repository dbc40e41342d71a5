#pragma once
// forwardAuth (Traefik's ForwardAuth): asks an authentication server about each request; a 2xx
// answer lets the request through (with chosen headers of that answer added to it), any other
// answer goes to the client as it is.
//
//   http.middlewares.<name>.forwardAuth:
//     address: https://auth.example.com/verify    # required
//     tls: {ca, cert, key, insecureSkipVerify}    # for an https address
//     trustForwardHeader: false      # keep the client's X-Forwarded-* instead of setting them
//     authRequestHeaders: []         # only these request headers go to the auth server (all if
//     empty) authResponseHeaders: []        # auth answer headers copied onto the forwarded request
//     authResponseHeadersRegex: ""   # same, by regex over the canonical header name
//     addAuthCookiesToResponse: []   # cookies of the auth answer added to the final response
//     forwardBody: false             # send the request body to the auth server too
//     maxBodySize: -1                # with forwardBody: larger bodies are refused with 401
//     preserveRequestMethod: false   # the auth request uses the client's method (else GET)
//     preserveLocationHeader: false  # keep a relative Location of the auth answer as it is
//     headerField: ""                # auth-answer header naming the user (access log)
//
// The auth request carries the client request's headers (or the authRequestHeaders subset) and
// X-Forwarded-Method, -Proto, -Host, -Uri and -For describing the original request (the
// client's own values are kept only with trustForwardHeader). It goes through the same upstream
// machinery as services (pooled connections per worker, TLS), to the address's own Host. When the
// auth server cannot be reached the client gets 500.
//
// Immutable; shared by every worker.

#include <memory>
#include <string>
#include <vector>

#include "middleware/go_regex.h"
#include "middleware/http_client.h"
#include "middleware/middleware.h"

namespace turnpike::middleware {

struct ForwardAuthOptions {
  std::string address;
  bool trust_forward_header = false;
  std::vector<std::string> auth_request_headers;
  std::vector<std::string> auth_response_headers;
  std::shared_ptr<const GoRegex> auth_response_headers_regex;
  std::vector<std::string> add_auth_cookies_to_response;
  bool forward_body = false;
  int64_t max_body_size = -1;
  bool preserve_request_method = false;
  bool preserve_location_header = false;
  std::string header_field;
  std::shared_ptr<const HttpClient> client; // to the address

  // The Location of an auth answer as the client gets it: relative references resolved against
  // the address unless preserveLocationHeader.
  std::string location(std::string_view value) const;
};

class ForwardAuth final : public http::Handler {
public:
  ForwardAuth(std::shared_ptr<const ForwardAuthOptions> options, HandlerPtr next);
  http::Task<void> handle(http::Exchange& ex) const override;

private:
  std::shared_ptr<const ForwardAuthOptions> options_;
  HandlerPtr next_;
};

// "x-auth-user" -> "X-Auth-User" (Go's http.CanonicalHeaderKey).
std::string canonical_header_key(std::string_view name);

// Factory registered as "forwardAuth".
Wrap build_forward_auth(config::Decoder& dec, BuildContext& ctx);

} // namespace turnpike::middleware
