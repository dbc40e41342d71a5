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

// The end of the run of entries that have the key of entries[begin] (entries grouped by key).
size_t key_run_end(const std::vector<std::pair<std::string, Candidate>>& entries, size_t begin) {
  size_t end = begin + 1;
  while (end < entries.size() && entries[end].first == entries[begin].first)
    ++end;
  return end;
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
    size_t end = key_run_end(entries, begin);
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
      index.live_candidates_ += slot.count;
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

HostIndex::Slot* HostIndex::find_slot(std::string_view key, uint64_t hash) {
  if (slots_.empty())
    return nullptr;
  size_t mask = slots_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    Slot& slot = slots_[i];
    if (slot.count == 0)
      return nullptr;
    if (slot.hash == hash && key_of(slot) == key)
      return &slot;
  }
}

void HostIndex::erase_slot(size_t i) {
  size_t mask = slots_.size() - 1;
  if (slots_[i].count > 1)
    live_candidates_ -= slots_[i].count;
  // Later slots of the same probe run move back into the hole when their home position is not
  // between the hole and themselves (cyclically).
  for (size_t j = (i + 1) & mask; slots_[j].count != 0; j = (j + 1) & mask) {
    size_t home = slots_[j].hash & mask;
    bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (stays)
      continue;
    slots_[i] = slots_[j];
    i = j;
  }
  slots_[i] = Slot{};
  --size_;
}

void HostIndex::set_candidates(Slot& slot, const std::vector<Candidate>& list) {
  if (slot.count > 1)
    live_candidates_ -= slot.count;
  slot.count = static_cast<uint32_t>(list.size());
  if (list.size() == 1) {
    slot.single = list[0];
    return;
  }
  slot.offset = static_cast<uint32_t>(candidates_.size());
  candidates_.insert(candidates_.end(), list.begin(), list.end());
  live_candidates_ += list.size();
}

std::optional<HostIndex>
HostIndex::patched(const std::vector<uint32_t>& remap,
                   std::vector<std::pair<std::string, Candidate>> added) const {
  HostIndex out = *this;
  std::vector<Candidate> list;
  std::vector<size_t> emptied;
  for (size_t i = 0; i < out.slots_.size(); ++i) {
    Slot& slot = out.slots_[i];
    if (slot.count == 0)
      continue;
    if (slot.count == 1) {
      uint32_t r = remap[slot.single.route];
      if (r == kDropped)
        emptied.push_back(i);
      else
        slot.single.route = r;
      continue;
    }
    list.clear();
    for (uint32_t k = 0; k < slot.count; ++k) {
      Candidate c = out.candidates_[slot.offset + k];
      if (uint32_t r = remap[c.route]; r != kDropped)
        list.push_back(Candidate{c.rule, r});
    }
    if (list.empty()) {
      emptied.push_back(i);
    } else if (list.size() == slot.count) {
      std::copy(list.begin(), list.end(), out.candidates_.begin() + slot.offset);
    } else {
      // Shorter: rewritten in place (the tail of its old range is left unused).
      out.live_candidates_ -= slot.count - list.size();
      if (list.size() == 1) {
        out.live_candidates_ -= 1;
        slot.single = list[0];
      } else {
        std::copy(list.begin(), list.end(), out.candidates_.begin() + slot.offset);
      }
      slot.count = static_cast<uint32_t>(list.size());
    }
  }
  // Deleting moves slots back: by key, from the last emptied one found (keys stay findable).
  std::vector<std::string> gone;
  for (size_t i : emptied)
    gone.emplace_back(out.key_of(out.slots_[i]));
  for (const auto& key : gone) {
    Slot* slot = out.find_slot(key, hash_key(key));
    out.erase_slot(static_cast<size_t>(slot - out.slots_.data()));
  }
  std::stable_sort(added.begin(), added.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second.route < b.second.route;
  });
  for (size_t begin = 0; begin < added.size();) {
    size_t end = key_run_end(added, begin);
    const std::string& key = added[begin].first;
    uint64_t hash = hash_key(key);
    Slot* slot = out.find_slot(key, hash);
    list.clear();
    if (slot) {
      std::span<const Candidate> had =
          slot->count == 1
              ? std::span<const Candidate>(&slot->single, 1)
              : std::span<const Candidate>(out.candidates_.data() + slot->offset, slot->count);
      list.assign(had.begin(), had.end());
    } else {
      if ((out.size_ + 1) * 2 > out.slots_.size())
        return std::nullopt;
      size_t mask = out.slots_.size() - 1;
      size_t i = hash & mask;
      while (out.slots_[i].count != 0)
        i = (i + 1) & mask;
      slot = &out.slots_[i];
      slot->hash = hash;
      slot->key_size = static_cast<uint32_t>(key.size());
      if (key.size() <= kInlineKey) {
        std::memcpy(slot->key, key.data(), key.size());
      } else {
        slot->key_offset = static_cast<uint32_t>(out.long_keys_.size());
        out.long_keys_ += key;
      }
      ++out.size_;
    }
    size_t had = list.size();
    for (size_t k = begin; k < end; ++k)
      list.push_back(added[k].second);
    std::inplace_merge(list.begin(), list.begin() + static_cast<ptrdiff_t>(had), list.end(),
                       [](const Candidate& a, const Candidate& b) { return a.route < b.route; });
    out.set_candidates(*slot, list);
    begin = end;
  }
  if (out.candidates_.size() > 2 * out.live_candidates_ + 1024)
    return std::nullopt;
  return out;
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
