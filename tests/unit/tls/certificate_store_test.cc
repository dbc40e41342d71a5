#include "tls/certificate_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tls/certificate.h"

namespace turnpike::tls {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

CertificatePtr make(std::string cn, std::vector<std::string> dns, KeyType type = KeyType::kEcdsa,
                    std::vector<std::string> ips = {}) {
  CertificateRequest req;
  if (!cn.empty())
    req.subject = {{"CN", cn}};
  req.dns_names = std::move(dns);
  req.ip_addresses = std::move(ips);
  req.key_type = type;
  auto c = generate_certificate(req);
  EXPECT_TRUE(c.has_value()) << (c ? "" : c.error().message);
  return *c;
}

const Certificate* only(const CertificateSet* set) {
  if (!set || set->certificates.size() != 1)
    return nullptr;
  return set->certificates.front().get();
}

TEST(Certificate, IndexesCommonNameDnsAndIpNamesLowerCased) {
  auto c = make("Www.Example.COM", {"www.example.com", "API.example.com"}, KeyType::kEcdsa,
                {"10.0.0.1", "2001:db8::1"});
  EXPECT_THAT(c->names(),
              ElementsAre("www.example.com", "api.example.com", "10.0.0.1", "2001:db8::1"));
  EXPECT_EQ(c->common_name(), "Www.Example.COM");
  EXPECT_EQ(c->key_type(), KeyType::kEcdsa);
  EXPECT_GT(c->not_after(), std::time(nullptr));
}

TEST(Certificate, FromPemRoundTripAndErrors) {
  auto c = make("a.test", {"a.test"});
  auto again = Certificate::from_pem(leaf_pem(*c), key_pem(*c));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ((*again)->serial_hex(), c->serial_hex());

  auto other = make("b.test", {"b.test"});
  auto mismatch = Certificate::from_pem(leaf_pem(*c), key_pem(*other));
  ASSERT_FALSE(mismatch.has_value());
  EXPECT_THAT(mismatch.error().message, HasSubstr("does not match"));

  auto no_cert = Certificate::from_pem("garbage", key_pem(*c));
  ASSERT_FALSE(no_cert.has_value());
  EXPECT_THAT(no_cert.error().message, HasSubstr("no PEM certificate"));

  auto no_key = Certificate::from_pem(leaf_pem(*c), "-----BEGIN PRIVATE KEY-----\nxx\n");
  ASSERT_FALSE(no_key.has_value());
  EXPECT_THAT(no_key.error().message, HasSubstr("private key"));
}

TEST(Certificate, ChainIsKeptAfterTheLeaf) {
  CertificateRequest ca_req;
  ca_req.subject = {{"CN", "Test CA"}};
  ca_req.is_ca = true;
  auto ca = *generate_certificate(ca_req);
  CertificateRequest leaf_req;
  leaf_req.subject = {{"CN", "leaf.test"}};
  leaf_req.dns_names = {"leaf.test"};
  leaf_req.issuer = ca.get();
  auto leaf = *generate_certificate(leaf_req);
  auto chained = Certificate::from_pem(leaf_pem(*leaf) + leaf_pem(*ca), key_pem(*leaf));
  ASSERT_TRUE(chained.has_value());
  EXPECT_EQ(sk_X509_num((*chained)->chain()), 1);
  EXPECT_EQ((*chained)->common_name(), "leaf.test");
}

TEST(Certificate, ReadFileOrContent) {
  auto inline_pem = read_file_or_content("-----BEGIN CERTIFICATE-----\nabc");
  ASSERT_TRUE(inline_pem.has_value());
  EXPECT_EQ(*inline_pem, "-----BEGIN CERTIFICATE-----\nabc");
  auto missing = read_file_or_content("/nonexistent/cert.pem");
  ASSERT_FALSE(missing.has_value());
  EXPECT_THAT(missing.error().message, HasSubstr("cannot read file \"/nonexistent/cert.pem\""));
}

// Table: server name -> expected certificate's common name ("" = no match, use the default).
TEST(CertificateStore, ExactThenSingleLabelWildcardElseNothing) {
  auto exact = make("exact", {"www.example.com"});
  auto wildcard = make("wildcard", {"*.example.com"});
  auto deep = make("deep", {"*.b.example.com"});
  auto ip = make("ip", {}, KeyType::kEcdsa, {"127.0.0.1"});
  auto def = make("default", {"default.invalid"});
  CertificateStore store({exact, wildcard, deep, ip}, def);
  struct Case {
    std::string name;
    std::string want;
  } cases[] = {
      {"www.example.com", "exact"},
      {"api.example.com", "wildcard"},
      {"x.b.example.com", "deep"}, // the closest parent only
      {"a.x.example.com", ""},     // a wildcard covers one label
      {"example.com", ""},         // nor the parent itself
      {"b.example.com", "wildcard"},
      {"127.0.0.1", "ip"},
      {"other.test", ""},
      {"", ""},
  };
  for (const auto& c : cases) {
    const Certificate* got = only(store.find(c.name));
    EXPECT_EQ(got ? got->common_name() : "", c.want) << c.name;
  }
  EXPECT_TRUE(store.has_ip_names());
  EXPECT_EQ(only(&store.default_set())->common_name(), "default");
  EXPECT_EQ(store.size(), 4u);
}

TEST(CertificateStore, AnyCaseAndTrailingDot) {
  auto exact = make("exact", {"www.example.com"});
  CertificateStore store({exact}, make("default", {}));
  EXPECT_NE(store.find_any_case("WWW.Example.Com."), nullptr);
  EXPECT_TRUE(store.covers("www.EXAMPLE.com"));
  EXPECT_FALSE(store.covers("example.com"));
  EXPECT_FALSE(store.has_ip_names());
  std::string out;
  EXPECT_FALSE(canonical_server_name("bad\x01name", out));
  EXPECT_FALSE(canonical_server_name(std::string(254, 'a'), out));
  EXPECT_TRUE(canonical_server_name("A.B.", out));
  EXPECT_EQ(out, "a.b");
}

TEST(CertificateStore, OnePerKeyTypeFirstWins) {
  auto rsa = make("rsa", {"a.test"}, KeyType::kRsa);
  auto ec1 = make("ec1", {"a.test"});
  auto ec2 = make("ec2", {"a.test"});
  CertificateStore store({rsa, ec1, ec2}, make("default", {}));
  const CertificateSet* set = store.find("a.test");
  ASSERT_NE(set, nullptr);
  ASSERT_EQ(set->certificates.size(), 2u);
  EXPECT_EQ(set->certificates[0]->common_name(), "rsa");
  EXPECT_EQ(set->certificates[1]->common_name(), "ec1");
}

} // namespace
} // namespace turnpike::tls

namespace turnpike::tls {
namespace {

TEST(CertificateStore, LikelySetIsTheOnlyCertificateElseTheDefault) {
  auto def = make("default", {});
  auto one = make("one", {"a.test", "b.test"});
  CertificateStore single({one}, def);
  ASSERT_EQ(single.likely_set().certificates.size(), 1u);
  EXPECT_EQ(single.likely_set().certificates[0], one);
  CertificateStore two({one, make("two", {"c.test"})}, def);
  EXPECT_EQ(two.likely_set().certificates[0], def);
  CertificateStore none({}, def);
  EXPECT_EQ(none.likely_set().certificates[0], def);
}

} // namespace
} // namespace turnpike::tls
