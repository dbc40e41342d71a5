#include "middleware/head_editor.h"

#include <gtest/gtest.h>

#include "harness.h"

namespace turnpike::middleware {
namespace {

// Writes a 103 then a 200 with a body, through whatever ex.writer is.
class EarlyHints final : public http::Handler {
 public:
  http::Task<void> handle(http::Exchange& ex) const override {
    http::Response early;
    early.status = 103;
    co_await ex.writer->write_head(early);
    co_await http::send_response(ex, 200, "body");
  }
};

http::Task<void> serve_stamped(http::Exchange& ex, const http::Handler& next, int& edits) {
  co_await serve_editing_head(ex, next, [&](http::Response& head) {
    ++edits;
    head.headers.set("X-Edited", std::to_string(head.status));
  });
}

TEST(HeadEditor, EditsOnlyTheFinalHeadAndRestoresTheWriter) {
  auto req = testing::make_request("GET", "/");
  testing::MemoryBody body;
  testing::RecordingWriter writer;
  http::Exchange ex = testing::make_exchange(req, body, writer);
  EarlyHints next;
  int edits = 0;
  testing::run(serve_stamped(ex, next, edits));
  EXPECT_EQ(edits, 1);
  ASSERT_EQ(writer.heads.size(), 2u);
  EXPECT_FALSE(writer.heads[0].headers.has("X-Edited"));
  EXPECT_EQ(writer.heads[1].headers.get("X-Edited").value_or(""), "200");
  EXPECT_EQ(writer.body, "body");
  EXPECT_TRUE(writer.finished);
  EXPECT_EQ(ex.writer, &writer);
}

}  // namespace
}  // namespace turnpike::middleware
