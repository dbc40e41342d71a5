#include "middleware/pass_tls_client_cert.h"

#include <gtest/gtest.h>

#include <openssl/x509.h>

#include "common/strings.h"
#include "harness.h"
#include "tls/certificate.h"

namespace turnpike::middleware {
namespace {

using testing::build;
using testing::make_request;

struct Pki {
  tls::CertificatePtr ca;
  tls::CertificatePtr client;
};

Pki make_pki() {
  tls::CertificateRequest ca;
  ca.subject = {{"C", "FR"}, {"O", "Root Org"}, {"CN", "Root CA"}};
  ca.is_ca = true;
  ca.serial = 1;
  Pki p;
  p.ca = *tls::generate_certificate(ca);
  tls::CertificateRequest c;
  c.subject = {{"DC", "org"}, {"DC", "example"},        {"C", "FR"},         {"C", "US"},
               {"ST", "Ile"}, {"L", "Paris"},           {"O", "Acme"},       {"OU", "Dev"},
               {"OU", "Ops"}, {"serialNumber", "S-42"}, {"CN", "client one"}};
  c.dns_names = {"a.test", "b.test"};
  c.emails = {"me@example.com"};
  c.ip_addresses = {"10.0.0.1", "2001:db8::1"};
  c.uris = {"spiffe://example/x"};
  c.client_auth = true;
  c.serial = 123456789;
  c.issuer = p.ca.get();
  p.client = *tls::generate_certificate(c);
  return p;
}

long long epoch(const ASN1_TIME* t) {
  struct tm tm {};
  ASN1_TIME_to_tm(t, &tm);
  return static_cast<long long>(timegm(&tm));
}

// Serves one request through the middleware as if it came over TLS with `certs`.
std::optional<http::Request> through(std::string_view yaml, std::vector<x509_st*> certs,
                                     bool over_tls = true) {
  auto b = build("passTLSClientCert", yaml);
  EXPECT_TRUE(b) << b.error_text();
  if (!b)
    return std::nullopt;
  http::Request req = make_request("GET", "/");
  req.headers.add("X-Forwarded-Tls-Client-Cert", "from-a-trusted-forwarder");
  testing::MemoryBody body;
  testing::RecordingWriter writer;
  http::Exchange ex = testing::make_exchange(req, body, writer);
  http::TlsInfo info;
  info.peer_certificates = certs;
  if (over_tls)
    ex.tls = &info;
  testing::run(b.handler->handle(ex));
  return b.terminal->seen;
}

TEST(PassTlsClientCert, PemIsTheBase64DerOfEachCertificate) {
  auto pki = make_pki();
  auto seen = through("pem: true", {pki.client->leaf(), pki.ca->leaf()});
  ASSERT_TRUE(seen);
  auto body = [](const tls::Certificate& c) {
    std::string pem = tls::leaf_pem(c), out;
    for (auto& line : split(pem, '\n'))
      if (!line.empty() && line.find("-----") == std::string_view::npos)
        out.append(line);
    return out;
  };
  EXPECT_EQ(seen->headers.get("X-Forwarded-Tls-Client-Cert").value_or(""),
            body(*pki.client) + "," + body(*pki.ca));
  EXPECT_FALSE(seen->headers.has("X-Forwarded-Tls-Client-Cert-Info"));
}

TEST(PassTlsClientCert, InfoInTraefiksFormat) {
  auto pki = make_pki();
  X509* leaf = pki.client->leaf();
  std::string want =
      "Subject=\"DC=org,DC=example,C=FR,C=US,ST=Ile,L=Paris,O=Acme,OU=Dev,OU=Ops,SN=S-42,"
      "CN=client one\";Issuer=\"C=FR,O=Root Org,CN=Root CA\";SerialNumber=\"123456789\";"
      "NB=\"" +
      std::to_string(epoch(X509_get0_notBefore(leaf))) + "\";NA=\"" +
      std::to_string(epoch(X509_get0_notAfter(leaf))) +
      "\";SAN=\"a.test,b.test,me@example.com,10.0.0.1,2001:db8::1,spiffe://example/x\"";
  ClientCertInfoOptions all;
  all.not_after = all.not_before = all.sans = all.serial_number = true;
  all.subject = DistinguishedNameFields{true, true, true, true, true, true, true, true};
  all.issuer = DistinguishedNameFields{true, true, true, true, false, true, true, true};
  std::vector<x509_st*> one{leaf};
  EXPECT_EQ(client_certs_info(one, all), want);

  auto seen = through(
      "info:\n  notAfter: true\n  notBefore: true\n  sans: true\n  serialNumber: true\n"
      "  subject: {country: true, province: true, locality: true, organization: true,"
      " organizationalUnit: true, commonName: true, serialNumber: true, domainComponent: true}\n"
      "  issuer: {country: true, province: true, locality: true, organization: true,"
      " commonName: true, serialNumber: true, domainComponent: true}\n",
      {leaf});
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->headers.get("X-Forwarded-Tls-Client-Cert-Info").value_or(""), query_escape(want));
  // The PEM header a trusted forwarder sent is left alone when pem is off.
  EXPECT_EQ(seen->headers.get("X-Forwarded-Tls-Client-Cert").value_or(""),
            "from-a-trusted-forwarder");
}

TEST(PassTlsClientCert, SelectedFieldsOnlyAndCertificatesSeparatedByComma) {
  auto pki = make_pki();
  ClientCertInfoOptions o;
  o.subject = DistinguishedNameFields{};
  o.subject->common_name = true;
  o.issuer = DistinguishedNameFields{}; // nothing selected: no Issuer field
  std::vector<x509_st*> two{pki.client->leaf(), pki.ca->leaf()};
  EXPECT_EQ(client_certs_info(two, o), "Subject=\"CN=client one\",Subject=\"CN=Root CA\"");
}

TEST(PassTlsClientCert, NoClientCertificateLeavesTheRequestAlone) {
  auto seen = through("pem: true\ninfo: {sans: true}", {});
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->headers.get("X-Forwarded-Tls-Client-Cert").value_or(""),
            "from-a-trusted-forwarder");
  EXPECT_FALSE(seen->headers.has("X-Forwarded-Tls-Client-Cert-Info"));
  auto plain = through("pem: true", {}, /*over_tls=*/false);
  ASSERT_TRUE(plain);
}

TEST(PassTlsClientCert, QueryEscapeIsGos) {
  EXPECT_EQ(query_escape("Subject=\"CN=a b\";x,y~_-."), "Subject%3D%22CN%3Da+b%22%3Bx%2Cy~_-.");
}

TEST(PassTlsClientCert, DecodeErrors) {
  testing::expect_decode_error("passTLSClientCert", "pem: maybe",
                               "http.middlewares.test@file.passTLSClientCert.pem: ");
  testing::expect_decode_error("passTLSClientCert", "info: {subject: {organizationalUnits: true}}",
                               "passTLSClientCert.info.subject.organizationalUnits: unknown key");
  testing::expect_decode_error("passTLSClientCert", "info: {issuer: {organizationalUnit: true}}",
                               "passTLSClientCert.info.issuer.organizationalUnit: unknown key");
}

} // namespace
} // namespace turnpike::middleware
