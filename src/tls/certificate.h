#pragma once
// A server certificate as the TLS layer serves it: the leaf, its chain and its private key, parsed
// once (OpenSSL objects), plus the names it is indexed under in the certificate store.
//
// Immutable once built and shared read-only by every worker (handshakes on any thread hand the
// OpenSSL objects to SSL_use_cert_and_key, which takes its own references). Built on the control
// thread (configuration, ACME) or in tests.

#include <chrono>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <openssl/ssl.h>

#include "common/result.h"

namespace turnpike::tls {

enum class KeyType { kRsa, kEcdsa, kEd25519, kOther };

class Certificate;
using CertificatePtr = std::shared_ptr<const Certificate>;

class Certificate {
public:
  ~Certificate();
  Certificate(const Certificate&) = delete;
  Certificate& operator=(const Certificate&) = delete;

  // Parses a PEM chain (leaf first, then intermediates) and the PEM private key of the leaf
  // (PKCS#8, PKCS#1 or SEC1). Errors say what is wrong ("no certificate", "the private key does
  // not match the certificate").
  static Result<CertificatePtr> from_pem(std::string_view cert_pem, std::string_view key_pem);

  X509* leaf() const { return leaf_; }
  STACK_OF(X509) * chain() const { return chain_; } // intermediates; may be empty, never null
  EVP_PKEY* key() const { return key_; }
  KeyType key_type() const { return key_type_; }

  // The names the store indexes the certificate under, as Traefik does: the subject's common
  // name, the DNS SANs and the IP SANs, lower-cased, without duplicates, in that order.
  const std::vector<std::string>& names() const { return names_; }
  const std::string& common_name() const { return common_name_; }
  std::time_t not_after() const { return not_after_; }
  // Serial number in upper-case hex (for logs and tests).
  std::string serial_hex() const;

private:
  Certificate() = default;
  void index_names();

  X509* leaf_ = nullptr;
  STACK_OF(X509) * chain_ = nullptr;
  EVP_PKEY* key_ = nullptr;
  KeyType key_type_ = KeyType::kOther;
  std::vector<std::string> names_;
  std::string common_name_;
  std::time_t not_after_ = 0;
};

// What generate_certificate() builds. Used for the generated default certificate and by tests
// (CAs, server and client certificates).
struct CertificateRequest {
  // Subject attributes in order, by OpenSSL short name: {"C","FR"}, {"O","Acme"}, {"CN","x"}.
  std::vector<std::pair<std::string, std::string>> subject;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  std::vector<std::string> emails;
  std::vector<std::string> uris;
  std::chrono::seconds not_before_offset{-3600}; // relative to now
  std::chrono::seconds validity{std::chrono::hours(24 * 365)};
  KeyType key_type = KeyType::kEcdsa; // kRsa (2048 bits) or kEcdsa (P-256)
  bool is_ca = false;
  bool client_auth = false; // extendedKeyUsage clientAuth instead of serverAuth
  long serial = 0;          // 0 = random
  // Signs with this CA (its leaf and key) instead of self-signing.
  const Certificate* issuer = nullptr;
};

Result<CertificatePtr> generate_certificate(const CertificateRequest& request);

// PEM encodings of a certificate's leaf and key (tests, ACME storage).
std::string leaf_pem(const Certificate& cert);
std::string key_pem(const Certificate& cert);

// Traefik's "file or content" values (certFile, keyFile, caFiles): inline PEM when the value
// contains "-----BEGIN", else a file path that is read. Errors name the file.
Result<std::string> read_file_or_content(std::string_view value);

// An ASN.1 string as UTF-8 (certificate names); "" when it cannot be converted.
std::string asn1_utf8(const ASN1_STRING* s);
// A 4- or 16-byte iPAddress SAN as Go prints it ("10.0.0.1", "2001:db8::1").
std::string ip_address_text(const ASN1_OCTET_STRING* ip);

// The first error of OpenSSL's thread-local queue as text (and clears the queue); `fallback`
// when the queue is empty.
std::string openssl_error(std::string_view fallback = "unknown OpenSSL error");

} // namespace turnpike::tls
