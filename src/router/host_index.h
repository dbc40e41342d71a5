#pragma once
// A read-only hash index from a host name (or a wildcard's parent domain) to the routes filed
// under it, built once per route table. Open addressing with one 64-byte slot per key: the key
// (when short), its hash and, for the usual single route per host, the route itself are in the
// slot, so a lookup in a 100,000-host table costs one cache line instead of the bucket / node /
// key / vector chain of std::unordered_map.
//
// Immutable after build(); find() is const, lock-free and never allocates.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace turnpike::router {

class Rule;

// A route to try: its position in match order and its rule.
struct Candidate {
  const Rule* rule = nullptr;
  uint32_t route = 0;
};

class HostIndex {
public:
  // `entries` (key, candidate) in ascending candidate.route order; a key may repeat, its
  // candidates keep their order.
  static HostIndex build(std::vector<std::pair<std::string, Candidate>> entries);

  // A copy of this index for a table whose routes moved (issue 6: one changed router among
  // 10,000 re-files its own hosts, not every host): each candidate's route r becomes remap[r], or
  // is dropped when remap[r] is kDropped (remap must keep the order of the routes it keeps);
  // `added` (key, candidate) are filed too, in any order. Empty (a caller builds the index anew)
  // when the copy would need to grow its table or carries too much of its earlier patches'
  // leftovers.
  static constexpr uint32_t kDropped = UINT32_MAX;
  std::optional<HostIndex> patched(const std::vector<uint32_t>& remap,
                                   std::vector<std::pair<std::string, Candidate>> added) const;

  // The candidates filed under `key`, in ascending route order; empty when none. Valid as long
  // as the index.
  std::span<const Candidate> find(std::string_view key) const;
  size_t size() const { return size_; }

private:
  static constexpr size_t kInlineKey = 24;
  struct alignas(64) Slot {
    uint64_t hash = 0;
    Candidate single;    // count == 1: the candidate itself
    uint32_t count = 0;  // 0: empty slot
    uint32_t offset = 0; // count > 1: first candidate in candidates_
    uint32_t key_size = 0;
    uint32_t key_offset = 0; // key_size > kInlineKey: key in long_keys_
    char key[kInlineKey];
  };
  static_assert(sizeof(Slot) == 64);

  std::string_view key_of(const Slot& slot) const;
  Slot* find_slot(std::string_view key, uint64_t hash);
  void erase_slot(size_t i); // backward-shift deletion (linear probing)
  void set_candidates(Slot& slot, const std::vector<Candidate>& list);

  std::vector<Slot> slots_; // power-of-two size, at most half full
  std::vector<Candidate> candidates_;
  std::string long_keys_;
  size_t size_ = 0;
  size_t live_candidates_ = 0; // in candidates_ (patched() leaves replaced lists behind)
};

} // namespace turnpike::router
