#pragma once
// Test harness for middleware unit tests: an in-memory request body, a recording response writer,
// a terminal handler that records what reached it and answers 200, a fake BuildContext, and helpers
// that decode a middleware from YAML (through the registry, as the builder does) and run one
// exchange on an io_context.

#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "config/tree/decoder.h"
#include "config/tree/node.h"
#include "http/exchange.h"
#include "middleware/middleware.h"

namespace turnpike::middleware::testing {

// Runs a coroutine to completion on a private io_context; rethrows its exception.
template <class T>
T run(http::Task<T> task) {
  boost::asio::io_context io;
  std::optional<T> out;
  std::exception_ptr error;
  boost::asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T value) {
    error = e;
    if (!e) out = std::move(value);
  });
  io.run();
  if (error) std::rethrow_exception(error);
  return std::move(*out);
}

inline void run(http::Task<void> task) {
  boost::asio::io_context io;
  std::exception_ptr error;
  boost::asio::co_spawn(io, std::move(task), [&](std::exception_ptr e) { error = e; });
  io.run();
  if (error) std::rethrow_exception(error);
}

class MemoryBody final : public http::BodyReader {
 public:
  explicit MemoryBody(std::string data = {}) : data_(std::move(data)) {}
  http::Task<std::pair<http::ProxyError, std::span<const char>>> read() override {
    std::span<const char> piece;
    if (!done_) {
      piece = std::span<const char>(data_.data(), data_.size());
      done_ = true;
      consumed_ = data_.size();
    }
    co_return std::pair{http::ProxyError::none(), piece};
  }
  int64_t content_length() const override { return static_cast<int64_t>(data_.size()); }
  uint64_t consumed() const override { return consumed_; }

 private:
  std::string data_;
  bool done_ = false;
  uint64_t consumed_ = 0;
};

// Records everything written downstream.
class RecordingWriter final : public http::ResponseWriter {
 public:
  http::Task<http::ProxyError> write_head(http::Response& head) override {
    heads.push_back(head);
    if (head.status >= 200 || head.status == 101) head_written_ = true;
    co_return http::ProxyError::none();
  }
  http::Task<http::ProxyError> write_body(std::string_view data) override {
    body.append(data);
    co_return http::ProxyError::none();
  }
  http::Task<http::ProxyError> finish() override {
    finished = true;
    co_return http::ProxyError::none();
  }
  bool head_written() const override { return head_written_; }

  std::vector<http::Response> heads;  // every head written, 1xx included
  std::string body;
  bool finished = false;

 private:
  bool head_written_ = false;
};

// The end of the chain: records the request it received and answers `status` with `headers`.
class Terminal final : public http::Handler {
 public:
  http::Task<void> handle(http::Exchange& ex) const override {
    ++calls;
    seen = ex.request;
    co_await http::send_response(ex, status, body, &headers);
  }

  int status = 200;
  std::string body = "upstream";
  http::HeaderMap headers;  // response headers the "upstream" sends
  mutable int calls = 0;
  mutable std::optional<http::Request> seen;
};

class FakeBuildContext : public BuildContext {
 public:
  Result<Wrap> middleware(std::string_view name) override {
    auto it = known.find(std::string(name));
    if (it == known.end()) return make_error("middleware \"" + std::string(name) + "\" does not exist");
    return it->second;
  }
  std::string_view provider() const override { return provider_name; }

  std::map<std::string, Wrap> known;
  std::string provider_name = "file";
};

// The decoded middleware wrapped around a Terminal, or the decode errors.
struct Built {
  HandlerPtr handler;  // null when decoding failed
  std::shared_ptr<Terminal> terminal = std::make_shared<Terminal>();
  config::Errors errors;

  explicit operator bool() const { return handler != nullptr; }
  std::string error_text() const { return errors.joined(); }
};

// Decodes `yaml` (the options under the type key) as middleware "test@file" of type `type`.
inline Built build(std::string_view type, std::string_view yaml, BuildContext* ctx = nullptr) {
  Built out;
  auto node = config::parse_yaml(yaml, "dynamic.yml");
  if (!node) {
    ADD_FAILURE() << "bad test YAML: " << node.error().message;
    return out;
  }
  const Registration* reg = find(type);
  if (!reg) {
    ADD_FAILURE() << "unknown middleware type " << type;
    return out;
  }
  FakeBuildContext fallback;
  config::Decoder dec(*node, "http.middlewares.test@file." + std::string(type), out.errors);
  Wrap wrap = reg->factory(dec, ctx ? *ctx : fallback);
  if (wrap && out.errors.empty()) out.handler = wrap(out.terminal);
  if (wrap && !out.errors.empty()) ADD_FAILURE() << "factory returned a wrap despite errors";
  if (!wrap && out.errors.empty()) ADD_FAILURE() << "factory failed without an error";
  return out;
}

// Decoding `yaml` as `type` fails, and the errors contain `expected` (typically "type.option: ...",
// checking both the option path and the problem).
inline void expect_decode_error(std::string_view type, std::string_view yaml,
                                std::string_view expected) {
  SCOPED_TRACE(yaml);
  auto b = build(type, yaml);
  EXPECT_FALSE(b);
  EXPECT_NE(b.error_text().find(expected), std::string::npos) << b.error_text();
}

inline http::Request make_request(std::string_view method, std::string_view target,
                                  std::string_view authority = "example.com") {
  http::Request req;
  req.method = std::string(method);
  const size_t q = target.find('?');
  req.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) {
    req.has_query = true;
    req.query = std::string(target.substr(q + 1));
  }
  req.authority = std::string(authority);
  std::string host(authority.substr(0, authority.rfind(':') == std::string_view::npos ||
                                              authority.front() == '['
                                          ? authority.size()
                                          : authority.rfind(':')));
  req.host = host;
  req.headers.add("Host", authority);
  req.client_addr = boost::asio::ip::make_address("192.0.2.10");
  req.client_port = 40000;
  return req;
}

// The other Exchange fields keep their defaults (the warning is about exactly that).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
inline http::Exchange make_exchange(http::Request& req, http::BodyReader& body,
                                    http::ResponseWriter& writer) {
  return http::Exchange{.request = req, .body = body, .writer = &writer};
}
#pragma GCC diagnostic pop

// What one exchange produced.
struct Outcome {
  int status = 0;
  http::HeaderMap headers;
  std::string body;
  bool finished = false;
  std::string username;
  bool close_connection = false;

  std::string header(std::string_view name) const {
    return std::string(headers.get(name).value_or(std::string_view{}));
  }
};

inline Outcome serve(const http::Handler& handler, http::Request& req) {
  MemoryBody body;
  RecordingWriter writer;
  http::Exchange ex = make_exchange(req, body, writer);
  run(handler.handle(ex));
  EXPECT_EQ(ex.writer, &writer) << "a middleware left its writer wrapper installed";
  Outcome out;
  if (!writer.heads.empty()) {
    out.status = writer.heads.back().status;
    out.headers = writer.heads.back().headers;
  }
  out.body = writer.body;
  out.finished = writer.finished;
  out.username = ex.username;
  out.close_connection = ex.close_connection;
  return out;
}

// Builds `type` from `yaml`, serves `req` and checks the status. Returns the request as the upstream
// received it, or nullopt when the middleware answered by itself (checked: the upstream was not
// called) or could not be built.
inline std::optional<http::Request> forwarded(std::string_view type, std::string_view yaml,
                                              http::Request req, int expected_status = 200) {
  auto b = build(type, yaml);
  EXPECT_TRUE(b) << b.error_text();
  if (!b) return std::nullopt;
  auto out = serve(*b.handler, req);
  EXPECT_EQ(out.status, expected_status);
  EXPECT_EQ(b.terminal->calls, b.terminal->seen ? 1 : 0);
  return b.terminal->seen;
}

}  // namespace turnpike::middleware::testing
