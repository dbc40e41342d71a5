#include "tls/options.h"

#include <array>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "common/strings.h"
#include "tls/certificate.h"
#include "tls/names.h"

namespace turnpike::tls {
namespace {

// security.md: ECDHE + AEAD only for TLS 1.2.
constexpr std::string_view kDefaultCipherList =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr std::string_view kDefaultCipherSuites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

struct CurveName {
  std::string_view name;
  int nid;
};
// Traefik's names (Go constants and the SEC names it accepts too).
constexpr std::array<CurveName, 8> kCurves = {{
    {"CurveP256", NID_X9_62_prime256v1},
    {"secp256r1", NID_X9_62_prime256v1},
    {"CurveP384", NID_secp384r1},
    {"secp384r1", NID_secp384r1},
    {"CurveP521", NID_secp521r1},
    {"secp521r1", NID_secp521r1},
    {"X25519", NID_X25519},
    {"x25519", NID_X25519},
}};

struct ClientAuthName {
  std::string_view name;
  ClientAuthType type;
};
constexpr std::array<ClientAuthName, 5> kClientAuthTypes = {{
    {"NoClientCert", ClientAuthType::kNoClientCert},
    {"RequestClientCert", ClientAuthType::kRequestClientCert},
    {"RequireAnyClientCert", ClientAuthType::kRequireAnyClientCert},
    {"VerifyClientCertIfGiven", ClientAuthType::kVerifyClientCertIfGiven},
    {"RequireAndVerifyClientCert", ClientAuthType::kRequireAndVerifyClientCert},
}};

void append_list(std::string& list, std::string_view item) {
  if (!list.empty())
    list.push_back(':');
  list.append(item);
}

Result<void> compile_ciphers(const OptionsSpec& spec, CompiledOptions& out) {
  out.cipher_list = std::string(kDefaultCipherList);
  out.ciphersuites = std::string(kDefaultCipherSuites);
  if (spec.cipher_suites.empty())
    return {};
  std::string list12, list13;
  for (const auto& raw : spec.cipher_suites) {
    std::string name(trim(raw));
    if (name == "TLS_FALLBACK_SCSV")
      continue; // a signalling value; OpenSSL handles it
    const auto suite = cipher_suite_from_name(name);
    if (!suite)
      return make_error("cipherSuites: unknown cipher suite \"" + std::string(raw) + "\"");
    if (suite->tls13) {
      append_list(list13, suite->openssl);
      continue;
    }
    append_list(list12, suite->openssl);
    out.requested_ciphers.emplace_back(suite->openssl);
  }
  if (!list13.empty())
    out.ciphersuites = list13;
  if (list12.empty()) {
    // Only TLS 1.3 suites listed: TLS 1.2 has no cipher left, so it cannot be negotiated.
    out.min_version = TLS1_3_VERSION;
    out.cipher_list.clear();
  } else {
    out.cipher_list = list12;
  }
  return {};
}

Result<void> compile_client_auth(const ClientAuthSpec& spec, CompiledOptions& out) {
  for (const auto& ca : spec.ca_files) {
    auto text = read_file_or_content(ca);
    if (!text) {
      // Not Error::prefixed here: it trips a GCC 12 -Warray-bounds false positive.
      std::string message = "clientAuth.caFiles: ";
      message += text.error().message;
      return make_error(std::move(message));
    }
    BIO* bio = BIO_new_mem_buf(text->data(), static_cast<int>(text->size()));
    size_t before = out.client_cas.size();
    while (X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr))
      out.client_cas.emplace_back(x, X509_free);
    BIO_free(bio);
    ERR_clear_error();
    if (out.client_cas.size() == before) {
      bool inline_pem = ca.find("-----BEGIN") != std::string::npos;
      return make_error("clientAuth.caFiles: invalid certificate(s) " +
                        (inline_pem ? std::string("content") : "in " + ca));
    }
  }
  // Traefik: CA files alone require and verify a client certificate.
  if (!out.client_cas.empty())
    out.client_auth = ClientAuthType::kRequireAndVerifyClientCert;
  if (spec.client_auth_type.empty())
    return {};
  bool found = false;
  for (const auto& t : kClientAuthTypes) {
    if (iequals(t.name, spec.client_auth_type)) {
      out.client_auth = t.type;
      found = true;
    }
  }
  if (!found)
    return make_error("clientAuth.clientAuthType: unknown client auth type \"" +
                      spec.client_auth_type +
                      "\" (NoClientCert, RequestClientCert, RequireAnyClientCert, "
                      "VerifyClientCertIfGiven, RequireAndVerifyClientCert)");
  bool verifies = out.client_auth == ClientAuthType::kVerifyClientCertIfGiven ||
                  out.client_auth == ClientAuthType::kRequireAndVerifyClientCert;
  if (verifies && out.client_cas.empty())
    return make_error("clientAuth.clientAuthType: " + spec.client_auth_type +
                      " requires clientAuth.caFiles");
  return {};
}

} // namespace

Result<CompiledOptions> compile_options(const OptionsSpec& spec) {
  CompiledOptions out;
  if (!spec.min_version.empty()) {
    auto v = version_from_name(spec.min_version);
    if (!v)
      return make_error("minVersion: unknown TLS version \"" + spec.min_version +
                        "\" (VersionTLS10, VersionTLS11, VersionTLS12, VersionTLS13)");
    out.min_version = *v;
  }
  if (!spec.max_version.empty()) {
    auto v = version_from_name(spec.max_version);
    if (!v)
      return make_error("maxVersion: unknown TLS version \"" + spec.max_version +
                        "\" (VersionTLS10, VersionTLS11, VersionTLS12, VersionTLS13)");
    out.max_version = *v;
  }
  if (out.max_version < out.min_version)
    return make_error("maxVersion: " + spec.max_version + " is lower than minVersion " +
                      (spec.min_version.empty() ? "VersionTLS12 (the default)" : spec.min_version));
  auto c = compile_ciphers(spec, out);
  if (!c)
    return c.error();
  if (out.max_version < out.min_version)
    return make_error("cipherSuites: only TLS 1.3 suites are listed but maxVersion is " +
                      spec.max_version);
  // OpenSSL 3 refuses SHA-1 handshake signatures (all TLS < 1.2 can use) above level 0.
  out.security_level = out.min_version < TLS1_2_VERSION ? 0 : 2;

  if (spec.curve_preferences.empty()) {
    out.groups = {NID_X25519, NID_X9_62_prime256v1, NID_secp384r1, NID_secp521r1};
  } else {
    for (const auto& name : spec.curve_preferences) {
      int nid = 0;
      for (const auto& cv : kCurves)
        if (cv.name == trim(name))
          nid = cv.nid;
      if (nid == 0)
        return make_error("curvePreferences: invalid CurveID \"" + name +
                          "\" (CurveP256, CurveP384, CurveP521, X25519)");
      out.groups.push_back(nid);
    }
  }
  auto ca = compile_client_auth(spec.client_auth, out);
  if (!ca)
    return ca.error();
  out.sni_strict = spec.sni_strict;
  out.alpn = spec.alpn_protocols ? *spec.alpn_protocols
                                 : std::vector<std::string>{"h2", "http/1.1", "acme-tls/1"};
  for (const auto& p : out.alpn)
    if (p.empty() || p.size() > 255)
      return make_error("alpnProtocols: invalid protocol name \"" + p + "\"");
  out.disable_session_tickets = spec.disable_session_tickets;
  return out;
}

std::string_view version_name(int version) {
  switch (version) {
  case TLS1_VERSION:
    return "1.0";
  case TLS1_1_VERSION:
    return "1.1";
  case TLS1_2_VERSION:
    return "1.2";
  case TLS1_3_VERSION:
    return "1.3";
  default:
    return "unknown";
  }
}

} // namespace turnpike::tls
