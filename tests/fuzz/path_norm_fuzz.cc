// path_norm_fuzz: normalize_path on arbitrary bytes and options (security.md section 8,
// harness 5).
//
// Input: bytes 0-1 choose the PathOptions (bit set = the non-default choice), byte 2 seeds which
// characters get re-encoded for the variant check, the rest is the raw path.
// Properties:
//   - idempotence: norm(norm(p)) == norm(p);
//   - the output is canonical: starts with '/', only visible ASCII, no raw '\' '#' '?', every
//     escape is "%XX" with upper-case hex, never of an unreserved character, and only of an
//     encoded character the options allow; with sanitize_path no "." or ".." segment (so
//     nothing climbs above the root) and, with merge_slashes, no "//";
//   - one view of the path: percent-encoding any unreserved characters of p (in either hex
//     case) and lower-casing the hex of its escapes changes neither the decision nor the output.
//
// clang-14 libFuzzer build, from the repository root:
//   H=src/http; clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc
//     tests/fuzz/path_norm_fuzz.cc $H/path.cc $H/parser.cc $H/message.cc
//     src/common/strings.cc -o path_norm_fuzz
//   ./path_norm_fuzz -max_len=512 tests/fuzz/path_norm
// Under g++ the committed corpus replays as part of http_test (tests/unit/http/fuzz_test.cc).

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/parser.h"
#include "http/path.h"

#include "fuzz_check.h"

namespace turnpike::http::path_fuzz {

inline PathOptions options_from(uint8_t a, uint8_t b) {
  PathOptions o;
  o.sanitize_path = !(a & 1);
  o.merge_slashes = !(a & 2);
  o.allow_encoded_slash = a & 4;
  o.allow_encoded_back_slash = a & 8;
  o.allow_encoded_null_character = a & 16;
  o.allow_encoded_semicolon = a & 32;
  o.allow_encoded_percent = a & 64;
  o.allow_encoded_question_mark = a & 128;
  o.allow_encoded_hash = b & 1;
  return o;
}

inline bool unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

inline bool allowed_escape(unsigned char v, const PathOptions& o) {
  switch (v) {
  case '/':
    return o.allow_encoded_slash;
  case '\\':
    return o.allow_encoded_back_slash;
  case 0:
    return o.allow_encoded_null_character;
  case ';':
    return o.allow_encoded_semicolon;
  case '%':
    return o.allow_encoded_percent;
  case '?':
    return o.allow_encoded_question_mark;
  case '#':
    return o.allow_encoded_hash;
  default:
    return true;
  }
}

inline void check_canonical(std::string_view out, const PathOptions& o) {
  if (out == "*")
    return;
  TURNPIKE_FUZZ_CHECK(!out.empty() && out.front() == '/');
  for (size_t i = 0; i < out.size(); ++i) {
    auto c = static_cast<unsigned char>(out[i]);
    TURNPIKE_FUZZ_CHECK(c > 0x20 && c < 0x7f && c != '\\' && c != '#' && c != '?');
    TURNPIKE_FUZZ_CHECK(std::string_view("\"<>^`{|}").find(out[i]) == std::string_view::npos);
    if (c != '%')
      continue;
    TURNPIKE_FUZZ_CHECK(i + 2 < out.size());
    if (i + 2 >= out.size())
      return;
    int hi = hex_digit_value(out[i + 1]), lo = hex_digit_value(out[i + 2]);
    TURNPIKE_FUZZ_CHECK(hi >= 0 && lo >= 0);
    TURNPIKE_FUZZ_CHECK(!(out[i + 1] >= 'a' && out[i + 1] <= 'f') &&
                    !(out[i + 2] >= 'a' && out[i + 2] <= 'f'));
    auto v = static_cast<unsigned char>(hi * 16 + lo);
    TURNPIKE_FUZZ_CHECK(!unreserved(v));
    TURNPIKE_FUZZ_CHECK(allowed_escape(v, o));
    i += 2;
  }
  if (o.sanitize_path) {
    std::string padded = std::string(out) + "/";
    TURNPIKE_FUZZ_CHECK(padded.find("/./") == std::string::npos);
    TURNPIKE_FUZZ_CHECK(padded.find("/../") == std::string::npos);
    if (o.merge_slashes)
      TURNPIKE_FUZZ_CHECK(out.find("//") == std::string_view::npos);
  }
}

// Re-encodes unreserved characters (outside escapes) and lower-cases escape hex where the seed
// says so.
inline std::string variant(std::string_view raw, uint8_t seed) {
  static constexpr char kHexLower[] = "0123456789abcdef";
  static constexpr char kHexUpper[] = "0123456789ABCDEF";
  std::string v;
  uint32_t x = 0x85ebca6bu ^ seed;
  for (size_t i = 0; i < raw.size(); ++i) {
    x = x * 1664525u + 1013904223u;
    auto c = static_cast<unsigned char>(raw[i]);
    if (c == '%') {
      size_t n = std::min<size_t>(2, raw.size() - i - 1);
      v.push_back('%');
      for (size_t k = 1; k <= n; ++k) {
        char h = raw[i + k];
        v.push_back((x & 1) && h >= 'A' && h <= 'F' ? char(h + 32) : h);
      }
      i += n;
      continue;
    }
    if (unreserved(c) && (x >> 16) % 3 == 0) {
      const char* hex = (x & 2) ? kHexLower : kHexUpper;
      v.push_back('%');
      v.push_back(hex[c >> 4]);
      v.push_back(hex[c & 15]);
    } else {
      v.push_back(static_cast<char>(c));
    }
  }
  return v;
}

inline int run_one(const uint8_t* data, size_t size) {
  if (size < 3)
    return 0;
  const PathOptions o = options_from(data[0], data[1]);
  const std::string_view raw(reinterpret_cast<const char*>(data) + 3, size - 3);

  std::string out, again, other;
  std::string_view err = normalize_path(raw, o, out);
  std::string var = variant(raw, data[2]);
  std::string_view var_err = normalize_path(var, o, other);
  TURNPIKE_FUZZ_CHECK(err.empty() == var_err.empty());
  if (!err.empty())
    return 0;
  check_canonical(out, o);
  TURNPIKE_FUZZ_CHECK(normalize_path(out, o, again).empty());
  TURNPIKE_FUZZ_CHECK(again == out);
  if (var_err.empty())
    TURNPIKE_FUZZ_CHECK(other == out);
  return 0;
}

} // namespace turnpike::http::path_fuzz

extern "C" int TURNPIKE_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  return turnpike::http::path_fuzz::run_one(data, size);
}

