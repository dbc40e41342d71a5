#include "tls/options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tls/certificate.h"
#include "tls/server_tls.h"
#include "tls/tls_manager.h"

namespace turnpike::tls {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(TlsOptions, TraefikDefaults) {
  auto o = compile_options(OptionsSpec{});
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->min_version, TLS1_2_VERSION);
  EXPECT_EQ(o->max_version, TLS1_3_VERSION);
  EXPECT_EQ(o->cipher_list, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                            "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                            "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
  EXPECT_THAT(o->alpn, ElementsAre("h2", "http/1.1", "acme-tls/1"));
  EXPECT_THAT(o->groups,
              ElementsAre(NID_X25519, NID_X9_62_prime256v1, NID_secp384r1, NID_secp521r1));
  EXPECT_EQ(o->client_auth, ClientAuthType::kNoClientCert);
  EXPECT_EQ(o->security_level, 2);
  EXPECT_FALSE(o->sni_strict);
}

TEST(TlsOptions, GoCipherNamesMapToOpenSsl) {
  OptionsSpec spec;
  spec.cipher_suites = {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", // Go's short alias
                        "TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_FALLBACK_SCSV",
                        "TLS_AES_256_GCM_SHA384"};
  auto o = compile_options(spec);
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_EQ(o->cipher_list, "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:AES128-SHA");
  EXPECT_EQ(o->ciphersuites, "TLS_AES_256_GCM_SHA384");
}

TEST(TlsOptions, OnlyTls13SuitesRaiseTheMinimum) {
  OptionsSpec spec;
  spec.cipher_suites = {"TLS_AES_128_GCM_SHA256"};
  auto o = compile_options(spec);
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->min_version, TLS1_3_VERSION);
  spec.max_version = "VersionTLS12";
  auto bad = compile_options(spec);
  ASSERT_FALSE(bad.has_value());
  EXPECT_THAT(bad.error().message, HasSubstr("only TLS 1.3 suites"));
}

TEST(TlsOptions, VersionsAndCurves) {
  OptionsSpec spec;
  spec.min_version = "VersionTLS10";
  spec.max_version = "VersionTLS12";
  spec.curve_preferences = {"CurveP384", "x25519"};
  auto o = compile_options(spec);
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->min_version, TLS1_VERSION);
  EXPECT_EQ(o->max_version, TLS1_2_VERSION);
  EXPECT_EQ(o->security_level, 0); // SHA-1 handshake signatures below TLS 1.2
  EXPECT_THAT(o->groups, ElementsAre(NID_secp384r1, NID_X25519));
}

// Table: a spec change -> the error it must produce.
TEST(TlsOptions, ErrorsNameTheOption) {
  struct Case {
    std::function<void(OptionsSpec&)> set;
    std::string error;
  } cases[] = {
      {[](OptionsSpec& s) { s.min_version = "VersionTLS14"; },
       "minVersion: unknown TLS version \"VersionTLS14\""},
      {[](OptionsSpec& s) { s.max_version = "1.2"; }, "maxVersion: unknown TLS version \"1.2\""},
      {[](OptionsSpec& s) {
         s.min_version = "VersionTLS13";
         s.max_version = "VersionTLS12";
       },
       "maxVersion: VersionTLS12 is lower than minVersion VersionTLS13"},
      {[](OptionsSpec& s) { s.cipher_suites = {"TLS_FOO"}; },
       "cipherSuites: unknown cipher suite \"TLS_FOO\""},
      {[](OptionsSpec& s) { s.curve_preferences = {"P-256"}; },
       "curvePreferences: invalid CurveID \"P-256\""},
      {[](OptionsSpec& s) { s.client_auth.client_auth_type = "Sometimes"; },
       "clientAuth.clientAuthType: unknown client auth type \"Sometimes\""},
      {[](OptionsSpec& s) { s.client_auth.client_auth_type = "RequireAndVerifyClientCert"; },
       "clientAuth.clientAuthType: RequireAndVerifyClientCert requires clientAuth.caFiles"},
      {[](OptionsSpec& s) { s.client_auth.client_auth_type = "VerifyClientCertIfGiven"; },
       "requires clientAuth.caFiles"},
      {[](OptionsSpec& s) { s.client_auth.ca_files = {"/nonexistent/ca.pem"}; },
       "clientAuth.caFiles: cannot read file \"/nonexistent/ca.pem\""},
      {[](OptionsSpec& s) { s.client_auth.ca_files = {"-----BEGIN CERTIFICATE-----\nnope\n"}; },
       "clientAuth.caFiles: invalid certificate(s) content"},
      {[](OptionsSpec& s) { s.alpn_protocols = std::vector<std::string>{""}; },
       "alpnProtocols: invalid protocol name"},
  };
  for (const auto& c : cases) {
    OptionsSpec spec;
    c.set(spec);
    auto o = compile_options(spec);
    ASSERT_FALSE(o.has_value()) << c.error;
    EXPECT_THAT(o.error().message, HasSubstr(c.error));
  }
}

TEST(TlsOptions, ClientAuthTypes) {
  CertificateRequest ca_req;
  ca_req.subject = {{"CN", "CA"}};
  ca_req.is_ca = true;
  auto ca = *generate_certificate(ca_req);
  OptionsSpec spec;
  spec.client_auth.ca_files = {leaf_pem(*ca)};
  auto o = compile_options(spec);
  ASSERT_TRUE(o.has_value());
  // Traefik: CA files alone mean RequireAndVerifyClientCert.
  EXPECT_EQ(o->client_auth, ClientAuthType::kRequireAndVerifyClientCert);
  EXPECT_EQ(o->client_cas.size(), 1u);
  for (auto [name, type] :
       {std::pair{"NoClientCert", ClientAuthType::kNoClientCert},
        {"RequestClientCert", ClientAuthType::kRequestClientCert},
        {"RequireAnyClientCert", ClientAuthType::kRequireAnyClientCert},
        {"VerifyClientCertIfGiven", ClientAuthType::kVerifyClientCertIfGiven},
        {"RequireAndVerifyClientCert", ClientAuthType::kRequireAndVerifyClientCert}}) {
    spec.client_auth.client_auth_type = name;
    auto t = compile_options(spec);
    ASSERT_TRUE(t.has_value()) << name;
    EXPECT_EQ(t->client_auth, type) << name;
  }
  OptionsSpec any;
  any.client_auth.client_auth_type = "RequireAnyClientCert"; // needs no CA
  EXPECT_TRUE(compile_options(any).has_value());
}

std::string wire(std::initializer_list<std::string_view> protos) {
  std::string out;
  for (auto p : protos) {
    out.push_back(static_cast<char>(p.size()));
    out.append(p);
  }
  return out;
}

// Go's negotiateALPN, table-driven: server list, client list -> selected ("" none, "!" refuse).
TEST(Alpn, GoNegotiationRules) {
  struct Case {
    std::vector<std::string> server;
    std::string client;
    std::string want;
  } cases[] = {
      {{"h2", "http/1.1"}, wire({"http/1.1", "h2"}), "h2"}, // server preference
      {{"http/1.1"}, wire({"h2", "http/1.1"}), "http/1.1"},
      {{"http/1.1"}, wire({"h2"}), "!"},
      {{"h2"}, wire({"http/1.1"}), ""}, // an HTTP/1.1 client on an h2-only server: no ALPN
      {{}, wire({"h2"}), ""},
      {{"http/1.1"}, "", ""},
      {{"http/1.1"}, wire({"ignore/http/1.1", "http/1.1"}), "http/1.1"},
  };
  for (const auto& c : cases) {
    auto got = negotiate_alpn(c.server, c.client);
    EXPECT_EQ(got ? std::string(*got) : "!", c.want);
  }
}

TEST(TlsManager, ReusesTheBuildWhenNothingChangedAndReportsBrokenOptions) {
  TlsManager manager;
  CertificateRequest req;
  req.subject = {{"CN", "a.test"}};
  req.dns_names = {"a.test"};
  auto cert = *generate_certificate(req);
  TlsInputs in;
  in.certificates.push_back({leaf_pem(*cert), key_pem(*cert), "tls.certificates[0]"});
  in.certificates.push_back({"/nonexistent.pem", "/nonexistent.key", "tls.certificates[1]"});
  OptionsSpec bad;
  bad.min_version = "VersionTLS99";
  OptionsSpec strict;
  strict.sni_strict = true;
  in.options = {{"bad@file", bad}, {"strict@file", strict}};
  std::vector<std::string> errors;
  auto first = manager.build(in, errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], HasSubstr("tls.certificates[1].certFile: cannot read file"));
  EXPECT_EQ(first->store().size(), 1u);
  EXPECT_NE(first->store().find("a.test"), nullptr);
  EXPECT_EQ(first->store().default_set().certificates.front()->common_name(),
            kDefaultCertificateName);
  ASSERT_EQ(first->options().size(), 3u); // "default" added first
  EXPECT_EQ(first->options()[0].name, "default");
  EXPECT_NE(first->options()[0].ctx, nullptr);
  EXPECT_THAT(first->options()[1].error, HasSubstr("minVersion"));
  EXPECT_EQ(first->options()[1].ctx, nullptr);
  EXPECT_EQ(first->find_options("strict@file"), 2);
  EXPECT_EQ(first->find_options("nope"), kBrokenOptions);

  errors.clear();
  auto second = manager.build(in, errors);
  EXPECT_EQ(second, first); // same contexts, same certificates

  in.options.pop_back();
  errors.clear();
  auto third = manager.build(in, errors);
  EXPECT_NE(third, first);
  // The generated default certificate is made once per process.
  EXPECT_EQ(third->store().default_set().certificates.front(),
            first->store().default_set().certificates.front());
}

TEST(TicketKeys, RotationKeepsTheNewestThree) {
  TicketKeys keys;
  auto k0 = keys.current()->front().name;
  keys.rotate();
  keys.rotate();
  keys.rotate();
  auto set = keys.current();
  ASSERT_EQ(set->size(), kTicketKeysKept);
  for (const auto& k : *set)
    EXPECT_NE(k.name, k0);
}

} // namespace
} // namespace turnpike::tls

namespace turnpike::tls {
namespace {

TEST(EntryPointTls, HostOptionsExactThenWildcardThenDefault) {
  TlsManager manager;
  TlsInputs in;
  in.options = {{"a@file", OptionsSpec{}}, {"b@file", OptionsSpec{}}};
  std::vector<std::string> errors;
  auto server = manager.build(in, errors);
  EntryPointTls ep(server, "websecure");
  int a = server->find_options("a@file");
  int b = server->find_options("b@file");
  ep.set_host_options("www.example.com", a);
  ep.set_host_options("*.example.com", b);
  ep.set_host_options("broken.test", kBrokenOptions);
  EXPECT_EQ(ep.options_for("www.example.com"), a);
  EXPECT_EQ(ep.options_for("api.example.com"), b);
  EXPECT_EQ(ep.options_for("x.api.example.com"), server->default_options());
  EXPECT_EQ(ep.options_for("broken.test"), kBrokenOptions);
  EXPECT_EQ(ep.options_for(""), server->default_options());
  EXPECT_EQ(server->options()[static_cast<size_t>(server->default_options())].name, "default");
}

} // namespace
} // namespace turnpike::tls
