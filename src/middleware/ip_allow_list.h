#pragma once
// ipAllowList (Traefik's IPAllowList; the deprecated `ipWhiteList` key is an alias): lets a request
// through only when its client address is in one of the ranges.
//
//   http.middlewares.<name>.ipAllowList:
//     sourceRange: ["127.0.0.1/32", "192.168.1.7", "fe80::/10"]   # required, non-empty
//     ipStrategy: {depth, excludedIPs, ipv6Subnet}                # see client_ip.h
//     rejectStatusCode: 403                                       # any status Go knows
//
// A rejected request is answered rejectStatusCode with the status text as body. IPv4-mapped IPv6
// peers match IPv4 ranges. Immutable; shared by every worker.

#include "common/ipnet.h"
#include "middleware/client_ip.h"
#include "middleware/middleware.h"

namespace turnpike::middleware {

class IpAllowList final : public http::Handler {
 public:
  IpAllowList(IpNetSet allowed, ClientIpStrategy strategy, int reject_status, HandlerPtr next);
  http::Task<void> handle(http::Exchange& ex) const override;

 private:
  IpNetSet allowed_;
  ClientIpStrategy strategy_;
  int reject_status_;
  HandlerPtr next_;
};

// Factory registered as "ipAllowList" and "ipWhiteList".
Wrap build_ip_allow_list(config::Decoder& dec, BuildContext& ctx);

}  // namespace turnpike::middleware
