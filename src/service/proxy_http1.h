#pragma once
// Forwarding one exchange to one upstream server over HTTP/1.1, on the worker running it: takes a
// pooled connection (or dials), writes the request head, streams the request body up, reads the
// response head, streams the response body down through Exchange::writer, and returns the
// connection to the pool when both messages ended cleanly. WebSocket upgrades are tunnelled only
// after the upstream answered 101.

#include "http/exchange.h"
#include "service/load_balancer.h"

namespace turnpike::service {

// Returns an error only when nothing could be sent to the client yet or the exchange broke; the
// caller turns it into 502/504 (send_error). Requires ex.worker (pools and deadlines).
http::Task<http::ProxyError> forward_http1(http::Exchange& ex, const Server& server,
                                           const TransportOptions& transport,
                                           bool pass_host_header);

}  // namespace turnpike::service
