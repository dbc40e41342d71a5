// ClientHello scanning: real hellos captured from openssl s_client and curl, every truncation of
// them, and malformed hellos built field by field.

#include "tls/client_hello.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace turnpike::tls {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using State = HelloScan::State;

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(TURNPIKE_TEST_DATA) + "/client_hello/" + name, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_FALSE(bytes.empty()) << name;
  return bytes;
}

std::string u16(size_t v) {
  return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)};
}
std::string u24(size_t v) {
  return std::string(1, static_cast<char>(v >> 16)) + u16(v & 0xffff);
}

std::string ext(unsigned type, const std::string& body) {
  return u16(type) + u16(body.size()) + body;
}

std::string sni_ext(const std::vector<std::pair<int, std::string>>& names) {
  std::string list;
  for (const auto& [type, name] : names)
    list += std::string(1, char(type)) + u16(name.size()) + name;
  return ext(0, u16(list.size()) + list);
}

std::string alpn_ext(const std::vector<std::string>& protos) {
  std::string list;
  for (const auto& p : protos)
    list += std::string(1, char(p.size())) + p;
  return ext(16, u16(list.size()) + list);
}

// A TLS 1.2-style ClientHello record with the given extensions block (nullopt: none at all).
std::string hello(const std::optional<std::string>& extensions, std::string session_id = "",
                  std::string trailing = "") {
  std::string body = "\x03\x03" + std::string(32, 'r');
  body += std::string(1, char(session_id.size())) + session_id;
  body += u16(2) + std::string("\x13\x01", 2); // one cipher suite
  body += std::string("\x01\x00", 2);          // null compression
  if (extensions)
    body += u16(extensions->size()) + *extensions;
  body += trailing;
  std::string handshake = std::string(1, '\x01') + u24(body.size()) + body;
  return std::string("\x16\x03\x01", 3) + u16(handshake.size()) + handshake;
}

HelloScan scan(const std::string& s) {
  return scan_client_hello(s);
}

TEST(ClientHello, RealHellos) {
  struct Case {
    const char* file;
    const char* sni;
    std::vector<std::string> alpn;
  };
  const Case cases[] = {
      {"openssl_sni_alpn.bin", "backend-a.example.com", {"h2", "http/1.1"}},
      {"openssl_no_sni.bin", "", {}},
      {"openssl_tls12.bin", "legacy.example.org", {}},
      {"curl_http2.bin", "api.example.net", {"h2", "http/1.1"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    std::string bytes = fixture(c.file);
    auto r = scan(bytes + "trailing application data");
    ASSERT_EQ(r.state, State::kTls);
    EXPECT_TRUE(r.parsed) << r.error;
    EXPECT_EQ(r.hello.server_name, c.sni);
    EXPECT_EQ(r.hello.alpn, c.alpn);
    // Every truncation asks for more, and for exactly the record once the header is in.
    for (size_t n = 0; n < bytes.size(); ++n) {
      auto p = scan(bytes.substr(0, n));
      ASSERT_EQ(p.state, State::kNeedMore) << n;
      EXPECT_EQ(p.need,
                n < kRecordHeaderLength ? (n == 0 ? 1 : kRecordHeaderLength) : bytes.size());
    }
  }
}

TEST(ClientHello, NotTls) {
  EXPECT_EQ(scan("GET / HTTP/1.1\r\n").state, State::kNotTls);
  EXPECT_EQ(scan("SSH-2.0-OpenSSH").state, State::kNotTls);
  EXPECT_EQ(scan(std::string("\0", 1)).state, State::kNotTls);
  auto empty = scan("");
  EXPECT_EQ(empty.state, State::kNeedMore);
  EXPECT_EQ(empty.need, 1u);
  // SSLv2-style hello: TLS, no SNI, refused later by the real handshake.
  auto v2 = scan("\x80\x2e\x01\x03\x01");
  EXPECT_EQ(v2.state, State::kTls);
  EXPECT_FALSE(v2.parsed);
}

TEST(ClientHello, BuiltHellos) {
  auto r = scan(hello(sni_ext({{0, "Mixed.Case.Example.COM"}}) + alpn_ext({"h2", "x"})));
  ASSERT_TRUE(r.parsed) << r.error;
  EXPECT_EQ(r.hello.server_name, "mixed.case.example.com");
  EXPECT_THAT(r.hello.alpn, ElementsAre("h2", "x"));

  auto none = scan(hello(std::nullopt));
  EXPECT_TRUE(none.parsed);
  EXPECT_THAT(none.hello.server_name, IsEmpty());
  // A name type other than host_name is skipped.
  auto other = scan(hello(sni_ext({{1, "ignored"}, {0, "kept.example"}})));
  ASSERT_TRUE(other.parsed);
  EXPECT_EQ(other.hello.server_name, "kept.example");
  EXPECT_TRUE(scan(hello(ext(0xff01, "\x00") + ext(43, "\x02\x03\x04"), "0123456789")).parsed);
}

TEST(ClientHello, MalformedHellosAreTlsWithoutSni) {
  const std::string cases[] = {
      hello(sni_ext({{0, "a.example"}}) + sni_ext({{0, "b.example"}})), // duplicate extension
      hello(ext(5, "") + ext(5, "")),                                   // duplicate extension
      hello(sni_ext({{0, "a.example"}, {0, "b.example"}})),             // two host names
      hello(sni_ext({{0, "trailing.dot."}})),
      hello(sni_ext({{0, ""}})),          // empty name
      hello(ext(0, u16(0))),              // empty name list
      hello(ext(0, u16(3) + "\x00\x00")), // list longer than the extension
      hello(ext(0, u16(4) + std::string("\x00\x00\x01x", 4) + "!")), // bytes after the list
      hello(alpn_ext({"h2", ""})),                                   // empty protocol
      hello(ext(16, u16(0))),                                        // empty protocol list
      hello(u16(0) + "\x00"),                                        // truncated extension header
      hello(ext(7, "abc").substr(0, 6)),            // extension longer than the block
      hello(std::string(""), std::string(33, 's')), // session id over 32 bytes
      hello(std::nullopt, "", "x"),                 // one stray byte after compression
      hello(std::string(""), "", "x"),              // bytes after the extensions
  };
  for (const auto& bytes : cases) {
    auto r = scan(bytes);
    EXPECT_EQ(r.state, State::kTls);
    EXPECT_FALSE(r.parsed);
    EXPECT_THAT(r.hello.server_name, IsEmpty());
    EXPECT_FALSE(r.error.empty());
  }
}

TEST(ClientHello, RecordLevelProblems) {
  std::string good = hello(sni_ext({{0, "a.example"}}));
  // Not a ClientHello handshake message.
  std::string server_hello = good;
  server_hello[5] = 2;
  EXPECT_FALSE(scan(server_hello).parsed);
  // A handshake message longer than its record: continued in a next record, not read.
  std::string spans = good;
  spans[8] = static_cast<char>(spans[8] + 10);
  auto r = scan(spans);
  EXPECT_EQ(r.state, State::kTls);
  EXPECT_FALSE(r.parsed);
  // Record version that is not TLS, empty record, record over 16 KiB: decided from the header.
  auto bad_version = scan(std::string("\x16\x02\x00\x00\x10", 5));
  EXPECT_EQ(bad_version.state, State::kTls);
  EXPECT_FALSE(bad_version.parsed);
  EXPECT_FALSE(scan(std::string("\x16\x03\x01\x00\x00", 5)).parsed);
  auto huge = scan(std::string("\x16\x03\x01\x40\x01", 5));
  EXPECT_EQ(huge.state, State::kTls);
  EXPECT_FALSE(huge.parsed);
  auto max = scan(std::string("\x16\x03\x01\x40\x00", 5));
  EXPECT_EQ(max.state, State::kNeedMore);
  EXPECT_EQ(max.need, kMaxClientHelloPeek);
  // Bytes of a second record are never needed.
  EXPECT_TRUE(scan(good + std::string("\x16\x03\x01\xff\xff", 5)).parsed);
}

} // namespace
} // namespace turnpike::tls
