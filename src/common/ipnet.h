#pragma once
// IP addresses and CIDR ranges (IPv4, IPv6, IPv4-mapped IPv6 treated as IPv4). Immutable after
// construction; safe to share across workers.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "common/result.h"

namespace turnpike {

class IpNet {
 public:
  // Accepts "10.0.0.0/8", "192.168.1.7" (host route), "::1", "fe80::/10".
  static Result<IpNet> parse(std::string_view text);
  bool contains(const boost::asio::ip::address& addr) const;
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  bool v6_ = false;
  std::array<unsigned char, 16> bytes_{};
  int prefix_ = 0;
};

class IpNetSet {
 public:
  static Result<IpNetSet> parse(const std::vector<std::string>& ranges);
  bool contains(const boost::asio::ip::address& addr) const;
  bool empty() const { return nets_.empty(); }

 private:
  std::vector<IpNet> nets_;
};

// Parses an address, tolerating brackets and a zone-less IPv6; nullopt on junk.
std::optional<boost::asio::ip::address> parse_ip(std::string_view text);

// Unmaps ::ffff:a.b.c.d to a.b.c.d so that v4 ranges match v4-mapped peers.
boost::asio::ip::address canonical_ip(const boost::asio::ip::address& addr);

}  // namespace turnpike
