#pragma once
// Hop-by-hop stripping and the forwarded headers the gateway owns (security.md section 4;
// Traefik's `entryPoints.<ep>.forwardedHeaders` and its forwardedheaders package).
//
// Order on the request path (entrypoint, once per request, before routing):
//   1. strip_hop_by_hop(req.headers, req.upgrade_websocket, options.connection)
//   2. apply_forwarded_headers(req, options)
// then the proxy strips again (drops what `connection` kept) and serialize_request_head
// (http/serialize.h) appends the peer to X-Forwarded-For when req.append_x_forwarded_for.
// Stripping first means a client's `Connection: X-Forwarded-Host` can only delete what the
// client itself sent, never a header the gateway sets (CVE-2024-45410); strip_hop_by_hop also
// refuses to delete gateway-owned names on a Connection nomination, as Traefik does.
//
// Threading: ForwardedOptions is immutable after start-up and shared by every worker; the
// functions only touch the request/headers they are given (worker-confined).

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/ipnet.h"
#include "http/message.h"

namespace turnpike::http {

struct ForwardedOptions {
  // `forwardedHeaders.trustedIPs`: peers whose X-Forwarded-* / X-Real-Ip / Forwarded are kept.
  IpNetSet trusted_ips;
  // `forwardedHeaders.insecure`: trust every peer.
  bool insecure = false;
  // `forwardedHeaders.connection`: names a client may list in Connection that survive the
  // middleware chain (strip_hop_by_hop keeps them and keeps listing them in Connection, so the
  // proxy's own strip_hop_by_hop removes them before the upstream).
  std::vector<std::string> connection;
  // `forwardedHeaders.notAppendXForwardedFor`: do not append the peer to X-Forwarded-For.
  bool not_append_x_forwarded_for = false;
  // `forwardedHeaders.addXForwardedSchemeHeaders`: also set X-Forwarded-Scheme and X-Scheme.
  bool add_x_forwarded_scheme_headers = false;
  // Value of X-Forwarded-Server (Traefik: os.Hostname()); empty = do not set it.
  std::string hostname;
};

// True for a field the gateway owns and an untrusted client may never set: X-Forwarded-For,
// -Host, -Proto, -Port, -Server, -Prefix, -Uri, -Method, -Scheme, -Tls-*, X-Real-Ip, X-Scheme,
// Forwarded. Case-insensitive, and '_' counts as '-' (X_Forwarded_For impersonates
// X-Forwarded-For at back ends that map both to the same variable).
bool is_gateway_owned_header(std::string_view name);

// Removes the hop-by-hop fields (RFC 9110 7.6.1): Connection, every field it lists, and
// Keep-Alive, Proxy-Connection, TE, Transfer-Encoding, Upgrade, Proxy-Authorization,
// Proxy-Authenticate, Trailer, HTTP2-Settings (is_hop_by_hop). Used on requests (entrypoint, and
// proxy before sending) and on upstream responses.
//   keep_websocket_upgrade: the message is a WebSocket upgrade (Request::upgrade_websocket, or a
//     101 answer to one): `Upgrade: websocket` survives and Connection becomes "Upgrade". Any
//     other Upgrade (h2c, ...) is always removed (security.md row 39).
//   connection_allowed: ForwardedOptions::connection; listed names that survive (see there).
// Gateway-owned names (is_gateway_owned_header) listed in Connection are not deleted.
// Returns the number of fields removed.
size_t strip_hop_by_hop(HeaderMap& headers, bool keep_websocket_upgrade = false,
                        std::span<const std::string> connection_allowed = {});

// True when the request's peer (client_addr) may set forwarded headers: insecure, or in
// trusted_ips.
bool is_trusted_peer(const Request& req, const ForwardedOptions& options);

// Traefik's forwardedheaders middleware, called once per request at the entrypoint after
// strip_hop_by_hop:
//   - untrusted peer: deletes every gateway-owned field (is_gateway_owned_header);
//   - X-Real-Ip: the peer IP (no port, no IPv6 zone), unless a trusted peer already sent one;
//   - X-Forwarded-Proto: http/https from req.scheme, ws/wss when req.upgrade_websocket, unless
//     already present (trusted peer);
//   - X-Forwarded-Port: the authority's port, else 443 for https/wss, else 80 (unless present);
//   - X-Forwarded-Host: req.authority (unless present or the authority is empty);
//   - X-Forwarded-Scheme and X-Scheme (option): the X-Forwarded-Proto value;
//   - X-Forwarded-For: several fields from a trusted peer are folded into one ", "-joined
//     field. The peer itself is NOT appended here: req.append_x_forwarded_for is set (unless
//     not_append_x_forwarded_for) and serialize_request_head appends it per upstream attempt,
//     so middlewares see X-Forwarded-For as the trusted hop sent it, exactly as in Traefik
//     (ipStrategy.depth counts from that list; untrusted peers: no X-Forwarded-For at all);
//   - X-Forwarded-Server: options.hostname (always overwritten) when non-empty.
void apply_forwarded_headers(Request& req, const ForwardedOptions& options);

// Text of an IP as forwarded headers carry it: v4-mapped IPv6 unmapped, no brackets, no port,
// no IPv6 zone. No allocation.
struct IpText {
  char data[48];
  size_t size = 0;
  std::string_view view() const { return {data, size}; }
};
IpText ip_text(const boost::asio::ip::address& addr);

} // namespace turnpike::http
