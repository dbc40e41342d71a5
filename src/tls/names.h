#pragma once
// Traefik's TLS vocabulary (Go's crypto/tls constant names, as written in tls.options and
// serversTransports) mapped to OpenSSL's: one table for both, so that a name accepted in one
// place is accepted in the other. Pure lookups over static tables; any thread.

#include <optional>
#include <string_view>

namespace turnpike::tls {

// "VersionTLS10" .. "VersionTLS13" -> TLS1_VERSION .. TLS1_3_VERSION; nullopt for anything else
// (exact names, as Traefik's map).
std::optional<int> version_from_name(std::string_view go_name);

struct CipherSuiteName {
  std::string_view openssl; // OpenSSL's name ("ECDHE-RSA-AES128-GCM-SHA256")
  bool tls13 = false;       // a TLS 1.3 suite (configured with SSL_CTX_set_ciphersuites)
};

// Go's cipher suite constant ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", including Go's aliases
// without "_SHA256" for ChaCha20) -> OpenSSL's name; nullopt for an unknown name.
std::optional<CipherSuiteName> cipher_suite_from_name(std::string_view go_name);

} // namespace turnpike::tls
