#include "middleware/password_hash.h"

#include <crypt.h>

#include <cstring>
#include <memory>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace turnpike::middleware {
namespace {

bool equal_constant_time(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// One MD5 context, reset between digests.
class Md5 {
 public:
  Md5() : ctx_(EVP_MD_CTX_new()) { reset(); }
  ~Md5() { EVP_MD_CTX_free(ctx_); }
  Md5(const Md5&) = delete;
  Md5& operator=(const Md5&) = delete;

  void reset() { EVP_DigestInit_ex(ctx_, EVP_md5(), nullptr); }
  void update(std::string_view s) { EVP_DigestUpdate(ctx_, s.data(), s.size()); }
  void update(const unsigned char* p, size_t n) { EVP_DigestUpdate(ctx_, p, n); }
  void final(unsigned char out[16]) {
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_, out, &n);
  }

 private:
  EVP_MD_CTX* ctx_;
};

void to64(std::string& out, unsigned long v, int n) {
  static constexpr char kItoa64[] =
      "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  while (--n >= 0) {
    out.push_back(kItoa64[v & 0x3f]);
    v >>= 6;
  }
}

std::string base64(const unsigned char* data, size_t n) {
  std::string out(4 * ((n + 2) / 3), '\0');
  const int len =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<size_t>(len));
  return out;
}

bool verify_crypt(std::string_view password, const std::string& hash) {
  if (password.find('\0') != std::string_view::npos) return false;
  const std::string phrase(password);
  // crypt_data is large (32 KiB): heap, not the coroutine frame.
  auto data = std::make_unique<crypt_data>();
  const char* out = crypt_rn(phrase.c_str(), hash.c_str(), data.get(), sizeof(crypt_data));
  const bool ok = out != nullptr && out[0] != '*' && equal_constant_time(out, hash);
  OPENSSL_cleanse(data.get(), sizeof(crypt_data));
  return ok;
}

}  // namespace

std::string md5_crypt(std::string_view password, std::string_view salt, std::string_view magic) {
  if (salt.size() > 8) salt = salt.substr(0, 8);
  unsigned char final[16];
  Md5 alt;
  alt.update(password);
  alt.update(salt);
  alt.update(password);
  alt.final(final);

  Md5 ctx;
  ctx.update(password);
  ctx.update(magic);
  ctx.update(salt);
  for (size_t left = password.size(); left > 0; left -= std::min<size_t>(left, 16))
    ctx.update(final, std::min<size_t>(left, 16));
  const unsigned char zero = 0;
  for (size_t i = password.size(); i != 0; i >>= 1) {
    if (i & 1)
      ctx.update(&zero, 1);
    else
      ctx.update(reinterpret_cast<const unsigned char*>(password.data()), 1);
  }
  ctx.final(final);

  // 1000 rounds, deliberately slow.
  for (int i = 0; i < 1000; ++i) {
    ctx.reset();
    if (i & 1)
      ctx.update(password);
    else
      ctx.update(final, 16);
    if (i % 3) ctx.update(salt);
    if (i % 7) ctx.update(password);
    if (i & 1)
      ctx.update(final, 16);
    else
      ctx.update(password);
    ctx.final(final);
  }

  std::string out;
  out.reserve(magic.size() + salt.size() + 1 + 22);
  out.append(magic).append(salt).push_back('$');
  to64(out, (static_cast<unsigned long>(final[0]) << 16) | (final[6] << 8) | final[12], 4);
  to64(out, (static_cast<unsigned long>(final[1]) << 16) | (final[7] << 8) | final[13], 4);
  to64(out, (static_cast<unsigned long>(final[2]) << 16) | (final[8] << 8) | final[14], 4);
  to64(out, (static_cast<unsigned long>(final[3]) << 16) | (final[9] << 8) | final[15], 4);
  to64(out, (static_cast<unsigned long>(final[4]) << 16) | (final[10] << 8) | final[5], 4);
  to64(out, final[11], 2);
  OPENSSL_cleanse(final, sizeof(final));
  return out;
}

std::optional<PasswordHash> PasswordHash::parse(std::string_view hash) {
  PasswordHash h;
  h.hash_ = std::string(hash);
  if (hash.starts_with("{SHA}")) {
    if (hash.size() != 5 + 28) return std::nullopt;  // base64 of 20 bytes
    h.scheme_ = Scheme::kSha1;
    return h;
  }
  for (std::string_view prefix : {"$2a$", "$2b$", "$2x$", "$2y$"}) {
    if (hash.starts_with(prefix)) {
      if (hash.size() != 60) return std::nullopt;
      h.scheme_ = Scheme::kBcrypt;
      return h;
    }
  }
  for (std::string_view magic : {"$apr1$", "$1$"}) {
    if (!hash.starts_with(magic)) continue;
    const std::string_view rest = hash.substr(magic.size());
    const size_t dollar = rest.find('$');
    if (dollar == std::string_view::npos || rest.size() - dollar - 1 != 22) return std::nullopt;
    h.scheme_ = Scheme::kMd5Crypt;
    h.magic_ = std::string(magic);
    h.salt_ = std::string(rest.substr(0, dollar));
    return h;
  }
  return std::nullopt;
}

bool PasswordHash::verify(std::string_view password) const {
  switch (scheme_) {
    case Scheme::kBcrypt:
      return verify_crypt(password, hash_);
    case Scheme::kMd5Crypt:
      return equal_constant_time(md5_crypt(password, salt_, magic_), hash_);
    case Scheme::kSha1: {
      unsigned char digest[20];
      unsigned int n = 0;
      EVP_Digest(password.data(), password.size(), digest, &n, EVP_sha1(), nullptr);
      return equal_constant_time(base64(digest, sizeof(digest)),
                                 std::string_view(hash_).substr(5));
    }
  }
  return false;
}

VerifiedSecrets::VerifiedSecrets() {
  RAND_bytes(key_.data(), static_cast<int>(key_.size()));
  for (auto& slot : slots_)
    slot.store(0, std::memory_order_relaxed);
}

uint64_t VerifiedSecrets::tag(std::initializer_list<std::string_view> parts) const {
  std::string msg;
  for (auto p : parts)
    msg.append(p).push_back('\0');
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), mac, &len);
  OPENSSL_cleanse(msg.data(), msg.size());
  uint64_t t = 0;
  for (int i = 0; i < 8; ++i)
    t = (t << 8) | mac[i];
  return t == 0 ? 1 : t;
}

bool VerifiedSecrets::contains(uint64_t tag) const {
  return slots_[tag % slots_.size()].load(std::memory_order_relaxed) == tag;
}

void VerifiedSecrets::remember(uint64_t tag) {
  slots_[tag % slots_.size()].store(tag, std::memory_order_relaxed);
}

}  // namespace turnpike::middleware
