#pragma once
// Forwarding one exchange to one upstream server over HTTP/2: h2c:// servers (prior knowledge)
// and https:// servers whose ALPN chooses h2 (falling back to the HTTP/1.1 proxy when it chooses
// http/1.1). The request becomes a stream on a shared per-worker connection (h2_client.h); its
// body is streamed up while the response streams down (both at once, as gRPC's bidirectional
// calls need), trailers travel both ways, and errors map to 502/504 like the HTTP/1.1 proxy.

#include "http/exchange.h"
#include "service/load_balancer.h"

namespace turnpike::service {

// Whether this exchange goes over HTTP/2: h2c:// servers, and https:// servers unless the
// transport has disableHTTP2. WebSocket upgrades always use HTTP/1.1 (as Traefik's round tripper
// does for `Connection: Upgrade`).
bool use_http2(const http::Exchange& ex, const Server& server, const TransportOptions& transport);

// Same contract as forward_http1: returns an error only when nothing was sent to the client yet
// (the caller answers 502/504), or marks ex.close_connection when a started response broke.
// A request the upstream did not process (REFUSED_STREAM, above a GOAWAY's last stream, or a
// reused connection that closed before answering) is retried once on another connection when
// none of its body was consumed. Requires ex.worker.
http::Task<http::ProxyError> forward_http2(http::Exchange& ex, const Server& server,
                                           const TransportOptions& transport,
                                           bool pass_host_header);

}  // namespace turnpike::service
