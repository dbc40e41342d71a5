#pragma once
// Traefik's sourceCriterion: which requests share a limit in inFlightReq and rateLimit.
//
//   sourceCriterion:
//     ipStrategy: {depth, excludedIPs, ipv6Subnet}   # see client_ip.h
//     requestHeaderName: X-Api-Key                   # the header's first value
//     requestHost: true                              # the Host as the client sent it
//
// Without any of them the source is the connection's peer address (ipStrategy's default). When
// several are set, Traefik's precedence applies: ipStrategy, then requestHeaderName, then
// requestHost. A strategy that selects no address (depth beyond X-Forwarded-For...) and an absent
// header give the empty source, which all such requests share, as in Traefik.
// Immutable after decoding; safe to share by every worker.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "config/tree/decoder.h"
#include "http/message.h"
#include "middleware/client_ip.h"

namespace turnpike::middleware {

class SourceCriterion {
 public:
  // Decodes the optional section `key` ("sourceCriterion") of `dec`; errors go to `dec`.
  static SourceCriterion decode(config::Decoder& dec, std::string_view key);

  // Writes the request's source into `out` (replacing its content; reuse it to avoid allocating).
  void source(const http::Request& req, std::string& out) const;

 private:
  enum class Kind { kIp, kHeader, kHost };
  Kind kind_ = Kind::kIp;
  ClientIpStrategy ip_;
  std::string header_;
};

// A keyed 64-bit hash of sources (SipHash-2-4 with a random key per instance), for the tables that
// index per-source state: clients choose their sources, so they must not be able to choose
// colliding ones. Immutable after construction; safe to share by every worker.
class SourceHasher {
 public:
  SourceHasher();
  uint64_t operator()(std::string_view source) const;

 private:
  uint64_t k0_ = 0, k1_ = 0;
};

}  // namespace turnpike::middleware
