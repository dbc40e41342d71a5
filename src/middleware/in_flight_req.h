#pragma once
// inFlightReq (Traefik's InFlightReq): limits how many requests from one source are being served
// at the same time.
//
//   http.middlewares.<name>.inFlightReq:
//     amount: 10                 # required, > 0
//     sourceCriterion: {...}     # see source_criterion.h; default: the client's address
//
// A request over the limit is answered 429 "Too Many Requests" and never reaches the service. A
// request counts from the moment it enters the middleware until its response is finished (or the
// exchange ends), like Traefik's.
//
// The count is per router that uses the middleware (each router's chain has its own instance, as
// in Traefik). It survives a reload that leaves the middleware's options unchanged (state_store.h):
// requests in flight on the old snapshot still count against the new one, and release into the
// same table. Changed options start a new table from zero.
//
// Threading: the handler is shared by every worker and so is its InFlightTable, which is lock-free
// on its normal path (see there).

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "middleware/middleware.h"
#include "middleware/source_criterion.h"

namespace turnpike::middleware {

// In-flight counts per source, shared by every worker of a snapshot.
//
// Each slot is one 64-bit atomic word: a 40-bit tag of the source's keyed hash and a 24-bit count;
// a slot whose count is 0 is free, whatever its tag. A source lives in one of the kWindow slots
// after its hash's home slot. acquire() increments the source's slot with a CAS (or claims a free
// one); release() decrements the slot it got, which the holder's own count keeps from being
// reused meanwhile. Two workers registering the same new source at the same instant may claim two
// slots; the one holding the later slot gives it back and retries, so the limit can be exceeded
// by at most (workers - 1) only while that race lasts. When every slot of a source's window is
// busy with other sources (more than ~thousands of distinct sources in flight), the source is
// counted in a small mutex-protected map instead.
class InFlightTable {
 public:
  static constexpr int64_t kMaxAmount = (int64_t{1} << 24) - 1;
  static constexpr size_t kSlots = 8192;
  static constexpr size_t kWindow = 16;

  explicit InFlightTable(int64_t amount);

  // What acquire() took, to give back to release(). `admitted` is false when the source was over
  // its limit (then nothing was taken).
  struct Ticket {
    bool admitted = false;
    int slot = -1;         // index in the table, or -1 for the overflow map
    std::string overflow;  // the source, when counted in the overflow map
  };
  Ticket acquire(std::string_view source);
  void release(Ticket& ticket);

  // The current count of `source` (tests).
  int64_t count(std::string_view source) const;

 private:
  static uint64_t tag_of(uint64_t v) { return v >> 24; }
  static int64_t count_of(uint64_t v) { return static_cast<int64_t>(v & 0xffffff); }

  int64_t amount_;
  SourceHasher hash_;
  std::vector<std::atomic<uint64_t>> slots_;
  mutable std::mutex overflow_mutex_;
  std::unordered_map<std::string, int64_t> overflow_;
};

class InFlightReq final : public http::Handler {
 public:
  // `table`: the instance's counts, possibly kept from the previous snapshot.
  InFlightReq(SourceCriterion criterion, std::shared_ptr<InFlightTable> table, HandlerPtr next);
  http::Task<void> handle(http::Exchange& ex) const override;

  const InFlightTable& table() const { return *table_; }

 private:
  SourceCriterion criterion_;
  std::shared_ptr<InFlightTable> table_;
  HandlerPtr next_;
};

// Factory registered as "inFlightReq".
Wrap build_in_flight_req(config::Decoder& dec, BuildContext& ctx);

}  // namespace turnpike::middleware
