#include "acme/ledger.h"

#include <gtest/gtest.h>

namespace turnpike::acme {
namespace {

using namespace std::chrono_literals;

TEST(Ledger, BackoffGrowsAndIsCapped) {
  IssuancePolicy p;
  EXPECT_EQ(backoff_after(1, p), 1min);
  EXPECT_EQ(backoff_after(2, p), 5min);
  EXPECT_EQ(backoff_after(3, p), 1h);
  EXPECT_EQ(backoff_after(4, p), 2h);
  EXPECT_EQ(backoff_after(20, p), 24h);
}

TEST(Ledger, FailuresBlockUntilTheBackoffEnds) {
  IssuancePolicy p;
  LedgerEntry e;
  std::time_t t = 1'000'000;
  EXPECT_TRUE(may_order(e, t, p).allowed);
  record_attempt(e, t);
  EXPECT_TRUE(e.attempt_open);
  record_failure(e, t, "unauthorized: 404", std::nullopt, p);
  EXPECT_FALSE(e.attempt_open);
  auto d = may_order(e, t + 30, p);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.not_before, t + 60);
  EXPECT_NE(d.reason.find("unauthorized: 404"), std::string::npos);
  EXPECT_TRUE(may_order(e, t + 60, p).allowed);
  record_failure(e, t + 60, "again", std::nullopt, p);
  EXPECT_EQ(e.next_attempt, t + 60 + 300);
  record_success(e, t + 400, p);
  EXPECT_EQ(e.failures, 0);
  EXPECT_TRUE(may_order(e, t + 401, p).allowed);
}

TEST(Ledger, RetryAfterFromTheCaWins) {
  IssuancePolicy p;
  LedgerEntry e;
  record_failure(e, 1000, "rateLimited", std::chrono::seconds(7200), p);
  EXPECT_EQ(e.next_attempt, 1000 + 7200);
  LedgerEntry f;
  record_failure(f, 1000, "rateLimited", std::chrono::seconds(5), p);
  EXPECT_EQ(f.next_attempt, 1000 + 60);  // never less than the backoff
}

TEST(Ledger, DuplicateCertificateLimitPerWindow) {
  IssuancePolicy p;  // 5 per 7 days
  LedgerEntry e;
  std::time_t day = 86400;
  for (int i = 0; i < 5; ++i) record_success(e, 1000 + i * day, p);
  auto d = may_order(e, 1000 + 5 * day, p);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.not_before, 1000 + 7 * day);  // when the oldest leaves the window
  EXPECT_TRUE(may_order(e, 1000 + 7 * day, p).allowed);
  record_success(e, 1000 + 7 * day, p);  // prunes the oldest
  EXPECT_EQ(e.issued.size(), 5u);
}

TEST(Ledger, InterruptedAttemptsBackOffFromTheSecond) {
  IssuancePolicy p;
  LedgerEntry e;
  record_attempt(e, 1000);
  recover_interrupted(e, 1010, /*had_order=*/false, p);
  EXPECT_FALSE(e.attempt_open);
  EXPECT_TRUE(may_order(e, 1010, p).allowed);  // once may be a deploy
  record_attempt(e, 1010);
  recover_interrupted(e, 1020, false, p);
  EXPECT_FALSE(may_order(e, 1020, p).allowed);  // twice in a row: a crash loop
  EXPECT_EQ(e.failures, 1);
  LedgerEntry g;
  record_attempt(g, 1000);
  recover_interrupted(g, 1010, /*had_order=*/true, p);  // resumed, nothing counted
  EXPECT_EQ(g.interrupted, 0);
  EXPECT_TRUE(may_order(g, 1010, p).allowed);
}

}  // namespace
}  // namespace turnpike::acme
