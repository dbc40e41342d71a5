#include "acme/crypto.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "acme/client.h"

namespace turnpike::acme {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(Base64, RoundTripsAndAlphabets) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\xfd"}) {
    EXPECT_EQ(base64url_decode(base64url(s)), s);
    EXPECT_EQ(base64_decode(base64(s)), s);
  }
  EXPECT_EQ(base64("foob"), "Zm9vYg==");
  EXPECT_EQ(base64url("\xfb\xff"), "-_8");
  EXPECT_EQ(base64("\xfb\xff"), "+/8=");
  EXPECT_FALSE(base64url_decode("a+b"));
  EXPECT_FALSE(base64url_decode("abcde"));  // a lone trailing character
}

TEST(PrivateKey, KeyTypesAndJwk) {
  for (auto [type, alg, kty] : {std::tuple{KeyType::kEC256, "ES256", "EC"},
                                std::tuple{KeyType::kEC384, "ES384", "EC"},
                                std::tuple{KeyType::kRSA2048, "RS256", "RSA"}}) {
    auto key = PrivateKey::generate(type);
    ASSERT_TRUE(key) << key.error().message;
    EXPECT_EQ(key->jws_alg(), alg);
    auto jwk = key->jwk();
    EXPECT_EQ(jwk["kty"], kty);
    // RFC 7638: members in lexicographic order, no spaces.
    std::string text = jwk.dump();
    EXPECT_EQ(text.find(' '), std::string::npos);
    EXPECT_EQ(key->thumbprint().size(), 43u);
    // DER round trip keeps the same key.
    auto again = PrivateKey::from_der(key->to_der());
    ASSERT_TRUE(again);
    EXPECT_EQ(again->thumbprint(), key->thumbprint());
    auto from_pem = PrivateKey::from_pem(key->to_pem());
    ASSERT_TRUE(from_pem);
    EXPECT_EQ(from_pem->thumbprint(), key->thumbprint());
  }
  auto ec = PrivateKey::generate(KeyType::kEC256);
  EXPECT_THAT(ec->to_pem(), HasSubstr("BEGIN EC PRIVATE KEY"));  // lego's encoding
  auto rsa = PrivateKey::generate(KeyType::kRSA2048);
  EXPECT_THAT(rsa->to_pem(), HasSubstr("BEGIN RSA PRIVATE KEY"));
  EXPECT_EQ(parse_key_type("rsa4096"), KeyType::kRSA4096);
  EXPECT_FALSE(parse_key_type("RSA1024"));
}

// An ES256 JWS signature is r||s (64 bytes) and verifies once turned back into DER.
TEST(PrivateKey, EcdsaSignatureIsFixedSizeAndVerifies) {
  auto key = PrivateKey::generate(KeyType::kEC256);
  ASSERT_TRUE(key);
  std::string data = "protected.payload";
  auto sig = key->sign(data);
  ASSERT_TRUE(sig);
  ASSERT_EQ(sig->size(), 64u);
  ECDSA_SIG* es = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig->data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig->data()) + 32, 32, nullptr);
  ECDSA_SIG_set0(es, r, s);
  unsigned char* der = nullptr;
  int n = i2d_ECDSA_SIG(es, &der);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key->get());
  EXPECT_EQ(EVP_DigestVerify(ctx, der, size_t(n), reinterpret_cast<const unsigned char*>(data.data()),
                             data.size()),
            1);
  EVP_MD_CTX_free(ctx);
  OPENSSL_free(der);
  ECDSA_SIG_free(es);
}

TEST(Csr, CarriesNamesAndCommonName) {
  auto key = PrivateKey::generate(KeyType::kEC256);
  auto der = make_csr(*key, {"a.example.com", "b.example.com"}, true, {"ops@example.com"});
  ASSERT_TRUE(der) << der.error().message;
  const auto* p = reinterpret_cast<const unsigned char*>(der->data());
  X509_REQ* req = d2i_X509_REQ(nullptr, &p, long(der->size()));
  ASSERT_NE(req, nullptr);
  EXPECT_EQ(X509_REQ_verify(req, key->get()), 1);
  char cn[256] = {0};
  X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName, cn, sizeof(cn));
  EXPECT_STREQ(cn, "a.example.com");
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req);
  auto* sans = static_cast<GENERAL_NAMES*>(X509V3_get_d2i(exts, NID_subject_alt_name, nullptr, nullptr));
  ASSERT_NE(sans, nullptr);
  EXPECT_EQ(sk_GENERAL_NAME_num(sans), 3);
  GENERAL_NAMES_free(sans);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  X509_REQ_free(req);
  // disableCommonName: no subject CN.
  auto der2 = make_csr(*key, {"a.example.com"}, false);
  p = reinterpret_cast<const unsigned char*>(der2->data());
  req = d2i_X509_REQ(nullptr, &p, long(der2->size()));
  EXPECT_EQ(X509_NAME_entry_count(X509_REQ_get_subject_name(req)), 0);
  X509_REQ_free(req);
}

TEST(TlsAlpn, ChallengeCertificateHasCriticalAcmeIdentifier) {
  auto pair = make_tls_alpn_certificate("app.example.com", "token.thumb");
  ASSERT_TRUE(pair) << pair.error().message;
  BIO* bio = BIO_new_mem_buf(pair->cert.data(), int(pair->cert.size()));
  X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ASSERT_NE(x, nullptr);
  ASN1_OBJECT* oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
  int idx = X509_get_ext_by_OBJ(x, oid, -1);
  ASSERT_GE(idx, 0);
  X509_EXTENSION* ext = X509_get_ext(x, idx);
  EXPECT_EQ(X509_EXTENSION_get_critical(ext), 1);
  ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(ext);
  std::string got(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                  size_t(ASN1_STRING_length(value)));
  EXPECT_EQ(got, std::string("\x04\x20", 2) + sha256("token.thumb"));
  ASN1_OBJECT_free(oid);
  X509_free(x);
  auto info = inspect_certificate(pair->cert);
  ASSERT_TRUE(info);
  EXPECT_THAT(info->dns_names, ElementsAre("app.example.com"));
  auto key = PrivateKey::from_pem(pair->key);
  ASSERT_TRUE(key);
  EXPECT_TRUE(key_matches_certificate(*key, pair->cert));
  auto other = PrivateKey::generate(KeyType::kEC256);
  EXPECT_FALSE(key_matches_certificate(*other, pair->cert));
}

TEST(Time, Rfc3339AndRetryAfter) {
  EXPECT_EQ(parse_rfc3339("1970-01-01T00:01:00Z"), 60);
  EXPECT_EQ(parse_rfc3339("2025-01-02T03:04:05.123456Z"), parse_rfc3339("2025-01-02T03:04:05Z"));
  EXPECT_EQ(parse_rfc3339("2025-01-02T04:04:05+01:00"), parse_rfc3339("2025-01-02T03:04:05Z"));
  EXPECT_FALSE(parse_rfc3339("2025-01-02 03:04:05"));
  EXPECT_EQ(format_rfc3339(60), "1970-01-01T00:01:00Z");
  EXPECT_EQ(parse_retry_after("120", 0), std::chrono::seconds(120));
  EXPECT_EQ(parse_retry_after("Thu, 01 Jan 1970 00:02:00 GMT", 60), std::chrono::seconds(60));
  EXPECT_FALSE(parse_retry_after("soon", 0));
  EXPECT_FALSE(parse_retry_after("", 0));
}

TEST(Problem, DescribesTypeDetailAndSubproblems) {
  auto p = Problem::from_json(nlohmann::json::parse(R"({
    "type": "urn:ietf:params:acme:error:rejectedIdentifier", "detail": "Error creating new order",
    "status": 400, "subproblems": [{"type": "urn:ietf:params:acme:error:malformed",
      "detail": "bad name", "identifier": {"type": "dns", "value": "x..example.com"}}]})"));
  EXPECT_TRUE(p.is("rejectedIdentifier"));
  EXPECT_EQ(p.describe(), "rejectedIdentifier: Error creating new order [x..example.com: malformed: bad name]");
}

}  // namespace
}  // namespace turnpike::acme
