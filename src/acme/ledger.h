#pragma once
// The issuance ledger's rules: whether a new order for a domain set may be made now, and how each
// outcome moves the set's entry (storage.h LedgerEntry). Rate-limit safety beyond Traefik, which
// retries failed orders without a memory of past ones (its users' 429 loops, reference §9):
//
// - After a failed attempt the set waits an exponential backoff (1 min, 5 min, 1 h, then doubling
//   to 24 h), or longer when the CA said so (Retry-After of a rateLimited error).
// - No more than `duplicate_limit` certificates for the exact same set within
//   `duplicate_window` (Let's Encrypt: 5 per 7 days; renewals count).
// - An attempt is recorded as open before any order exists. A restart that finds it still open
//   knows the process died mid-attempt; a second such interruption counts as a failure, so a
//   gateway that crashes while ordering is slowed down like one whose orders fail.
//
// The entry lives in the resolver's storage, so restarts read it: a crash-looping gateway with
// valid certificates orders nothing, and one without orders at most once per backoff step.
// Pure functions of (entry, now); no clock, no I/O.

#include <chrono>
#include <ctime>
#include <optional>
#include <string>

#include "acme/storage.h"

namespace turnpike::acme {

struct IssuancePolicy {
  int duplicate_limit = 5;
  std::chrono::seconds duplicate_window = std::chrono::hours(24 * 7);
  std::chrono::seconds max_backoff = std::chrono::hours(24);
};

// Wait after `failures` consecutive failures (>= 1).
std::chrono::seconds backoff_after(int failures, const IssuancePolicy& policy);

struct OrderDecision {
  bool allowed = true;
  std::time_t not_before = 0;  // when !allowed: the earliest time to try again
  std::string reason;          // when !allowed: for logs ("backoff after 2 failures: ...")
};

OrderDecision may_order(const LedgerEntry& entry, std::time_t now, const IssuancePolicy& policy);

// Before the first request of an attempt.
void record_attempt(LedgerEntry& entry, std::time_t now);
// A certificate was issued for the set.
void record_success(LedgerEntry& entry, std::time_t now, const IssuancePolicy& policy);
// The attempt failed; `retry_after` is the CA's, if it sent one.
void record_failure(LedgerEntry& entry, std::time_t now, const std::string& error,
                    std::optional<std::chrono::seconds> retry_after, const IssuancePolicy& policy);
// The attempt could not start for a reason that is not the CA's answer about this set (the CA is
// unreachable, the resolver is stopping): closes it without counting a failure.
void record_abandoned(LedgerEntry& entry);
// At start-up: an attempt left open by a previous process. `had_order` says whether an order URL
// was stored for it (then the order is resumed and nothing is counted).
void recover_interrupted(LedgerEntry& entry, std::time_t now, bool had_order,
                         const IssuancePolicy& policy);

}  // namespace turnpike::acme
