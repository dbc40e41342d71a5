#pragma once
// Reads the server name (SNI) and ALPN protocols from a TLS ClientHello without terminating TLS,
// for TCP routing (HostSNI, ALPN matchers) and TLS passthrough. The caller peeks at the first
// bytes of a connection (nothing is consumed) and calls scan_client_hello() with what it has; the
// scan says whether more bytes are needed (and how many at least), whether the connection is not
// TLS at all, or that it is TLS with what the hello says.
//
// Behaviour follows Traefik's clientHelloInfo: only the first TLS record is read (a ClientHello
// split over several records yields no SNI, like in Traefik); a first byte other than 0x16 (TLS
// handshake) is "not TLS", except 0x80 (an SSLv2-style hello), which is TLS without SNI and left
// to fail in the real handshake. A malformed hello is still TLS, with no SNI and no ALPN; the
// validation is Go's crypto/tls ClientHello parsing for the parts read here (framing, duplicate
// extensions, the server_name and ALPN lists, no trailing dot in the name).
//
// Strictly bounded: at most kMaxClientHelloPeek bytes are ever needed (a record longer than TLS's
// 16 KiB limit is malformed) and the scan is linear in its input. Pure function; thread-safe.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace turnpike::tls {

inline constexpr size_t kRecordHeaderLength = 5;
inline constexpr size_t kMaxRecordPayload = 16384; // TLSPlaintext.length limit (RFC 8446 5.1)
inline constexpr size_t kMaxClientHelloPeek = kRecordHeaderLength + kMaxRecordPayload;

struct ClientHelloInfo {
  std::string server_name;       // SNI host name, lower-cased; empty when none
  std::vector<std::string> alpn; // ALPN protocols in the client's order
};

struct HelloScan {
  enum class State {
    kNeedMore, // read until at least `need` bytes are available, then scan again
    kNotTls,   // the first byte is not a TLS handshake record
    kTls,      // TLS; `parsed` says whether `hello` could be read
  };
  State state = State::kNeedMore;
  size_t need = 0;        // kNeedMore: > the bytes given, <= kMaxClientHelloPeek
  bool parsed = false;    // kTls: a well-formed ClientHello was found in the first record
  ClientHelloInfo hello;  // kTls && parsed
  std::string_view error; // kTls && !parsed: why, for debug logs (static text)
};

// Scans the first bytes of a connection (everything received so far).
HelloScan scan_client_hello(std::string_view data);

} // namespace turnpike::tls
