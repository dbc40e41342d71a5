#include <gtest/gtest.h>

#include "harness.h"
#include "middleware/api_key.h"

namespace turnpike::middleware {
namespace {

using testing::make_request;

// key-one ($apr1$), key-two ({SHA}, given base64-encoded), key-three (bcrypt, cost 5).
constexpr std::string_view kYaml = R"(keySource:
  header: Authorization
  headerAuthScheme: Bearer
  query: api_key
  cookie: api_key
secretValues:
  - "$apr1$abcdefgh$HSUvvknqH6HaLI9D.dB8Y0"
  - "e1NIQX1mNFBzWS85dDJhVkVXdDZBN0g4cWc2NWxMNHM9"
  - "$2y$05$nnGZL365CRO1DUj440wD4.uctPuEV4UA8AjrhvpjVkOlWIemXsZbi"
)";

TEST(ApiKey, AcceptsEachHashFromEachSourceAndStripsTheKey) {
  auto b = testing::build("apiKey", kYaml);
  ASSERT_TRUE(b) << b.error_text();
  auto req = make_request("GET", "/x");
  req.headers.add("Authorization", "Bearer key-one");
  EXPECT_EQ(testing::serve(*b.handler, req).status, 200);
  EXPECT_FALSE(b.terminal->seen->headers.has("Authorization"));

  auto q = make_request("GET", "/x?a=1&api_key=key-two&b=2");
  EXPECT_EQ(testing::serve(*b.handler, q).status, 200);
  EXPECT_EQ(b.terminal->seen->query, "a=1&b=2");

  for (int i = 0; i < 2; ++i) { // the second time from the verified cache
    auto c = make_request("GET", "/x");
    c.headers.add("Cookie", "session=s; api_key=key-three; theme=dark");
    EXPECT_EQ(testing::serve(*b.handler, c).status, 200);
    EXPECT_EQ(b.terminal->seen->headers.get("Cookie").value_or(""), "session=s; theme=dark");
  }
}

TEST(ApiKey, MissingOrWrongKeyIs401) {
  auto b = testing::build("apiKey", kYaml);
  ASSERT_TRUE(b) << b.error_text();
  auto none = make_request("GET", "/x");
  EXPECT_EQ(testing::serve(*b.handler, none).status, 401);
  auto wrong = make_request("GET", "/x");
  wrong.headers.add("Authorization", "Bearer key-four");
  EXPECT_EQ(testing::serve(*b.handler, wrong).status, 401);
  auto scheme = make_request("GET", "/x");
  scheme.headers.add("Authorization", "Basic key-one"); // wrong scheme
  EXPECT_EQ(testing::serve(*b.handler, scheme).status, 401);
  EXPECT_EQ(b.terminal->calls, 0);
}

TEST(ApiKey, DecodeErrors) {
  testing::expect_decode_error("apiKey", "secretValues: [\"{SHA}x\"]\n", "apiKey.keySource");
  testing::expect_decode_error("apiKey", "keySource: {header: X-Key}\n", "apiKey.secretValues");
  testing::expect_decode_error("apiKey", "keySource: {header: X-Key}\nsecretValues: [plain]\n",
                               "apiKey.secretValues[0]");
  testing::expect_decode_error("apiKey",
                               "keySource: {headerAuthScheme: Bearer, query: k}\nsecretValues: "
                               "[\"{SHA}f4PsY/9t2aVEWt6A7H8qg65lL4s=\"]\n",
                               "needs `header`");
}

} // namespace
} // namespace turnpike::middleware
