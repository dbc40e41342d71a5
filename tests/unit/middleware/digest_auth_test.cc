#include <gtest/gtest.h>

#include <chrono>

#include "harness.h"
#include "middleware/digest_auth.h"

namespace turnpike::middleware {
namespace {

using testing::make_request;

constexpr std::string_view kYaml =
    "users: [\"test:traefik:a2688e031edb4be6a3797f3882655c05\", "
    "\"other:elsewhere:a2688e031edb4be6a3797f3882655c05\"]\nheaderField: X-User\n";

// The nonce of a 401 challenge.
std::string challenge_nonce(const testing::Outcome& out) {
  const std::string h = out.header("WWW-Authenticate");
  const size_t at = h.find("nonce=\"") + 7;
  return h.substr(at, h.find('"', at) - at);
}

std::string authorization(std::string_view user, std::string_view password, std::string_view nonce,
                          std::string_view uri, std::string_view realm = "traefik") {
  const std::string ha1 =
      md5_hex(std::string(user) + ":" + std::string(realm) + ":" + std::string(password));
  const std::string ha2 = md5_hex("GET:" + std::string(uri));
  const std::string response =
      md5_hex(ha1 + ":" + std::string(nonce) + ":00000001:abc:auth:" + ha2);
  return "Digest username=\"" + std::string(user) + "\", realm=\"" + std::string(realm) +
         "\", nonce=\"" + std::string(nonce) + "\", uri=\"" + std::string(uri) +
         "\", qop=auth, nc=00000001, cnonce=\"abc\", response=\"" + response + "\"";
}

TEST(DigestAuth, ChallengeThenValidResponse) {
  auto b = testing::build("digestAuth", kYaml);
  ASSERT_TRUE(b) << b.error_text();
  auto first = make_request("GET", "/a?b=1");
  auto out = testing::serve(*b.handler, first);
  EXPECT_EQ(out.status, 401);
  EXPECT_NE(out.header("WWW-Authenticate").find("Digest realm=\"traefik\""), std::string::npos);
  EXPECT_NE(out.header("WWW-Authenticate").find("qop=\"auth\""), std::string::npos);
  const std::string nonce = challenge_nonce(out);

  auto req = make_request("GET", "/a?b=1");
  req.headers.add("Authorization", authorization("test", "test", nonce, "/a?b=1"));
  out = testing::serve(*b.handler, req);
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.username, "test");
  EXPECT_EQ(b.terminal->seen->headers.get("X-User").value_or(""), "test");

  auto bad = make_request("GET", "/a?b=1");
  bad.headers.add("Authorization", authorization("test", "wrong", nonce, "/a?b=1"));
  EXPECT_EQ(testing::serve(*b.handler, bad).status, 401);
  auto uri = make_request("GET", "/other");
  uri.headers.add("Authorization", authorization("test", "test", nonce, "/a?b=1"));
  EXPECT_EQ(testing::serve(*b.handler, uri).status, 401);
  auto realm = make_request("GET", "/a");
  realm.headers.add("Authorization", authorization("other", "test", nonce, "/a", "elsewhere"));
  EXPECT_EQ(testing::serve(*b.handler, realm).status, 401);
  auto forged = make_request("GET", "/a");
  forged.headers.add("Authorization", authorization("test", "test", "99999999999-00", "/a"));
  EXPECT_EQ(testing::serve(*b.handler, forged).status, 401);
}

TEST(DigestAuth, ExpiredNonceIsStale) {
  auto b = testing::build("digestAuth", kYaml);
  ASSERT_TRUE(b);
  const auto& h = static_cast<const DigestAuth&>(*b.handler);
  const std::string old = h.nonce(1000);
  EXPECT_EQ(h.check_nonce(old, 999), DigestAuth::NonceState::kValid);
  EXPECT_EQ(h.check_nonce(old, 1000), DigestAuth::NonceState::kStale);
  EXPECT_EQ(h.check_nonce("1000-" + std::string(32, '0'), 10), DigestAuth::NonceState::kForged);
  auto req = make_request("GET", "/a");
  req.headers.add("Authorization", authorization("test", "test", old, "/a"));
  auto out = testing::serve(*b.handler, req);
  EXPECT_EQ(out.status, 401);
  EXPECT_NE(out.header("WWW-Authenticate").find("stale=true"), std::string::npos);
}

TEST(DigestAuth, DecodeErrors) {
  testing::expect_decode_error("digestAuth", "users: [\"test:traefik\"]\n", "digestAuth.users[0]");
  testing::expect_decode_error(
      "digestAuth", "users: [\"a:other:a2688e031edb4be6a3797f3882655c05\"]\n", "no user of realm");
  testing::expect_decode_error("digestAuth", "usersFile: /nonexistent\n", "digestAuth.usersFile");
}

} // namespace
} // namespace turnpike::middleware
