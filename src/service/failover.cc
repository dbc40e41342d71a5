#include "service/failover.h"

#include "common/strings.h"
#include "service/writers.h"

namespace turnpike::service {
namespace {

// Passes the response on unless its final status is one to fail over on; then swallows it
// (head, body, end) and remembers that the fallback must answer.
class DivertingWriter final : public http::ResponseWriter {
 public:
  DivertingWriter(http::ResponseWriter& inner, const FailoverService& svc,
                  bool (*diverts)(const FailoverService&, int))
      : inner_(inner), svc_(svc), diverts_(diverts) {}
  http::Task<http::ProxyError> write_head(http::Response& head) override {
    if (head.status >= 200 && diverts_(svc_, head.status)) {
      diverted_ = true;
      co_return http::ProxyError::none();
    }
    co_return co_await inner_.write_head(head);
  }
  http::Task<http::ProxyError> write_body(std::string_view data) override {
    if (diverted_) co_return http::ProxyError::none();
    co_return co_await inner_.write_body(data);
  }
  http::Task<http::ProxyError> finish() override {
    if (diverted_) co_return http::ProxyError::none();
    co_return co_await inner_.finish();
  }
  http::Task<http::ProxyError> finish_with_trailers(const http::HeaderMap& trailers) override {
    if (diverted_) co_return http::ProxyError::none();
    co_return co_await inner_.finish_with_trailers(trailers);
  }
  // A diverted head counts as written for the main service (its errors can no longer become a
  // response of their own), but not for the fallback, which writes to the real writer.
  bool head_written() const override { return diverted_ || inner_.head_written(); }
  bool diverted() const { return diverted_; }

 private:
  http::ResponseWriter& inner_;
  const FailoverService& svc_;
  bool (*diverts_)(const FailoverService&, int);
  bool diverted_ = false;
};

}  // namespace

SubExchange::SubExchange(http::Exchange& ex, http::BodyReader& body)
    : ex_(ex), sub_{ex.request, body} {
  sub_.writer = ex.writer;
  sub_.executor = ex.executor;
  sub_.worker_id = ex.worker_id;
  sub_.worker = ex.worker;
  sub_.upgradable = ex.upgradable;
  sub_.router_name = ex.router_name;
  sub_.service_name = ex.service_name;
  sub_.username = ex.username;
  sub_.retry_attempts = ex.retry_attempts;
}

SubExchange::~SubExchange() {
  ex_.service_name = sub_.service_name;
  ex_.service_url = std::move(sub_.service_url);
  ex_.status = sub_.status;
  ex_.response_bytes = sub_.response_bytes;
  ex_.retry_attempts = sub_.retry_attempts;
  ex_.close_connection = ex_.close_connection || sub_.close_connection;
}

bool parse_status_ranges(const std::vector<std::string>& items,
                         std::vector<std::pair<int, int>>& out, std::string& error) {
  for (const auto& raw : items) {
    std::string_view item = trim(raw);
    auto dash = item.find('-');
    auto lo = parse_uint(item.substr(0, dash));
    auto hi = dash == std::string_view::npos ? lo : parse_uint(item.substr(dash + 1));
    if (!lo || !hi || *lo < 100 || *hi > 599 || *lo > *hi) {
      error = "invalid status range \"" + raw + "\"";
      return false;
    }
    out.emplace_back(static_cast<int>(*lo), static_cast<int>(*hi));
  }
  return true;
}

FailoverService::FailoverService(std::string name, ServicePtr main, ServicePtr fallback,
                                 FailoverOptions options)
    : name_(std::move(name)),
      main_(std::move(main)),
      fallback_(std::move(fallback)),
      options_(std::move(options)) {}

bool FailoverService::diverts(int status) const {
  for (auto [lo, hi] : options_.error_statuses)
    if (status >= lo && status <= hi) return true;
  return false;
}

bool FailoverService::healthy(int64_t now_ns) const {
  if (!options_.check_health) return true;
  return main_->healthy(now_ns) || fallback_->healthy(now_ns);
}

http::Task<void> FailoverService::handle(http::Exchange& ex) const {
  int64_t now = steady_ns(Clock::now());
  if (!main_->healthy(now)) {
    co_await fallback_->handle(ex);
    co_return;
  }
  if (options_.error_statuses.empty() || ex.request.upgrade_websocket) {
    co_await main_->handle(ex);
    co_return;
  }
  std::string buffered;
  bool complete = true;
  if (ex.request.has_body()) {
    auto [err, whole] = co_await buffer_body(ex.body, buffered, options_.max_request_body_bytes);
    if (err) {
      co_await http::send_error(ex, err);
      co_return;
    }
    complete = whole;
  }
  int64_t length = ex.request.content_length;
  if (!complete) {
    // Too large to replay: the main service alone answers.
    BufferBodyReader rest(buffered, length, &ex.body);
    SubExchange sub(ex, rest);
    co_await main_->handle(sub.get());
    co_return;
  }
  bool diverted = false;
  {
    BufferBodyReader replay(buffered, length, nullptr, ex.body.trailers());
    SubExchange sub(ex, replay);
    DivertingWriter writer(*ex.writer, *this,
                           [](const FailoverService& s, int status) { return s.diverts(status); });
    sub.get().writer = &writer;
    co_await main_->handle(sub.get());
    diverted = writer.diverted();
  }
  if (!diverted) co_return;
  BufferBodyReader replay(buffered, length, nullptr, ex.body.trailers());
  SubExchange sub(ex, replay);
  sub.get().close_connection = false;
  co_await fallback_->handle(sub.get());
}

}  // namespace turnpike::service
