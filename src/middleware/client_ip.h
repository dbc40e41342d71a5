#pragma once
// Traefik's ipStrategy: which address stands for the client in ipAllowList (and, later, rateLimit
// and inFlightReq source criteria).
//
//   ipStrategy:
//     depth: 2              # use the 2nd address from the right of X-Forwarded-For
//     excludedIPs: [...]    # else: the first address from the right that is not in these ranges
//     ipv6Subnet: 64        # mask an IPv6 client address to its /64 (depth and remote address)
//
// Without ipStrategy (or with none of depth/excludedIPs) the client is the connection's peer
// (request.client_addr, after PROXY protocol). A depth beyond the list, a list where every address
// is excluded, or an entry that is not an IP select no client: callers reject the request.
// Differences from Traefik: X-Forwarded-For fields are joined (RFC 9110 list semantics) instead of
// reading only the first field, so an appended second field is not skipped.
// Immutable after decoding; safe to share by every worker.

#include <optional>

#include <boost/asio/ip/address.hpp>

#include "common/ipnet.h"
#include "config/tree/decoder.h"
#include "http/message.h"

namespace turnpike::middleware {

class ClientIpStrategy {
 public:
  // The connection's peer address, unmasked.
  ClientIpStrategy() = default;

  // Decodes the optional section `key` ("ipStrategy") of `dec`; errors go to `dec`. An absent
  // section gives the default strategy.
  static ClientIpStrategy decode(config::Decoder& dec, std::string_view key);

  // The client's address, or nullopt when the strategy selects none.
  std::optional<boost::asio::ip::address> client_ip(const http::Request& req) const;

 private:
  enum class Kind { kRemoteAddr, kDepth, kExcluded };
  Kind kind_ = Kind::kRemoteAddr;
  int depth_ = 0;
  IpNetSet excluded_;
  int ipv6_subnet_ = 0;  // 0 = no masking
};

// Parses one X-Forwarded-For entry: an address, optionally bracketed and/or with a port.
std::optional<boost::asio::ip::address> parse_forwarded_ip(std::string_view text);

}  // namespace turnpike::middleware
