#include <gtest/gtest.h>

#include "harness.h"
#include "middleware/encoded_characters.h"

namespace turnpike::middleware {
namespace {

using testing::forwarded;
using testing::make_request;

TEST(EncodedCharacters, RefusesEachEncodedCharacterUnlessAllowed) {
  struct Case {
    std::string_view path, option;
  };
  for (const auto& c : std::initializer_list<Case>{{"/a%2Fb", "allowEncodedSlash"},
                                                   {"/a%2fb", "allowEncodedSlash"},
                                                   {"/a%5Cb", "allowEncodedBackSlash"},
                                                   {"/a%00b", "allowEncodedNullCharacter"},
                                                   {"/a%3Bb", "allowEncodedSemicolon"},
                                                   {"/a%25b", "allowEncodedPercent"},
                                                   {"/a%3Fb", "allowEncodedQuestionMark"},
                                                   {"/a%23b", "allowEncodedHash"}}) {
    SCOPED_TRACE(c.path);
    EXPECT_FALSE(forwarded("encodedCharacters", "{}", make_request("GET", c.path), 400));
    EXPECT_TRUE(forwarded("encodedCharacters", std::string(c.option) + ": true\n",
                          make_request("GET", c.path)));
  }
  // Other encodings, and the characters themselves in the query, are fine.
  EXPECT_TRUE(forwarded("encodedCharacters", "{}", make_request("GET", "/a%20b?x=%2F")));
}

TEST(EncodedCharacters, DecodeErrors) {
  testing::expect_decode_error("encodedCharacters", "allowEncodedSlash: maybe\n",
                               "encodedCharacters.allowEncodedSlash");
  testing::expect_decode_error("encodedCharacters", "allowEncodedColon: true\n",
                               "allowEncodedColon");
}

} // namespace
} // namespace turnpike::middleware
