#include "middleware/source_criterion.h"

#include <cstring>

#include <openssl/rand.h>

#include "middleware/local_reply.h"

namespace turnpike::middleware {
namespace {

constexpr uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

struct SipState {
  uint64_t v0, v1, v2, v3;
  void round() {
    v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
    v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
  }
  void absorb(uint64_t m) {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
};

}  // namespace

SourceHasher::SourceHasher() {
  unsigned char key[16];
  if (RAND_bytes(key, sizeof key) != 1) {
    // Without randomness the table still works; only collision resistance is lost.
    std::memset(key, 0x5a, sizeof key);
  }
  std::memcpy(&k0_, key, 8);
  std::memcpy(&k1_, key + 8, 8);
}

uint64_t SourceHasher::operator()(std::string_view source) const {
  SipState s{k0_ ^ 0x736f6d6570736575ULL, k1_ ^ 0x646f72616e646f6dULL,
             k0_ ^ 0x6c7967656e657261ULL, k1_ ^ 0x7465646279746573ULL};
  const size_t n = source.size();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t m;
    std::memcpy(&m, source.data() + i, 8);  // little-endian host (x86-64, aarch64)
    s.absorb(m);
  }
  uint64_t last = static_cast<uint64_t>(n) << 56;
  for (size_t k = 0; i + k < n; ++k)
    last |= static_cast<uint64_t>(static_cast<unsigned char>(source[i + k])) << (8 * k);
  s.absorb(last);
  s.v2 ^= 0xff;
  for (int r = 0; r < 4; ++r) s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

SourceCriterion SourceCriterion::decode(config::Decoder& dec, std::string_view key) {
  SourceCriterion s;
  const config::Node* node = dec.section(key);
  if (!node) return s;
  config::Decoder sub(*node, dec.child_path(key), dec.errors());
  const bool has_ip = sub.section("ipStrategy") != nullptr;
  s.ip_ = ClientIpStrategy::decode(sub, "ipStrategy");
  bool host = false;
  sub.get("requestHeaderName", s.header_);
  sub.get("requestHost", host);
  sub.finish();
  if (!s.header_.empty() && !is_header_name(s.header_))
    sub.fail("requestHeaderName", "invalid header name \"" + s.header_ + "\"");
  if (has_ip) {
    s.kind_ = Kind::kIp;
  } else if (!s.header_.empty()) {
    s.kind_ = Kind::kHeader;
  } else if (host) {
    s.kind_ = Kind::kHost;
  }
  return s;
}

void SourceCriterion::source(const http::Request& req, std::string& out) const {
  out.clear();
  switch (kind_) {
    case Kind::kIp:
      if (auto ip = ip_.client_ip(req)) out = ip->to_string();
      return;
    case Kind::kHeader:
      if (auto v = req.headers.get(header_)) out.assign(*v);
      return;
    case Kind::kHost:
      out = req.authority;
      return;
  }
}

}  // namespace turnpike::middleware
