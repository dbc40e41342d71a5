#include "service/upstream_tls.h"

#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "tls/names.h"

namespace turnpike::service {
namespace {

struct Pem {
  std::string cert;
  std::string key;
};

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

// A self-signed P-256 certificate for `cn`, as PEM.
Pem self_signed(const char* cn) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_sign(x, key, EVP_sha256());
  BIO* cb = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(cb, x);
  BIO* kb = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(kb, key, nullptr, nullptr, 0, nullptr, nullptr);
  X509_free(x);
  EVP_PKEY_free(key);
  return {bio_text(cb), bio_text(kb)};
}

std::string error_of(const TlsClientOptions& o) {
  auto r = UpstreamTls::create(o);
  return r ? std::string("(no error)") : r.error().message;
}

TEST(TlsNames, Versions) {
  EXPECT_EQ(tls::version_from_name("VersionTLS12"), TLS1_2_VERSION);
  EXPECT_EQ(tls::version_from_name("VersionTLS13"), TLS1_3_VERSION);
  EXPECT_EQ(tls::version_from_name("VersionTLS10"), TLS1_VERSION);
  EXPECT_FALSE(tls::version_from_name("TLS12"));
  EXPECT_FALSE(tls::version_from_name("versiontls12"));
}

TEST(TlsNames, CipherSuites) {
  auto c = tls::cipher_suite_from_name("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->openssl, "ECDHE-RSA-AES128-GCM-SHA256");
  EXPECT_FALSE(c->tls13);
  // Go's alias without the hash.
  EXPECT_EQ(tls::cipher_suite_from_name("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305")->openssl,
            "ECDHE-ECDSA-CHACHA20-POLY1305");
  EXPECT_TRUE(tls::cipher_suite_from_name("TLS_AES_128_GCM_SHA256")->tls13);
  EXPECT_FALSE(tls::cipher_suite_from_name("ECDHE-RSA-AES128-GCM-SHA256"));
}

TEST(UpstreamTls, DefaultsCompile) {
  auto t = UpstreamTls::create({});
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ((*t)->fingerprint().size(), 16u);
}

TEST(UpstreamTls, ErrorsNameTheField) {
  TlsClientOptions o;
  o.min_version = "VersionTLS14";
  EXPECT_EQ(error_of(o), "minVersion: unknown TLS version \"VersionTLS14\"");
  o = {};
  o.max_version = "VersionTLS11";
  EXPECT_EQ(error_of(o), "maxVersion VersionTLS11 is lower than minVersion VersionTLS12");
  o = {};
  o.cipher_suites = {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_NOPE"};
  EXPECT_EQ(error_of(o), "cipherSuites[1]: unknown cipher suite \"TLS_NOPE\"");
  o = {};
  o.root_cas = {"/nonexistent/ca.pem"};
  EXPECT_EQ(error_of(o), "rootCAs[0]: open /nonexistent/ca.pem: No such file or directory");
  o = {};
  o.root_cas = {"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"};
  EXPECT_EQ(error_of(o), "rootCAs[0]: no PEM certificate found");
  auto a = self_signed("a");
  auto b = self_signed("b");
  o = {};
  o.certificates = {{a.cert, b.key}};
  EXPECT_TRUE(error_of(o).starts_with("certificates[0]: the key does not match the certificate"))
      << error_of(o);
  o.certificates = {{a.cert, "/nonexistent/key.pem"}};
  EXPECT_TRUE(error_of(o).starts_with("certificates[0].keyFile: open /nonexistent/key.pem"));
  o.certificates = {{a.key, a.key}};
  EXPECT_EQ(error_of(o), "certificates[0].certFile: no PEM certificate found");
}

TEST(UpstreamTls, InlineAndFileRootsAndClientCertificates) {
  auto ca = self_signed("ca");
  std::string path = ::testing::TempDir() + "/upstream_tls_test_ca.pem";
  std::ofstream(path) << ca.cert;
  TlsClientOptions o;
  o.root_cas = {path, ca.cert};
  auto client = self_signed("client");
  o.certificates = {{client.cert, client.key}};
  auto t = UpstreamTls::create(o);
  ASSERT_TRUE(t) << t.error().message;
  std::remove(path.c_str());
}

TEST(UpstreamTls, FingerprintFollowsSettingsAndContents) {
  auto ca1 = self_signed("one");
  auto ca2 = self_signed("two");
  TlsClientOptions o;
  o.root_cas = {ca1.cert};
  auto a = *UpstreamTls::create(o);
  auto same = *UpstreamTls::create(o);
  // Unchanged configuration: the same compiled context (reloads do not rebuild SSL_CTXs).
  EXPECT_EQ(a.get(), same.get());
  o.root_cas = {ca2.cert};
  auto other_root = *UpstreamTls::create(o);
  EXPECT_NE(a->fingerprint(), other_root->fingerprint());
  o.root_cas = {ca1.cert};
  o.server_name = "x.test";
  auto other_name = *UpstreamTls::create(o);
  EXPECT_NE(a->fingerprint(), other_name->fingerprint());
  o.server_name.clear();
  o.insecure_skip_verify = true;
  EXPECT_NE(a->fingerprint(), (*UpstreamTls::create(o))->fingerprint());
}

TEST(UpstreamTls, NewSslSetsSniOnlyForNames) {
  auto t = *UpstreamTls::create({});
  TlsSessionTarget target;
  SSL* by_name = t->new_ssl("upstream.test", Alpn::kH2Http11, target);
  ASSERT_NE(by_name, nullptr);
  EXPECT_STREQ(SSL_get_servername(by_name, TLSEXT_NAMETYPE_host_name), "upstream.test");
  SSL_free(by_name);
  SSL* by_ip = t->new_ssl("127.0.0.1", Alpn::kHttp11, target);
  EXPECT_EQ(SSL_get_servername(by_ip, TLSEXT_NAMETYPE_host_name), nullptr);
  SSL_free(by_ip);

  TlsClientOptions o;
  o.server_name = "configured.test";
  auto named = *UpstreamTls::create(o);
  SSL* s = named->new_ssl("127.0.0.1", Alpn::kNone, target);
  EXPECT_STREQ(SSL_get_servername(s, TLSEXT_NAMETYPE_host_name), "configured.test");
  SSL_free(s);
}

TEST(TlsSessionCache, KeepsTheLatestPerKey) {
  TlsSessionCache cache;
  EXPECT_EQ(cache.get("a"), nullptr);
  SSL_SESSION* one = SSL_SESSION_new();
  SSL_SESSION* two = SSL_SESSION_new();
  cache.put("a", one);
  EXPECT_EQ(cache.get("a"), one);
  cache.put("a", two); // frees `one`
  EXPECT_EQ(cache.get("a"), two);
  EXPECT_EQ(cache.size(), 1u);
  cache.erase("a");
  EXPECT_EQ(cache.get("a"), nullptr);
}

} // namespace
} // namespace turnpike::service
