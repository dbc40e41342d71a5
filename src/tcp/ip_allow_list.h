#pragma once
// TCP ipAllowList (the deprecated `ipWhiteList` key is an alias): accepts a connection only when
// its client address (after the PROXY protocol, when trusted) is in one of the ranges, and closes
// it otherwise. IPv4-mapped IPv6 peers match IPv4 ranges.
//
//   tcp.middlewares.<name>.ipAllowList:
//     sourceRange: ["127.0.0.1/32", "192.168.1.7", "fe80::/10"]   # required, non-empty
//
// Immutable; shared by every worker.

#include "common/ipnet.h"
#include "tcp/middleware.h"

namespace turnpike::tcp {

class IpAllowList final : public Handler {
public:
  IpAllowList(IpNetSet allowed, HandlerPtr next)
      : allowed_(std::move(allowed)), next_(std::move(next)) {}
  Task<void> serve(Connection& conn) const override;

private:
  IpNetSet allowed_;
  HandlerPtr next_;
};

Wrap build_ip_allow_list(config::Decoder& dec);

} // namespace turnpike::tcp
