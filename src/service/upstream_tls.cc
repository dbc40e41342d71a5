#include "service/upstream_tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include "common/hex.h"
#include "common/ipnet.h"
#include "tls/names.h"

namespace turnpike::service {
namespace {

// Traefik's FileOrContent: inline PEM when it looks like PEM, else a file path.
Result<std::string> file_or_content(std::string_view value) {
  // (Error is constructible from a string too, hence the explicit in_place_value.)
  if (value.find("-----BEGIN") != std::string_view::npos)
    return Result<std::string>(boost::system::in_place_value, value);
  std::ifstream in{std::string(value), std::ios::binary};
  if (!in)
    return make_error("open " + std::string(value) + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return Result<std::string>(boost::system::in_place_value, ss.str());
}

std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty())
      out += "; ";
    out += buf;
  }
  return out.empty() ? std::string("unknown OpenSSL error") : out;
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct ChainDeleter {
  void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

BioPtr memory_bio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Every certificate of a PEM text, in order.
std::vector<X509Ptr> read_certificates(const std::string& pem) {
  std::vector<X509Ptr> out;
  auto bio = memory_bio(pem);
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr))
    out.emplace_back(x);
  ERR_clear_error(); // the read that ends the loop leaves "no start line"
  return out;
}

// The store of the system's trusted roots, created once per process and then shared by every
// transport that has no rootCAs (X509_STORE lookups are internally locked). It looks roots up
// lazily in the hashed certificate directory (/etc/ssl/certs on Debian, or $SSL_CERT_DIR):
// X509_STORE_set_default_paths would parse the whole bundle file at start (~100 ms).
// $SSL_CERT_FILE, when set, is loaded as well; the bundle file is the fallback when there is no
// directory.
X509_STORE* system_store() {
  static X509_STORE* store = [] {
    X509_STORE* s = X509_STORE_new();
    const char* dir = std::getenv(X509_get_default_cert_dir_env());
    if (!dir)
      dir = X509_get_default_cert_dir();
    const char* file = std::getenv(X509_get_default_cert_file_env());
    if (file)
      X509_STORE_load_file(s, file);
    struct stat st {};
    if (::stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
      X509_STORE_load_path(s, dir);
    else if (!file)
      X509_STORE_load_file(s, X509_get_default_cert_file());
    ERR_clear_error();
    return s;
  }();
  return store;
}

int session_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// OpenSSL hands every new session here (handshake end for TLS 1.2, each NewSessionTicket for
// TLS 1.3); the worker's cache keeps the latest per upstream. It keeps a copy: OpenSSL marks
// the connection's own session non-resumable when the connection is freed without a
// close_notify, which is how pooled upstream connections end.
int on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* target = static_cast<TlsSessionTarget*>(SSL_get_ex_data(ssl, session_index()));
  if (!target || !target->cache || !SSL_SESSION_is_resumable(session))
    return 0;
  if (SSL_SESSION* copy = SSL_SESSION_dup(session))
    target->cache->put(target->key, copy);
  return 0; // OpenSSL keeps (and frees) its own reference
}

// Everything a context is built from, loaded and checked: its digest is the fingerprint.
struct LoadedOptions {
  int min_version = TLS1_2_VERSION; // Go's client default
  int max_version = 0;              // the highest supported
  std::string tls12_ciphers, tls13_ciphers;
  std::vector<std::string> root_pems;
  std::vector<std::pair<std::string, std::string>> certificate_pems; // (cert, key)
  std::string fingerprint;
};

Result<LoadedOptions> load_options(const TlsClientOptions& o) {
  LoadedOptions l;
  if (!o.min_version.empty()) {
    auto v = tls::version_from_name(o.min_version);
    if (!v)
      return make_error("minVersion: unknown TLS version \"" + o.min_version + "\"");
    l.min_version = *v;
  }
  if (!o.max_version.empty()) {
    auto v = tls::version_from_name(o.max_version);
    if (!v)
      return make_error("maxVersion: unknown TLS version \"" + o.max_version + "\"");
    l.max_version = *v;
  }
  if (l.max_version != 0 && l.max_version < l.min_version)
    return make_error("maxVersion " + o.max_version + " is lower than minVersion " +
                      (o.min_version.empty() ? std::string("VersionTLS12") : o.min_version));
  // Go's names; the TLS 1.2 ones form the cipher list, the TLS 1.3 ones the ciphersuites (Go
  // ignores TLS 1.3 names; OpenSSL can honour them).
  for (size_t i = 0; i < o.cipher_suites.size(); ++i) {
    auto c = tls::cipher_suite_from_name(o.cipher_suites[i]);
    if (!c)
      return make_error("cipherSuites[" + std::to_string(i) + "]: unknown cipher suite \"" +
                        o.cipher_suites[i] + "\"");
    std::string& list = c->tls13 ? l.tls13_ciphers : l.tls12_ciphers;
    if (!list.empty())
      list += ':';
    list += c->openssl;
  }
  for (size_t i = 0; i < o.root_cas.size(); ++i) {
    auto pem = file_or_content(o.root_cas[i]);
    if (!pem)
      return pem.error().prefixed("rootCAs[" + std::to_string(i) + "]");
    l.root_pems.push_back(std::move(*pem));
  }
  for (size_t i = 0; i < o.certificates.size(); ++i) {
    std::string field = "certificates[" + std::to_string(i) + "]";
    auto cert = file_or_content(o.certificates[i].cert);
    if (!cert)
      return cert.error().prefixed(field + ".certFile");
    auto key = file_or_content(o.certificates[i].key);
    if (!key)
      return key.error().prefixed(field + ".keyFile");
    l.certificate_pems.emplace_back(std::move(*cert), std::move(*key));
  }
  std::string fp; // canonical text of the settings and contents
  auto add = [&fp](std::string_view value) {
    fp.append(std::to_string(value.size())).append(":").append(value);
  };
  add(std::to_string(l.min_version));
  add(std::to_string(l.max_version));
  add(l.tls12_ciphers);
  add(l.tls13_ciphers);
  add(std::to_string(l.root_pems.size()));
  for (const auto& r : l.root_pems)
    add(r);
  add(std::to_string(l.certificate_pems.size()));
  for (const auto& [c, k] : l.certificate_pems) {
    add(c);
    add(k);
  }
  add(o.server_name);
  add(o.insecure_skip_verify ? "1" : "0");
  add(o.peer_cert_uri);
  l.fingerprint = digest_hex(EVP_sha256(), fp, 16);
  return l;
}

// Contexts by fingerprint, so that a reload whose transports did not change reuses them
// (SSL_CTX_new costs about a millisecond in OpenSSL 3). Weak: a context lives as long as a
// snapshot uses it. Control plane (builder, --validate); locked for safety all the same.
std::shared_ptr<const UpstreamTls> cached(const std::string& fingerprint,
                                          const std::shared_ptr<const UpstreamTls>* insert) {
  static std::mutex mutex;
  static std::unordered_map<std::string, std::weak_ptr<const UpstreamTls>> cache;
  std::lock_guard lock(mutex);
  if (insert) {
    std::erase_if(cache, [](const auto& e) { return e.second.expired(); });
    cache[fingerprint] = *insert;
    return *insert;
  }
  auto it = cache.find(fingerprint);
  return it == cache.end() ? nullptr : it->second.lock();
}

} // namespace

Result<std::shared_ptr<const UpstreamTls>> UpstreamTls::create(const TlsClientOptions& o) {
  auto loaded = load_options(o);
  if (!loaded)
    return loaded.error();
  const LoadedOptions& l = *loaded;
  if (auto hit = cached(l.fingerprint, nullptr))
    return hit;

  std::shared_ptr<UpstreamTls> t(new UpstreamTls());
  t->ctx_ = SSL_CTX_new(TLS_client_method());
  if (!t->ctx_)
    return make_error("creating the TLS context: " + openssl_errors());
  SSL_CTX* ctx = t->ctx_;
  SSL_CTX_set_min_proto_version(ctx, l.min_version);
  SSL_CTX_set_max_proto_version(ctx, l.max_version);
  if (!l.tls12_ciphers.empty() && SSL_CTX_set_cipher_list(ctx, l.tls12_ciphers.c_str()) != 1)
    return make_error("cipherSuites: none of " + l.tls12_ciphers +
                      " is available: " + openssl_errors());
  if (!l.tls13_ciphers.empty() && SSL_CTX_set_ciphersuites(ctx, l.tls13_ciphers.c_str()) != 1)
    return make_error("cipherSuites: none of " + l.tls13_ciphers +
                      " is available: " + openssl_errors());

  // Trust: the given roots only, or the system store.
  if (l.root_pems.empty()) {
    SSL_CTX_set1_cert_store(ctx, system_store());
  } else {
    X509_STORE* store = X509_STORE_new();
    SSL_CTX_set_cert_store(ctx, store); // the context owns it
    for (size_t i = 0; i < l.root_pems.size(); ++i) {
      auto certs = read_certificates(l.root_pems[i]);
      if (certs.empty())
        return make_error("rootCAs[" + std::to_string(i) + "]: no PEM certificate found");
      for (auto& c : certs)
        X509_STORE_add_cert(store, c.get());
      ERR_clear_error(); // duplicates are not an error
    }
  }

  // Client certificates (mTLS). Loaded last to first so that, for certificates of the same key
  // type, the first one listed wins (Go uses the first acceptable certificate).
  for (size_t j = l.certificate_pems.size(); j-- > 0;) {
    const auto& [cert_pem, key_pem] = l.certificate_pems[j];
    std::string field = "certificates[" + std::to_string(j) + "]";
    auto certs = read_certificates(cert_pem);
    if (certs.empty())
      return make_error(field + ".certFile: no PEM certificate found");
    auto key_bio = memory_bio(key_pem);
    std::unique_ptr<EVP_PKEY, KeyDeleter> key(
        PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
    if (!key)
      return make_error(field + ".keyFile: no PEM private key found");
    std::unique_ptr<STACK_OF(X509), ChainDeleter> chain(sk_X509_new_null());
    for (size_t k = 1; k < certs.size(); ++k)
      sk_X509_push(chain.get(), certs[k].release());
    if (SSL_CTX_use_cert_and_key(ctx, certs[0].get(), key.get(), chain.get(), 1) != 1)
      return make_error(field + ": the key does not match the certificate: " + openssl_errors());
  }

  t->server_name_ = o.server_name;
  t->peer_cert_uri_ = o.peer_cert_uri;
  // Traefik verifies the chain for peerCertURI even with insecureSkipVerify.
  t->verify_ = !o.insecure_skip_verify || !o.peer_cert_uri.empty();
  t->verify_name_ = !o.insecure_skip_verify;
  SSL_CTX_set_verify(ctx, t->verify_ ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
  t->fingerprint_ = l.fingerprint;
  std::shared_ptr<const UpstreamTls> result = std::move(t);
  return cached(result->fingerprint(), &result);
}

UpstreamTls::~UpstreamTls() {
  if (ctx_)
    SSL_CTX_free(ctx_);
}

SSL* UpstreamTls::new_ssl(std::string_view url_host, Alpn alpn, TlsSessionTarget& target) const {
  SSL* ssl = SSL_new(ctx_);
  if (!ssl)
    return nullptr;
  std::string name(server_name_.empty() ? url_host : std::string_view(server_name_));
  bool is_ip = parse_ip(name).has_value();
  // RFC 6066: SNI carries host names only.
  if (!is_ip)
    SSL_set_tlsext_host_name(ssl, name.c_str());
  if (verify_name_) {
    if (is_ip)
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
    else
      SSL_set1_host(ssl, name.c_str());
  }
  static constexpr unsigned char kH2Http11[] = "\x02h2\x08http/1.1";
  static constexpr unsigned char kHttp11[] = "\x08http/1.1";
  if (alpn == Alpn::kH2Http11)
    SSL_set_alpn_protos(ssl, kH2Http11, sizeof kH2Http11 - 1);
  else if (alpn == Alpn::kHttp11)
    SSL_set_alpn_protos(ssl, kHttp11, sizeof kHttp11 - 1);
  if (target.cache) {
    if (SSL_SESSION* s = target.cache->get(target.key))
      SSL_set_session(ssl, s);
  }
  SSL_set_ex_data(ssl, session_index(), &target);
  return ssl;
}

std::string UpstreamTls::check_peer(SSL* ssl) const {
  if (peer_cert_uri_.empty())
    return {};
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert)
    return "no peer certificate to match peerCertURI";
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  bool found = false;
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type != GEN_URI)
      continue;
    const ASN1_IA5STRING* uri = gn->d.uniformResourceIdentifier;
    std::string_view v(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                       static_cast<size_t>(ASN1_STRING_length(uri)));
    if (v == peer_cert_uri_)
      found = true;
  }
  GENERAL_NAMES_free(names);
  if (found)
    return {};
  return "peer certificate does not have the URI SAN \"" + peer_cert_uri_ + "\" (peerCertURI)";
}

std::string describe_tls_failure(SSL* ssl, const boost::system::error_code& ec) {
  if (ssl) {
    long result = SSL_get_verify_result(ssl);
    if (result != X509_V_OK)
      return std::string("certificate verify failed: ") + X509_verify_cert_error_string(result);
  }
  std::string queued;
  while (unsigned long e = ERR_get_error()) {
    if (!queued.empty())
      queued += "; ";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    queued += buf;
  }
  if (!queued.empty())
    return queued;
  return ec.message();
}

TlsSessionCache::~TlsSessionCache() {
  for (auto& [k, s] : sessions_)
    SSL_SESSION_free(s);
}

SSL_SESSION* TlsSessionCache::get(const std::string& key) const {
  auto it = sessions_.find(key);
  return it == sessions_.end() ? nullptr : it->second;
}

void TlsSessionCache::put(const std::string& key, SSL_SESSION* session) {
  auto it = sessions_.find(key);
  if (it != sessions_.end()) {
    SSL_SESSION_free(it->second);
    it->second = session;
    return;
  }
  if (sessions_.size() >= kMaxEntries) {
    // Bounded: drop an arbitrary entry (costs one full handshake for that upstream).
    SSL_SESSION_free(sessions_.begin()->second);
    sessions_.erase(sessions_.begin());
  }
  sessions_.emplace(key, session);
}

void TlsSessionCache::erase(const std::string& key) {
  auto it = sessions_.find(key);
  if (it == sessions_.end())
    return;
  SSL_SESSION_free(it->second);
  sessions_.erase(it);
}

} // namespace turnpike::service
