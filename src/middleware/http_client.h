#pragma once
// A small HTTP client for middlewares that call another server on the request path (forwardAuth's
// auth server, jwt's JWKS URL, oAuthIntrospection's endpoint). It is a one-server load balancer
// (service/load_balancer.h), so calls use the same pooled, per-worker upstream connections and
// TLS as services, and never block the worker.
//
// Built on the control thread (immutable afterwards, shared by every worker); call() runs on the
// exchange's worker and needs ex.worker (the worker's pools).

#include <memory>
#include <optional>
#include <string>

#include "common/result.h"
#include "config/tree/decoder.h"
#include "http/exchange.h"
#include "service/upstream_tls.h"

namespace turnpike::middleware {

class HttpClient {
public:
  // `url`: http:// or https://, with path and query; `name` keys its connection pools.
  static Result<std::shared_ptr<const HttpClient>> create(const std::string& url,
                                                          const service::TlsClientOptions* tls,
                                                          const std::string& name,
                                                          unsigned workers);

  struct Answer {
    http::Response head;
    std::string body;
  };
  // Sends `request` (method, headers; path/query/Host come from the URL unless `keep_target`)
  // with `body`. nullopt when the server could not be reached, failed, or answered with a body
  // larger than `max_body`.
  http::Task<std::optional<Answer>> call(const http::Exchange& ex, http::Request request,
                                         const std::string& body, size_t max_body = 1 << 20) const;

  const std::string& scheme() const { return scheme_; }
  const std::string& authority() const { return authority_; }
  const std::string& path() const { return path_; }

private:
  std::string scheme_, authority_, path_, query_;
  bool has_query_ = false;
  std::shared_ptr<const http::Handler> balancer_;
};

// The `tls` section of a middleware's client ({ca, cert, key, insecureSkipVerify, caOptional}),
// read from `dec`; nullopt when absent. caOptional (a server-side notion) is accepted and ignored.
std::optional<service::TlsClientOptions> decode_client_tls(config::Decoder& dec);

} // namespace turnpike::middleware
