#pragma once
// Challenge solvers: how a resolver proves control of a domain to the CA.
//
// - HTTP-01: the token's key authorization is put in an Http01Tokens table; the `acme-http@internal`
//   router (highest priority, PathPrefix(`/.well-known/acme-challenge/`)) on
//   httpChallenge.entryPoint answers from it before any user router or entrypoint redirection.
// - DNS-01: a DnsProvider (dns01.h) publishes the TXT record; the solver then waits until the
//   record is visible (propagation check).
// - TLS-ALPN-01: the RFC 8737 certificate is handed to the TLS layer (TlsAlpnHooks), which serves
//   it to handshakes offering ALPN "acme-tls/1".
//
// Solvers are called on the ACME thread pool and may block (DNS updates, scripts, waits); they
// are thread-safe. Http01Tokens is read by workers (the challenge handler) and written by the
// pool under a mutex: only requests for /.well-known/acme-challenge/ touch it.

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "acme/client.h"
#include "acme/crypto.h"
#include "common/result.h"
#include "http/exchange.h"

namespace turnpike::acme {

inline constexpr std::string_view kHttp01Prefix = "/.well-known/acme-challenge/";
inline constexpr std::string_view kHttp01RouterName = "acme-http@internal";

class Http01Tokens {
 public:
  void put(const std::string& token, const std::string& domain, const std::string& key_authorization);
  void remove(const std::string& token);
  // The key authorization for `token` if it was published for `host` (canonical, no port).
  std::optional<std::string> find(std::string_view token, std::string_view host) const;

 private:
  mutable std::mutex mu_;
  struct Entry {
    std::string domain;
    std::string key_authorization;
  };
  std::unordered_map<std::string, Entry> tokens_;
};

// The handler of the acme-http@internal router: 200 with the key authorization for a published
// token, 404 otherwise. Immutable; shared by every worker.
std::shared_ptr<const http::Handler> make_http01_handler(std::shared_ptr<const Http01Tokens> tokens);

// What the TLS layer offers TLS-ALPN-01 (the gateway wires it to tls::TlsManager::challenges()).
struct TlsAlpnHooks {
  // Serve `cert` for handshakes to `domain` that offer ALPN acme-tls/1. Thread-safe.
  std::function<Result<void>(const std::string& domain, const PemPair& cert)> put;
  std::function<void(const std::string& domain)> remove;
  explicit operator bool() const { return put && remove; }
};

struct ChallengeContext {
  std::string domain;  // the authorization's identifier (without "*.")
  bool wildcard = false;
  std::string token;
  std::string key_authorization;
};

class ChallengeSolver {
 public:
  virtual ~ChallengeSolver() = default;
  virtual std::string_view type() const = 0;  // "http-01", "dns-01", "tls-alpn-01"
  // Publishes the proof.
  virtual Result<void> present(const ChallengeContext& c) = 0;
  // Returns once the proof can be seen by the CA (DNS propagation); false/error ends the attempt.
  virtual Result<void> wait_ready(const ChallengeContext& c, StopSignal& stop) {
    (void)c;
    (void)stop;
    return {};
  }
  // Removes the proof (errors are logged by the solver, never fatal).
  virtual void cleanup(const ChallengeContext& c) = 0;
};

std::unique_ptr<ChallengeSolver> make_http01_solver(std::shared_ptr<Http01Tokens> tokens,
                                                    Duration delay);
std::unique_ptr<ChallengeSolver> make_tls_alpn01_solver(TlsAlpnHooks hooks, Duration delay);

}  // namespace turnpike::acme
