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
                          std::string_view uri, std::string_view realm = "traefik",
                          std::string_view nc = "00000001") {
  const std::string ha1 =
      md5_hex(std::string(user) + ":" + std::string(realm) + ":" + std::string(password));
  const std::string ha2 = md5_hex("GET:" + std::string(uri));
  const std::string response =
      md5_hex(ha1 + ":" + std::string(nonce) + ":" + std::string(nc) + ":abc:auth:" + ha2);
  return "Digest username=\"" + std::string(user) + "\", realm=\"" + std::string(realm) +
         "\", nonce=\"" + std::string(nonce) + "\", uri=\"" + std::string(uri) +
         "\", qop=auth, nc=" + std::string(nc) + ", cnonce=\"abc\", response=\"" + response + "\"";
}

std::string nc_hex(uint32_t nc) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", nc);
  return buf;
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
  EXPECT_EQ(h.check_nonce("1000-" + std::string(16, '0') + "-" + std::string(32, '0'), 10),
            DigestAuth::NonceState::kForged);
  // Every challenge has its own nonce, also within one second: clients each count from 1.
  EXPECT_NE(h.nonce(1000), old);
  auto req = make_request("GET", "/a");
  req.headers.add("Authorization", authorization("test", "test", old, "/a"));
  auto out = testing::serve(*b.handler, req);
  EXPECT_EQ(out.status, 401);
  EXPECT_NE(out.header("WWW-Authenticate").find("stale=true"), std::string::npos);
}

// The nonce of the challenge to a request without credentials.
std::string fresh_nonce(const testing::Built& b) {
  auto req = make_request("GET", "/a");
  return challenge_nonce(testing::serve(*b.handler, req));
}

// Status and WWW-Authenticate of one request with `nc` on `nonce`.
std::pair<int, std::string> try_nc(const testing::Built& b, const std::string& nonce,
                                   std::string_view nc) {
  auto req = make_request("GET", "/a");
  req.headers.add("Authorization", authorization("test", "test", nonce, "/a", "traefik", nc));
  auto out = testing::serve(*b.handler, req);
  return {out.status, out.header("WWW-Authenticate")};
}

TEST(DigestAuth, ReplayedNonceCountIsRefusedAsStale) {
  auto b = testing::build("digestAuth", kYaml);
  ASSERT_TRUE(b);
  const std::string nonce = fresh_nonce(b);
  EXPECT_EQ(try_nc(b, nonce, "00000001").first, 200);
  // The same request again (a replay) is refused; stale=true makes a real client take a fresh
  // nonce without asking its user again.
  auto [status, challenge] = try_nc(b, nonce, "00000001");
  EXPECT_EQ(status, 401);
  EXPECT_NE(challenge.find("stale=true"), std::string::npos);
  EXPECT_NE(challenge.find("nonce=\""), std::string::npos);
  // Counts may arrive out of order (several connections), each once.
  EXPECT_EQ(try_nc(b, nonce, "00000005").first, 200);
  EXPECT_EQ(try_nc(b, nonce, "00000003").first, 200);
  EXPECT_EQ(try_nc(b, nonce, "00000002").first, 200);
  EXPECT_EQ(try_nc(b, nonce, "00000003").first, 401);
  EXPECT_EQ(try_nc(b, nonce, "00000005").first, 401);
  EXPECT_EQ(try_nc(b, nonce, "00000004").first, 200);
  // A jump of exactly 64 still remembers the old highest count; further back is refused.
  EXPECT_EQ(try_nc(b, nonce, nc_hex(69)).first, 200);
  EXPECT_EQ(try_nc(b, nonce, nc_hex(5)).first, 401);
  EXPECT_EQ(try_nc(b, nonce, nc_hex(6)).first, 200);
  EXPECT_EQ(try_nc(b, nonce, nc_hex(4)).first, 401); // more than 64 below 69
  EXPECT_EQ(try_nc(b, nonce, nc_hex(1000)).first, 200);
  EXPECT_EQ(try_nc(b, nonce, nc_hex(69)).first, 401);
  // Malformed counts never authenticate.
  EXPECT_EQ(try_nc(b, nonce, "00000000").first, 401);
  EXPECT_EQ(try_nc(b, nonce, "7").first, 401);
  EXPECT_EQ(try_nc(b, nonce, "0000000g").first, 401);
  // Another nonce has its own counts.
  const std::string other = fresh_nonce(b);
  ASSERT_NE(other, nonce);  // every challenge's nonce is unique
  EXPECT_EQ(try_nc(b, other, "00000001").first, 200);
}

TEST(DigestAuth, WithoutQopIsRefused) {
  auto b = testing::build("digestAuth", kYaml);
  ASSERT_TRUE(b);
  const std::string nonce = fresh_nonce(b);
  const std::string ha1 = md5_hex("test:traefik:test");
  const std::string response = md5_hex(ha1 + ":" + nonce + ":" + md5_hex("GET:/a"));
  auto req = make_request("GET", "/a");
  req.headers.add("Authorization", "Digest username=\"test\", realm=\"traefik\", nonce=\"" + nonce +
                                       "\", uri=\"/a\", response=\"" + response + "\"");
  EXPECT_EQ(testing::serve(*b.handler, req).status, 401);
}

TEST(DigestAuth, NonceCountsStayBounded) {
  NonceCounts counts;
  const int64_t now = 1000;
  for (size_t i = 0; i <= NonceCounts::kMaxNonces; ++i)
    ASSERT_TRUE(
        counts.first_use("n" + std::to_string(i), now + 1 + static_cast<int64_t>(i), 1, now));
  // Past the bound, the half that expires first is forgotten and, from then on, stale: a
  // forgotten nonce can not be replayed from count 1 again.
  EXPECT_FALSE(counts.first_use("n0", now + 1, 1, now));
  EXPECT_FALSE(counts.first_use("n0", now + 1, 2, now));
  const size_t last = NonceCounts::kMaxNonces;
  EXPECT_FALSE(
      counts.first_use("n" + std::to_string(last), now + 1 + static_cast<int64_t>(last), 1, now));
  EXPECT_TRUE(
      counts.first_use("n" + std::to_string(last), now + 1 + static_cast<int64_t>(last), 2, now));
}

TEST(DigestAuth, DecodeErrors) {
  testing::expect_decode_error("digestAuth", "users: [\"test:traefik\"]\n", "digestAuth.users[0]");
  testing::expect_decode_error(
      "digestAuth", "users: [\"a:other:a2688e031edb4be6a3797f3882655c05\"]\n", "no user of realm");
  testing::expect_decode_error("digestAuth", "usersFile: /nonexistent\n", "digestAuth.usersFile");
}

} // namespace
} // namespace turnpike::middleware
