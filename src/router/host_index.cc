#include "router/host_index.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <functional>

namespace turnpike::router {

namespace {

uint64_t hash_key(std::string_view key) {
  return std::hash<std::string_view>{}(key);
}

} // namespace

HostIndex HostIndex::build(std::vector<std::pair<std::string, Candidate>> entries) {
  HostIndex index;
  if (entries.empty())
    return index;
  // Group by key; stable so that each key's candidates stay in route order.
  std::stable_sort(entries.begin(), entries.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  size_t keys = 1;
  for (size_t i = 1; i < entries.size(); ++i)
    keys += entries[i].first != entries[i - 1].first;
  index.size_ = keys;
  index.slots_.resize(std::bit_ceil(keys * 2));
  size_t mask = index.slots_.size() - 1;

  for (size_t begin = 0; begin < entries.size();) {
    size_t end = begin + 1;
    while (end < entries.size() && entries[end].first == entries[begin].first)
      ++end;
    const std::string& key = entries[begin].first;
    uint64_t hash = hash_key(key);
    size_t i = hash & mask;
    while (index.slots_[i].count != 0)
      i = (i + 1) & mask;
    Slot& slot = index.slots_[i];
    slot.hash = hash;
    slot.count = static_cast<uint32_t>(end - begin);
    if (slot.count == 1) {
      slot.single = entries[begin].second;
    } else {
      slot.offset = static_cast<uint32_t>(index.candidates_.size());
      for (size_t k = begin; k < end; ++k)
        index.candidates_.push_back(entries[k].second);
    }
    slot.key_size = static_cast<uint32_t>(key.size());
    if (key.size() <= kInlineKey) {
      std::memcpy(slot.key, key.data(), key.size());
    } else {
      slot.key_offset = static_cast<uint32_t>(index.long_keys_.size());
      index.long_keys_ += key;
    }
    begin = end;
  }
  return index;
}

std::string_view HostIndex::key_of(const Slot& slot) const {
  if (slot.key_size <= kInlineKey)
    return {slot.key, slot.key_size};
  return std::string_view(long_keys_).substr(slot.key_offset, slot.key_size);
}

std::span<const Candidate> HostIndex::find(std::string_view key) const {
  if (slots_.empty())
    return {};
  uint64_t hash = hash_key(key);
  size_t mask = slots_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (slot.count == 0)
      return {};
    if (slot.hash == hash && key_of(slot) == key) {
      if (slot.count == 1)
        return {&slot.single, 1};
      return {candidates_.data() + slot.offset, slot.count};
    }
  }
}

} // namespace turnpike::router
