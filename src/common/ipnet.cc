#include "common/ipnet.h"

#include <cstring>

#include "common/strings.h"

namespace turnpike {

namespace ip = boost::asio::ip;

std::optional<ip::address> parse_ip(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']')
    text = text.substr(1, text.size() - 2);
  boost::system::error_code ec;
  auto addr = ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  return canonical_ip(addr);
}

ip::address canonical_ip(const ip::address& addr) {
  if (addr.is_v6() && addr.to_v6().is_v4_mapped())
    return ip::make_address_v4(ip::v4_mapped, addr.to_v6());
  return addr;
}

Result<IpNet> IpNet::parse(std::string_view text) {
  IpNet net;
  net.text_ = std::string(text);
  std::string_view addr_part = text;
  std::optional<int> prefix;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    addr_part = text.substr(0, slash);
    auto p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3) return make_error("invalid CIDR \"" + std::string(text) + "\"");
    int v = 0;
    for (char c : p) {
      if (c < '0' || c > '9') return make_error("invalid CIDR \"" + std::string(text) + "\"");
      v = v * 10 + (c - '0');
    }
    prefix = v;
  }
  boost::system::error_code ec;
  auto addr = ip::make_address(std::string(addr_part), ec);
  if (ec) return make_error("invalid IP address \"" + std::string(text) + "\"");
  addr = canonical_ip(addr);
  if (addr.is_v4()) {
    auto b = addr.to_v4().to_bytes();
    std::memcpy(net.bytes_.data(), b.data(), 4);
    net.prefix_ = prefix.value_or(32);
    if (net.prefix_ > 32) return make_error("invalid CIDR \"" + std::string(text) + "\"");
  } else {
    net.v6_ = true;
    auto b = addr.to_v6().to_bytes();
    std::memcpy(net.bytes_.data(), b.data(), 16);
    net.prefix_ = prefix.value_or(128);
    if (net.prefix_ > 128) return make_error("invalid CIDR \"" + std::string(text) + "\"");
  }
  return net;
}

bool IpNet::contains(const ip::address& raw) const {
  ip::address addr = canonical_ip(raw);
  unsigned char b[16];
  if (addr.is_v4()) {
    if (v6_) return false;
    auto a = addr.to_v4().to_bytes();
    std::memcpy(b, a.data(), 4);
  } else {
    if (!v6_) return false;
    auto a = addr.to_v6().to_bytes();
    std::memcpy(b, a.data(), 16);
  }
  int full = prefix_ / 8, rem = prefix_ % 8;
  if (std::memcmp(b, bytes_.data(), full) != 0) return false;
  if (rem == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rem));
  return (b[full] & mask) == (bytes_[full] & mask);
}

Result<IpNetSet> IpNetSet::parse(const std::vector<std::string>& ranges) {
  IpNetSet set;
  for (const auto& r : ranges) {
    auto n = IpNet::parse(r);
    if (!n) return n.error();
    set.nets_.push_back(std::move(*n));
  }
  return set;
}

bool IpNetSet::contains(const ip::address& addr) const {
  for (const auto& n : nets_)
    if (n.contains(addr)) return true;
  return false;
}

Result<HostPort> split_host_port(std::string_view address) {
  auto bad = [&](std::string_view why) {
    return make_error("invalid address \"" + std::string(address) + "\": " + std::string(why));
  };
  HostPort out;
  std::string_view port;
  if (!address.empty() && address.front() == '[') {
    auto close = address.find(']');
    if (close == std::string_view::npos || close + 1 >= address.size() || address[close + 1] != ':')
      return bad("expected [host]:port");
    out.host = std::string(address.substr(1, close - 1));
    port = address.substr(close + 2);
  } else {
    auto colon = address.rfind(':');
    if (colon == std::string_view::npos) return bad("missing port (host:port)");
    out.host = std::string(address.substr(0, colon));
    if (out.host.find(':') != std::string::npos)
      return bad("an IPv6 host must be in brackets ([::1]:53)");
    port = address.substr(colon + 1);
  }
  if (out.host.empty()) return bad("missing host");
  auto p = parse_uint(port);
  if (!p || *p == 0 || *p > 65535) return bad("invalid port");
  out.port = static_cast<uint16_t>(*p);
  return out;
}

Result<ServerAddress> ServerAddress::parse(std::string_view address, int weight) {
  auto hp = split_host_port(address);
  if (!hp) return hp.error();
  ServerAddress s;
  s.address = std::string(address);
  s.host = std::move(hp->host);
  s.port = hp->port;
  s.weight = weight;
  s.ip = parse_ip(s.host);
  return s;
}

}  // namespace turnpike
