#pragma once
// Editing the response head on its way to the client: the one ResponseWriter wrapper shared by the
// middlewares that change response headers (headers, and later errors/compress-style middlewares
// that only need the head).
//
// Threading: a HeadEditingWriter lives on the frame of the coroutine serving one exchange and is
// confined to that exchange's worker, like the writer it wraps.

#include <utility>

#include "http/exchange.h"

namespace turnpike::middleware {

// Forwards everything to `inner`, calling `edit(Response&)` on the final head (any status >= 200,
// and 101) just before it is written. Informational heads (100, 103) pass through unedited, as in
// Traefik's response modifier.
template <class Edit>
class HeadEditingWriter final : public http::ResponseWriter {
 public:
  HeadEditingWriter(http::ResponseWriter& inner, Edit edit)
      : inner_(inner), edit_(std::move(edit)) {}

  http::Task<http::ProxyError> write_head(http::Response& head) override {
    if (head.status >= 200 || head.status == 101) edit_(head);
    return inner_.write_head(head);
  }
  http::Task<http::ProxyError> write_body(std::string_view data) override {
    return inner_.write_body(data);
  }
  http::Task<http::ProxyError> finish() override { return inner_.finish(); }
  http::Task<http::ProxyError> finish_with_trailers(const http::HeaderMap& trailers) override {
    return inner_.finish_with_trailers(trailers);
  }
  bool head_written() const override { return inner_.head_written(); }

 private:
  http::ResponseWriter& inner_;
  Edit edit_;
};

// Makes `writer` the exchange's writer for the scope's lifetime, then restores the previous one
// (the wrapper must not outlive the coroutine frame that owns it).
class WriterScope {
 public:
  WriterScope(http::Exchange& ex, http::ResponseWriter& writer)
      : ex_(ex), previous_(ex.writer) {
    ex_.writer = &writer;
  }
  ~WriterScope() { ex_.writer = previous_; }
  WriterScope(const WriterScope&) = delete;
  WriterScope& operator=(const WriterScope&) = delete;

 private:
  http::Exchange& ex_;
  http::ResponseWriter* previous_;
};

// Serves the exchange with `next`, letting `edit` change the final response head, whoever writes
// it (the service, a later middleware's local reply, or the error path).
template <class Edit>
http::Task<void> serve_editing_head(http::Exchange& ex, const http::Handler& next, Edit edit) {
  HeadEditingWriter<Edit> writer(*ex.writer, std::move(edit));
  WriterScope scope(ex, writer);
  co_await next.handle(ex);
}

}  // namespace turnpike::middleware
