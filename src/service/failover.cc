#include "service/failover.h"

#include "common/strings.h"
#include "http/head_editor.h"
#include "service/writers.h"

namespace turnpike::service {

SubExchange::SubExchange(http::Exchange& ex, http::BodyReader& body)
    : ex_(ex), sub_(http::derive_exchange(ex, ex.request, body)) {}

SubExchange::~SubExchange() {
  http::adopt_annotations(ex_, sub_);
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
    auto divert = [this](const http::Response& head) { return diverts(head.status); };
    http::DivertingWriter<decltype(divert)> writer(*ex.writer, divert);
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

} // namespace turnpike::service
