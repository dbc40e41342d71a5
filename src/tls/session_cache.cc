#include "tls/session_cache.h"

#include <cstring>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

namespace turnpike::tls {
namespace {

// SSL_CTX ex_data slots for the shared objects (the callbacks get an SSL or an SSL_CTX only).
int keys_index() {
  static int i = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return i;
}
int cache_index() {
  static int i = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return i;
}

const EVP_CIPHER* ticket_cipher() {
  // Fetched once: the implicit fetch of EVP_aes_256_cbc() would search the providers per ticket.
  static EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
  return c;
}

TicketKeys::Key fresh_key() {
  TicketKeys::Key k;
  RAND_bytes(k.name.data(), static_cast<int>(k.name.size()));
  RAND_bytes(k.aes_key.data(), static_cast<int>(k.aes_key.size()));
  RAND_bytes(k.hmac_key.data(), static_cast<int>(k.hmac_key.size()));
  return k;
}

int set_mac_key(EVP_MAC_CTX* hctx, const TicketKeys::Key& key) {
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(
          OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(key.hmac_key.data()), key.hmac_key.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_end()};
  return EVP_MAC_CTX_set_params(hctx, params);
}

// RFC 5077 ticket protection with the shared, rotating keys. Returns 1 (ok), 2 (decrypted with
// an older key: issue a fresh ticket), 0 (unknown key: full handshake), -1 (error).
int ticket_key_callback(SSL* ssl, unsigned char key_name[16], unsigned char iv[16],
                        EVP_CIPHER_CTX* cctx, EVP_MAC_CTX* hctx, int encrypt) {
  auto* keys = static_cast<TicketKeys*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), keys_index()));
  if (!keys)
    return -1;
  auto set = keys->current();
  if (!set || set->empty())
    return -1;
  if (encrypt) {
    const auto& key = set->front();
    if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1)
      return -1;
    std::memcpy(key_name, key.name.data(), key.name.size());
    if (EVP_EncryptInit_ex(cctx, ticket_cipher(), nullptr, key.aes_key.data(), iv) != 1)
      return -1;
    return set_mac_key(hctx, key) == 1 ? 1 : -1;
  }
  for (size_t i = 0; i < set->size(); ++i) {
    const auto& key = (*set)[i];
    if (std::memcmp(key_name, key.name.data(), key.name.size()) != 0)
      continue;
    if (set_mac_key(hctx, key) != 1)
      return -1;
    if (EVP_DecryptInit_ex(cctx, ticket_cipher(), nullptr, key.aes_key.data(), iv) != 1)
      return -1;
    return i == 0 ? 1 : 2;
  }
  return 0;
}

SessionCache* cache_of(SSL_CTX* ctx) {
  return static_cast<SessionCache*>(SSL_CTX_get_ex_data(ctx, cache_index()));
}

} // namespace

TicketKeys::TicketKeys() {
  keys_.store(std::make_shared<const std::vector<Key>>(std::vector<Key>{fresh_key()}));
}

void TicketKeys::rotate() {
  auto old = current();
  std::vector<Key> next;
  next.reserve(kTicketKeysKept);
  next.push_back(fresh_key());
  for (size_t i = 0; old && i < old->size() && next.size() < kTicketKeysKept; ++i)
    next.push_back((*old)[i]);
  keys_.store(std::make_shared<const std::vector<Key>>(std::move(next)), std::memory_order_release);
}

SessionCache::SessionCache(size_t capacity) : shard_capacity_(std::max<size_t>(1, capacity / 16)) {}

SessionCache::~SessionCache() {
  for (auto& s : shards_)
    for (auto& [id, session] : s.sessions)
      SSL_SESSION_free(session);
}

size_t SessionCache::size() const {
  size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard lock(s.mu);
    n += s.sessions.size();
  }
  return n;
}

SessionCache::Shard& SessionCache::shard_for(std::string_view id) {
  // Session IDs are random; their first byte spreads them evenly.
  return shards_[id.empty() ? 0 : static_cast<unsigned char>(id[0]) % shards_.size()];
}

int SessionCache::add(SSL* ssl, SSL_SESSION* session) {
  // TLS 1.3 with stateless tickets: the ticket carries the session, nothing to keep here
  // (OpenSSL still reports each such session to this callback).
  if (SSL_version(ssl) == TLS1_3_VERSION && !(SSL_get_options(ssl) & SSL_OP_NO_TICKET))
    return 0;
  unsigned int len = 0;
  const unsigned char* id = SSL_SESSION_get_id(session, &len);
  if (len == 0)
    return 0; // a TLS 1.2 session resumed by ticket only
  std::string key(reinterpret_cast<const char*>(id), len);
  Shard& s = shard_for(key);
  std::lock_guard lock(s.mu);
  auto [it, inserted] = s.sessions.try_emplace(key, session);
  if (!inserted) {
    SSL_SESSION_free(it->second);
    it->second = session;
  } else {
    s.order.push_back(std::move(key));
  }
  while (s.sessions.size() > shard_capacity_ && !s.order.empty()) {
    auto victim = s.sessions.find(s.order.front());
    if (victim != s.sessions.end()) {
      SSL_SESSION_free(victim->second);
      s.sessions.erase(victim);
    }
    s.order.pop_front();
  }
  // Ids of removed sessions linger in `order`; compact when they dominate.
  if (s.order.size() > 2 * shard_capacity_ + 16) {
    std::deque<std::string> live;
    for (auto& k : s.order)
      if (s.sessions.count(k))
        live.push_back(std::move(k));
    s.order.swap(live);
  }
  return 1; // the cache keeps the reference OpenSSL handed over
}

SSL_SESSION* SessionCache::get(const unsigned char* id, int length) {
  std::string key(reinterpret_cast<const char*>(id), static_cast<size_t>(length));
  Shard& s = shard_for(key);
  std::lock_guard lock(s.mu);
  auto it = s.sessions.find(key);
  if (it == s.sessions.end())
    return nullptr;
  SSL_SESSION_up_ref(it->second);
  return it->second;
}

void SessionCache::remove(SSL_SESSION* session) {
  unsigned int len = 0;
  const unsigned char* id = SSL_SESSION_get_id(session, &len);
  std::string key(reinterpret_cast<const char*>(id), len);
  Shard& s = shard_for(key);
  std::lock_guard lock(s.mu);
  auto it = s.sessions.find(key);
  if (it == s.sessions.end())
    return;
  SSL_SESSION_free(it->second);
  s.sessions.erase(it);
}

void attach(SSL_CTX* ctx, TicketKeys* keys, SessionCache* cache) {
  SSL_CTX_set_ex_data(ctx, keys_index(), keys);
  SSL_CTX_set_ex_data(ctx, cache_index(), cache);
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_callback);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL |
                                          SSL_SESS_CACHE_NO_AUTO_CLEAR);
  SSL_CTX_set_timeout(ctx, kSessionTimeoutSeconds);
  SSL_CTX_sess_set_new_cb(ctx, [](SSL* ssl, SSL_SESSION* session) -> int {
    auto* c = cache_of(SSL_get_SSL_CTX(ssl));
    return c ? c->add(ssl, session) : 0;
  });
  SSL_CTX_sess_set_get_cb(
      ctx, [](SSL* ssl, const unsigned char* id, int len, int* copy) -> SSL_SESSION* {
        *copy = 0; // the returned reference is the caller's
        auto* c = cache_of(SSL_get_SSL_CTX(ssl));
        return c ? c->get(id, len) : nullptr;
      });
  SSL_CTX_sess_set_remove_cb(ctx, [](SSL_CTX* c, SSL_SESSION* session) {
    if (auto* cache = cache_of(c))
      cache->remove(session);
  });
}

} // namespace turnpike::tls
