#pragma once
// Small ResponseWriter and BodyReader implementations the services need around one exchange
// (http/head_editor.h has the one that sees the response head: sticky Set-Cookie, time to first
// byte):
// - DiscardWriter: swallows a response (mirrors: their answers are never seen by the client);
// - CaptureWriter: keeps a small response (health checks);
// - BufferBodyReader: a request body already in memory, then optionally the rest of another
//   reader (failover and mirroring replay a buffered body; a body larger than the buffer goes on
//   streaming from the client).
//
// Threading: each lives on the frame of the coroutine serving one exchange, on its worker.

#include <span>
#include <string>
#include <utility>

#include "http/exchange.h"

namespace turnpike::service {

class DiscardWriter final : public http::ResponseWriter {
 public:
  http::Task<http::ProxyError> write_head(http::Response& head) override {
    if (head.status >= 200 || head.status == 101) {
      written_ = true;
      status_ = head.status;
    }
    co_return http::ProxyError::none();
  }
  http::Task<http::ProxyError> write_body(std::string_view) override {
    co_return http::ProxyError::none();
  }
  http::Task<http::ProxyError> finish() override { co_return http::ProxyError::none(); }
  bool head_written() const override { return written_; }
  int status() const { return status_; }

 private:
  bool written_ = false;
  int status_ = 0;
};

class CaptureWriter final : public http::ResponseWriter {
 public:
  explicit CaptureWriter(size_t max_body) : max_body_(max_body) {}
  http::Task<http::ProxyError> write_head(http::Response& head) override {
    if (head.status >= 200 || head.status == 101) {
      written_ = true;
      head_ = head;
    }
    co_return http::ProxyError::none();
  }
  http::Task<http::ProxyError> write_body(std::string_view data) override {
    if (body_.size() < max_body_) body_.append(data.substr(0, max_body_ - body_.size()));
    co_return http::ProxyError::none();
  }
  http::Task<http::ProxyError> finish() override {
    finished_ = true;
    co_return http::ProxyError::none();
  }
  http::Task<http::ProxyError> finish_with_trailers(const http::HeaderMap& trailers) override {
    trailers_ = trailers;
    finished_ = true;
    co_return http::ProxyError::none();
  }
  bool head_written() const override { return written_; }

  const http::Response& head() const { return head_; }
  const std::string& body() const { return body_; }
  const http::HeaderMap& trailers() const { return trailers_; }
  bool finished() const { return finished_; }

 private:
  size_t max_body_;
  bool written_ = false;
  bool finished_ = false;
  http::Response head_;
  std::string body_;
  http::HeaderMap trailers_;
};

class BufferBodyReader final : public http::BodyReader {
 public:
  // `data` first, then (when `rest` is given) whatever `rest` still has. `length` is the declared
  // length to report (-1 when unknown).
  BufferBodyReader(const std::string& data, int64_t length, http::BodyReader* rest = nullptr,
                   const http::HeaderMap* trailers = nullptr)
      : data_(data), length_(length), rest_(rest), trailers_(trailers) {}

  http::Task<std::pair<http::ProxyError, std::span<const char>>> read() override;
  int64_t content_length() const override { return length_; }
  uint64_t consumed() const override { return offset_; }
  const http::HeaderMap* trailers() const override {
    return rest_ ? rest_->trailers() : trailers_;
  }

 private:
  const std::string& data_;
  int64_t length_;
  http::BodyReader* rest_;
  const http::HeaderMap* trailers_;
  size_t offset_ = 0;
};

// Reads the whole body of `reader` into `out`, up to `limit` bytes (< 0: no limit). Returns
// false with `out` holding the first `limit`+ bytes when the body is larger; the error when the
// client failed.
http::Task<std::pair<http::ProxyError, bool>> buffer_body(http::BodyReader& reader,
                                                         std::string& out, int64_t limit);

}  // namespace turnpike::service
