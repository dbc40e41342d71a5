#include "middleware/in_flight_req.h"

#include "middleware/decode_support.h"
#include "middleware/local_reply.h"

namespace turnpike::middleware {

InFlightTable::InFlightTable(int64_t amount) : amount_(amount), slots_(kSlots) {
  for (auto& s : slots_) s.store(0, std::memory_order_relaxed);
}

InFlightTable::Ticket InFlightTable::acquire(std::string_view source) {
  const uint64_t h = hash_(source);
  uint64_t tag = h >> 24;  // 40 bits, independent of the index bits below
  if (tag == 0) tag = 1;
  const size_t home = static_cast<size_t>(h) & (kSlots - 1);
  const auto at = [&](size_t i) -> std::atomic<uint64_t>& {
    return slots_[(home + i) & (kSlots - 1)];
  };
  Ticket t;
  for (;;) {
    // 1. The source's live slot, if it has one: count it there.
    bool restart = false;
    for (size_t i = 0; i < kWindow && !restart; ++i) {
      uint64_t v = at(i).load(std::memory_order_acquire);
      if (tag_of(v) != tag || count_of(v) == 0) continue;
      for (;;) {
        if (count_of(v) >= amount_) return t;  // over the limit
        if (at(i).compare_exchange_weak(v, v + 1, std::memory_order_acq_rel)) {
          t.admitted = true;
          t.slot = static_cast<int>((home + i) & (kSlots - 1));
          return t;
        }
        if (tag_of(v) != tag || count_of(v) == 0) break;  // freed meanwhile: look again
      }
      restart = true;
    }
    if (restart) continue;
    // 2. None: claim the first free slot of the window.
    for (size_t i = 0; i < kWindow && !restart; ++i) {
      uint64_t v = at(i).load(std::memory_order_acquire);
      if (count_of(v) != 0) continue;
      if (!at(i).compare_exchange_strong(v, (tag << 24) | 1, std::memory_order_acq_rel)) {
        restart = true;  // someone took it, perhaps for this very source
        break;
      }
      // 3. Another worker may have claimed an earlier slot for the same source meanwhile: the
      // earlier slot wins, this one is given back.
      for (size_t j = 0; j < i; ++j) {
        const uint64_t w = at(j).load(std::memory_order_acquire);
        if (tag_of(w) == tag && count_of(w) > 0) {
          at(i).fetch_sub(1, std::memory_order_acq_rel);
          restart = true;
          break;
        }
      }
      if (restart) break;
      t.admitted = true;
      t.slot = static_cast<int>((home + i) & (kSlots - 1));
      return t;
    }
    if (restart) continue;
    // 4. The window is full of other sources: count this one in the overflow map.
    std::lock_guard lock(overflow_mutex_);
    int64_t& n = overflow_[std::string(source)];
    if (n >= amount_) return t;
    ++n;
    t.admitted = true;
    t.overflow = std::string(source);
    return t;
  }
}

void InFlightTable::release(Ticket& t) {
  if (!t.admitted) return;
  t.admitted = false;
  if (t.slot >= 0) {
    slots_[static_cast<size_t>(t.slot)].fetch_sub(1, std::memory_order_acq_rel);
    return;
  }
  std::lock_guard lock(overflow_mutex_);
  auto it = overflow_.find(t.overflow);
  if (it != overflow_.end() && --it->second <= 0) overflow_.erase(it);
}

int64_t InFlightTable::count(std::string_view source) const {
  const uint64_t h = hash_(source);
  uint64_t tag = h >> 24;
  if (tag == 0) tag = 1;
  const size_t home = static_cast<size_t>(h) & (kSlots - 1);
  int64_t n = 0;
  for (size_t i = 0; i < kWindow; ++i) {
    const uint64_t v = slots_[(home + i) & (kSlots - 1)].load(std::memory_order_acquire);
    if (tag_of(v) == tag) n += count_of(v);
  }
  std::lock_guard lock(overflow_mutex_);
  if (auto it = overflow_.find(std::string(source)); it != overflow_.end()) n += it->second;
  return n;
}

InFlightReq::InFlightReq(SourceCriterion criterion, std::shared_ptr<InFlightTable> table,
                         HandlerPtr next)
    : criterion_(std::move(criterion)),
      table_(std::move(table)),
      next_(std::move(next)) {}

namespace {

// Gives the ticket back when the exchange's coroutine frame ends, however it ends.
class TicketGuard {
 public:
  TicketGuard(InFlightTable& table, InFlightTable::Ticket ticket)
      : table_(table), ticket_(std::move(ticket)) {}
  ~TicketGuard() { table_.release(ticket_); }
  TicketGuard(const TicketGuard&) = delete;
  TicketGuard& operator=(const TicketGuard&) = delete;

 private:
  InFlightTable& table_;
  InFlightTable::Ticket ticket_;
};

}  // namespace

http::Task<void> InFlightReq::handle(http::Exchange& ex) const {
  std::string source;
  criterion_.source(ex.request, source);
  auto ticket = table_->acquire(source);
  if (!ticket.admitted) {
    co_await reply(ex, 429, status_text(429));
    co_return;
  }
  TicketGuard guard(*table_, std::move(ticket));
  co_await next_->handle(ex);
}

Wrap build_in_flight_req(config::Decoder& dec, BuildContext& ctx) {
  ErrorMark mark(dec);
  int64_t amount = 0;
  const bool has_amount = dec.get("amount", amount);
  SourceCriterion criterion = SourceCriterion::decode(dec, "sourceCriterion");
  dec.finish();
  if (!has_amount && mark.clean()) {
    dec.fail("amount", "is required");
  } else if (has_amount && (amount <= 0 || amount > InFlightTable::kMaxAmount)) {
    dec.fail("amount", "must be between 1 and " + std::to_string(InFlightTable::kMaxAmount));
  }
  if (!mark.clean()) return {};
  return [amount, criterion = std::move(criterion),
          slot = ctx.state_slot()](HandlerPtr next) -> HandlerPtr {
    auto table =
        slot.get<InFlightTable>([amount] { return std::make_shared<InFlightTable>(amount); });
    return std::make_shared<const InFlightReq>(criterion, std::move(table), std::move(next));
  };
}

}  // namespace turnpike::middleware
