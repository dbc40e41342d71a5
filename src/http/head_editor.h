#pragma once
// Seeing the final response head on its way to the client: the one ResponseWriter wrapper shared
// by the middlewares that change response headers (middleware/head_editor.h) and the services
// that add to them (sticky cookies, time to first byte).
//
// Threading: a HeadEditingWriter lives on the frame of the coroutine serving one exchange and is
// confined to that exchange's worker, like the writer it wraps.

#include <utility>

#include "http/exchange.h"

namespace turnpike::http {

// Forwards everything to `inner`, calling `edit(Response&)` on the final head (any status >= 200,
// and 101) just before it is written. Informational heads (100, 103) pass through unedited, as in
// Traefik's response modifier.
template <class Edit> class HeadEditingWriter final : public ResponseWriter {
public:
  HeadEditingWriter(ResponseWriter& inner, Edit edit) : inner_(inner), edit_(std::move(edit)) {}

  Task<ProxyError> write_head(Response& head) override {
    if (head.status >= 200 || head.status == 101)
      edit_(head);
    return inner_.write_head(head);
  }
  Task<ProxyError> write_body(std::string_view data) override { return inner_.write_body(data); }
  Task<ProxyError> finish() override { return inner_.finish(); }
  Task<ProxyError> finish_with_trailers(const HeaderMap& trailers) override {
    return inner_.finish_with_trailers(trailers);
  }
  bool head_written() const override { return inner_.head_written(); }
  Task<ProxyError> write_response(Response& head, std::string_view body) override {
    edit_(head); // always a final head
    return inner_.write_response(head, body);
  }

private:
  ResponseWriter& inner_;
  Edit edit_;
};

// Passes the response through unless `divert(head)` returns true for its final head (status >= 200
// or 101); then that head and everything after it are dropped. For what replaces a response
// (errors pages, failover) or repeats the request (retry). `reset()` re-arms it for another
// attempt.
template <class Divert> class DivertingWriter final : public ResponseWriter {
public:
  DivertingWriter(ResponseWriter& inner, Divert divert)
      : inner_(inner), divert_(std::move(divert)) {}

  Task<ProxyError> write_head(Response& head) override {
    if (diverted_)
      co_return ProxyError::none();
    if ((head.status >= 200 || head.status == 101) && divert_(head)) {
      diverted_ = true;
      co_return ProxyError::none();
    }
    co_return co_await inner_.write_head(head);
  }
  Task<ProxyError> write_body(std::string_view data) override {
    if (diverted_)
      co_return ProxyError::none();
    co_return co_await inner_.write_body(data);
  }
  Task<ProxyError> finish() override {
    if (diverted_)
      co_return ProxyError::none();
    co_return co_await inner_.finish();
  }
  Task<ProxyError> finish_with_trailers(const HeaderMap& trailers) override {
    if (diverted_)
      co_return ProxyError::none();
    co_return co_await inner_.finish_with_trailers(trailers);
  }
  // A diverted head counts as written for whoever wrote it: its later errors can no longer
  // become a response of their own.
  bool head_written() const override { return diverted_ || inner_.head_written(); }

  bool diverted() const { return diverted_; }
  void reset() { diverted_ = false; }

private:
  ResponseWriter& inner_;
  Divert divert_;
  bool diverted_ = false;
};

// Makes `writer` the exchange's writer for the scope's lifetime, then restores the previous one
// (the wrapper must not outlive the coroutine frame that owns it).
class WriterScope {
public:
  WriterScope(Exchange& ex, ResponseWriter& writer) : ex_(ex), previous_(ex.writer) {
    ex_.writer = &writer;
  }
  ~WriterScope() { ex_.writer = previous_; }
  WriterScope(const WriterScope&) = delete;
  WriterScope& operator=(const WriterScope&) = delete;

private:
  Exchange& ex_;
  ResponseWriter* previous_;
};

} // namespace turnpike::http
