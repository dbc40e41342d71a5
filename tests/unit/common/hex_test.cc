#include "common/hex.h"

#include <gtest/gtest.h>

namespace turnpike {
namespace {

TEST(Hex, EncodesBytesLowerCase) {
  const unsigned char b[] = {0x00, 0x0f, 0xa5, 0xff};
  EXPECT_EQ(hex_encode(b, sizeof b), "000fa5ff");
  EXPECT_EQ(hex_encode(b, 0), "");
}

TEST(Hex, DigestsMatchKnownVectors) {
  // FIPS 180 / RFC 1321 test vectors for "abc".
  EXPECT_EQ(digest_hex(EVP_sha256(), "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(digest_hex(EVP_sha1(), "abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(digest_hex(EVP_md5(), "abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(digest_hex(EVP_sha256(), "abc", 20), "ba7816bf8f01cfea4141");
  EXPECT_EQ(digest_hex(EVP_sha1(), "abc", 5), "a9993");
}

TEST(Hex, RandomHasTheSizeAndVaries) {
  const std::string a = random_hex(16), b = random_hex(16);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace turnpike
