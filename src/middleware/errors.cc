#include "middleware/errors.h"

#include <map>

#include "common/strings.h"
#include "http/head_editor.h"
#include "middleware/decode_support.h"
#include "middleware/local_reply.h"

namespace turnpike::middleware {
namespace {

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

class EmptyBody final : public http::BodyReader {
public:
  http::Task<std::pair<http::ProxyError, std::span<const char>>> read() override {
    co_return std::pair{http::ProxyError::none(), std::span<const char>{}};
  }
  int64_t content_length() const override { return -1; }
  uint64_t consumed() const override { return 0; }
};

} // namespace

int ErrorsOptions::rewrite(int status) const {
  for (const auto& [from, to] : rewrites)
    if (from.contains(status))
      return to;
  return status;
}

std::string ErrorsOptions::target(int status, int original, std::string_view url) const {
  std::string t = "/";
  if (!query.empty())
    t += query.substr(query.front() == '/' ? 1 : 0);
  replace_all(t, "{status}", std::to_string(status));
  replace_all(t, "{originalStatus}", std::to_string(original));
  replace_all(t, "{url}", query_escape(url));
  return t;
}

ErrorPages::ErrorPages(std::shared_ptr<const ErrorsOptions> options, HandlerPtr next)
    : options_(std::move(options)), next_(std::move(next)) {}

http::Task<void> ErrorPages::handle(http::Exchange& ex) const {
  const ErrorsOptions& o = *options_;
  // The page request is built from the request as it reached this middleware.
  http::Request page = ex.request;
  int caught = 0;
  {
    auto catches = [&](const http::Response& head) {
      if (!o.status.contains(head.status))
        return false;
      caught = head.status;
      return true;
    };
    http::DivertingWriter<decltype(catches)> writer(*ex.writer, catches);
    http::WriterScope scope(ex, writer);
    co_await next_->handle(ex);
  }
  if (!caught)
    co_return;
  const int status = o.rewrite(caught);
  const std::string target = o.target(status, caught, page.target());
  const size_t q = target.find('?');
  page.method = "GET";
  page.path = target.substr(0, q);
  page.has_query = q != std::string::npos;
  page.query = page.has_query ? target.substr(q + 1) : std::string();
  page.content_length = -1;
  page.chunked = false;
  page.expect_continue = false;
  page.upgrade_websocket = false;
  page.headers.remove("Content-Length");
  page.headers.remove("Content-Type");
  EmptyBody body;
  http::Exchange inner = http::derive_exchange(ex, page, body);
  inner.close_connection = false;
  inner.failure = http::ProxyError::Kind::kNone;
  // The page keeps its own headers and body but carries the caught (or rewritten) status.
  auto set_status = [status](http::Response& head) {
    head.status = status;
    head.reason.clear();
  };
  http::HeadEditingWriter<decltype(set_status)> writer(*ex.writer, set_status);
  inner.writer = &writer;
  co_await o.service->handle(inner);
  ex.close_connection = ex.close_connection || inner.close_connection;
}

Wrap build_errors(config::Decoder& dec, BuildContext& ctx) {
  ErrorMark mark(dec);
  auto opts = std::make_shared<ErrorsOptions>();
  opts->status = StatusRanges::decode(dec, "status");
  std::string service;
  dec.get("service", service);
  dec.get("query", opts->query);
  std::map<std::string, std::string> rewrites;
  dec.get("statusRewrites", rewrites);
  dec.finish();
  if (opts->status.empty() && mark.clean())
    dec.fail("status", "is required");
  for (const auto& [from, to] : rewrites) {
    auto code = parse_status_code(to);
    if (!code) {
      dec.fail("statusRewrites." + from, "\"" + to + "\" is not a status code");
      continue;
    }
    // The key is a status or a range, as in `status`.
    auto range = StatusRanges::parse(from);
    if (!range) {
      dec.fail("statusRewrites." + from, "\"" + from + "\" is not a status code or range");
      continue;
    }
    opts->rewrites.emplace_back(std::move(*range), *code);
  }
  if (service.empty()) {
    dec.fail("service", "is required");
  } else {
    auto svc = ctx.service_handler(service);
    if (!svc)
      dec.fail("service", svc.error().message);
    else
      opts->service = *svc;
  }
  if (!mark.clean())
    return {};
  return [opts = std::shared_ptr<const ErrorsOptions>(std::move(opts))](
             HandlerPtr next) -> HandlerPtr {
    return std::make_shared<const ErrorPages>(opts, std::move(next));
  };
}

} // namespace turnpike::middleware
