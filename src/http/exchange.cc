#include "http/exchange.h"

#include <boost/asio/use_awaitable.hpp>

namespace turnpike::http {

Task<ProxyError> send_response(Exchange& ex, int status, std::string_view body,
                               const HeaderMap* headers) {
  Response resp;
  resp.status = status;
  if (headers) {
    for (const auto& h : *headers) resp.headers.add(h.name, h.value);
  }
  if (!resp.headers.has("Content-Type") && !body.empty())
    resp.headers.set("Content-Type", "text/plain; charset=utf-8");
  resp.headers.set("Content-Length", std::to_string(body.size()));
  resp.content_length = static_cast<int64_t>(body.size());
  co_return co_await ex.writer->write_response(resp, body);
}

Task<ProxyError> ResponseWriter::write_response(Response& head, std::string_view body) {
  if (auto err = co_await write_head(head)) co_return err;
  if (!body.empty()) {
    if (auto err = co_await write_body(body)) co_return err;
  }
  co_return co_await finish();
}

// Out of line: a coroutine defined in the header would get one frame type per translation unit
// under the same name (GCC bug 101118, an ODR violation for the link-time optimiser).
Task<ProxyError> ResponseWriter::finish_with_trailers(const HeaderMap& trailers) {
  (void)trailers;
  co_return co_await finish();
}

// The annotations are copied below rather than listed in the initializer.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
Exchange derive_exchange(const Exchange& ex, Request& request, BodyReader& body) {
  Exchange out{.request = request,
               .body = body,
               .writer = ex.writer,
               .executor = ex.executor,
               .worker_id = ex.worker_id,
               .worker = ex.worker,
               .upgradable = ex.upgradable,
               .tls = ex.tls};
  adopt_annotations(out, ex);
  return out;
}
#pragma GCC diagnostic pop

void adopt_annotations(Exchange& outer, const Exchange& inner) {
  outer.router_name = inner.router_name;
  outer.service_name = inner.service_name;
  outer.service_url = inner.service_url;
  outer.username = inner.username;
  outer.status = inner.status;
  outer.response_bytes = inner.response_bytes;
  outer.retry_attempts = inner.retry_attempts;
  outer.close_connection = outer.close_connection || inner.close_connection;
  outer.failure = inner.failure;
}

Task<void> send_error(Exchange& ex, const ProxyError& err) {
  using K = ProxyError::Kind;
  ex.failure = err.kind;
  if (ex.writer->head_written()) {
    ex.close_connection = true;
    co_return;
  }
  int status = 502;
  std::string_view body = "Bad Gateway";
  switch (err.kind) {
    case K::kUpstreamTimeout: status = 504; body = "Gateway Timeout"; break;
    case K::kDownstreamProtocol: status = 400; body = "Bad Request"; break;
    case K::kDownstreamTimeout: status = 408; body = "Request Timeout"; break;
    case K::kLimit: status = 413; body = "Request Entity Too Large"; break;
    case K::kInternal: status = 500; body = "Internal Server Error"; break;
    case K::kDownstreamClosed: ex.close_connection = true; co_return;
    default: break;
  }
  if (err.kind == K::kDownstreamProtocol || err.kind == K::kDownstreamTimeout ||
      err.kind == K::kLimit)
    ex.close_connection = true;
  // GCC 12 miscompiles `if (co_await ...)` whose branch writes through a reference
  // parameter; await into a local first.
  auto awaited = co_await send_response(ex, status, body);
  if (awaited) ex.close_connection = true;
}

}  // namespace turnpike::http
