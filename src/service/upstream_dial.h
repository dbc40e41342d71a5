#pragma once
// Opening a connection to an upstream server, shared by the HTTP/1.1 and HTTP/2 paths: resolve
// (unless the URL host is an IP literal), connect under the transport's dialTimeout, and for
// https:// servers run the TLS handshake (SNI, verification, ALPN, session resumption from the
// worker's cache) and the checks OpenSSL cannot express (peerCertURI).
//
// Worker-confined: runs on the exchange's worker and registers the connection's deadline with
// that worker's scanner.

#include <memory>
#include <string_view>

#include "http/exchange.h"
#include "service/load_balancer.h"
#include "service/upstream_pool.h"

namespace turnpike {
struct WorkerContext;
}

namespace turnpike::service {

// On success `out` is a connected (and for https, handshaken) connection keyed by
// server.pool_key. Failures are kUpstreamConnect (retry-safe: nothing reached the upstream
// application); TLS failures are logged as warnings (at most one per second per worker) since
// they are configuration problems an operator must see.
http::Task<http::ProxyError> dial_upstream(WorkerContext& ctx, const Server& server,
                                           const TransportOptions& transport, Alpn alpn,
                                           std::unique_ptr<UpstreamConnection>& out);

// The protocol the server chose in ALPN ("h2", "http/1.1"), or "" (plain TCP, no ALPN).
std::string_view negotiated_protocol(const UpstreamConnection& conn);

}  // namespace turnpike::service
