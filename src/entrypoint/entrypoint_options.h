#pragma once
// Runtime settings of one entrypoint, derived from the static configuration at start-up
// (immutable afterwards; read by every worker).

#include <string>
#include <vector>

#include "common/duration.h"
#include "common/ipnet.h"
#include "http/forwarded.h"
#include "http/parser.h"
#include "http/path.h"

namespace turnpike::entrypoint {

// `entryPoints.<name>.http2`.
struct Http2Options {
  uint32_t max_concurrent_streams = 250;         // SETTINGS_MAX_CONCURRENT_STREAMS, >= 1
  uint32_t max_decoder_header_table_size = 4096; // SETTINGS_HEADER_TABLE_SIZE we announce
  uint32_t max_encoder_header_table_size = 4096; // cap on the HPACK table we use for responses
};

// Inbound PROXY protocol (entryPoints.<name>.proxyProtocol): from a peer in `trusted_ips` (or any
// peer with `insecure`) the header's client address replaces the socket's; from any other peer a
// header is read and ignored (Traefik's go-proxyproto IGNORE policy).
struct ProxyProtocolOptions {
  bool enabled = false;
  bool insecure = false;
  IpNetSet trusted_ips;
};

struct EntryPointOptions {
  std::string name;
  size_t index = 0;         // position in the snapshot's entrypoint vector
  std::string host;         // bind address ("" = all)
  uint16_t port = 0;
  bool reuse_port = false;  // extra processes may bind too (we always use SO_REUSEPORT per worker)

  Duration read_timeout = std::chrono::seconds(60);
  Duration write_timeout = Duration::zero();
  Duration idle_timeout = std::chrono::seconds(180);
  Duration grace_timeout = std::chrono::seconds(10);
  Duration request_accept_grace_timeout = Duration::zero();
  uint64_t keep_alive_max_requests = 0;
  Duration keep_alive_max_time = Duration::zero();

  http::ParseLimits limits;
  http::PathOptions path;
  http::ForwardedOptions forwarded;
  Http2Options http2;
  ProxyProtocolOptions proxy_protocol;

  // UDP entrypoints (`address: ":53/udp"`).
  bool udp = false;
  Duration udp_timeout = std::chrono::seconds(3);  // udp.timeout: idle session lifetime
};

}  // namespace turnpike::entrypoint
