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
template <class Edit>
class HeadEditingWriter final : public ResponseWriter {
 public:
  HeadEditingWriter(ResponseWriter& inner, Edit edit)
      : inner_(inner), edit_(std::move(edit)) {}

  Task<ProxyError> write_head(Response& head) override {
    if (head.status >= 200 || head.status == 101) edit_(head);
    return inner_.write_head(head);
  }
  Task<ProxyError> write_body(std::string_view data) override {
    return inner_.write_body(data);
  }
  Task<ProxyError> finish() override { return inner_.finish(); }
  Task<ProxyError> finish_with_trailers(const HeaderMap& trailers) override {
    return inner_.finish_with_trailers(trailers);
  }
  bool head_written() const override { return inner_.head_written(); }

 private:
  ResponseWriter& inner_;
  Edit edit_;
};

// Makes `writer` the exchange's writer for the scope's lifetime, then restores the previous one
// (the wrapper must not outlive the coroutine frame that owns it).
class WriterScope {
 public:
  WriterScope(Exchange& ex, ResponseWriter& writer)
      : ex_(ex), previous_(ex.writer) {
    ex_.writer = &writer;
  }
  ~WriterScope() { ex_.writer = previous_; }
  WriterScope(const WriterScope&) = delete;
  WriterScope& operator=(const WriterScope&) = delete;

 private:
  Exchange& ex_;
  ResponseWriter* previous_;
};

}  // namespace turnpike::http
