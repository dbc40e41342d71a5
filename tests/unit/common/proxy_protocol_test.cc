// PROXY protocol v1/v2 parsing (complete, incremental, malformed) and encoding.

#include "common/proxy_protocol.h"

#include <gtest/gtest.h>

#include <string>

namespace turnpike::proxy_protocol {
namespace {

using Status = ParseResult::Status;
using boost::asio::ip::make_address;
using tcp = boost::asio::ip::tcp;

std::string v2(unsigned char ver_cmd, unsigned char family, std::string payload) {
  std::string out("\r\n\r\n\0\r\nQUIT\n", 12);
  out.push_back(static_cast<char>(ver_cmd));
  out.push_back(static_cast<char>(family));
  out.push_back(static_cast<char>(payload.size() >> 8));
  out.push_back(static_cast<char>(payload.size() & 0xff));
  return out + payload;
}

std::string inet4_block(std::string tlvs = "") {
  // 10.1.2.3:40000 -> 192.168.0.1:443
  return std::string("\x0a\x01\x02\x03\xc0\xa8\x00\x01\x9c\x40\x01\xbb", 12) + tlvs;
}

// Every strict prefix of a valid header asks for more bytes, never for fewer than it has.
void expect_incremental(const std::string& header) {
  for (size_t n = 0; n < header.size(); ++n) {
    auto r = parse(std::string_view(header).substr(0, n));
    ASSERT_EQ(r.status, Status::kIncomplete) << "prefix of " << n << " bytes";
    EXPECT_GT(r.need, n);
    EXPECT_LE(r.need, header.size());
  }
}

TEST(ProxyProtocol, V1Tcp4) {
  std::string h = "PROXY TCP4 203.0.113.7 198.51.100.1 51234 443\r\n";
  auto r = parse(h + "GET / HTTP/1.1\r\n");
  ASSERT_EQ(r.status, Status::kHeader);
  EXPECT_EQ(r.length, h.size());
  EXPECT_EQ(r.header.version, 1);
  EXPECT_EQ(*r.header.source, tcp::endpoint(make_address("203.0.113.7"), 51234));
  EXPECT_EQ(*r.header.destination, tcp::endpoint(make_address("198.51.100.1"), 443));
  expect_incremental(h);
}

TEST(ProxyProtocol, V1Tcp6AndUnknown) {
  auto r = parse("PROXY TCP6 2001:db8::1 ::1 1 65535\r\n");
  ASSERT_EQ(r.status, Status::kHeader);
  EXPECT_EQ(*r.header.source, tcp::endpoint(make_address("2001:db8::1"), 1));
  EXPECT_EQ(r.header.destination->port(), 65535);

  for (std::string h : {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"}) {
    auto u = parse(h);
    ASSERT_EQ(u.status, Status::kHeader) << h;
    EXPECT_EQ(u.length, h.size());
    EXPECT_FALSE(u.header.source); // the socket's addresses stay
  }
}

TEST(ProxyProtocol, V1Malformed) {
  const char* cases[] = {
      "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",     // unknown protocol
      "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",         // IPv6 address in TCP4
      "PROXY TCP6 1.2.3.4 ::1 1 2\r\n",         // IPv4 address in TCP6
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", // port out of range
      "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",    // not a number
      "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",    // double space
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",   // extra field
      "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",       // missing field
      "PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n",    // not a dotted quad
      "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",    // scope id
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",      // CR without LF
      "PROXY TCP4 1.2.3.4\n5.6.7.8 1 2\r\n",    // control character
      "PROXY UNKNOWNX\r\n",
  };
  for (const char* c : cases)
    EXPECT_EQ(parse(c).status, Status::kInvalid) << c;
  // No CRLF within 107 bytes.
  EXPECT_EQ(parse("PROXY UNKNOWN " + std::string(100, 'a')).status, Status::kInvalid);
  EXPECT_EQ(parse("PROXY UNKNOWN " + std::string(80, 'a')).status, Status::kIncomplete);
}

TEST(ProxyProtocol, NotProxy) {
  EXPECT_EQ(parse("GET / HTTP/1.1\r\n").status, Status::kNotProxy);
  EXPECT_EQ(parse("PROPFIND / HTTP/1.1\r\n").status, Status::kNotProxy);
  EXPECT_EQ(parse("\x16\x03\x01").status, Status::kNotProxy);
  EXPECT_EQ(parse(std::string("\r\n\r\nX", 5)).status, Status::kNotProxy);
  // A prefix shared with a signature is not decided yet.
  EXPECT_EQ(parse("PRO").status, Status::kIncomplete);
  EXPECT_EQ(parse("\r\n").status, Status::kIncomplete);
  EXPECT_EQ(parse("").status, Status::kIncomplete);
}

TEST(ProxyProtocol, V2Inet) {
  std::string h = v2(0x21, 0x11, inet4_block());
  auto r = parse(h + "payload");
  ASSERT_EQ(r.status, Status::kHeader);
  EXPECT_EQ(r.length, 28u);
  EXPECT_EQ(r.header.version, 2);
  EXPECT_EQ(*r.header.source, tcp::endpoint(make_address("10.1.2.3"), 40000));
  EXPECT_EQ(*r.header.destination, tcp::endpoint(make_address("192.168.0.1"), 443));
  expect_incremental(h);
}

TEST(ProxyProtocol, V2Inet6WithTlvs) {
  std::string block(36, '\0');
  block[15] = 1; // ::1
  block[31] = 2; // ::2
  block[32] = 0x30;
  block[33] = 0x39; // 12345
  block[35] = 80;
  std::string tlvs = std::string("\x04\x00\x03"
                                 "abc",
                                 6) +
                     std::string("\x01\x00\x00", 3);
  auto r = parse(v2(0x21, 0x21, block + tlvs));
  ASSERT_EQ(r.status, Status::kHeader);
  EXPECT_EQ(*r.header.source, tcp::endpoint(make_address("::1"), 12345));
  EXPECT_EQ(*r.header.destination, tcp::endpoint(make_address("::2"), 80));
}

TEST(ProxyProtocol, V2LocalAndUnspec) {
  auto local = parse(v2(0x20, 0x11, inet4_block()));
  ASSERT_EQ(local.status, Status::kHeader);
  EXPECT_FALSE(local.header.source);
  // LOCAL ignores the block, even an odd one.
  EXPECT_EQ(parse(v2(0x20, 0x77, "xyz")).status, Status::kHeader);
  auto unspec = parse(v2(0x21, 0x00, ""));
  ASSERT_EQ(unspec.status, Status::kHeader);
  EXPECT_FALSE(unspec.header.source);
  auto unix_stream = parse(v2(0x21, 0x31, std::string(216, 'u')));
  ASSERT_EQ(unix_stream.status, Status::kHeader);
  EXPECT_FALSE(unix_stream.header.source);
}

TEST(ProxyProtocol, V2Malformed) {
  EXPECT_EQ(parse(v2(0x11, 0x11, inet4_block())).status, Status::kInvalid); // version 1
  EXPECT_EQ(parse(v2(0x22, 0x11, inet4_block())).status, Status::kInvalid); // command 2
  EXPECT_EQ(parse(v2(0x21, 0x41, inet4_block())).status, Status::kInvalid); // family 4
  EXPECT_EQ(parse(v2(0x21, 0x21, inet4_block())).status, Status::kInvalid); // short for INET6
  EXPECT_EQ(parse(v2(0x21, 0x11, inet4_block("\x04\x00"))).status, Status::kInvalid);
  EXPECT_EQ(parse(v2(0x21, 0x11,
                     inet4_block(std::string("\x04\x00\x05"
                                             "ab",
                                             5))))
                .status,
            Status::kInvalid);
  // A length over the limit is refused from the fixed part alone, before waiting for it.
  std::string big = v2(0x21, 0x11, "");
  big[14] = 0x10;
  big[15] = 0x01; // 4097
  EXPECT_EQ(parse(big).status, Status::kInvalid);
  std::string max =
      v2(0x21, 0x11, inet4_block(std::string("\x04\x0f\xf1", 3) + std::string(4081, 'x')));
  EXPECT_EQ(max.size(), kV2MaxLength);
  EXPECT_EQ(parse(max).status, Status::kHeader);
}

TEST(ProxyProtocol, EncodeRoundTrips) {
  tcp::endpoint c4(make_address("203.0.113.9"), 50000), l4(make_address("10.0.0.1"), 8443);
  tcp::endpoint c6(make_address("2001:db8::9"), 50001), mapped(make_address("::ffff:10.0.0.1"), 1);
  EXPECT_EQ(encode(1, c4, l4), "PROXY TCP4 203.0.113.9 10.0.0.1 50000 8443\r\n");
  EXPECT_EQ(encode(1, c4, mapped), "PROXY TCP4 203.0.113.9 10.0.0.1 50000 1\r\n");
  EXPECT_EQ(encode(1, c6, l4), "PROXY TCP6 2001:db8::9 ::ffff:10.0.0.1 50001 8443\r\n");
  for (int version : {1, 2}) {
    for (auto [src, dst] : {std::pair{c4, l4}, std::pair{c6, l4}, std::pair{c6, c6}}) {
      std::string h = encode(version, src, dst);
      auto r = parse(h);
      ASSERT_EQ(r.status, Status::kHeader) << h;
      EXPECT_EQ(r.length, h.size());
      EXPECT_EQ(r.header.version, version);
      EXPECT_EQ(r.header.source->port(), src.port());
      EXPECT_EQ(r.header.destination->port(), dst.port());
    }
  }
  EXPECT_EQ(encode(2, c4, l4).size(), 28u);
  EXPECT_EQ(encode(2, c6, l4).size(), 52u);
}

} // namespace
} // namespace turnpike::proxy_protocol
