#pragma once
// Choosing one target (a server of a loadBalancer, a child of a weighted or highestRandomWeight
// service) by Traefik's strategies:
//   wrr        smooth weighted round robin (nginx's algorithm; common/wrr.h): deterministic,
//              interleaves evenly, exact shares over every `sum of weights` picks
//   p2c        power of two choices: two targets drawn at random (in proportion to their
//              weights), the one with fewer requests in flight wins
//   hrw        rendezvous hashing on the client IP: weighted (score = -weight / ln(u), u the
//              uniform hash of client and target), so a client stays on one target while the
//              target set is stable and only 1/n of the clients move when one target goes
//   leasttime  lowest average time to first byte x (1 + in flight) / weight; ties go to wrr
//
// Only targets the caller accepts (`ok(i)`: healthy, not already tried by this request) are
// picked; a strategy never returns another.
//
// Threading: built on the control thread, then shared by every worker. All mutable state (wrr
// counters, requests in flight, time-to-first-byte averages, the random generator) is per worker
// in cache-line aligned slots indexed by worker id, so workers never write a shared line. In
// flight and latency are therefore each worker's own view, which is what a worker can act on
// without synchronisation.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/deadline.h"
#include "common/per_worker.h"

namespace turnpike::service {

enum class Strategy { kWrr, kP2c, kHrw, kLeastTime };

// "wrr", "p2c", "hrw", "leasttime" (lower case, as decoded); anything else is wrr.
Strategy parse_strategy(std::string_view name);
std::string_view strategy_name(Strategy s);

// splitmix64's finaliser: spreads every input bit over the whole word.
inline uint64_t mix64(uint64_t h) {
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

// 64-bit FNV-1a, then mix64 (so that near-identical inputs spread over all bits).
uint64_t hash64(std::string_view data, uint64_t seed = 0);

class Balancer {
 public:
  // `weights`: one per target, all > 0. `keys` (same size, may be empty for strategies other
  // than hrw): the targets' identities for rendezvous hashing (server URL, child service name).
  Balancer(Strategy strategy, std::vector<int> weights, const std::vector<std::string>& keys,
           unsigned workers);

  Strategy strategy() const { return strategy_; }
  size_t size() const { return weights_.size(); }

  // The target for one request on `worker`, among those with ok(i); nullopt when there is none.
  // `client_hash` (hash64 of the client IP) is used by hrw only.
  template <class Ok>
  std::optional<size_t> pick(unsigned worker, uint64_t client_hash, Ok&& ok) const;

  // Every target acceptable: the common case, without the per-target predicate.
  std::optional<size_t> pick(unsigned worker, uint64_t client_hash = 0) const {
    return pick(worker, client_hash, [](size_t) { return true; });
  }

  // Bookkeeping for p2c and leasttime (cheap no-ops for the others): a request to target i
  // started / got its response head after `ttfb` / ended.
  void started(unsigned worker, size_t i) const {
    if (tracks_load_) ++slot(worker).in_flight[i];
  }
  void first_byte(unsigned worker, size_t i, Clock::duration ttfb) const;
  void ended(unsigned worker, size_t i) const {
    if (tracks_load_) --slot(worker).in_flight[i];
  }
  bool tracks_load() const { return tracks_load_; }

 private:
  struct Slot {
    std::vector<int64_t> current;   // wrr
    std::vector<int32_t> in_flight;  // p2c, leasttime
    std::vector<double> ttfb_ns;     // leasttime: moving average, 0 = unknown
    uint64_t rng = 0x9E3779B97F4A7C15ull;
  };
  Slot& slot(unsigned worker) const { return slots_[worker]; }
  static uint64_t next_random(Slot& s) {
    // xorshift64*: fast and good enough to draw targets.
    s.rng ^= s.rng >> 12;
    s.rng ^= s.rng << 25;
    s.rng ^= s.rng >> 27;
    return s.rng * 0x2545F4914F6CDD1Dull;
  }
  size_t draw(Slot& s) const {  // a target in proportion to its weight
    uint64_t r = next_random(s) % static_cast<uint64_t>(total_);
    return static_cast<size_t>(std::upper_bound(cumulative_.begin(), cumulative_.end(),
                                                static_cast<int64_t>(r)) -
                               cumulative_.begin());
  }
  template <class Ok>
  std::optional<size_t> pick_wrr(Slot& s, Ok& ok, bool (*among)(const Balancer&, Slot&, size_t,
                                                                double),
                                 double bound) const;
  template <class Ok>
  std::optional<size_t> pick_p2c(Slot& s, Ok& ok) const;
  template <class Ok>
  std::optional<size_t> pick_hrw(uint64_t client_hash, Ok& ok) const;
  template <class Ok>
  std::optional<size_t> pick_least_time(Slot& s, Ok& ok) const;
  double time_score(const Slot& s, size_t i) const {
    return s.ttfb_ns[i] * (1.0 + s.in_flight[i]) / weights_[i];
  }

  Strategy strategy_;
  std::vector<int> weights_;
  std::vector<int64_t> cumulative_;  // p2c: running sums of the weights
  std::vector<uint64_t> keys_;       // hrw: hash64 of each target's key
  int64_t total_ = 0;
  bool equal_weights_ = true;
  bool tracks_load_ = false;
  mutable PerWorker<Slot> slots_;
};

// ---- implementation (templates: the predicate is inlined into the scan) ---------------------

template <class Ok>
std::optional<size_t> Balancer::pick_wrr(Slot& s, Ok& ok,
                                         bool (*among)(const Balancer&, Slot&, size_t, double),
                                         double bound) const {
  // Smooth WRR over the acceptable targets only: the others neither gain nor lose credit, so
  // the interleaving of the remaining ones stays smooth while a target is out.
  size_t best = SIZE_MAX;
  int64_t total = 0;
  auto& cur = s.current;
  for (size_t i = 0; i < weights_.size(); ++i) {
    if (!ok(i) || (among && !among(*this, s, i, bound))) continue;
    cur[i] += weights_[i];
    total += weights_[i];
    if (best == SIZE_MAX || cur[i] > cur[best]) best = i;
  }
  if (best == SIZE_MAX) return std::nullopt;
  cur[best] -= total;
  return best;
}

template <class Ok>
std::optional<size_t> Balancer::pick_p2c(Slot& s, Ok& ok) const {
  size_t n = weights_.size();
  size_t a = SIZE_MAX, b = SIZE_MAX;
  // Draw until two distinct acceptable targets; a few draws suffice unless most are out.
  for (int tries = 0; tries < 16 && b == SIZE_MAX; ++tries) {
    size_t c = draw(s);
    if (!ok(c)) continue;
    if (a == SIZE_MAX)
      a = c;
    else if (c != a)
      b = c;
  }
  if (a == SIZE_MAX) {
    // Most targets are out: the first acceptable one from a random start.
    size_t start = static_cast<size_t>(next_random(s) % n);
    for (size_t k = 0; k < n; ++k) {
      size_t c = (start + k) % n;
      if (ok(c)) return c;
    }
    return std::nullopt;
  }
  if (b == SIZE_MAX) return a;
  return s.in_flight[b] < s.in_flight[a] ? b : a;
}

template <class Ok>
std::optional<size_t> Balancer::pick_hrw(uint64_t client_hash, Ok& ok) const {
  size_t best = SIZE_MAX;
  double best_score = 0;
  for (size_t i = 0; i < weights_.size(); ++i) {
    if (!ok(i)) continue;
    uint64_t h = mix64(client_hash ^ keys_[i]);
    double score;
    if (equal_weights_) {
      // Equal weights: the largest hash wins; no logarithm needed (same order as below).
      score = static_cast<double>(h);
    } else {
      // u uniform in (0, 1); -w/ln(u) makes the winning probability proportional to w.
      double u = (static_cast<double>(h >> 11) + 0.5) * (1.0 / 9007199254740992.0);
      score = -weights_[i] / std::log(u);
    }
    if (best == SIZE_MAX || score > best_score) {
      best = i;
      best_score = score;
    }
  }
  if (best == SIZE_MAX) return std::nullopt;
  return best;
}

template <class Ok>
std::optional<size_t> Balancer::pick_least_time(Slot& s, Ok& ok) const {
  double best = -1;
  for (size_t i = 0; i < weights_.size(); ++i) {
    if (!ok(i)) continue;
    double score = time_score(s, i);
    if (best < 0 || score < best) best = score;
  }
  if (best < 0) return std::nullopt;
  // Ties (within a relative 1e-9) share by smooth WRR.
  auto among = [](const Balancer& b, Slot& sl, size_t i, double bound) {
    return b.time_score(sl, i) <= bound;
  };
  return pick_wrr(s, ok, among, best * (1 + 1e-9));
}

template <class Ok>
std::optional<size_t> Balancer::pick(unsigned worker, uint64_t client_hash, Ok&& ok) const {
  if (weights_.empty()) return std::nullopt;
  if (weights_.size() == 1) return ok(size_t{0}) ? std::optional<size_t>(0) : std::nullopt;
  Slot& s = slot(worker);
  switch (strategy_) {
    case Strategy::kWrr:
      return pick_wrr(s, ok, nullptr, 0);
    case Strategy::kP2c:
      return pick_p2c(s, ok);
    case Strategy::kHrw:
      return pick_hrw(client_hash, ok);
    case Strategy::kLeastTime:
      return pick_least_time(s, ok);
  }
  return std::nullopt;
}

}  // namespace turnpike::service
