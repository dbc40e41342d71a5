#include "tls/tls_manager.h"

#include <algorithm>

#include <openssl/rand.h>

#include "common/asio_types.h"
#include "common/hex.h"
#include "common/log.h"
#include "common/strings.h"

namespace turnpike::tls {
namespace {

const std::shared_ptr<spdlog::logger>& logger() {
  static auto l = log::get("tls");
  return l;
}

void append_field(std::string& fp, std::string_view s) {
  fp.append(std::to_string(s.size())).push_back(':');
  fp.append(s);
}

void append_list(std::string& fp, const std::vector<std::string>& v) {
  append_field(fp, std::to_string(v.size()));
  for (const auto& s : v)
    append_field(fp, s);
}

// Everything that makes two option sets build different contexts, including the contents of
// their CA files (which may change on disk while the configuration does not).
void append_options(std::string& fp, const std::string& name, const OptionsSpec& o) {
  append_field(fp, name);
  append_field(fp, o.min_version);
  append_field(fp, o.max_version);
  append_list(fp, o.cipher_suites);
  append_list(fp, o.curve_preferences);
  for (const auto& ca : o.client_auth.ca_files) {
    auto text = read_file_or_content(ca);
    append_field(fp, text ? *text : "unreadable:" + ca);
  }
  append_field(fp, o.client_auth.client_auth_type);
  append_field(fp, o.sni_strict ? "1" : "0");
  append_field(fp, o.alpn_protocols ? "alpn" : "default-alpn");
  if (o.alpn_protocols)
    append_list(fp, *o.alpn_protocols);
  append_field(fp, o.disable_session_tickets ? "1" : "0");
}

} // namespace

TlsManager::TlsManager(TlsManagerOptions options)
    : options_(std::move(options)), session_cache_(options_.session_cache_size) {}

TlsManager::~TlsManager() {
  stop();
}

Result<CertificatePtr> TlsManager::load(const CertificateSource& source,
                                        std::map<std::string, CertificatePtr>& next_cache) {
  auto cert = read_file_or_content(source.cert);
  if (!cert)
    return cert.error().prefixed(source.where + ".certFile");
  auto key = read_file_or_content(source.key);
  if (!key)
    return key.error().prefixed(source.where + ".keyFile");
  std::string cache_key = *cert;
  cache_key.push_back('\0');
  cache_key += *key;
  if (auto it = cert_cache_.find(cache_key); it != cert_cache_.end()) {
    next_cache.emplace(cache_key, it->second);
    return it->second;
  }
  auto parsed = Certificate::from_pem(*cert, *key);
  if (!parsed)
    return parsed.error().prefixed(source.where);
  next_cache.emplace(std::move(cache_key), *parsed);
  return *parsed;
}

CertificatePtr TlsManager::generated_default(std::vector<std::string>& errors) {
  if (generated_default_)
    return generated_default_;
  // Traefik's shape: CN "TRAEFIK DEFAULT CERT" (kept for tools that look for it) and a random
  // *.traefik.default name nobody can request by SNI.
  CertificateRequest req;
  req.subject = {{"CN", std::string(kDefaultCertificateName)}};
  req.dns_names = {random_hex(16) + "." + random_hex(16) + ".traefik.default"};
  req.validity = std::chrono::hours(24 * 365);
  auto cert = generate_certificate(req);
  if (!cert) {
    errors.push_back("tls: cannot generate the default certificate: " + cert.error().message);
    return nullptr;
  }
  generated_default_ = *cert;
  return generated_default_;
}

CertificatePtr TlsManager::resolver_default(const TlsInputs::ResolverDefault& wanted) const {
  auto it = resolver_certs_.find(wanted.resolver);
  if (it == resolver_certs_.end())
    return nullptr;
  std::string main = to_lower(wanted.main);
  for (const auto& cert : it->second) {
    const auto& names = cert->names();
    if (std::find(names.begin(), names.end(), main) != names.end())
      return cert;
  }
  return nullptr;
}

std::shared_ptr<const ServerTls> TlsManager::build(const TlsInputs& inputs,
                                                   std::vector<std::string>& errors) {
  std::map<std::string, CertificatePtr> next_cache;
  ServerTlsInputs in;
  for (const auto& source : inputs.certificates) {
    auto cert = load(source, next_cache);
    if (!cert) {
      errors.push_back(cert.error().message);
      continue;
    }
    in.certificates.push_back(*cert);
  }
  for (const auto& [resolver, certs] : resolver_certs_)
    in.certificates.insert(in.certificates.end(), certs.begin(), certs.end());
  if (inputs.default_certificate) {
    auto cert = load(*inputs.default_certificate, next_cache);
    if (cert)
      in.default_certificate = *cert;
    else
      errors.push_back(cert.error().message + " (using the generated default certificate)");
  }
  cert_cache_ = std::move(next_cache);
  if (!in.default_certificate && inputs.default_from_resolver)
    in.default_certificate = resolver_default(*inputs.default_from_resolver);
  if (!in.default_certificate)
    in.default_certificate = generated_default(errors);
  in.options = inputs.options;
  in.served_alpn = options_.served_alpn;
  in.ticket_keys = &ticket_keys_;
  in.session_cache = &session_cache_;
  in.challenges = &challenges_;

  std::string fp;
  for (const auto& c : in.certificates)
    append_field(fp, std::to_string(reinterpret_cast<uintptr_t>(c.get())));
  append_field(fp, std::to_string(reinterpret_cast<uintptr_t>(in.default_certificate.get())));
  for (const auto& [name, spec] : in.options)
    append_options(fp, name, spec);
  if (current_ && fp == current_fingerprint_)
    return current_;

  if (!in.default_certificate && current_)
    return current_; // keep serving the previous one
  current_ = ServerTls::build(std::move(in));
  current_fingerprint_ = std::move(fp);
  logger()->debug("TLS: built {} certificate(s), {} option set(s)", current_->store().size(),
                  current_->options().size());
  return current_;
}

void TlsManager::set_resolver_certificates(const std::string& resolver,
                                           std::vector<CertificatePtr> certificates) {
  if (certificates.empty())
    resolver_certs_.erase(resolver);
  else
    resolver_certs_[resolver] = std::move(certificates);
  if (on_change_)
    on_change_();
}

void TlsManager::start(turnpike::Executor control) {
  rotation_timer_ = std::make_unique<turnpike::SteadyTimer>(control);
  schedule_rotation();
}

void TlsManager::schedule_rotation() {
  rotation_timer_->expires_after(kTicketKeyRotation);
  rotation_timer_->async_wait([this](boost::system::error_code ec) {
    if (ec)
      return;
    ticket_keys_.rotate();
    logger()->debug("TLS: session ticket keys rotated");
    schedule_rotation();
  });
}

void TlsManager::stop() {
  if (rotation_timer_)
    rotation_timer_->cancel();
}

} // namespace turnpike::tls
