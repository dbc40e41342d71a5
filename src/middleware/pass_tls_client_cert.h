#pragma once
// passTLSClientCert (Traefik's PassTLSClientCert): hands the client certificates of a mutual-TLS
// connection to the upstream in request headers, in Traefik's exact formats.
//
//   http.middlewares.<name>.passTLSClientCert:
//     pem: true             # X-Forwarded-Tls-Client-Cert: each certificate's DER in base64 (the
//                           # PEM body without delimiters and newlines), certificates joined by ","
//     info:                 # X-Forwarded-Tls-Client-Cert-Info, URL-query-escaped:
//       notAfter: true      #   per certificate `Subject="...";Issuer="...";SerialNumber="...";
//       notBefore: true     #   NB="<unix>";NA="<unix>";SAN="dns,email,ip,uri"` (only the
//       sans: true          #   selected fields, in this order), certificates joined by ","
//       serialNumber: true
//       subject: {country, province, locality, organization, organizationalUnit, commonName,
//                 serialNumber, domainComponent}
//       issuer:  {country, province, locality, organization, commonName, serialNumber,
//                 domainComponent}
//
// A distinguished name lists DC=, C=, ST=, L=, O=, OU= (subject only), SN=, CN= in that order,
// comma-separated. The certificates are the ones the client sent (leaf first), whatever the TLS
// options' clientAuthType; a request without client certificates passes unchanged (the headers
// a client sent itself were already removed unless it is a trusted forwarder).
// Immutable; shared by every worker.

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "middleware/local_reply.h" // query_escape
#include "middleware/middleware.h"

struct x509_st;

namespace turnpike::middleware {

struct DistinguishedNameFields {
  bool country = false;
  bool province = false;
  bool locality = false;
  bool organization = false;
  bool organizational_unit = false; // subject only
  bool common_name = false;
  bool serial_number = false;
  bool domain_component = false;
};

struct ClientCertInfoOptions {
  bool not_after = false;
  bool not_before = false;
  bool sans = false;
  bool serial_number = false;
  std::optional<DistinguishedNameFields> subject;
  std::optional<DistinguishedNameFields> issuer;
};

// Header values, as functions for the tests: the PEM form and the (unescaped) info form.
std::string client_certs_pem(std::span<x509_st* const> certs);
std::string client_certs_info(std::span<x509_st* const> certs,
                              const ClientCertInfoOptions& options);

class PassTlsClientCert final : public http::Handler {
public:
  PassTlsClientCert(bool pem, std::optional<ClientCertInfoOptions> info, HandlerPtr next);
  http::Task<void> handle(http::Exchange& ex) const override;

private:
  bool pem_;
  std::optional<ClientCertInfoOptions> info_;
  HandlerPtr next_;
};

// Factory registered as "passTLSClientCert".
Wrap build_pass_tls_client_cert(config::Decoder& dec, BuildContext& ctx);

} // namespace turnpike::middleware
