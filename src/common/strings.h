#pragma once
// Small string helpers used on both planes. Pure functions, thread-safe.

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace turnpike {

// Copies n bytes for the short strings of message heads (names and values, mostly under 32
// bytes) without a call into the library's memcpy, whose size dispatch dominates at these sizes:
// two overlapping loads, then two stores. All loads come before the stores, so the ranges may
// overlap when d <= s (assigning a string a part of itself).
[[gnu::always_inline]] inline void copy_short(char* d, const char* s, size_t n) {
  if (n >= 8 && n <= 16) {
    uint64_t a, b;
    std::memcpy(&a, s, 8);
    std::memcpy(&b, s + n - 8, 8);
    std::memcpy(d, &a, 8);
    std::memcpy(d + n - 8, &b, 8);
  } else if (n > 16 && n <= 32) {
    char a[16], b[16];
    std::memcpy(a, s, 16);
    std::memcpy(b, s + n - 16, 16);
    std::memcpy(d, a, 16);
    std::memcpy(d + n - 16, b, 16);
  } else if (n >= 4 && n < 8) {
    uint32_t a, b;
    std::memcpy(&a, s, 4);
    std::memcpy(&b, s + n - 4, 4);
    std::memcpy(d, &a, 4);
    std::memcpy(d + n - 4, &b, 4);
  } else if (n < 4) {
    for (size_t i = 0; i < n; ++i) d[i] = s[i];
  } else {
    std::memmove(d, s, n);
  }
}

// s = v, reusing s's capacity: the headers of one connection's requests fit the strings its
// previous requests left, and std::string::assign's general path (aliasing, reallocation)
// costs more than the copy. `v` may point into `s`.
inline void assign_short(std::string& s, std::string_view v) {
  if (v.size() > s.capacity()) {
    s.assign(v);
    return;
  }
  // Within capacity neither resize reallocates, so v stays valid even when it points into s
  // (then at or after s.data(), which copy_short allows; growing only writes past v's end).
  if (v.size() > s.size()) s.resize(v.size());
  copy_short(s.data(), v.data(), v.size());
  s.resize(v.size());
}

inline char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c + 32) : c; }

// Lower-cases the ASCII letters of eight bytes at once (other bytes, non-ASCII included, are
// unchanged): a byte gets 0x20 added when it lies in 'A'..'Z'.
inline uint64_t ascii_lower8(uint64_t x) {
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  uint64_t low7 = x & ~kHigh;
  uint64_t ge_a = low7 + 0x3f3f3f3f3f3f3f3full;  // high bit set when the byte >= 'A'
  uint64_t gt_z = low7 + 0x2525252525252525ull;  // high bit set when the byte > 'Z'
  uint64_t upper = (ge_a ^ gt_z) & ~x & kHigh;
  return x | (upper >> 2);
}

// ASCII case-insensitive equality. Header names are compared on every request (lookups,
// hop-by-hop stripping, framing fields), so eight bytes are compared at a time.
inline bool iequals(std::string_view a, std::string_view b) {
  const size_t n = a.size();
  if (n != b.size()) return false;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x, y;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    if (ascii_lower8(x) != ascii_lower8(y)) return false;
  }
  for (; i < n; ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

inline bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

inline std::string to_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = ascii_lower(c);
  return out;
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits on `sep`, trimming spaces/tabs around each item; empty items are kept.
std::vector<std::string_view> split(std::string_view s, char sep);

// Parses a non-negative decimal integer with no sign, no spaces; nullopt on overflow or junk.
std::optional<uint64_t> parse_uint(std::string_view s);

}  // namespace turnpike
