#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "harness.h"
#include "middleware/retry.h"

namespace turnpike::middleware {
namespace {

using Kind = http::ProxyError::Kind;
using testing::make_request;

// An upstream scripted per attempt: read the request body (or not), then either fail like the
// proxy does (send_error with `kind`) or answer `status`. Records what each attempt saw.
struct Step {
  bool read_body = true;
  Kind kind = Kind::kNone; // kNone: answer `status`
  int status = 200;
};

class Scripted final : public http::Handler {
public:
  explicit Scripted(std::vector<Step> steps) : steps_(std::move(steps)) {}
  http::Task<void> handle(http::Exchange& ex) const override {
    const Step step = steps_[std::min(calls, steps_.size() - 1)];
    ++calls;
    paths.push_back(ex.request.path);
    ex.request.path = "/changed-by-a-later-middleware";
    std::string body;
    if (step.read_body) {
      for (;;) {
        auto [err, piece] = co_await ex.body.read();
        if (err || piece.empty())
          break;
        body.append(piece.data(), piece.size());
      }
    }
    bodies.push_back(body);
    if (step.kind != Kind::kNone) {
      http::ProxyError err;
      err.kind = step.kind;
      co_await http::send_error(ex, err);
      co_return;
    }
    co_await http::send_response(ex, step.status, "attempt " + std::to_string(calls));
  }

  mutable size_t calls = 0;
  mutable std::vector<std::string> paths;
  mutable std::vector<std::string> bodies;

private:
  std::vector<Step> steps_;
};

HandlerPtr make(std::string_view yaml, std::shared_ptr<Scripted> upstream) {
  auto node = config::parse_yaml(yaml, "dynamic.yml");
  EXPECT_TRUE(node);
  config::Errors errors;
  config::Decoder dec(*node, "http.middlewares.t@file.retry", errors);
  testing::FakeBuildContext ctx;
  Wrap wrap = find("retry")->factory(dec, ctx);
  EXPECT_TRUE(wrap) << errors.joined();
  return wrap(std::move(upstream));
}

struct Result {
  int status = 0;
  std::string body;
  int retries = 0;
  int heads = 0;
};

Result serve(const http::Handler& h, std::string_view method, std::string body = {}) {
  auto req = make_request(method, "/orig");
  if (!body.empty())
    req.content_length = static_cast<int64_t>(body.size());
  testing::MemoryBody reader(std::move(body));
  testing::RecordingWriter writer;
  auto ex = testing::make_exchange(req, reader, writer);
  testing::run(h.handle(ex));
  EXPECT_EQ(ex.writer, &writer);
  Result r;
  r.heads = static_cast<int>(writer.heads.size());
  if (!writer.heads.empty())
    r.status = writer.heads.back().status;
  r.body = writer.body;
  r.retries = ex.retry_attempts;
  return r;
}

constexpr std::string_view kFast = "attempts: 3\ninitialInterval: 0s\n";

TEST(Retry, ConnectFailuresAreRetriedUntilOneSucceeds) {
  auto up = std::make_shared<Scripted>(std::vector<Step>{
      {false, Kind::kUpstreamConnect}, {false, Kind::kUpstreamConnect}, {true, Kind::kNone, 200}});
  auto h = make(kFast, up);
  // Even a POST: nothing reached the upstream, and its body is replayed in full.
  auto r = serve(*h, "POST", "payload");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "attempt 3");
  EXPECT_EQ(r.heads, 1); // the failed attempts' 502s never reached the client
  EXPECT_EQ(r.retries, 2);
  EXPECT_EQ(up->bodies.back(), "payload");
  // Each attempt starts from the request as it reached retry.
  EXPECT_EQ(up->paths, (std::vector<std::string>{"/orig", "/orig", "/orig"}));
}

TEST(Retry, GivesUpAfterAttemptsWithTheLastFailure) {
  auto up = std::make_shared<Scripted>(std::vector<Step>{{false, Kind::kUpstreamConnect}});
  auto r = serve(*make(kFast, up), "GET");
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(up->calls, 3u);
  EXPECT_EQ(r.retries, 2);
}

TEST(Retry, PostWhoseBodyReachedTheUpstreamIsNeverSentAgain) {
  for (Kind kind : {Kind::kUpstreamClosed, Kind::kUpstreamTimeout, Kind::kUpstreamProtocol}) {
    auto up = std::make_shared<Scripted>(std::vector<Step>{{true, kind}, {true, Kind::kNone}});
    auto r = serve(*make(kFast, up), "POST", "pay");
    EXPECT_EQ(up->calls, 1u);
    EXPECT_NE(r.status, 200);
    EXPECT_EQ(r.retries, 0);
  }
}

TEST(Retry, IdempotentRequestsAreResentWithTheirBody) {
  auto up = std::make_shared<Scripted>(
      std::vector<Step>{{true, Kind::kUpstreamClosed}, {true, Kind::kNone, 201}});
  auto r = serve(*make(kFast, up), "PUT", "document");
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(up->bodies, (std::vector<std::string>{"document", "document"}));
}

TEST(Retry, RetryNonIdempotentMethodAllowsResendingAPost) {
  auto up = std::make_shared<Scripted>(
      std::vector<Step>{{true, Kind::kUpstreamClosed}, {true, Kind::kNone, 200}});
  auto r = serve(*make("attempts: 2\ninitialInterval: 0s\nretryNonIdempotentMethod: true\n", up),
                 "POST", "again");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(up->bodies, (std::vector<std::string>{"again", "again"}));
}

TEST(Retry, BodyLargerThanTheKeptCopyIsNotResent) {
  auto up = std::make_shared<Scripted>(
      std::vector<Step>{{true, Kind::kUpstreamClosed}, {true, Kind::kNone, 200}});
  auto r = serve(*make("attempts: 3\ninitialInterval: 0s\nmaxRequestBodyBytes: 4\n", up), "PUT",
                 "too long");
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(up->calls, 1u);
}

TEST(Retry, StatusListRetriesUpstreamAnswers) {
  auto up = std::make_shared<Scripted>(std::vector<Step>{
      {true, Kind::kNone, 503}, {true, Kind::kNone, 500}, {true, Kind::kNone, 200}});
  auto r = serve(*make("attempts: 3\ninitialInterval: 0s\nstatus: [\"500-503\"]\n", up), "GET");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.retries, 2);
  // Without the list an upstream's own 5xx is its answer.
  auto up2 = std::make_shared<Scripted>(std::vector<Step>{{true, Kind::kNone, 500}});
  EXPECT_EQ(serve(*make(kFast, up2), "GET").status, 500);
  EXPECT_EQ(up2->calls, 1u);
  // A POST's status is not retried either: the upstream processed it.
  auto up3 = std::make_shared<Scripted>(std::vector<Step>{{true, Kind::kNone, 500}});
  serve(*make("attempts: 3\ninitialInterval: 0s\nstatus: [\"500\"]\n", up3), "POST", "x");
  EXPECT_EQ(up3->calls, 1u);
}

TEST(Retry, NetworkErrorsCanBeExcluded) {
  auto up = std::make_shared<Scripted>(std::vector<Step>{{false, Kind::kUpstreamConnect}});
  auto r = serve(*make("attempts: 3\ndisableRetryOnNetworkError: true\n", up), "GET");
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(up->calls, 1u);
}

TEST(Retry, BackoffGrowsTowardsTwiceTheInitialInterval) {
  RetryOptions o;
  o.attempts = 5;  // four retries: 100ms * 2^(k/4), k = 0..3
  o.initial_interval = std::chrono::milliseconds(100);
  EXPECT_EQ(o.backoff(1), std::chrono::milliseconds(100));
  EXPECT_NEAR(static_cast<double>(o.backoff(2).count()), 118.92e6, 1e4);
  EXPECT_NEAR(static_cast<double>(o.backoff(4).count()), 168.18e6, 1e4);
  o.attempts = 1;
  EXPECT_EQ(o.backoff(1), Duration::zero());
}

TEST(Retry, BackoffWaitsBetweenAttempts) {
  auto up = std::make_shared<Scripted>(std::vector<Step>{{false, Kind::kUpstreamConnect}});
  auto h = make("attempts: 2\ninitialInterval: 200ms\n", up);
  const auto t0 = std::chrono::steady_clock::now();
  serve(*h, "GET");
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(100)); // 200ms -50%
}

TEST(Retry, DecodeErrors) {
  testing::expect_decode_error("retry", "initialInterval: 1s\n", "retry.attempts: is required");
  testing::expect_decode_error("retry", "attempts: 0\n", "retry.attempts: must be greater than 0");
  testing::expect_decode_error("retry", "attempts: 2\nstatus: [\"5xx\"]\n", "retry.status[0]");
  testing::expect_decode_error("retry", "attempts: 2\nbogus: 1\n", "bogus");
}

} // namespace
} // namespace turnpike::middleware
