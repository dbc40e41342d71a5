#include "tls/server_tls.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstring>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "common/log.h"
#include "common/strings.h"

namespace turnpike::tls {
namespace {

const std::shared_ptr<spdlog::logger>& logger() {
  static auto l = log::get("tls");
  return l;
}

int state_index() {
  static int i = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return i;
}

ConnectionState* state_of(SSL* ssl) {
  return static_cast<ConnectionState*>(SSL_get_ex_data(ssl, state_index()));
}

// Reads a 2-byte big-endian length-prefixed block; false when it overruns.
bool read_u16_block(std::string_view& in, std::string_view& block) {
  if (in.size() < 2)
    return false;
  size_t n = (static_cast<unsigned char>(in[0]) << 8) | static_cast<unsigned char>(in[1]);
  if (in.size() - 2 < n)
    return false;
  block = in.substr(2, n);
  in.remove_prefix(2 + n);
  return true;
}

// server_name extension (RFC 6066 3): the first host_name entry.
std::string_view sni_from_extension(std::string_view ext) {
  std::string_view list;
  if (!read_u16_block(ext, list))
    return {};
  while (list.size() >= 3) {
    auto type = static_cast<unsigned char>(list[0]);
    list.remove_prefix(1);
    std::string_view name;
    if (!read_u16_block(list, name))
      return {};
    if (type == 0)
      return name;
  }
  return {};
}

std::string_view ext_of(SSL* ssl, unsigned int type) {
  const unsigned char* p = nullptr;
  size_t len = 0;
  if (SSL_client_hello_get0_ext(ssl, type, &p, &len) != 1)
    return {};
  return std::string_view(reinterpret_cast<const char*>(p), len);
}

// Whether the wire-format ALPN list (without its 2-byte length) offers `proto`.
bool alpn_offers(std::string_view list, std::string_view proto) {
  while (!list.empty()) {
    size_t n = static_cast<unsigned char>(list[0]);
    if (list.size() - 1 < n)
      return false;
    if (list.substr(1, n) == proto)
      return true;
    list.remove_prefix(1 + n);
  }
  return false;
}

// The local address of the connection as Go prints it, for IP-named certificates.
std::string local_ip(SSL* ssl) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  int fd = SSL_get_fd(ssl);
  if (fd < 0 || getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return {};
  char buf[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof(buf));
  } else if (ss.ss_family == AF_INET6) {
    auto* a6 = &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6))
      inet_ntop(AF_INET, &a6->s6_addr[12], buf, sizeof(buf));
    else
      inet_ntop(AF_INET6, a6, buf, sizeof(buf));
  }
  return buf;
}

void install_certificates(SSL* ssl, const CertificateSet& set) {
  SSL_certs_clear(ssl);
  for (const auto& c : set.certificates)
    SSL_use_cert_and_key(ssl, c->leaf(), c->key(), c->chain(), 1);
}

// SSL_set_SSL_CTX switches the certificate slots and the session id context; the rest of the
// per-SSL settings were copied from the first context by SSL_new and are aligned here.
void switch_options(SSL* ssl, const OptionsContext& from, const OptionsContext& to) {
  SSL_CTX* ctx = to.ctx;
  SSL_set_SSL_CTX(ssl, ctx);
  uint64_t want = SSL_CTX_get_options(ctx);
  uint64_t have = SSL_get_options(ssl);
  SSL_clear_options(ssl, have & ~want);
  SSL_set_options(ssl, want & ~have);
  SSL_set_security_level(ssl, SSL_CTX_get_security_level(ctx));
  SSL_set_min_proto_version(ssl, SSL_CTX_get_min_proto_version(ctx));
  SSL_set_max_proto_version(ssl, SSL_CTX_get_max_proto_version(ctx));
  const auto& f = from.options;
  const auto& t = to.options;
  if (t.cipher_list != f.cipher_list && !t.cipher_list.empty())
    SSL_set_cipher_list(ssl, t.cipher_list.c_str());
  if (t.ciphersuites != f.ciphersuites)
    SSL_set_ciphersuites(ssl, t.ciphersuites.c_str());
  if (t.groups != f.groups)
    SSL_set1_groups(ssl, const_cast<int*>(t.groups.data()), static_cast<int>(t.groups.size()));
  SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), SSL_CTX_get_verify_callback(ctx));
  STACK_OF(X509_NAME)* cas = SSL_CTX_get_client_CA_list(ctx);
  SSL_set_client_CA_list(ssl, cas ? SSL_dup_CA_list(cas) : nullptr);
  SSL_set_num_tickets(ssl, SSL_CTX_get_num_tickets(ctx));
}

// The options a new connection starts on (SSL_new): the entrypoint's default options, or the
// always-valid fallback when they are broken (the ClientHello is then refused).
const OptionsContext& initial_options(const EntryPointTls& ep) {
  const ServerTls& server = ep.server();
  int def = ep.options_for({});
  if (def != kBrokenOptions && server.options()[static_cast<size_t>(def)].ctx)
    return server.options()[static_cast<size_t>(def)];
  return server.fallback();
}

int refuse(ConnectionState& st, int* alert, int code, std::string why) {
  *alert = code;
  st.failure = std::move(why);
  return SSL_CLIENT_HELLO_ERROR;
}

int on_client_hello(SSL* ssl, int* alert, void*) {
  ConnectionState* st = state_of(ssl);
  if (!st || !st->entrypoint) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  const EntryPointTls& ep = *st->entrypoint;
  const ServerTls& server = ep.server();

  std::string_view sni = sni_from_extension(ext_of(ssl, TLSEXT_TYPE_server_name));
  if (!sni.empty() && !canonical_server_name(sni, st->server_name))
    return refuse(*st, alert, SSL_AD_ILLEGAL_PARAMETER, "invalid server name");
  std::string_view alpn_ext = ext_of(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation);
  std::string_view alpn_list;
  if (!alpn_ext.empty())
    read_u16_block(alpn_ext, alpn_list);
  st->acme_challenge = alpn_offers(alpn_list, kAcmeTlsAlpn);

  int index = ep.options_for(st->server_name);
  if (index == kBrokenOptions || server.options()[static_cast<size_t>(index)].ctx == nullptr)
    return refuse(*st, alert, SSL_AD_HANDSHAKE_FAILURE,
                  "the TLS options for \"" + st->server_name + "\" are broken");
  const OptionsContext& target = server.options()[static_cast<size_t>(index)];
  if (SSL_get_SSL_CTX(ssl) != target.ctx) {
    switch_options(ssl, initial_options(ep), target);
  }
  st->options = index;

  if (st->acme_challenge) {
    // TLS-ALPN-01: only the challenge certificate answers, or the name is unknown.
    CertificatePtr cert =
        server.challenges() ? server.challenges()->find(st->server_name) : nullptr;
    if (!cert)
      return refuse(*st, alert, SSL_AD_UNRECOGNIZED_NAME,
                    "no TLS-ALPN-01 challenge certificate for \"" + st->server_name + "\"");
    SSL_certs_clear(ssl);
    SSL_use_cert_and_key(ssl, cert->leaf(), cert->key(), cert->chain(), 1);
    return SSL_CLIENT_HELLO_SUCCESS;
  }

  const CertificateStore& store = server.store();
  const CertificateSet* set = nullptr;
  if (!st->server_name.empty())
    set = store.find(st->server_name);
  else if (store.has_ip_names())
    set = store.find(local_ip(ssl));
  if (!set) {
    if (target.options.sni_strict)
      return refuse(*st, alert, SSL_AD_UNRECOGNIZED_NAME,
                    st->server_name.empty()
                        ? std::string("strict SNI: no server name sent")
                        : "strict SNI: no certificate for \"" + st->server_name + "\"");
    set = &store.default_set();
  }
  if (set->certificates != target.preloaded->certificates)
    install_certificates(ssl, *set);
  return SSL_CLIENT_HELLO_SUCCESS;
}

int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
            unsigned int inlen, void*) {
  ConnectionState* st = state_of(ssl);
  if (!st || !st->entrypoint || st->options == kBrokenOptions)
    return SSL_TLSEXT_ERR_NOACK;
  const OptionsContext& oc = st->entrypoint->server().options()[static_cast<size_t>(st->options)];
  std::string_view client(reinterpret_cast<const char*>(in), inlen);
  if (st->acme_challenge) {
    if (!oc.alpn_acme)
      return SSL_TLSEXT_ERR_ALERT_FATAL;
    // The protocol inside the client's own list, which outlives this call.
    for (std::string_view list = client; !list.empty();) {
      size_t n = static_cast<unsigned char>(list[0]);
      if (list.size() - 1 < n)
        break;
      if (list.substr(1, n) == kAcmeTlsAlpn) {
        *out = reinterpret_cast<const unsigned char*>(list.data() + 1);
        *outlen = static_cast<unsigned char>(n);
        return SSL_TLSEXT_ERR_OK;
      }
      list.remove_prefix(1 + n);
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  auto selected = negotiate_alpn(oc.served_alpn, client);
  if (!selected)
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  if (selected->empty())
    return SSL_TLSEXT_ERR_NOACK;
  *out = reinterpret_cast<const unsigned char*>(selected->data());
  *outlen = static_cast<unsigned char>(selected->size());
  return SSL_TLSEXT_ERR_OK;
}

// Request/RequireAny: the certificate is asked for but, as in Go, never verified.
int accept_any_certificate(int, X509_STORE_CTX*) {
  return 1;
}

constexpr std::string_view kPreloadFailed = "the certificate cannot be used: ";

std::string build_context_with(OptionsContext& oc, const ServerTlsInputs& in,
                               const CertificateSet& preloaded) {
  const CompiledOptions& o = oc.options;
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx)
    return "SSL_CTX_new: " + openssl_error();
  oc.ctx = ctx;
  auto fail = [&](std::string why) {
    SSL_CTX_free(ctx);
    oc.ctx = nullptr;
    return why;
  };
  SSL_CTX_set_security_level(ctx, o.security_level);
  SSL_CTX_set_min_proto_version(ctx, o.min_version);
  SSL_CTX_set_max_proto_version(ctx, o.max_version);
  uint64_t opts = SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                  SSL_OP_PRIORITIZE_CHACHA | SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF;
  if (o.disable_session_tickets)
    opts |= SSL_OP_NO_TICKET;
  SSL_CTX_set_options(ctx, opts);
  // Partial writes: one record per SSL_write, so the stream can wait for the socket between
  // records. No SSL_MODE_RELEASE_BUFFERS: keeping the record buffers avoids an allocation pair
  // per request on keep-alive connections.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_clear_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  // Read as many records as the socket has in one read(2).
  SSL_CTX_set_read_ahead(ctx, 1);
  if (!o.cipher_list.empty()) {
    if (SSL_CTX_set_cipher_list(ctx, o.cipher_list.c_str()) != 1)
      return fail("cipherSuites: none of the cipher suites is available");
    STACK_OF(SSL_CIPHER)* have = SSL_CTX_get_ciphers(ctx);
    for (const auto& name : o.requested_ciphers) {
      bool found = false;
      for (int i = 0; i < sk_SSL_CIPHER_num(have) && !found; ++i)
        found = name == SSL_CIPHER_get_name(sk_SSL_CIPHER_value(have, i));
      if (!found)
        return fail(
            "cipherSuites: " + name +
            " is not available (disabled in this OpenSSL build or below its security level)");
    }
  }
  if (SSL_CTX_set_ciphersuites(ctx, o.ciphersuites.c_str()) != 1)
    return fail("cipherSuites: invalid TLS 1.3 cipher suites");
  if (SSL_CTX_set1_groups(ctx, const_cast<int*>(o.groups.data()),
                          static_cast<int>(o.groups.size())) != 1)
    return fail("curvePreferences: " + openssl_error());
  switch (o.client_auth) {
  case ClientAuthType::kNoClientCert:
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    break;
  case ClientAuthType::kRequestClientCert:
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_certificate);
    break;
  case ClientAuthType::kRequireAnyClientCert:
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       accept_any_certificate);
    break;
  case ClientAuthType::kVerifyClientCertIfGiven:
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    break;
  case ClientAuthType::kRequireAndVerifyClientCert:
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    break;
  }
  if (!o.client_cas.empty()) {
    X509_STORE* store = X509_STORE_new();
    STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
    for (const auto& ca : o.client_cas) {
      X509_STORE_add_cert(store, ca.get());
      sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(ca.get())));
    }
    SSL_CTX_set_cert_store(ctx, store);     // takes ownership
    SSL_CTX_set_client_CA_list(ctx, names); // takes ownership
  }
  // Sessions resume only under the options they were made with (a session from options without
  // client authentication must not resume under mTLS options).
  unsigned char sid[32];
  unsigned int sid_len = 0;
  EVP_Digest(oc.name.data(), oc.name.size(), sid, &sid_len, EVP_sha256(), nullptr);
  SSL_CTX_set_session_id_context(ctx, sid, sid_len);
  // One TLS 1.3 ticket per full handshake (OpenSSL sends two by default); clients resume one
  // connection at a time.
  SSL_CTX_set_num_tickets(ctx, 1);
  attach(ctx, in.ticket_keys, in.session_cache);
  SSL_CTX_set_client_hello_cb(ctx, on_client_hello, nullptr);
  SSL_CTX_set_alpn_select_cb(ctx, on_alpn, nullptr);
  for (const auto& c : preloaded.certificates) {
    if (SSL_CTX_use_cert_and_key(ctx, c->leaf(), c->key(), c->chain(), 1) != 1)
      return fail(std::string(kPreloadFailed) + openssl_error());
  }
  oc.preloaded = &preloaded;
  for (const auto& p : o.alpn) {
    if (p == kAcmeTlsAlpn) {
      oc.alpn_acme = true;
      continue;
    }
    bool served = false;
    for (const auto& s : in.served_alpn)
      served |= s == p;
    if (served)
      oc.served_alpn.push_back(p);
  }
  return {};
}

// Preloads the store's likely certificates; when these options cannot use them (a key below
// the security level), the default certificate instead, so the options still serve.
std::string build_context(OptionsContext& oc, const ServerTlsInputs& in,
                          const CertificateStore& store) {
  std::string error = build_context_with(oc, in, store.likely_set());
  if (error.starts_with(kPreloadFailed) && &store.likely_set() != &store.default_set())
    error = build_context_with(oc, in, store.default_set());
  return error;
}

} // namespace

std::optional<std::string_view> negotiate_alpn(const std::vector<std::string>& server,
                                               std::string_view client) {
  if (server.empty() || client.empty())
    return std::string_view();
  bool http11_fallback = false;
  for (const auto& s : server) {
    for (std::string_view list = client; !list.empty();) {
      size_t n = static_cast<unsigned char>(list[0]);
      if (list.size() - 1 < n)
        return std::nullopt; // malformed (OpenSSL checks it first)
      std::string_view c = list.substr(1, n);
      if (c == s)
        return c;
      if (s == "h2" && c == "http/1.1")
        http11_fallback = true;
      list.remove_prefix(1 + n);
    }
  }
  if (http11_fallback)
    return std::string_view();
  return std::nullopt;
}

void ChallengeCertificates::put(std::string domain, CertificatePtr certificate) {
  std::lock_guard lock(mu_);
  by_domain_[to_lower(domain)] = std::move(certificate);
}

void ChallengeCertificates::remove(std::string_view domain) {
  std::lock_guard lock(mu_);
  if (auto it = by_domain_.find(to_lower(domain)); it != by_domain_.end())
    by_domain_.erase(it);
}

CertificatePtr ChallengeCertificates::find(std::string_view domain) const {
  std::lock_guard lock(mu_);
  auto it = by_domain_.find(domain);
  return it == by_domain_.end() ? nullptr : it->second;
}

std::shared_ptr<const ServerTls> ServerTls::build(ServerTlsInputs in) {
  std::shared_ptr<ServerTls> s(new ServerTls());
  s->store_ = CertificateStore(in.certificates, in.default_certificate);
  s->challenges_ = in.challenges;
  bool has_default = false;
  for (const auto& [name, spec] : in.options)
    has_default |= name == kDefaultOptionsName;
  if (!has_default)
    in.options.emplace(in.options.begin(), std::string(kDefaultOptionsName), OptionsSpec{});
  for (const auto& [name, spec] : in.options) {
    OptionsContext oc;
    oc.name = name;
    auto compiled = compile_options(spec);
    if (!compiled) {
      oc.error = compiled.error().message;
    } else {
      oc.options = std::move(*compiled);
      oc.error = build_context(oc, in, s->store_);
    }
    if (oc.name == kDefaultOptionsName)
      s->default_index_ = static_cast<int>(s->options_.size());
    s->options_.push_back(std::move(oc));
  }
  s->fallback_.name = std::string(kDefaultOptionsName);
  s->fallback_.options = *compile_options(OptionsSpec{});
  if (auto err = build_context(s->fallback_, in, s->store_); !err.empty())
    logger()->error("TLS: the fallback context cannot be built: {}", err);
  return s;
}

ServerTls::~ServerTls() {
  for (auto& oc : options_)
    SSL_CTX_free(oc.ctx);
  SSL_CTX_free(fallback_.ctx);
}

int ServerTls::find_options(std::string_view name) const {
  for (size_t i = 0; i < options_.size(); ++i)
    if (options_[i].name == name)
      return static_cast<int>(i);
  return kBrokenOptions;
}

EntryPointTls::EntryPointTls(std::shared_ptr<const ServerTls> server, std::string entrypoint)
    : server_(std::move(server)), entrypoint_(std::move(entrypoint)) {}

void EntryPointTls::set_host_options(std::string host, int options) {
  hosts_[std::move(host)] = options;
}

int EntryPointTls::options_for(std::string_view server_name) const {
  if (!server_name.empty() && !hosts_.empty()) {
    if (auto it = hosts_.find(server_name); it != hosts_.end())
      return it->second;
    auto dot = server_name.find('.');
    if (dot != std::string_view::npos && dot > 0 && server_name.size() <= 253) {
      char wildcard[256];
      wildcard[0] = '*';
      auto parent = server_name.substr(dot);
      parent.copy(wildcard + 1, parent.size());
      if (auto it = hosts_.find(std::string_view(wildcard, parent.size() + 1)); it != hosts_.end())
        return it->second;
    }
  }
  return server_->default_options();
}

SSL* new_server_ssl(const EntryPointTls& ep, ConnectionState& state) {
  SSL_CTX* ctx = initial_options(ep).ctx;
  if (!ctx)
    return nullptr;
  SSL* ssl = SSL_new(ctx);
  if (!ssl)
    return nullptr;
  state.entrypoint = &ep;
  SSL_set_ex_data(ssl, state_index(), &state);
  SSL_set_accept_state(ssl);
  return ssl;
}

void record_handshake(SSL* ssl, ConnectionState& state) {
  http::TlsInfo& info = state.info;
  info.server_name = state.server_name;
  info.version = version_name(SSL_version(ssl));
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
  info.cipher = cipher ? SSL_CIPHER_standard_name(cipher) : "";
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
  info.alpn = alpn ? std::string_view(reinterpret_cast<const char*>(alpn), alpn_len) : "";
  state.peer_certificates.clear();
  if (X509* leaf = SSL_get0_peer_certificate(ssl)) {
    state.peer_certificates.push_back(leaf);
    // On the server side the chain excludes the leaf.
    if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl))
      for (int i = 0; i < sk_X509_num(chain); ++i) {
        X509* x = sk_X509_value(chain, i);
        if (X509_cmp(x, leaf) != 0)
          state.peer_certificates.push_back(x);
      }
  }
  info.peer_certificates = state.peer_certificates;
  state.entrypoint = nullptr; // the snapshot that owns it may go away after the handshake
}

} // namespace turnpike::tls
