#pragma once
// The certificates one TLS store serves, indexed for the handshake: which certificate(s) answer a
// server name (SNI).
//
// Selection, as Traefik's store: the exact name first (a certificate's common name, DNS SANs and
// IP SANs, lower-cased), then the single-label wildcard "*.<parent>" (a.b.example.com matches
// *.b.example.com, never *.example.com); no match -> nullptr and the caller uses the default
// certificate (or refuses with sniStrict). A name may be served by several certificates of
// different key types (RSA and ECDSA): the set holds one per key type and OpenSSL picks the one
// the client supports. Among certificates of the same key type for the same name the first one
// given wins.
//
// Immutable once built (control thread); lookups are lock-free from any worker.

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tls/certificate.h"

namespace turnpike::tls {

// The certificates that answer one name, at most one per key type, in the order given.
struct CertificateSet {
  std::vector<CertificatePtr> certificates;
  void add(const CertificatePtr& cert); // ignored when the key type is already present
};

// Hash for string keys looked up by string_view without building a std::string.
struct TransparentStringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class CertificateStore {
public:
  CertificateStore() = default;
  // `certificates` in priority order; `default_certificate` must not be null.
  CertificateStore(const std::vector<CertificatePtr>& certificates,
                   CertificatePtr default_certificate);

  // The set for a server name (already lower-cased, no trailing dot), or nullptr.
  const CertificateSet* find(std::string_view server_name) const;
  // find() for a name in any case, with a trailing dot allowed (the SNI as sent).
  const CertificateSet* find_any_case(std::string_view server_name) const;
  const CertificateSet& default_set() const { return default_; }
  // The set most handshakes are expected to use: the only one when every indexed name has the
  // same certificates (a deployment with one certificate), else the default set. The TLS
  // contexts hold it ready, so handshakes that select it install no certificate.
  const CertificateSet& likely_set() const { return has_sole_ ? sole_ : default_; }
  // True when some certificate is indexed under an IP address (then a handshake without SNI
  // looks up the local address, as Traefik does).
  bool has_ip_names() const { return has_ip_names_; }
  // Whether a certificate covers `domain` (exact or wildcard); ACME skips such domains.
  bool covers(std::string_view domain) const { return find_any_case(domain) != nullptr; }
  size_t size() const { return count_; }

private:
  std::unordered_map<std::string, CertificateSet, TransparentStringHash, std::equal_to<>> by_name_;
  CertificateSet default_;
  CertificateSet sole_;
  bool has_sole_ = false;
  bool has_ip_names_ = false;
  size_t count_ = 0;
};

// Lower-cases `name` and drops one trailing dot into `out` (reused buffer); false when the name
// is longer than a DNS name can be (253) or contains bytes outside printable ASCII.
bool canonical_server_name(std::string_view name, std::string& out);

} // namespace turnpike::tls
