#pragma once
// Traefik's TLS vocabulary (Go's crypto/tls constant names, as written in serversTransports and
// tls.options) mapped to OpenSSL's. Pure lookups over static tables; any thread.

#include <optional>
#include <string_view>

namespace turnpike::service {

// "VersionTLS10" .. "VersionTLS13" -> TLS1_VERSION .. TLS1_3_VERSION; nullopt for anything else.
std::optional<int> tls_version_from_name(std::string_view go_name);

struct CipherSuiteName {
  std::string_view openssl;  // OpenSSL's name ("ECDHE-RSA-AES128-GCM-SHA256")
  bool tls13 = false;        // a TLS 1.3 suite (configured with SSL_CTX_set_ciphersuites)
};

// Go's cipher suite constant ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", including Go's aliases
// without "_SHA256" for ChaCha20) -> OpenSSL's name; nullopt for an unknown name.
std::optional<CipherSuiteName> cipher_suite_from_name(std::string_view go_name);

}  // namespace turnpike::service
