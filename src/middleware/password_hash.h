#pragma once
// htpasswd password hashes, as Traefik's basicAuth accepts them (go-http-auth's CheckSecret):
//   bcrypt   "$2y$..." ("$2a$", "$2b$", "$2x$" too)   htpasswd -B   (verified by libxcrypt)
//   MD5      "$apr1$salt$hash" (also "$1$")          htpasswd -m, openssl passwd -apr1
//   SHA-1    "{SHA}base64(sha1(password))"           htpasswd -s
// Plain-text passwords and other crypt(3) schemes are not accepted, as in Traefik.
//
// Thread-safe: a PasswordHash is immutable. verify() is CPU-bound and never blocks on I/O, but a
// bcrypt verification costs 2^cost rounds (cost 10: tens of milliseconds), during which the
// calling worker serves nothing else; see basic_auth.h for the cache that bounds this.

#include <array>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace turnpike::middleware {

class PasswordHash {
 public:
  enum class Scheme { kBcrypt, kMd5Crypt, kSha1 };

  // nullopt when `hash` is not in one of the accepted formats.
  static std::optional<PasswordHash> parse(std::string_view hash);

  Scheme scheme() const { return scheme_; }
  // True when `password` hashes to this hash. Comparisons are constant-time.
  bool verify(std::string_view password) const;

 private:
  Scheme scheme_ = Scheme::kSha1;
  std::string hash_;
  std::string magic_;  // "$apr1$" / "$1$" (MD5 only)
  std::string salt_;   // MD5 only
};

// Secrets recently verified against a slow (bcrypt) hash, so that a client repeating a valid
// secret pays the verification once per eviction: 256 slots of 64-bit tags (a keyed HMAC of the
// secret under a random per-instance key, so the table reveals nothing), shared by every worker,
// lock-free. Only successes are remembered: brute force still costs CPU (put a rateLimit in
// front). Any thread.
class VerifiedSecrets {
public:
  VerifiedSecrets();
  // The tag of a secret made of `parts` (joined with NUL bytes); never 0.
  uint64_t tag(std::initializer_list<std::string_view> parts) const;
  bool contains(uint64_t tag) const;
  void remember(uint64_t tag);

private:
  std::array<unsigned char, 32> key_{};
  std::array<std::atomic<uint64_t>, 256> slots_{}; // 0 = empty
};

// The MD5-crypt algorithm (FreeBSD's md5crypt, with Apache's "$apr1$" magic or the original "$1$"):
// returns magic + salt + "$" + 22 characters. `salt` is cut to 8 characters.
std::string md5_crypt(std::string_view password, std::string_view salt, std::string_view magic);

}  // namespace turnpike::middleware
