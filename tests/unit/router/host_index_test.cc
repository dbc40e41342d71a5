// HostIndex: exact-key lookups over short (inline) and long keys, repeated keys, misses.

#include <gtest/gtest.h>

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

} // namespace
} // namespace turnpike::router
