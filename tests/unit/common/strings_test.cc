#include "common/strings.h"

#include <gtest/gtest.h>

#include <string>

namespace turnpike {
namespace {

// iequals compares eight bytes at a time with a SWAR lower-casing: check it against the
// byte-wise definition for every pair of byte values, in the word part and in the tail.
TEST(Iequals, MatchesBytewiseDefinitionForAllBytePairs) {
  for (size_t pos : {size_t{0}, size_t{7}, size_t{9}}) {
    for (int c = 0; c < 256; ++c) {
      for (int d = 0; d < 256; ++d) {
        std::string a = "abcdefghij", b = "abcdefghij";
        a[pos] = static_cast<char>(c);
        b[pos] = static_cast<char>(d);
        bool want = ascii_lower(static_cast<char>(c)) == ascii_lower(static_cast<char>(d));
        ASSERT_EQ(iequals(a, b), want) << "pos " << pos << " bytes " << c << " " << d;
      }
    }
  }
}

TEST(Iequals, HeaderNames) {
  EXPECT_TRUE(iequals("Content-Length", "content-length"));
  EXPECT_TRUE(iequals("X-FORWARDED-FOR", "x-forwarded-for"));
  EXPECT_FALSE(iequals("X-Forwarded-For", "X-Forwarded-Fox"));
  EXPECT_FALSE(iequals("Host", "Hos"));
  EXPECT_TRUE(iequals("", ""));
  // '@' and '[' sit just outside 'A'..'Z'; '`' and '{' just outside 'a'..'z'.
  EXPECT_FALSE(iequals("@@@@@@@@", "````````"));
  EXPECT_FALSE(iequals("[[[[[[[[", "{{{{{{{{"));
}

} // namespace
} // namespace turnpike
