#include "middleware/buffering.h"

#include <array>
#include <string>

#include "middleware/decode_support.h"
#include "middleware/local_reply.h"
#include "middleware/spool.h"

namespace turnpike::middleware {
namespace {

using Kind = http::ProxyError::Kind;

// retryExpression's functions, in the order Resolve receives their index.
constexpr std::array<Predicate::Function, 3> kRetryFunctions{{
    {"Attempts", 0, false},
    {"ResponseCode", 0, false},
    {"IsNetworkError", 0, true},
}};

bool network_error(Kind k) {
  return k == Kind::kUpstreamConnect || k == Kind::kUpstreamClosed || k == Kind::kUpstreamTimeout ||
         k == Kind::kUpstreamProtocol;
}

// Keeps the final response of an attempt (head, body, trailers) instead of writing it. Interim
// heads and upgrades (101, after which the connection is a tunnel) pass straight through.
class BufferingWriter final : public http::ResponseWriter {
public:
  BufferingWriter(http::ResponseWriter& inner, const BufferingOptions& o)
      : inner_(inner), max_(static_cast<uint64_t>(o.max_response_body_bytes)),
        body_(static_cast<uint64_t>(o.mem_response_body_bytes)) {}

  http::Task<http::ProxyError> write_head(http::Response& head) override {
    if (passthrough_ || (head.status < 200 && head.status != 101))
      co_return co_await inner_.write_head(head);
    if (head.status == 101) {
      passthrough_ = true;
      co_return co_await inner_.write_head(head);
    }
    head_ = head;
    co_return http::ProxyError::none();
  }
  http::Task<http::ProxyError> write_body(std::string_view data) override {
    if (passthrough_)
      co_return co_await inner_.write_body(data);
    if (too_large_ || data.empty())
      co_return http::ProxyError::none();
    if (max_ > 0 && body_.size() + data.size() > max_) {
      too_large_ = true; // keep reading (and dropping) so the upstream connection stays usable
      body_.clear();
      co_return http::ProxyError::none();
    }
    if (!body_.append(data)) {
      http::ProxyError err;
      err.kind = Kind::kInternal;
      err.detail = "buffering: cannot write the response to a temporary file";
      co_return err;
    }
    co_return http::ProxyError::none();
  }
  http::Task<http::ProxyError> finish() override {
    if (passthrough_)
      co_return co_await inner_.finish();
    finished_ = true;
    co_return http::ProxyError::none();
  }
  http::Task<http::ProxyError> finish_with_trailers(const http::HeaderMap& trailers) override {
    if (passthrough_)
      co_return co_await inner_.finish_with_trailers(trailers);
    trailers_ = trailers;
    finished_ = true;
    co_return http::ProxyError::none();
  }
  bool head_written() const override {
    return passthrough_ ? inner_.head_written() : head_.has_value();
  }

  bool passthrough() const { return passthrough_; }
  bool complete() const { return head_ && finished_; }
  bool too_large() const { return too_large_; }
  int status() const { return head_ ? head_->status : 0; }

  // Writes the kept response to the client, framed by its length.
  http::Task<http::ProxyError> flush() {
    http::Response head = *head_;
    if (!head.no_body && trailers_.empty()) {
      head.headers.remove("Transfer-Encoding");
      head.headers.set("Content-Length", std::to_string(body_.size()));
      head.content_length = static_cast<int64_t>(body_.size());
      head.chunked = false;
    }
    if (auto err = co_await inner_.write_head(head))
      co_return err;
    std::string scratch;
    for (uint64_t off = 0; off < body_.size();) {
      auto piece = body_.read_at(off, 64 * 1024, scratch);
      if (piece.empty())
        break;
      off += piece.size();
      auto err = co_await inner_.write_body(std::string_view(piece.data(), piece.size()));
      if (err)
        co_return err;
    }
    if (!trailers_.empty())
      co_return co_await inner_.finish_with_trailers(trailers_);
    co_return co_await inner_.finish();
  }

  void reset() {
    head_.reset();
    body_.clear();
    trailers_.clear();
    finished_ = too_large_ = false;
  }

private:
  http::ResponseWriter& inner_;
  uint64_t max_;
  Spool body_;
  std::optional<http::Response> head_;
  http::HeaderMap trailers_;
  bool finished_ = false;
  bool too_large_ = false;
  bool passthrough_ = false;
};

http::Task<void> refuse_too_large(http::Exchange& ex) {
  // The rest of the body is not read: the connection cannot carry another request.
  ex.close_connection = true;
  co_await reply(ex, 413, status_text(413));
  ex.close_connection = true;
}

} // namespace

Buffering::Buffering(std::shared_ptr<const BufferingOptions> options, HandlerPtr next)
    : options_(std::move(options)), next_(std::move(next)) {}

http::Task<void> Buffering::handle(http::Exchange& ex) const {
  const BufferingOptions& o = *options_;
  const auto max_request = static_cast<uint64_t>(o.max_request_body_bytes);
  if (max_request > 0 && ex.request.content_length > o.max_request_body_bytes) {
    co_await refuse_too_large(ex);
    co_return;
  }
  Spool request_body(static_cast<uint64_t>(o.mem_request_body_bytes));
  for (;;) {
    auto [err, piece] = co_await ex.body.read();
    if (err) {
      co_await http::send_error(ex, err);
      co_return;
    }
    if (piece.empty())
      break;
    if (max_request > 0 && request_body.size() + piece.size() > max_request) {
      co_await refuse_too_large(ex);
      co_return;
    }
    if (!request_body.append(piece)) {
      http::ProxyError e;
      e.kind = Kind::kInternal;
      co_await http::send_error(ex, e);
      co_return;
    }
  }
  if (ex.request.has_body() || request_body.size() > 0) {
    ex.request.chunked = false;
    ex.request.content_length = static_cast<int64_t>(request_body.size());
  }
  SpoolBody body(request_body, ex.body.trailers());
  const bool close_before = ex.close_connection;
  BufferingWriter writer(*ex.writer, o);
  const http::Request original = ex.request;
  for (int attempt = 1;; ++attempt) {
    http::Exchange inner = http::derive_exchange(ex, ex.request, body);
    inner.writer = &writer;
    inner.failure = Kind::kNone;
    co_await next_->handle(inner);
    http::adopt_annotations(ex, inner);
    if (writer.passthrough())
      co_return;
    if (o.retry_expression && writer.complete() && !writer.too_large()) {
      const int status = writer.status();
      const bool network = network_error(inner.failure);
      const bool again = o.retry_expression->eval([&](size_t fn, std::span<const Predicate::Arg>) {
        switch (fn) {
        case 0:
          return static_cast<double>(attempt);
        case 1:
          return static_cast<double>(status);
        default:
          return network ? 1.0 : 0.0;
        }
      });
      if (again) {
        ++ex.retry_attempts;
        ex.request = original;
        body.rewind();
        writer.reset();
        continue;
      }
    }
    break;
  }
  // Nothing reached the client yet, so every outcome can still get a proper response.
  ex.close_connection = close_before;
  if (writer.too_large()) {
    co_await reply(ex, 500, status_text(500));
    co_return;
  }
  if (!writer.complete()) {
    // The attempt broke while its response was being buffered.
    http::ProxyError err;
    err.kind = network_error(ex.failure) ? ex.failure : Kind::kUpstreamClosed;
    co_await http::send_error(ex, err);
    co_return;
  }
  auto err = co_await writer.flush();
  if (err)
    ex.close_connection = true;
}

Wrap build_buffering(config::Decoder& dec, BuildContext&) {
  ErrorMark mark(dec);
  auto opts = std::make_shared<BufferingOptions>();
  dec.get_non_negative("maxRequestBodyBytes", opts->max_request_body_bytes);
  dec.get_non_negative("memRequestBodyBytes", opts->mem_request_body_bytes);
  dec.get_non_negative("maxResponseBodyBytes", opts->max_response_body_bytes);
  dec.get_non_negative("memResponseBodyBytes", opts->mem_response_body_bytes);
  std::string expression;
  dec.get("retryExpression", expression);
  dec.finish();
  if (!expression.empty()) {
    auto p = Predicate::parse(expression, kRetryFunctions);
    if (p)
      opts->retry_expression = std::move(*p);
    else
      dec.fail("retryExpression", p.error().message);
  }
  if (!mark.clean())
    return {};
  return [opts = std::shared_ptr<const BufferingOptions>(std::move(opts))](
             HandlerPtr next) -> HandlerPtr {
    return std::make_shared<const Buffering>(opts, std::move(next));
  };
}

} // namespace turnpike::middleware
