#pragma once
// TLS facts of the client connection an exchange arrived on (Exchange::tls; null for plain
// connections). Filled once by the entrypoint after the handshake; the views and certificates
// stay valid for the connection's lifetime, so for every exchange on it. Worker-confined.

#include <span>
#include <string_view>

struct x509_st; // OpenSSL's X509

namespace turnpike::http {

struct TlsInfo {
  std::string_view server_name; // SNI as sent, lower-cased, no trailing dot; empty when none
  std::string_view version;     // "1.2" or "1.3" (Traefik's access-log form)
  std::string_view cipher;      // IANA/Go name, "TLS_AES_128_GCM_SHA256"
  std::string_view alpn;        // negotiated application protocol; empty when none
  // The client's certificates as it sent them, leaf first; empty without client authentication.
  // After a resumed handshake OpenSSL may only remember the leaf.
  std::span<x509_st* const> peer_certificates;
};

} // namespace turnpike::http
