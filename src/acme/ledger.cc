#include "acme/ledger.h"

#include <algorithm>

namespace turnpike::acme {

std::chrono::seconds backoff_after(int failures, const IssuancePolicy& policy) {
  using std::chrono::hours;
  using std::chrono::minutes;
  using std::chrono::seconds;
  if (failures <= 0) return seconds(0);
  seconds d;
  if (failures == 1) {
    d = minutes(1);
  } else if (failures == 2) {
    d = minutes(5);
  } else {
    // Let's Encrypt allows 5 failed validations per hostname per hour: from the third failure on,
    // at most one attempt an hour, doubling.
    int doublings = std::min(failures - 3, 10);
    d = hours(1) * (1 << doublings);
  }
  return std::min(d, policy.max_backoff);
}

namespace {
void prune(LedgerEntry& entry, std::time_t now, const IssuancePolicy& policy) {
  auto window = policy.duplicate_window.count();
  std::erase_if(entry.issued, [&](std::time_t t) { return t + window <= now; });
}
}  // namespace

OrderDecision may_order(const LedgerEntry& entry, std::time_t now, const IssuancePolicy& policy) {
  OrderDecision d;
  if (entry.next_attempt > now) {
    d.allowed = false;
    d.not_before = entry.next_attempt;
    d.reason = entry.failures > 0
                   ? "backing off after " + std::to_string(entry.failures) + " failed attempt(s)" +
                         (entry.last_error.empty() ? "" : " (last: " + entry.last_error + ")")
                   : "waiting as the CA asked";
    return d;
  }
  auto window = policy.duplicate_window.count();
  std::vector<std::time_t> recent;
  for (auto t : entry.issued)
    if (t + window > now) recent.push_back(t);
  if (int(recent.size()) >= policy.duplicate_limit) {
    std::sort(recent.begin(), recent.end());
    d.allowed = false;
    d.not_before = recent[recent.size() - size_t(policy.duplicate_limit)] + window;
    d.reason = std::to_string(recent.size()) +
               " certificates already issued for this exact set of names within the duplicate "
               "window (limit " + std::to_string(policy.duplicate_limit) + ")";
  }
  return d;
}

void record_attempt(LedgerEntry& entry, std::time_t now) {
  entry.attempt_open = true;
  entry.last_attempt = now;
}

void record_success(LedgerEntry& entry, std::time_t now, const IssuancePolicy& policy) {
  prune(entry, now, policy);
  entry.issued.push_back(now);
  entry.failures = 0;
  entry.interrupted = 0;
  entry.next_attempt = 0;
  entry.attempt_open = false;
  entry.last_error.clear();
}

void record_failure(LedgerEntry& entry, std::time_t now, const std::string& error,
                    std::optional<std::chrono::seconds> retry_after, const IssuancePolicy& policy) {
  prune(entry, now, policy);
  entry.failures += 1;
  entry.attempt_open = false;
  entry.last_error = error;
  auto wait = backoff_after(entry.failures, policy);
  if (retry_after && *retry_after > wait) wait = *retry_after;
  entry.next_attempt = now + wait.count();
}

void record_abandoned(LedgerEntry& entry) { entry.attempt_open = false; }

void recover_interrupted(LedgerEntry& entry, std::time_t now, bool had_order,
                         const IssuancePolicy& policy) {
  if (!entry.attempt_open) return;
  entry.attempt_open = false;
  if (had_order) return;
  entry.interrupted += 1;
  // One interruption may be bad luck (a deploy, a kill); a second one in a row means the process
  // dies while ordering, and each restart would otherwise order again.
  if (entry.interrupted >= 2)
    record_failure(entry, now, "the process stopped during the last attempts", std::nullopt, policy);
}

}  // namespace turnpike::acme
