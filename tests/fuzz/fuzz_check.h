#pragma once
// What the fuzz harnesses (tests/fuzz/*_fuzz.cc) share: the name of their entry point and what a
// violated property does. Built for libFuzzer, the entry is LLVMFuzzerTestOneInput and a
// violation aborts (the fuzzer keeps the input). The corpus-replay tests
// (tests/unit/*/fuzz_test.cc) define TURNPIKE_FUZZ_ENTRY (one name per harness) and
// TURNPIKE_FUZZ_FAIL (a test failure) before including a harness.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#ifndef TURNPIKE_FUZZ_ENTRY
#define TURNPIKE_FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif
#ifndef TURNPIKE_FUZZ_FAIL
#define TURNPIKE_FUZZ_FAIL(what)                                                                   \
  do {                                                                                             \
    std::fprintf(stderr, "fuzz property violated: %s\n", (what));                                  \
    std::abort();                                                                                  \
  } while (0)
#endif
#define TURNPIKE_FUZZ_CHECK(cond)                                                                  \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      TURNPIKE_FUZZ_FAIL(#cond);                                                                   \
  } while (0)

namespace turnpike::fuzz {

// Split offsets in (0, n), ascending, derived from `seed` (2-8 of them).
inline std::vector<size_t> split_points(uint8_t seed, size_t n) {
  std::vector<size_t> cuts;
  if (n < 2)
    return cuts;
  size_t count = 2 + seed % 7;
  uint32_t x = 0x9e3779b9u ^ seed;
  for (size_t i = 0; i < count; ++i) {
    x = x * 1664525u + 1013904223u;
    cuts.push_back(1 + (x >> 8) % (n - 1));
  }
  std::sort(cuts.begin(), cuts.end());
  return cuts;
}

// Feeds `in` to an incremental head parser in the pieces `cuts` delimits, the way a connection
// reads it: `step(buffer so far, scan_hint)` returns a ParseResult; the first one that is not
// incomplete is returned (or the last). The scan hint may only move forward within the buffer.
template <class Step>
auto feed_in_pieces(std::string_view in, const std::vector<size_t>& cuts, Step&& step) {
  size_t hint = 0;
  std::string buf;
  size_t from = 0;
  decltype(step(std::string_view(), hint)) result{};
  for (size_t i = 0; i <= cuts.size(); ++i) {
    size_t to = i < cuts.size() ? cuts[i] : in.size();
    if (to < from)
      continue;
    buf.append(in.substr(from, to - from));
    from = to;
    size_t before = hint;
    result = step(std::string_view(buf), hint);
    if (!result.incomplete())
      return result;
    TURNPIKE_FUZZ_CHECK(hint >= before && hint <= buf.size());
  }
  return result;
}

} // namespace turnpike::fuzz
