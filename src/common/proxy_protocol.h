#pragma once
// The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2): the header a load balancer
// in front of the gateway puts before the client's bytes to say who the client is, and the one
// the gateway puts before the bytes it forwards to a TCP backend (serversTransport.proxyProtocol).
//
// parse() works on whatever prefix of the connection has arrived: it says whether the bytes can
// still become a header (and how many it needs at least), are not a PROXY header at all, are a
// complete header (and its exact length, so that the caller consumes exactly that), or are a
// broken one. Strictly bounded: a v1 header is at most 107 bytes, a v2 header at most
// kV2MaxLength; nothing past the header is looked at.
//
// Pure functions over caller-owned bytes; thread-safe.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/ip/tcp.hpp>

namespace turnpike::proxy_protocol {

inline constexpr size_t kV1MaxLength = 107;   // "PROXY TCP6 <39> <39> 65535 65535\r\n"
inline constexpr size_t kV2FixedLength = 16;  // signature, version/command, family, length
inline constexpr size_t kV2MaxPayload = 4096; // addresses + TLVs we accept (16-bit field)
inline constexpr size_t kV2MaxLength = kV2FixedLength + kV2MaxPayload;
inline constexpr size_t kMaxLength = kV2MaxLength;

struct Header {
  int version = 0; // 1 or 2
  // The original connection's endpoints. Unset for v1 `UNKNOWN`, the v2 LOCAL command (health
  // checks from the proxy itself) and v2 families without IP endpoints (UNSPEC, UNIX): the
  // receiver then keeps the socket's own addresses, as the specification says.
  std::optional<boost::asio::ip::tcp::endpoint> source;
  std::optional<boost::asio::ip::tcp::endpoint> destination;
};

struct ParseResult {
  enum class Status {
    kIncomplete, // a prefix of a possible header: read at least `need` bytes, then parse again
    kNotProxy,   // the connection does not start with a PROXY header
    kHeader,     // a complete header of `length` bytes
    kInvalid,    // starts like a PROXY header but is malformed (`error` says why)
  };
  Status status = Status::kIncomplete;
  size_t need = 0;        // kIncomplete: total bytes needed before the next call (> data.size())
  size_t length = 0;      // kHeader: bytes the header occupies at the start of the data
  Header header;          // kHeader
  std::string_view error; // kInvalid: a static description
};

// Parses the PROXY header at the start of `data`, the bytes received so far.
ParseResult parse(std::string_view data);

// The header announcing a connection from `source` to `destination`, in version 1 or 2 (any other
// version is treated as 2). IPv4-mapped IPv6 addresses are written as IPv4; when one endpoint is
// IPv4 and the other IPv6, both are written as IPv6.
std::string encode(int version, const boost::asio::ip::tcp::endpoint& source,
                   const boost::asio::ip::tcp::endpoint& destination);

} // namespace turnpike::proxy_protocol
