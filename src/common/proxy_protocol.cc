#include "common/proxy_protocol.h"

#include <array>
#include <cstring>

#include "common/ipnet.h"
#include "common/strings.h"

namespace turnpike::proxy_protocol {
namespace {

namespace ip = boost::asio::ip;
using tcp = ip::tcp;
using Status = ParseResult::Status;

constexpr std::string_view kV1Signature = "PROXY ";
constexpr std::string_view kV2Signature{"\r\n\r\n\0\r\nQUIT\n", 12};

ParseResult incomplete(size_t need) {
  ParseResult r;
  r.status = Status::kIncomplete;
  r.need = need;
  return r;
}

ParseResult invalid(std::string_view why) {
  ParseResult r;
  r.status = Status::kInvalid;
  r.error = why;
  return r;
}

ParseResult not_proxy() {
  ParseResult r;
  r.status = Status::kNotProxy;
  return r;
}

// True when the first min(size, sig.size()) bytes of `data` equal the signature's.
bool matches_prefix(std::string_view data, std::string_view sig) {
  size_t n = std::min(data.size(), sig.size());
  return data.substr(0, n) == sig.substr(0, n);
}

std::optional<uint16_t> parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5)
    return std::nullopt;
  auto v = parse_uint(s);
  if (!v || *v > 65535)
    return std::nullopt;
  return static_cast<uint16_t>(*v);
}

std::optional<ip::address> parse_v1_address(std::string_view s, bool v6) {
  // inet_pton through Asio: strict dotted quads for IPv4; no scope ids in a PROXY header.
  if (s.empty() || s.find('%') != std::string_view::npos)
    return std::nullopt;
  boost::system::error_code ec;
  if (v6) {
    auto a = ip::make_address_v6(std::string(s), ec);
    if (ec)
      return std::nullopt;
    return ip::address(a);
  }
  auto a = ip::make_address_v4(std::string(s), ec);
  if (ec)
    return std::nullopt;
  return ip::address(a);
}

ParseResult parse_v1(std::string_view data) {
  if (data.size() < kV1Signature.size())
    return incomplete(kV1Signature.size());
  // Find the CRLF within the 107-byte limit; only printable ASCII may precede it.
  size_t end = 0;
  size_t limit = std::min(data.size(), kV1MaxLength);
  for (size_t i = kV1Signature.size(); i < limit; ++i) {
    char c = data[i];
    if (c == '\r') {
      if (i + 1 >= data.size())
        return incomplete(i + 2);
      if (data[i + 1] != '\n')
        return invalid("PROXY v1 header: CR not followed by LF");
      end = i + 2;
      break;
    }
    if (c < 0x20 || c > 0x7e)
      return invalid("PROXY v1 header: invalid character");
  }
  if (end == 0) {
    if (data.size() >= kV1MaxLength)
      return invalid("PROXY v1 header longer than 107 bytes");
    return incomplete(data.size() + 1);
  }
  std::string_view line = data.substr(kV1Signature.size(), end - 2 - kV1Signature.size());
  ParseResult r;
  r.status = Status::kHeader;
  r.length = end;
  r.header.version = 1;
  if (line.starts_with("UNKNOWN")) {
    // "the receiver must ignore anything presented before the CRLF"
    if (line.size() > 7 && line[7] != ' ')
      return invalid("PROXY v1 header: unknown protocol");
    return r;
  }
  std::array<std::string_view, 5> fields;
  size_t count = 0;
  for (size_t start = 0;;) {
    size_t sp = line.find(' ', start);
    std::string_view f = line.substr(start, sp == std::string_view::npos ? sp : sp - start);
    if (f.empty() || count == fields.size())
      return invalid("PROXY v1 header: malformed fields");
    fields[count++] = f;
    if (sp == std::string_view::npos)
      break;
    start = sp + 1;
  }
  if (count != fields.size())
    return invalid("PROXY v1 header: malformed fields");
  bool v6;
  if (fields[0] == "TCP4") {
    v6 = false;
  } else if (fields[0] == "TCP6") {
    v6 = true;
  } else {
    return invalid("PROXY v1 header: unknown protocol");
  }
  auto src = parse_v1_address(fields[1], v6);
  auto dst = parse_v1_address(fields[2], v6);
  if (!src || !dst)
    return invalid("PROXY v1 header: invalid address for its protocol");
  auto sport = parse_port(fields[3]);
  auto dport = parse_port(fields[4]);
  if (!sport || !dport)
    return invalid("PROXY v1 header: invalid port");
  r.header.source = tcp::endpoint(*src, *sport);
  r.header.destination = tcp::endpoint(*dst, *dport);
  return r;
}

uint16_t be16(std::string_view data, size_t at) {
  return static_cast<uint16_t>((static_cast<unsigned char>(data[at]) << 8) |
                               static_cast<unsigned char>(data[at + 1]));
}

ParseResult parse_v2(std::string_view data) {
  if (data.size() < kV2FixedLength)
    return incomplete(kV2FixedLength);
  auto ver_cmd = static_cast<unsigned char>(data[12]);
  auto family = static_cast<unsigned char>(data[13]);
  size_t payload = be16(data, 14);
  if ((ver_cmd >> 4) != 2)
    return invalid("PROXY v2 header: unsupported version");
  unsigned command = ver_cmd & 0x0f;
  if (command > 1)
    return invalid("PROXY v2 header: unknown command");
  if (payload > kV2MaxPayload)
    return invalid("PROXY v2 header: longer than 4096 bytes");
  size_t total = kV2FixedLength + payload;
  if (data.size() < total)
    return incomplete(total);

  ParseResult r;
  r.status = Status::kHeader;
  r.length = total;
  r.header.version = 2;
  // LOCAL: the proxy speaks for itself (health checks); the block is skipped whatever it holds.
  if (command == 0)
    return r;

  size_t address_length;
  switch (family) {
  case 0x00:
    address_length = 0;
    break; // UNSPEC
  case 0x11:
  case 0x12:
    address_length = 12;
    break; // INET stream / dgram
  case 0x21:
  case 0x22:
    address_length = 36;
    break; // INET6 stream / dgram
  case 0x31:
  case 0x32:
    address_length = 216;
    break; // UNIX stream / dgram
  default:
    return invalid("PROXY v2 header: unsupported address family or protocol");
  }
  if (payload < address_length)
    return invalid("PROXY v2 header: too short for its addresses");
  // TLVs (type, 16-bit length, value) must tile the rest of the block exactly.
  for (size_t p = kV2FixedLength + address_length; p < total;) {
    if (total - p < 3)
      return invalid("PROXY v2 header: truncated TLV");
    p += 3 + be16(data, p + 1);
    if (p > total)
      return invalid("PROXY v2 header: truncated TLV");
  }
  const auto* a = reinterpret_cast<const unsigned char*>(data.data()) + kV2FixedLength;
  if (address_length == 12) {
    ip::address_v4::bytes_type s, d;
    std::memcpy(s.data(), a, 4);
    std::memcpy(d.data(), a + 4, 4);
    r.header.source = tcp::endpoint(ip::address_v4(s), be16(data, kV2FixedLength + 8));
    r.header.destination = tcp::endpoint(ip::address_v4(d), be16(data, kV2FixedLength + 10));
  } else if (address_length == 36) {
    ip::address_v6::bytes_type s, d;
    std::memcpy(s.data(), a, 16);
    std::memcpy(d.data(), a + 16, 16);
    r.header.source = tcp::endpoint(ip::address_v6(s), be16(data, kV2FixedLength + 32));
    r.header.destination = tcp::endpoint(ip::address_v6(d), be16(data, kV2FixedLength + 34));
  }
  return r;
}

void put16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}

} // namespace

ParseResult parse(std::string_view data) {
  if (data.empty())
    return incomplete(1);
  if (matches_prefix(data, kV1Signature))
    return parse_v1(data);
  if (matches_prefix(data, kV2Signature))
    return parse_v2(data);
  return not_proxy();
}

std::string encode(int version, const tcp::endpoint& source, const tcp::endpoint& destination) {
  ip::address src = canonical_ip(source.address());
  ip::address dst = canonical_ip(destination.address());
  bool v4 = src.is_v4() && dst.is_v4();
  auto as_v6 = [](const ip::address& a) {
    return a.is_v6() ? a.to_v6() : ip::make_address_v6(ip::v4_mapped, a.to_v4());
  };
  std::string out;
  if (version == 1) {
    out = v4 ? "PROXY TCP4 " : "PROXY TCP6 ";
    out += v4 ? src.to_string() : as_v6(src).to_string();
    out += ' ';
    out += v4 ? dst.to_string() : as_v6(dst).to_string();
    out += ' ' + std::to_string(source.port()) + ' ' + std::to_string(destination.port()) + "\r\n";
    return out;
  }
  out.assign(kV2Signature);
  out.push_back('\x21'); // version 2, PROXY
  out.push_back(v4 ? '\x11' : '\x21');
  put16(out, v4 ? 12 : 36);
  if (v4) {
    auto s = src.to_v4().to_bytes();
    auto d = dst.to_v4().to_bytes();
    out.append(reinterpret_cast<const char*>(s.data()), s.size());
    out.append(reinterpret_cast<const char*>(d.data()), d.size());
  } else {
    auto s = as_v6(src).to_bytes();
    auto d = as_v6(dst).to_bytes();
    out.append(reinterpret_cast<const char*>(s.data()), s.size());
    out.append(reinterpret_cast<const char*>(d.data()), d.size());
  }
  put16(out, source.port());
  put16(out, destination.port());
  return out;
}

} // namespace turnpike::proxy_protocol
