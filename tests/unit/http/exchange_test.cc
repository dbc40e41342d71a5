// ResponseWriter::write_response: the default sends head, body and end through the writer's own
// write_head / write_body / finish (what wrapping middlewares see), and HeadEditingWriter edits
// the head once on the way to the writer it wraps.

#include <exception>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "http/exchange.h"
#include "http/head_editor.h"

namespace turnpike::http {
namespace {

ProxyError run(Task<ProxyError> task) {
  boost::asio::io_context io;
  std::optional<ProxyError> out;
  std::exception_ptr error;
  boost::asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, ProxyError value) {
    error = e;
    if (!e)
      out = std::move(value);
  });
  io.run();
  if (error)
    std::rethrow_exception(error);
  return std::move(*out);
}

// Records the calls it gets; write_response is not overridden (the default under test).
class Recorder final : public ResponseWriter {
public:
  Task<ProxyError> write_head(Response& head) override {
    calls.push_back("head " + std::to_string(head.status) + " " +
                    std::string(head.headers.get("X-Edit").value_or("-")));
    head_written_ = true;
    co_return ProxyError::none();
  }
  Task<ProxyError> write_body(std::string_view data) override {
    calls.push_back("body " + std::string(data));
    if (fail_body)
      co_return ProxyError{ProxyError::Kind::kDownstreamClosed, "gone", false};
    co_return ProxyError::none();
  }
  Task<ProxyError> finish() override {
    calls.push_back("finish");
    co_return ProxyError::none();
  }
  bool head_written() const override { return head_written_; }

  std::vector<std::string> calls;
  bool fail_body = false;

private:
  bool head_written_ = false;
};

TEST(WriteResponse, DefaultIsHeadBodyFinish) {
  Recorder w;
  Response head;
  head.status = 200;
  head.content_length = 3;
  EXPECT_FALSE(run(w.write_response(head, "ok\n")));
  EXPECT_EQ(w.calls, (std::vector<std::string>{"head 200 -", "body ok\n", "finish"}));
}

TEST(WriteResponse, EmptyBodyWritesNoBodyPiece) {
  Recorder w;
  Response head;
  head.status = 204;
  EXPECT_FALSE(run(w.write_response(head, {})));
  EXPECT_EQ(w.calls, (std::vector<std::string>{"head 204 -", "finish"}));
}

TEST(WriteResponse, BodyErrorIsReturnedAfterTheHead) {
  Recorder w;
  w.fail_body = true;
  Response head;
  head.content_length = 2;
  auto err = run(w.write_response(head, "xy"));
  EXPECT_EQ(err.kind, ProxyError::Kind::kDownstreamClosed);
  EXPECT_TRUE(w.head_written());
  EXPECT_EQ(w.calls, (std::vector<std::string>{"head 200 -", "body xy"}));
}

TEST(WriteResponse, HeadEditingWriterEditsOnceAndForwards) {
  Recorder inner;
  int edits = 0;
  auto edit = [&](Response& h) {
    ++edits;
    h.headers.add("X-Edit", "yes");
  };
  HeadEditingWriter<decltype(edit)> w(inner, edit);
  Response head;
  head.content_length = 1;
  EXPECT_FALSE(run(w.write_response(head, "z")));
  EXPECT_EQ(edits, 1);
  EXPECT_EQ(inner.calls, (std::vector<std::string>{"head 200 yes", "body z", "finish"}));
}

} // namespace
} // namespace turnpike::http
