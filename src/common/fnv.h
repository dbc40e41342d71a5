#pragma once
// 64-bit FNV-1a: a small, stable, non-cryptographic hash for names and keys (sticky cookie
// values, generated object names, balancer keys). Stable across runs and builds, so its output
// may be stored or shown to users.

#include <cstdint>
#include <string_view>

namespace turnpike {

inline constexpr uint64_t kFnv1aOffset = 0xcbf29ce484222325ull;

inline uint64_t fnv1a64(std::string_view data, uint64_t basis = kFnv1aOffset) {
  uint64_t h = basis;
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace turnpike
