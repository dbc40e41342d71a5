#pragma once
// Lower-case hex of bytes, digests and random values: the generated names, keys and nonces that
// the gateway writes (sticky cookie values, router name suffixes, EVALSHA names, TLS context
// labels, ACME lock tokens, digestAuth nonces). Pure functions; any thread.

#include <cstddef>
#include <string>
#include <string_view>

#include <openssl/evp.h>

namespace turnpike {

// Two lower-case hex digits per byte.
std::string hex_encode(const unsigned char* bytes, size_t n);

// The `md` digest (EVP_sha256(), EVP_sha1(), EVP_md5()) of `data` in lower-case hex, cut to its
// first `hex_digits` digits.
std::string digest_hex(const EVP_MD* md, std::string_view data,
                       size_t hex_digits = std::string::npos);

// `bytes` bytes from OpenSSL's CSPRNG, in hex.
std::string random_hex(size_t bytes);

}  // namespace turnpike
