#include "tls/names.h"

#include <array>
#include <utility>

#include <openssl/tls1.h>

namespace turnpike::tls {

std::optional<int> version_from_name(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, int>, 4> kVersions{{
      {"VersionTLS10", TLS1_VERSION},
      {"VersionTLS11", TLS1_1_VERSION},
      {"VersionTLS12", TLS1_2_VERSION},
      {"VersionTLS13", TLS1_3_VERSION},
  }};
  for (const auto& [n, v] : kVersions)
    if (n == name)
      return v;
  return std::nullopt;
}

std::optional<CipherSuiteName> cipher_suite_from_name(std::string_view name) {
  struct Entry {
    std::string_view go;
    std::string_view openssl;
    bool tls13;
  };
  // Go's crypto/tls cipher suite constants (cipher_suites.go), in Go's order.
  static constexpr std::array<Entry, 27> kSuites{{
      {"TLS_RSA_WITH_RC4_128_SHA", "RC4-SHA", false},
      {"TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA", false},
      {"TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA", false},
      {"TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA", false},
      {"TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256", false},
      {"TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256", false},
      {"TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384", false},
      {"TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", "ECDHE-ECDSA-RC4-SHA", false},
      {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA", false},
      {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA", false},
      {"TLS_ECDHE_RSA_WITH_RC4_128_SHA", "ECDHE-RSA-RC4-SHA", false},
      {"TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "ECDHE-RSA-DES-CBC3-SHA", false},
      {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA", false},
      {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA", false},
      {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256", false},
      {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256", false},
      {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256", false},
      {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256", false},
      {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384", false},
      {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384", false},
      {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305", false},
      {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305", false},
      {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "ECDHE-RSA-CHACHA20-POLY1305", false},
      {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305", false},
      {"TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256", true},
      {"TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384", true},
      {"TLS_CHACHA20_POLY1305_SHA256", "TLS_CHACHA20_POLY1305_SHA256", true},
  }};
  for (const auto& e : kSuites)
    if (e.go == name)
      return CipherSuiteName{e.openssl, e.tls13};
  return std::nullopt;
}

} // namespace turnpike::tls
