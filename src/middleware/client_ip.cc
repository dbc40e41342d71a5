#include "middleware/client_ip.h"

#include <vector>

#include "common/strings.h"

namespace turnpike::middleware {
namespace {

namespace ip = boost::asio::ip;

ip::address mask_ipv6(const ip::address& addr, int bits) {
  if (bits <= 0 || !addr.is_v6()) return addr;
  auto bytes = addr.to_v6().to_bytes();
  for (int i = 0; i < 16; ++i) {
    const int keep = std::clamp(bits - i * 8, 0, 8);
    bytes[static_cast<size_t>(i)] &= static_cast<unsigned char>(0xff00 >> keep);
  }
  return ip::address_v6(bytes);
}

// Every X-Forwarded-For entry, left to right, trimmed (empty entries kept, as Go's Split does).
std::vector<std::string_view> forwarded_for(const http::Request& req) {
  std::vector<std::string_view> out;
  for (auto field : req.headers.values("X-Forwarded-For"))
    for (auto item : split(field, ',')) out.push_back(item);
  return out;
}

}  // namespace

std::optional<ip::address> parse_forwarded_ip(std::string_view text) {
  if (auto addr = parse_ip(text)) return addr;
  // "[v6]:port" or "v4:port" (Traefik strips a port with net.SplitHostPort).
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find("]:");
    if (close == std::string_view::npos) return std::nullopt;
    return parse_ip(text.substr(1, close - 1));
  }
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos || text.find(':', colon + 1) != std::string_view::npos)
    return std::nullopt;
  return parse_ip(text.substr(0, colon));
}

ClientIpStrategy ClientIpStrategy::decode(config::Decoder& dec, std::string_view key) {
  ClientIpStrategy s;
  const config::Node* node = dec.section(key);
  if (!node) return s;
  config::Decoder sub(*node, dec.child_path(key), dec.errors());
  int depth = 0;
  std::vector<std::string> excluded;
  int subnet = 0;
  const bool has_subnet = sub.get("ipv6Subnet", subnet);
  sub.get("depth", depth);
  sub.get("excludedIPs", excluded);
  sub.finish();
  if (depth < 0) sub.fail("depth", "must be >= 0");
  if (has_subnet && (subnet <= 0 || subnet > 128))
    sub.fail("ipv6Subnet", "must be between 1 and 128");
  if (depth > 0) {
    s.kind_ = Kind::kDepth;
    s.depth_ = depth;
  } else if (!excluded.empty()) {
    auto set = IpNetSet::parse(excluded);
    if (!set) {
      sub.fail("excludedIPs", set.error().message);
    } else {
      s.kind_ = Kind::kExcluded;
      s.excluded_ = std::move(*set);
    }
  }
  if (has_subnet) s.ipv6_subnet_ = subnet;
  return s;
}

std::optional<ip::address> ClientIpStrategy::client_ip(const http::Request& req) const {
  switch (kind_) {
    case Kind::kRemoteAddr:
      return mask_ipv6(canonical_ip(req.client_addr), ipv6_subnet_);
    case Kind::kDepth: {
      auto list = forwarded_for(req);
      if (list.size() < static_cast<size_t>(depth_)) return std::nullopt;
      auto addr = parse_forwarded_ip(list[list.size() - static_cast<size_t>(depth_)]);
      if (!addr) return std::nullopt;
      return mask_ipv6(*addr, ipv6_subnet_);
    }
    case Kind::kExcluded: {
      auto list = forwarded_for(req);
      for (auto it = list.rbegin(); it != list.rend(); ++it) {
        if (it->empty()) continue;
        auto addr = parse_forwarded_ip(*it);
        // Like Traefik, an entry that is not an address is not "excluded": it is selected, and
        // then matches no range.
        if (!addr) return std::nullopt;
        if (!excluded_.contains(*addr)) return addr;
      }
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace turnpike::middleware
