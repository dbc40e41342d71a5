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

// A server address as TCP and UDP services write it: "host:port", "10.0.0.1:53", "[::1]:53"
// (Go's net.SplitHostPort with a numeric port 1-65535). The host is returned without brackets.
struct HostPort {
  std::string host;
  uint16_t port = 0;
};
Result<HostPort> split_host_port(std::string_view address);

// A backend of a TCP or UDP service: its "host:port" address and weight.
struct ServerAddress {
  std::string address;  // as configured
  std::string host;     // without brackets
  uint16_t port = 0;
  int weight = 1;
  // Set when the host is an IP literal: no name resolution is needed to reach it.
  std::optional<boost::asio::ip::address> ip;

  static Result<ServerAddress> parse(std::string_view address, int weight = 1);
};

}  // namespace turnpike
