#include "middleware/http_client.h"

#include "service/load_balancer.h"
#include "service/writers.h"

namespace turnpike::middleware {

Result<std::shared_ptr<const HttpClient>> HttpClient::create(const std::string& url,
                                                             const service::TlsClientOptions* tls,
                                                             const std::string& name,
                                                             unsigned workers) {
  auto server = service::Server::parse(url, 1);
  if (!server)
    return server.error();
  if (server->scheme == service::Scheme::kH2c)
    return make_error("must be an http:// or https:// URL");
  auto client = std::make_shared<HttpClient>();
  client->scheme_ = server->scheme == service::Scheme::kHttps ? "https" : "http";
  client->authority_ = server->authority;
  std::string_view rest = std::string_view(url).substr(url.find("://") + 3);
  const size_t slash = rest.find_first_of("/?");
  std::string_view target = slash == std::string_view::npos ? "/" : rest.substr(slash);
  const size_t q = target.find('?');
  client->path_ = std::string(target.substr(0, q));
  if (client->path_.empty())
    client->path_ = "/";
  if (q != std::string_view::npos) {
    client->has_query_ = true;
    client->query_ = std::string(target.substr(q + 1));
  }
  auto transport = std::make_shared<service::TransportOptions>();
  transport->name = name; // its own pools
  if (server->scheme == service::Scheme::kHttps || tls) {
    auto compiled = service::UpstreamTls::create(tls ? *tls : service::TlsClientOptions{});
    if (!compiled)
      return compiled.error();
    transport->tls = std::move(*compiled);
  }
  service::LoadBalancerOptions lb;
  lb.pass_host_header = false;
  lb.transport = std::move(transport);
  lb.retry.attempts = 0;
  client->balancer_ = std::make_shared<service::LoadBalancerService>(
      name, std::vector<service::Server>{std::move(*server)}, std::move(lb), workers);
  return std::shared_ptr<const HttpClient>(std::move(client));
}

http::Task<std::optional<HttpClient::Answer>> HttpClient::call(const http::Exchange& ex,
                                                               http::Request request,
                                                               const std::string& body,
                                                               size_t max_body) const {
  request.path = path_;
  request.query = query_;
  request.has_query = has_query_;
  request.authority = authority_;
  request.host = authority_;
  request.scheme = scheme_;
  request.chunked = false;
  request.content_length =
      body.empty() && request.method == "GET" ? -1 : static_cast<int64_t>(body.size());
  request.append_x_forwarded_for = false;
  service::BufferBodyReader reader(body, request.content_length);
  // One byte more than allowed tells a body that is too large.
  service::CaptureWriter writer(max_body + 1);
  http::Exchange inner = http::derive_exchange(ex, request, reader);
  inner.writer = &writer;
  inner.failure = http::ProxyError::Kind::kNone;
  co_await balancer_->handle(inner);
  if (inner.failure != http::ProxyError::Kind::kNone || !writer.head_written() ||
      !writer.finished() || writer.body().size() > max_body)
    co_return std::nullopt;
  co_return Answer{writer.head(), writer.body()};
}

std::optional<service::TlsClientOptions> decode_client_tls(config::Decoder& dec) {
  const auto* t = dec.section("tls");
  if (!t)
    return std::nullopt;
  config::Decoder td(*t, dec.child_path("tls"), dec.errors());
  service::TlsClientOptions tls;
  std::string ca, cert, key;
  bool ca_optional = false;
  td.get("ca", ca);
  td.get("cert", cert);
  td.get("key", key);
  td.get("insecureSkipVerify", tls.insecure_skip_verify);
  td.get("caOptional", ca_optional);
  td.finish();
  if (!ca.empty())
    tls.root_cas.push_back(ca);
  if (cert.empty() != key.empty())
    td.fail(cert.empty() ? "cert" : "key", "cert and key go together");
  if (!cert.empty() && !key.empty())
    tls.certificates.push_back({cert, key});
  return tls;
}

} // namespace turnpike::middleware
