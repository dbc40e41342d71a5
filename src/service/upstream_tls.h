#pragma once
// Client-side TLS towards upstream servers (`https://` servers and TLS HTTP/2), compiled from a
// serversTransport's TLS fields.
//
// Threading: UpstreamTls is built on the control thread by the snapshot builder, then immutable
// and shared read-only by every worker (creating SSL objects from one SSL_CTX concurrently is
// safe in OpenSSL 3). TlsSessionCache is worker-confined: each worker keeps the last session per
// upstream (pool key), so resumption needs no lock.

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/system/error_code.hpp>

#include "common/result.h"

namespace turnpike::service {

// The TLS fields of a serversTransport (config::ServersTransport), in the service layer's terms.
struct TlsClientOptions {
  std::string server_name;  // SNI and verification name; empty = the server URL's host
  bool insecure_skip_verify = false;
  std::vector<std::string> root_cas;  // file paths or inline PEM; empty = the system store
  struct Certificate {
    std::string cert;  // file path or inline PEM (leaf first, then its chain)
    std::string key;
  };
  std::vector<Certificate> certificates;  // client certificates (mTLS); the first one is used
  std::vector<std::string> cipher_suites;  // Go names; empty = OpenSSL's defaults
  std::string min_version = "VersionTLS12";  // Go names; "" = default
  std::string max_version;                   // "" = the highest supported
  std::string peer_cert_uri;                 // required URI SAN of the server's certificate
};

class TlsSessionCache;

// What a new upstream TLS connection offers in ALPN.
enum class Alpn {
  kNone,      // no ALPN extension (plain HTTP/1.1 over TLS, as for WebSocket upgrades)
  kHttp11,    // "http/1.1"
  kH2Http11,  // "h2", "http/1.1": the server chooses HTTP/2 or HTTP/1.1
};

// Where the new-session callback stores the sessions of one connection: the worker's cache and
// the connection's pool key. Owned by the connection, which outlives its SSL object.
struct TlsSessionTarget {
  TlsSessionCache* cache = nullptr;
  std::string key;
};

class UpstreamTls {
 public:
  // Loads and checks everything (files, PEM, versions, cipher names); errors name the field
  // ("rootCAs[0]: ...", "certificates[0].keyFile: ...").
  static Result<std::shared_ptr<const UpstreamTls>> create(const TlsClientOptions& options);
  ~UpstreamTls();
  UpstreamTls(const UpstreamTls&) = delete;
  UpstreamTls& operator=(const UpstreamTls&) = delete;

  // A new client SSL for a connection to `url_host` (the server URL's host): SNI and the
  // verification name are serverName or `url_host` (an IP literal is verified as an IP and sent
  // no SNI), the ALPN list is `alpn`, the worker's cached session for `target.key` is offered for
  // resumption and new sessions are stored there. The caller owns the result. Worker thread.
  SSL* new_ssl(std::string_view url_host, Alpn alpn, TlsSessionTarget& target) const;

  // After a successful handshake: the checks OpenSSL's verification cannot express
  // (peerCertURI). Returns an empty string when the peer is acceptable.
  std::string check_peer(SSL* ssl) const;

  // Digest of every setting and of the loaded file contents: a connection made with one
  // configuration is never reused under another (pool and session keys include it).
  const std::string& fingerprint() const { return fingerprint_; }

 private:
  UpstreamTls() = default;

  SSL_CTX* ctx_ = nullptr;
  std::string server_name_;
  bool verify_ = true;        // verify the chain (not insecureSkipVerify, or peerCertURI set)
  bool verify_name_ = true;   // verify the host name (not insecureSkipVerify)
  std::string peer_cert_uri_;
  std::string fingerprint_;
};

// Why a handshake failed, in words: the verification result when there is one ("certificate
// verify failed: self-signed certificate in certificate chain"), else OpenSSL's error queue or
// the Asio error message.
std::string describe_tls_failure(SSL* ssl, const boost::system::error_code& ec);

// The last TLS session per upstream (pool key), for resumption. Worker-confined; bounded.
class TlsSessionCache {
 public:
  TlsSessionCache() = default;
  ~TlsSessionCache();
  TlsSessionCache(const TlsSessionCache&) = delete;
  TlsSessionCache& operator=(const TlsSessionCache&) = delete;

  // Borrowed; null when none.
  SSL_SESSION* get(const std::string& key) const;
  // Takes ownership of `session` (replacing the previous one for `key`).
  void put(const std::string& key, SSL_SESSION* session);
  void erase(const std::string& key);
  size_t size() const { return sessions_.size(); }

 private:
  static constexpr size_t kMaxEntries = 4096;
  std::unordered_map<std::string, SSL_SESSION*> sessions_;
};

}  // namespace turnpike::service
