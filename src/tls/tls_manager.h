#pragma once
// The TLS manager: the control thread's owner of everything TLS that outlives one configuration
// snapshot, and the builder of each snapshot's ServerTls.
//
// - build(): loads the configured certificates (cached by content: a reload that does not change
//   a certificate does not parse it again), compiles the options into SSL_CTXs and returns the
//   ServerTls. When nothing TLS-related changed since the previous build (certificates, options,
//   CA files, resolver certificates) the previous ServerTls is returned as is, so a routing-only
//   reload keeps the same contexts.
// - The generated default certificate ("TRAEFIK DEFAULT CERT", ECDSA P-256, one year), made once
//   per process when no tls.stores.default.defaultCertificate is configured.
// - Session resumption state (ticket keys rotated every kTicketKeyRotation by start()'s timer,
//   the shared session cache) and the TLS-ALPN-01 challenge certificates.
//
// For certificate resolvers (ACME, issue 4), the API is:
//   set_resolver_certificates(resolver, certs)  certificates obtained by a resolver; they are
//       served after the next build, which set_on_change's callback (the gateway's rebuild) runs.
//   challenges().put(domain, cert) / remove(domain)  TLS-ALPN-01 certificates, served at once to
//       handshakes that offer ALPN "acme-tls/1" for that domain.
//   current()->store().covers(domain)  whether a served certificate already covers a domain.
//   generate_certificate() (certificate.h) builds challenge certificates; Certificate::from_pem
//       loads issued ones.
//
// Control thread only, except challenges() (thread-safe) and the objects ServerTls shares.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/asio_types.h"
#include "tls/server_tls.h"

namespace turnpike::tls {

inline constexpr std::string_view kDefaultCertificateName = "TRAEFIK DEFAULT CERT";

struct TlsManagerOptions {
  std::vector<std::string> served_alpn = {"http/1.1"};
  size_t session_cache_size = 20480;
};

// A certificate as configured: file paths or inline PEM, and where it was configured (for errors).
struct CertificateSource {
  std::string cert;
  std::string key;
  std::string where; // "tls.certificates[0] (dynamic.yml:12)"
};

struct TlsInputs {
  std::vector<CertificateSource> certificates;              // the default store's, in order
  std::optional<CertificateSource> default_certificate;     // tls.stores.default.defaultCertificate
  // tls.stores.default.defaultGeneratedCert: the resolver's certificate whose names include
  // `main` becomes the default certificate once the resolver has it (until then, and when
  // defaultCertificate is set, it is not used).
  struct ResolverDefault {
    std::string resolver;
    std::string main;
  };
  std::optional<ResolverDefault> default_from_resolver;
  std::vector<std::pair<std::string, OptionsSpec>> options; // by name
};

class TlsManager {
public:
  explicit TlsManager(TlsManagerOptions options = {});
  ~TlsManager();

  // Builds or reuses the TLS state for a configuration. Certificate problems are appended to
  // `errors` ("<where>: <problem>"; the certificate is skipped); option problems are on the
  // returned options (OptionsContext::error). Never null.
  std::shared_ptr<const ServerTls> build(const TlsInputs& inputs, std::vector<std::string>& errors);
  // The last build's result (null before the first build).
  const std::shared_ptr<const ServerTls>& current() const { return current_; }

  // Starts the ticket key rotation timer on the control thread's executor; stop() cancels it.
  void start(turnpike::Executor control);
  void stop();

  void set_resolver_certificates(const std::string& resolver,
                                 std::vector<CertificatePtr> certificates);
  void set_on_change(std::function<void()> callback) { on_change_ = std::move(callback); }
  ChallengeCertificates& challenges() { return challenges_; }

  TicketKeys& ticket_keys() { return ticket_keys_; }
  SessionCache& session_cache() { return session_cache_; }

private:
  Result<CertificatePtr> load(const CertificateSource& source,
                              std::map<std::string, CertificatePtr>& next_cache);
  CertificatePtr generated_default(std::vector<std::string>& errors);
  // The resolver certificate named by defaultGeneratedCert, or nullptr while there is none.
  CertificatePtr resolver_default(const TlsInputs::ResolverDefault& wanted) const;
  void schedule_rotation();

  TlsManagerOptions options_;
  TicketKeys ticket_keys_;
  SessionCache session_cache_;
  ChallengeCertificates challenges_;
  std::map<std::string, CertificatePtr> cert_cache_; // PEM contents -> parsed certificate
  std::map<std::string, std::vector<CertificatePtr>> resolver_certs_;
  CertificatePtr generated_default_;
  std::shared_ptr<const ServerTls> current_;
  std::string current_fingerprint_;
  std::function<void()> on_change_;
  std::unique_ptr<turnpike::SteadyTimer> rotation_timer_;
};

} // namespace turnpike::tls
