#pragma once
// Forwarding one exchange to one upstream server over HTTP/1.1, plain or over TLS, on the worker
// running it: takes a pooled connection (or dials), writes the request head, streams the request
// body up (with its trailers when chunked), reads the response head, streams the response body
// down through Exchange::writer (trailers of a chunked response included), and returns the
// connection to the pool when both messages ended cleanly. WebSocket upgrades are tunnelled only
// after the upstream answered 101.

#include <memory>

#include "http/exchange.h"
#include "service/load_balancer.h"
#include "service/upstream_pool.h"

namespace turnpike::service {

// Returns an error only when nothing could be sent to the client yet or the exchange broke; the
// caller turns it into 502/504 (send_error). Requires ex.worker (pools and deadlines).
// `fresh`, when given, is a connection the caller just dialled for this exchange (an https server
// whose ALPN chose HTTP/1.1); otherwise a pooled connection is used or one is dialled.
http::Task<http::ProxyError> forward_http1(http::Exchange& ex, const Server& server,
                                           const TransportOptions& transport,
                                           bool pass_host_header,
                                           std::unique_ptr<UpstreamConnection> fresh = nullptr);

}  // namespace turnpike::service
