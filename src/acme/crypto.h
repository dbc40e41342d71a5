#pragma once
// The cryptography an ACME client needs, on OpenSSL 3: private keys (generation, PEM/DER in the
// encodings lego and Traefik write to acme.json), JWK and its RFC 7638 thumbprint, JWS signatures
// (RS256, ES256, ES384; ECDSA as the fixed-size r||s of RFC 7518), HMAC-SHA256 for external
// account binding, CSRs, and reading the facts the resolver needs from issued certificates.
//
// Pure functions and value types; thread-safe (OpenSSL 3 objects are not shared mutably).

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace turnpike::acme {

// Traefik's keyType values for certificate keys.
enum class KeyType { kEC256, kEC384, kRSA2048, kRSA4096, kRSA8192 };

// "EC256", "EC384", "RSA2048", "RSA4096", "RSA8192" (case-insensitive); nullopt otherwise.
std::optional<KeyType> parse_key_type(std::string_view text);
std::string_view key_type_name(KeyType type);

class PrivateKey {
 public:
  PrivateKey() = default;
  PrivateKey(PrivateKey&&) noexcept = default;
  PrivateKey& operator=(PrivateKey&&) noexcept = default;
  PrivateKey(const PrivateKey& other);  // shares the (immutable) OpenSSL key
  PrivateKey& operator=(const PrivateKey& other);

  static Result<PrivateKey> generate(KeyType type);
  // PEM: PKCS#8, PKCS#1 ("RSA PRIVATE KEY") or SEC1 ("EC PRIVATE KEY").
  static Result<PrivateKey> from_pem(std::string_view pem);
  // DER: PKCS#1 RSA (Traefik's account key), SEC1 EC or PKCS#8.
  static Result<PrivateKey> from_der(std::string_view der);

  explicit operator bool() const { return key_ != nullptr; }
  EVP_PKEY* get() const { return key_.get(); }
  bool is_rsa() const;

  // Traditional PEM as lego writes certificate keys ("RSA PRIVATE KEY" / "EC PRIVATE KEY").
  std::string to_pem() const;
  // PKCS#1 for RSA, SEC1 for EC: Traefik's Account.PrivateKey bytes.
  std::string to_der() const;

  // The public JWK (RFC 7517) with only the required members, in lexicographic order, so that
  // its compact serialisation is the RFC 7638 thumbprint input.
  nlohmann::json jwk() const;
  // base64url(SHA-256(canonical JWK)).
  std::string thumbprint() const;
  // "RS256", "ES256" or "ES384".
  std::string_view jws_alg() const;
  // The JWS signature of `data` (RSA PKCS#1 v1.5 SHA-256; ECDSA r||s with the curve's hash).
  Result<std::string> sign(std::string_view data) const;

 private:
  struct Free {
    void operator()(EVP_PKEY* k) const;
  };
  explicit PrivateKey(EVP_PKEY* k) : key_(k, Free{}) {}
  std::shared_ptr<EVP_PKEY> key_;
};

std::string base64url(std::string_view data);  // no padding
std::optional<std::string> base64url_decode(std::string_view text);  // padding optional
std::string base64(std::string_view data);  // standard alphabet, padded (Go's []byte in JSON)
std::optional<std::string> base64_decode(std::string_view text);
std::string sha256(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);

// A DER PKCS#10 request for `domains` (the first is the subject CN unless `common_name` is false;
// all are DNS SANs), optionally with email SANs (Traefik's emailAddresses).
Result<std::string> make_csr(const PrivateKey& key, const std::vector<std::string>& domains,
                             bool common_name, const std::vector<std::string>& emails = {});

// What the resolver reads from an issued certificate (the leaf of a PEM chain).
struct CertificateInfo {
  std::vector<std::string> dns_names;  // SANs (or the CN when there are none), lower-cased
  std::string common_name;
  std::time_t not_before = 0;
  std::time_t not_after = 0;
  std::string serial_hex;  // lower-case, no leading zeros beyond one byte
  std::string issuer;      // one-line issuer DN
  // RFC 9773 certificate identifier: base64url(AKI keyIdentifier) "." base64url(serial DER
  // content); empty when the certificate has no AKI.
  std::string ari_id;
};
Result<CertificateInfo> inspect_certificate(std::string_view pem_chain);
// The PEM blocks of a chain, in order.
std::vector<std::string> split_pem_chain(std::string_view pem_chain);
// The issuer DN (one line) of the last certificate of a chain: the chain's top, which
// preferredChain is matched against (as lego: the issuer common name of the topmost cert).
std::string chain_top_issuer_cn(std::string_view pem_chain);
// True when `key` is the private key of the chain's leaf.
bool key_matches_certificate(const PrivateKey& key, std::string_view pem_chain);

// The TLS-ALPN-01 certificate (RFC 8737): self-signed for `domain`, with the critical
// acmeIdentifier extension holding SHA-256(key authorization). PEM certificate and key.
struct PemPair {
  std::string cert;
  std::string key;
};
Result<PemPair> make_tls_alpn_certificate(std::string_view domain, std::string_view key_authorization);

// The first error in OpenSSL's thread-local queue as text (clears the queue).
std::string openssl_error_text(std::string_view fallback);

}  // namespace turnpike::acme
