#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <chrono>

#include "harness.h"
#include "middleware/jwt.h"

namespace turnpike::middleware {
namespace {

using testing::make_request;

std::string b64url(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0)
    out.push_back(kAlphabet[(acc << (6 - bits)) & 63]);
  return out;
}

int64_t now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string hs256(const std::string& payload, std::string_view secret,
                  std::string header = R"({"alg":"HS256","typ":"JWT"})") {
  const std::string signing = b64url(header) + "." + b64url(payload);
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signing.data()), signing.size(), mac, &len);
  return signing + "." + b64url(std::string_view(reinterpret_cast<char*>(mac), len));
}

// An ES256 key pair: the PEM public key, and a signer producing JWS (r || s) signatures.
struct EcKey {
  EcKey() : key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")) {}
  ~EcKey() { EVP_PKEY_free(key); }
  std::string public_pem() const {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, key);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<size_t>(n));
    BIO_free(bio);
    return out;
  }
  std::string sign(const std::string& payload, std::string_view kid = "") const {
    std::string header = R"({"alg":"ES256")";
    if (!kid.empty())
      header += R"(,"kid":")" + std::string(kid) + "\"";
    header += "}";
    const std::string signing = b64url(header) + "." + b64url(payload);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
    size_t len = 0;
    EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(signing.data()),
                   signing.size());
    std::string der(len, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(der.data()), &len,
                   reinterpret_cast<const unsigned char*>(signing.data()), signing.size());
    EVP_MD_CTX_free(ctx);
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
    unsigned char raw[64];
    BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32);
    ECDSA_SIG_free(sig);
    return signing + "." + b64url(std::string_view(reinterpret_cast<char*>(raw), 64));
  }
  EVP_PKEY* key;
};

testing::Outcome call(const testing::Built& b, std::string_view token,
                      http::Request* seen = nullptr) {
  auto req = make_request("GET", "/api");
  if (!token.empty())
    req.headers.add("Authorization", "Bearer " + std::string(token));
  req.headers.add("X-User", "forged");
  auto out = testing::serve(*b.handler, req);
  if (seen && b.terminal->seen)
    *seen = *b.terminal->seen;
  return out;
}

TEST(Jwt, Hs256TokenIsVerifiedAndClaimsForwarded) {
  auto b =
      testing::build("jwt", "signingSecret: s3cret\nusernameClaim: sub\n"
                            "forwardHeaders: {X-User: sub, X-Groups: groups, X-Tenant: org.id}\n");
  ASSERT_TRUE(b) << b.error_text();
  const std::string payload = R"({"sub":"alice","groups":["a","b"],"org":{"id":7},"exp":)" +
                              std::to_string(now() + 60) + "}";
  http::Request seen;
  auto out = call(b, hs256(payload, "s3cret"), &seen);
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.username, "alice");
  EXPECT_EQ(seen.headers.get("X-User").value_or(""), "alice");
  EXPECT_EQ(seen.headers.get("X-Groups").value_or(""), "a,b");
  EXPECT_EQ(seen.headers.get("X-Tenant").value_or(""), "7");
  EXPECT_FALSE(seen.headers.has("Authorization")); // not forwarded by default
}

TEST(Jwt, BadTokensAre401) {
  auto b = testing::build("jwt", "signingSecret: s3cret\n");
  ASSERT_TRUE(b) << b.error_text();
  const std::string ok = R"({"sub":"a"})";
  EXPECT_EQ(call(b, "").status, 401);
  EXPECT_EQ(call(b, hs256(ok, "wrong")).status, 401);
  EXPECT_EQ(call(b, "a.b").status, 401);
  EXPECT_EQ(call(b, hs256(R"({"exp":)" + std::to_string(now() - 1) + "}", "s3cret")).status, 401);
  EXPECT_EQ(call(b, hs256(R"({"nbf":)" + std::to_string(now() + 100) + "}", "s3cret")).status, 401);
  // alg none, and an algorithm that does not suit the key.
  EXPECT_EQ(call(b, b64url(R"({"alg":"none"})") + "." + b64url(ok) + ".").status, 401);
  auto out = call(b, hs256(ok, "s3cret", R"({"alg":"RS256"})"));
  EXPECT_EQ(out.status, 401);
  EXPECT_EQ(out.header("WWW-Authenticate"), "Bearer");
  EXPECT_EQ(b.terminal->calls, 0);
}

TEST(Jwt, AVerifiedTokenIsServedFromTheWorkersCacheWithSameResults) {
  auto b = testing::build("jwt", "signingSecret: s3cret\nforwardHeaders: {X-User: sub}\n"
                                 "claims: \"Equals(`sub`, `alice`)\"\n");
  ASSERT_TRUE(b) << b.error_text();
  const std::string alice = hs256(R"({"sub":"alice","exp":)" + std::to_string(now() + 60) + "}",
                                  "s3cret");
  const std::string bob = hs256(R"({"sub":"bob"})", "s3cret");
  for (int i = 0; i < 3; ++i) {  // the first verifies, the others hit the cache
    http::Request seen;
    EXPECT_EQ(call(b, alice, &seen).status, 200);
    EXPECT_EQ(seen.headers.get("X-User").value_or(""), "alice");
    EXPECT_EQ(call(b, bob).status, 403);  // claims are checked on every request
  }
  // A token that differs by one signature byte is not the cached one. (The first character of
  // the signature: the last one also carries padding bits, which base64url decoding ignores, as
  // Go's does, so changing it could leave the signature as it was.)
  std::string forged = alice;
  char& c = forged[forged.rfind('.') + 1];
  c = c == 'A' ? 'B' : 'A';
  EXPECT_EQ(call(b, forged).status, 401);
}

TEST(VerifiedTokens, HonoursExpNbfKeysAndBounds) {
  VerifiedTokens cache;
  auto claims = [](std::string_view j) {
    return std::make_shared<const nlohmann::json>(nlohmann::json::parse(j));
  };
  const int64_t t = 1'700'000'000;
  cache.insert("exp", claims(R"({"exp":1700000010})"), nullptr);
  cache.insert("nbf", claims(R"({"nbf":1700000005})"), nullptr);
  cache.insert("plain", claims(R"({"sub":"x"})"), nullptr);
  EXPECT_NE(cache.find("exp", t, nullptr), nullptr);
  EXPECT_NE(cache.find("exp", t + 9, nullptr), nullptr);
  EXPECT_EQ(cache.find("exp", t + 10, nullptr), nullptr);  // expired at exp, as verify_jwt
  EXPECT_EQ(cache.find("exp", t, nullptr), nullptr);       // and dropped
  EXPECT_EQ(cache.find("nbf", t + 4, nullptr), nullptr);   // not valid yet
  cache.insert("nbf", claims(R"({"nbf":1700000005})"), nullptr);
  EXPECT_NE(cache.find("nbf", t + 5, nullptr), nullptr);
  // Verified with other JWKS keys than the current ones: verify again.
  auto keys = std::make_shared<const JwtKeys>();
  EXPECT_EQ(cache.find("plain", t, keys), nullptr);
  cache.insert("jwks", claims("{}"), keys);
  EXPECT_NE(cache.find("jwks", t, keys), nullptr);
  EXPECT_EQ(cache.find("jwks", t, std::make_shared<const JwtKeys>()), nullptr);
  // Bounded: oversized tokens are not kept, and a full cache starts over.
  cache.insert(std::string(VerifiedTokens::kMaxTokenBytes + 1, 'x'), claims("{}"), nullptr);
  EXPECT_EQ(cache.find(std::string(VerifiedTokens::kMaxTokenBytes + 1, 'x'), t, nullptr), nullptr);
  for (size_t i = 0; i < 2 * VerifiedTokens::kMaxEntries; ++i)
    cache.insert("t" + std::to_string(i), claims("{}"), nullptr);
  EXPECT_LE(cache.size(), VerifiedTokens::kMaxEntries);
}

TEST(Jwt, Es256WithPublicKeyAndJwks) {
  EcKey k;
  const std::string yaml = "publicKey: |\n  " + [&] {
    std::string pem = k.public_pem(), out;
    for (char c : pem) {
      out.push_back(c);
      if (c == '\n')
        out += "  ";
    }
    return out;
  }() + "\n";
  auto b = testing::build("jwt", yaml);
  ASSERT_TRUE(b) << b.error_text();
  EXPECT_EQ(call(b, k.sign(R"({"sub":"x"})")).status, 200);
  EcKey other;
  EXPECT_EQ(call(b, other.sign(R"({"sub":"x"})")).status, 401);
}

TEST(Jwt, ClaimsExpression) {
  auto b = testing::build(
      "jwt", "signingSecret: k\nclaims: \"Equals(`role`, `admin`) && Contains(`groups`, `ops`) && "
             "Prefix(`iss`, `https://`) && SplitContains(`scope`, ` `, `write`) && "
             "OneOf(`tier`, `gold`, `silver`)\"\n");
  ASSERT_TRUE(b) << b.error_text();
  const std::string good =
      R"({"role":"admin","groups":["dev","ops"],"iss":"https://idp","scope":"read write","tier":"gold"})";
  EXPECT_EQ(call(b, hs256(good, "k")).status, 200);
  const std::string bad =
      R"({"role":"admin","groups":["dev"],"iss":"https://idp","scope":"read write","tier":"gold"})";
  EXPECT_EQ(call(b, hs256(bad, "k")).status, 403);
}

TEST(Jwt, JwksDocuments) {
  auto keys = parse_jwks(R"({"keys":[
    {"kty":"oct","k":"c2VjcmV0"},
    {"kty":"OKP","crv":"Ed25519","kid":"ed","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
    {"kty":"EC","crv":"P-256","kid":"ec","use":"enc","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
    {"kty":"EC","crv":"P-256","kid":"ec2","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]})");
  ASSERT_TRUE(keys) << keys.error().message;
  ASSERT_EQ(keys->size(), 2u); // oct and "use": "enc" skipped
  EXPECT_EQ((*keys)[0].kid, "ed");
  EXPECT_EQ((*keys)[1].kid, "ec2");
  EXPECT_FALSE(parse_jwks("[]"));
}

TEST(Jwt, DecodeErrors) {
  testing::expect_decode_error("jwt", "usernameClaim: sub\n", "one of signingSecret, publicKey");
  testing::expect_decode_error("jwt", "signingSecret: a\njwksUrl: http://x/\n",
                               "mutually exclusive");
  testing::expect_decode_error("jwt", "publicKey: nope\n", "jwt.publicKey: not a PEM");
  testing::expect_decode_error("jwt", "signingSecret: a\nclaims: \"Equals(`a`)\"\n", "jwt.claims");
  testing::expect_decode_error("jwt", "jwksFile: /nonexistent/jwks.json\n", "jwt.jwksFile");
}

} // namespace
} // namespace turnpike::middleware
