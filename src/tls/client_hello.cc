#include "tls/client_hello.h"

#include <algorithm>
#include <cstdint>

namespace turnpike::tls {
namespace {

using State = HelloScan::State;

constexpr unsigned char kRecordHandshake = 0x16;
constexpr unsigned char kRecordSslv2 = 0x80;
constexpr unsigned char kHandshakeClientHello = 0x01;
constexpr uint16_t kExtServerName = 0;
constexpr uint16_t kExtAlpn = 16;

// A cursor over a byte range, in the style of Go's cryptobyte.String: every read checks the
// bounds and fails (returns false) instead of running past them.
class Reader {
public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool empty() const { return data_.empty(); }
  bool u8(unsigned& out) {
    if (data_.empty())
      return false;
    out = static_cast<unsigned char>(data_[0]);
    data_.remove_prefix(1);
    return true;
  }
  bool u16(unsigned& out) {
    if (data_.size() < 2)
      return false;
    out = (byte(0) << 8) | byte(1);
    data_.remove_prefix(2);
    return true;
  }
  bool u24(size_t& out) {
    if (data_.size() < 3)
      return false;
    out = (size_t(byte(0)) << 16) | (byte(1) << 8) | byte(2);
    data_.remove_prefix(3);
    return true;
  }
  bool skip(size_t n) {
    if (data_.size() < n)
      return false;
    data_.remove_prefix(n);
    return true;
  }
  bool bytes(size_t n, std::string_view& out) {
    if (data_.size() < n)
      return false;
    out = data_.substr(0, n);
    data_.remove_prefix(n);
    return true;
  }
  // A vector with a 1- or 2-byte length prefix.
  bool prefixed8(Reader& out) {
    unsigned n;
    std::string_view v;
    if (!u8(n) || !bytes(n, v))
      return false;
    out = Reader(v);
    return true;
  }
  bool prefixed16(Reader& out) {
    unsigned n;
    std::string_view v;
    if (!u16(n) || !bytes(n, v))
      return false;
    out = Reader(v);
    return true;
  }
  std::string_view rest() const { return data_; }

private:
  unsigned byte(size_t i) const { return static_cast<unsigned char>(data_[i]); }
  std::string_view data_;
};

HelloScan need(size_t n) {
  HelloScan s;
  s.state = State::kNeedMore;
  s.need = n;
  return s;
}

HelloScan tls_unparsed(std::string_view why) {
  HelloScan s;
  s.state = State::kTls;
  s.error = why;
  return s;
}

// RFC 6066 section 3, with Go's checks: a non-empty list, non-empty names, one host_name at most
// (other name types are skipped), no trailing dot.
bool read_server_name(Reader ext, std::string& out, std::string_view& error) {
  Reader list(std::string_view{});
  if (!ext.prefixed16(list) || list.empty() || !ext.empty()) {
    error = "malformed server_name extension";
    return false;
  }
  while (!list.empty()) {
    unsigned type;
    Reader name(std::string_view{});
    if (!list.u8(type) || !list.prefixed16(name) || name.empty()) {
      error = "malformed server_name extension";
      return false;
    }
    if (type != 0)
      continue;
    if (!out.empty()) {
      error = "several host names in server_name";
      return false;
    }
    std::string_view host = name.rest();
    if (host.back() == '.') {
      error = "server name with a trailing dot";
      return false;
    }
    out.assign(host);
    for (auto& c : out)
      if (c >= 'A' && c <= 'Z')
        c = static_cast<char>(c + 32);
  }
  return true;
}

// RFC 7301 section 3.1: a non-empty list of non-empty protocol names.
bool read_alpn(Reader ext, std::vector<std::string>& out, std::string_view& error) {
  Reader list(std::string_view{});
  if (!ext.prefixed16(list) || list.empty() || !ext.empty()) {
    error = "malformed ALPN extension";
    return false;
  }
  while (!list.empty()) {
    Reader proto(std::string_view{});
    if (!list.prefixed8(proto) || proto.empty()) {
      error = "malformed ALPN extension";
      return false;
    }
    out.emplace_back(proto.rest());
  }
  return true;
}

// The ClientHello body (after the 4-byte handshake header), as Go's clientHelloMsg.unmarshal
// reads it, limited to what routing needs.
HelloScan parse_client_hello(Reader body) {
  HelloScan s;
  s.state = State::kTls;
  std::string_view error = "malformed ClientHello";
  Reader session_id(std::string_view{}), suites(std::string_view{}),
      compression(std::string_view{});
  if (!body.skip(2 + 32) || !body.prefixed8(session_id) || session_id.rest().size() > 32 ||
      !body.prefixed16(suites) || suites.rest().size() % 2 != 0 || !body.prefixed8(compression)) {
    return tls_unparsed(error);
  }
  if (body.empty()) { // no extensions at all
    s.parsed = true;
    return s;
  }
  Reader extensions(std::string_view{});
  if (!body.prefixed16(extensions) || !body.empty())
    return tls_unparsed(error);
  std::vector<uint16_t> seen;
  while (!extensions.empty()) {
    unsigned type;
    Reader data(std::string_view{});
    if (!extensions.u16(type) || !extensions.prefixed16(data))
      return tls_unparsed("malformed extension");
    seen.push_back(static_cast<uint16_t>(type));
    if (type == kExtServerName && !read_server_name(data, s.hello.server_name, error))
      return tls_unparsed(error);
    if (type == kExtAlpn && !read_alpn(data, s.hello.alpn, error))
      return tls_unparsed(error);
  }
  std::sort(seen.begin(), seen.end());
  if (std::adjacent_find(seen.begin(), seen.end()) != seen.end())
    return tls_unparsed("duplicate extension");
  s.parsed = true;
  return s;
}

} // namespace

HelloScan scan_client_hello(std::string_view data) {
  if (data.empty())
    return need(1);
  auto first = static_cast<unsigned char>(data[0]);
  if (first != kRecordHandshake) {
    if (first == kRecordSslv2)
      return tls_unparsed("SSLv2-style ClientHello");
    HelloScan s;
    s.state = State::kNotTls;
    return s;
  }
  if (data.size() < kRecordHeaderLength)
    return need(kRecordHeaderLength);
  Reader header(data);
  unsigned type, version, length;
  header.u8(type);
  header.u16(version);
  header.u16(length);
  if ((version >> 8) != 0x03)
    return tls_unparsed("record version is not TLS");
  if (length == 0 || length > kMaxRecordPayload)
    return tls_unparsed("bad record length");
  if (data.size() < kRecordHeaderLength + length)
    return need(kRecordHeaderLength + length);

  Reader record(data.substr(kRecordHeaderLength, length));
  unsigned msg_type;
  size_t msg_length;
  std::string_view body;
  if (!record.u8(msg_type) || msg_type != kHandshakeClientHello)
    return tls_unparsed("first handshake message is not a ClientHello");
  if (!record.u24(msg_length))
    return tls_unparsed("truncated handshake header");
  // A ClientHello continued in a later record is not read (Traefik reads the first record only).
  if (!record.bytes(msg_length, body))
    return tls_unparsed("ClientHello spans several records");
  return parse_client_hello(Reader(body));
}

} // namespace turnpike::tls
