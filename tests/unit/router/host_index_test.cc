// HostIndex: exact-key lookups over short (inline) and long keys, repeated keys, misses.

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "router/host_index.h"

namespace turnpike::router {
namespace {

std::vector<uint32_t> routes(std::span<const Candidate> candidates) {
  std::vector<uint32_t> out;
  for (const auto& c : candidates)
    out.push_back(c.route);
  return out;
}

TEST(HostIndex, EmptyIndexFindsNothing) {
  HostIndex index;
  EXPECT_TRUE(index.find("a.com").empty());
  EXPECT_TRUE(HostIndex::build({}).find("").empty());
}

TEST(HostIndex, ShortLongAndRepeatedKeys) {
  const std::string long_key = "a-very-long-host-name.with-many-labels.example.com"; // > inline
  std::vector<std::pair<std::string, Candidate>> entries = {
      {"a.com", {nullptr, 0}}, {long_key, {nullptr, 1}}, {"b.com", {nullptr, 2}},
      {"a.com", {nullptr, 3}}, {long_key, {nullptr, 4}}, {"a.com", {nullptr, 5}},
  };
  auto index = HostIndex::build(entries);
  EXPECT_EQ(index.size(), 3u);
  EXPECT_EQ(routes(index.find("a.com")), (std::vector<uint32_t>{0, 3, 5}));
  EXPECT_EQ(routes(index.find("b.com")), (std::vector<uint32_t>{2}));
  EXPECT_EQ(routes(index.find(long_key)), (std::vector<uint32_t>{1, 4}));
  EXPECT_TRUE(index.find("c.com").empty());
  EXPECT_TRUE(index.find("a.co").empty());
  EXPECT_TRUE(index.find(long_key.substr(1)).empty());
  EXPECT_TRUE(index.find("").empty());
}

TEST(HostIndex, ManyKeys) {
  std::vector<std::pair<std::string, Candidate>> entries;
  for (uint32_t i = 0; i < 20000; ++i)
    entries.emplace_back((i % 3 ? "h" : "a-long-prefix-to-exceed-the-inline-buffer-h") +
                             std::to_string(i) + ".example.com",
                         Candidate{nullptr, i});
  auto index = HostIndex::build(entries);
  EXPECT_EQ(index.size(), 20000u);
  for (const auto& [key, candidate] : entries) {
    auto found = index.find(key);
    ASSERT_EQ(found.size(), 1u) << key;
    EXPECT_EQ(found[0].route, candidate.route);
  }
  EXPECT_TRUE(index.find("h20000.example.com").empty());
}

// patched() finds what build() of the same entries finds: random drops (whole keys emptied, so
// probe runs close up, also across the end of the table) and additions (new and existing keys,
// short and long), many steps in a row on the patched copies.
TEST(HostIndex, PatchedFindsWhatBuildFinds) {
  std::mt19937 rng(5);
  auto key = [&](uint32_t k) {
    return k % 7 == 0 ? "a-long-key-beyond-the-inline-size-" + std::to_string(k) + ".example.com"
                      : "k" + std::to_string(k) + ".com";
  };
  // The live entries: route -> key, routes numbered in order.
  std::vector<std::string> live;
  for (int i = 0; i < 300; ++i)
    live.push_back(key(rng() % 200));
  auto entries = [&] {
    std::vector<std::pair<std::string, Candidate>> out;
    for (uint32_t r = 0; r < live.size(); ++r)
      out.emplace_back(live[r], Candidate{nullptr, r});
    return out;
  };
  HostIndex index = HostIndex::build(entries());
  int patched = 0;
  for (int step = 0; step < 300; ++step) {
    // Drop some routes, insert some at random places: a monotone renumbering.
    std::vector<uint32_t> remap(live.size());
    std::vector<std::string> next;
    std::vector<std::pair<std::string, Candidate>> added;
    for (uint32_t r = 0; r < live.size(); ++r) {
      while (rng() % 40 == 0) {
        added.emplace_back(key(rng() % 260),
                           Candidate{nullptr, static_cast<uint32_t>(next.size())});
        next.push_back(added.back().first);
      }
      if (rng() % 30 == 0) {
        remap[r] = HostIndex::kDropped;
        continue;
      }
      remap[r] = static_cast<uint32_t>(next.size());
      next.push_back(live[r]);
    }
    std::shuffle(added.begin(), added.end(), rng);
    auto p = index.patched(remap, added);
    live = std::move(next);
    HostIndex built = HostIndex::build(entries());
    if (p) {
      ++patched;
      index = std::move(*p);
    } else {
      index = built;
    }
    ASSERT_EQ(index.size(), built.size()) << "step " << step;
    for (uint32_t k = 0; k < 270; ++k)
      ASSERT_EQ(routes(index.find(key(k))), routes(built.find(key(k))))
          << "step " << step << " key " << key(k);
  }
  EXPECT_GT(patched, 250);
}

} // namespace
} // namespace turnpike::router
