#pragma once
// The compiled TLS server state of one configuration snapshot, and the per-connection handshake
// logic (SNI -> TLS options and certificate, ALPN).
//
// ServerTls: the default certificate store and one OpenSSL SSL_CTX per `tls.options.<name>`,
// built on the control thread, immutable afterwards and shared read-only by every worker (an
// SSL_CTX is safe to share for SSL_new and SSL_set_SSL_CTX). The options contexts share the
// process-wide session cache and ticket keys (session_cache.h).
//
// EntryPointTls: what one entrypoint adds: which TLS options each server name uses, derived by
// the snapshot builder from the Host() domains of the entrypoint's TLS routers (Traefik's
// tlsOptionsForHost), exact names first, then "*.parent". Unknown names and handshakes without
// SNI use the `default` options. A host whose routers disagree uses `default`; a host whose
// options are unknown or broken is mapped to kBrokenOptions and its handshakes fail (a broken
// mTLS option must never fall back to no client authentication).
//
// A handshake (all on the worker, inside OpenSSL's ClientHello callback): parse SNI and ALPN
// from the ClientHello; ALPN offering "acme-tls/1" -> the TLS-ALPN-01 challenge certificate for
// the name (ChallengeCertificates) or "unrecognized_name"; else options = EntryPointTls's choice
// for the name, switched in with SSL_set_SSL_CTX (plus the per-SSL settings that call does not
// carry: versions, ciphers, groups, verify mode, client CA names, options); certificate = the
// store's set for the name, else for the local IP when there is no SNI and the store has IP
// names, else the default certificate -- or "unrecognized_name" when the options are sniStrict.
// ALPN then follows Go's rules with the options' alpnProtocols restricted to the protocols the
// entrypoint can serve.

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <openssl/ssl.h>

#include "http/tls_info.h"
#include "tls/certificate_store.h"
#include "tls/options.h"
#include "tls/session_cache.h"

namespace turnpike::tls {

inline constexpr std::string_view kAcmeTlsAlpn = "acme-tls/1";
inline constexpr int kBrokenOptions = -1;

// TLS-ALPN-01 challenge certificates (RFC 8737) by domain. Written by a certificate resolver on
// the control thread; read by workers only in handshakes that offer ALPN "acme-tls/1" (rare), so
// a mutex is cheap enough. Changes apply to the next handshake, without a rebuild.
class ChallengeCertificates {
public:
  void put(std::string domain, CertificatePtr certificate);
  void remove(std::string_view domain);
  CertificatePtr find(std::string_view domain) const; // `domain` lower-case

private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, CertificatePtr, TransparentStringHash, std::equal_to<>>
      by_domain_;
};

// One `tls.options.<name>` as served.
struct OptionsContext {
  std::string name;  // "default", "mtls@file"
  std::string error; // non-empty: the options do not compile; handshakes using them fail
  CompiledOptions options;
  SSL_CTX* ctx = nullptr; // owned by ServerTls; null when broken
  // The certificates `ctx` already holds (the store's likely set, or the default set when the
  // likely one cannot be used with these options); a handshake selecting others installs them.
  const CertificateSet* preloaded = nullptr;
  std::vector<std::string> served_alpn; // options.alpn restricted to the served protocols
  bool alpn_acme = false;               // "acme-tls/1" is in options.alpn
};

struct ServerTlsInputs {
  std::vector<CertificatePtr> certificates; // served certificates in priority order
  CertificatePtr default_certificate;       // required
  // Options by name; "default" is added with Traefik's defaults when absent.
  std::vector<std::pair<std::string, OptionsSpec>> options;
  // Application protocols the entrypoints can serve after the handshake ("http/1.1"; "h2" once
  // HTTP/2 is served). Others in alpnProtocols are never selected.
  std::vector<std::string> served_alpn = {"http/1.1"};
  TicketKeys* ticket_keys = nullptr;                 // required; outlives the ServerTls
  SessionCache* session_cache = nullptr;             // required; outlives the ServerTls
  const ChallengeCertificates* challenges = nullptr; // optional
};

class ServerTls {
public:
  static std::shared_ptr<const ServerTls> build(ServerTlsInputs inputs);
  ~ServerTls();
  ServerTls(const ServerTls&) = delete;
  ServerTls& operator=(const ServerTls&) = delete;

  const CertificateStore& store() const { return store_; }
  const std::vector<OptionsContext>& options() const { return options_; }
  // Index of the options named `name`, or kBrokenOptions when there is none.
  int find_options(std::string_view name) const;
  int default_options() const { return default_index_; }
  const ChallengeCertificates* challenges() const { return challenges_; }
  // A context with Traefik's default options, always valid: new connections start on it when
  // the entrypoint's default options are broken (their ClientHello then fails).
  const OptionsContext& fallback() const { return fallback_; }

private:
  ServerTls() = default;

  CertificateStore store_;
  std::vector<OptionsContext> options_;
  OptionsContext fallback_;
  int default_index_ = kBrokenOptions;
  const ChallengeCertificates* challenges_ = nullptr;
};

class EntryPointTls {
public:
  EntryPointTls(std::shared_ptr<const ServerTls> server, std::string entrypoint);

  // Builder only, before the object is shared: `host` lower-case ("a.example.com" or
  // "*.example.com"); `options` an index of server().options() or kBrokenOptions.
  void set_host_options(std::string host, int options);

  // The options a server name (canonical: lower-case, no trailing dot) uses: exact name, then
  // "*.parent", then the default options. May be kBrokenOptions.
  int options_for(std::string_view server_name) const;
  const ServerTls& server() const { return *server_; }
  const std::shared_ptr<const ServerTls>& server_ptr() const { return server_; }
  const std::string& entrypoint() const { return entrypoint_; }
  size_t host_count() const { return hosts_.size(); }

private:
  std::shared_ptr<const ServerTls> server_;
  std::string entrypoint_;
  std::unordered_map<std::string, int, TransparentStringHash, std::equal_to<>> hosts_;
};

// Per-connection TLS state: what the ClientHello callback decided and, after the handshake, the
// facts middlewares see (http::TlsInfo). Owned by the connection's stream (heap, pointer-stable:
// OpenSSL keeps a pointer to it in the SSL's ex_data). Worker-confined.
struct ConnectionState {
  const EntryPointTls* entrypoint = nullptr; // valid during the handshake only
  int options = kBrokenOptions;              // the options selected for this connection
  std::string server_name;                   // canonical SNI; empty when none
  bool acme_challenge = false;               // the ClientHello offered ALPN acme-tls/1
  std::string failure;                       // why the ClientHello was refused (logs)
  http::TlsInfo info;
  std::vector<X509*> peer_certificates; // borrowed from the SSL's session
};

// Creates the server SSL for a new connection on `ep` (starting on its default options'
// context), bound to `state`; null only when OpenSSL cannot allocate.
SSL* new_server_ssl(const EntryPointTls& ep, ConnectionState& state);

// Fills state.info after a successful handshake.
void record_handshake(SSL* ssl, ConnectionState& state);

// Go's ALPN negotiation (crypto/tls negotiateALPN): the first of the server's protocols (in its
// order) that the client offers; when none matches, no ALPN if the server list is empty or the
// client offered http/1.1 to a server that lists h2 (a plain HTTP/1.1 client), else failure.
// `client` is the wire-format list from the ClientHello. Returns the selected protocol (a view
// into `client`), "" for "no ALPN", or nullopt for "refuse the handshake".
std::optional<std::string_view> negotiate_alpn(const std::vector<std::string>& server,
                                               std::string_view client);

} // namespace turnpike::tls
