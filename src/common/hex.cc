#include "common/hex.h"

#include <algorithm>
#include <vector>

#include <openssl/rand.h>

namespace turnpike {

std::string hex_encode(const unsigned char* bytes, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * n, '\0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 15];
  }
  return out;
}

std::string digest_hex(const EVP_MD* md, std::string_view data, size_t hex_digits) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, md, nullptr);
  std::string hex = hex_encode(out, len);
  hex.resize(std::min(hex.size(), hex_digits));
  return hex;
}

std::string random_hex(size_t bytes) {
  std::vector<unsigned char> b(bytes);
  RAND_bytes(b.data(), static_cast<int>(b.size()));
  return hex_encode(b.data(), b.size());
}

}  // namespace turnpike
