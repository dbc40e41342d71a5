#pragma once
// TLS options (Traefik's `tls.options.<name>`): the values as configured (OptionsSpec, a plain
// value decoded by the config layer) and their validated OpenSSL form (CompiledOptions).
//
// Defaults follow Traefik v3 and security.md: minimum TLS 1.2, maximum TLS 1.3; TLS 1.2 suites
// ECDHE-{ECDSA,RSA} with AES-GCM or CHACHA20-POLY1305 only; groups X25519, P-256, P-384, P-521;
// ALPN h2, http/1.1, acme-tls/1; session tickets on. Cipher suite names are Go's (IANA names,
// "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"), mapped to OpenSSL's; TLS 1.3 suites may be listed too
// (Go ignores them; Turnpike applies them). Pure values; any thread.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <openssl/ssl.h>

#include "common/result.h"

namespace turnpike::tls {

// The `default` options name: used by routers that name none, and for unknown server names.
inline constexpr std::string_view kDefaultOptionsName = "default";

struct ClientAuthSpec {
  std::vector<std::string> ca_files; // file paths or inline PEM
  std::string client_auth_type;      // one of the five Go names; "" = see compile_options
  bool operator==(const ClientAuthSpec&) const = default;
};

struct OptionsSpec {
  std::string min_version; // "VersionTLS10".."VersionTLS13"; "" = VersionTLS12
  std::string max_version; // "" = VersionTLS13
  std::vector<std::string> cipher_suites;
  std::vector<std::string> curve_preferences;
  ClientAuthSpec client_auth;
  bool sni_strict = false;
  std::optional<std::vector<std::string>> alpn_protocols; // absent = h2, http/1.1, acme-tls/1
  bool disable_session_tickets = false;
  bool prefer_server_cipher_suites = false; // deprecated in Traefik, accepted and ignored
  bool operator==(const OptionsSpec&) const = default;
};

enum class ClientAuthType {
  kNoClientCert,
  kRequestClientCert,         // ask, accept anything (not verified)
  kRequireAnyClientCert,      // require one, not verified
  kVerifyClientCertIfGiven,   // verify against caFiles when one is sent
  kRequireAndVerifyClientCert // require and verify against caFiles
};

// Shared, immutable X509 (CA certificates of clientAuth.caFiles).
using X509Ref = std::shared_ptr<X509>;

struct CompiledOptions {
  int min_version = TLS1_2_VERSION;
  int max_version = TLS1_3_VERSION;
  std::string cipher_list;  // OpenSSL names for TLS <= 1.2 ("ECDHE-RSA-AES128-GCM-SHA256:...")
  std::string ciphersuites; // TLS 1.3 ("TLS_AES_128_GCM_SHA256:...")
  std::vector<std::string> requested_ciphers; // the OpenSSL names asked for, to check availability
  std::vector<int> groups;                    // NIDs in preference order
  ClientAuthType client_auth = ClientAuthType::kNoClientCert;
  std::vector<X509Ref> client_cas;
  bool sni_strict = false;
  std::vector<std::string> alpn;
  bool disable_session_tickets = false;
  int security_level = 2; // 0 when TLS < 1.2 is allowed (SHA-1 handshake signatures)
};

// Validates and maps the options. Errors are "<option>: <problem>", e.g.
// `cipherSuites: unknown cipher suite "TLS_FOO"` or
// `clientAuth.clientAuthType: VerifyClientCertIfGiven requires clientAuth.caFiles`.
// Traefik's rule for client auth: caFiles alone mean RequireAndVerifyClientCert.
Result<CompiledOptions> compile_options(const OptionsSpec& spec);

// An OpenSSL protocol version constant as Traefik's access log writes it (TLS1_3_VERSION -> "1.3").
std::string_view version_name(int version);

} // namespace turnpike::tls
