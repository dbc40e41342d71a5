#pragma once
// One client HTTP/1.1 connection on a worker: reads and strictly parses requests, normalises the
// path, cleans hop-by-hop and forwarded headers, routes with the worker's current snapshot, runs
// the router's handler chain, and writes the response; keep-alive, pipelining (sequentially),
// 100-continue, WebSocket tunnels, timeouts and graceful draining.
//
// Worker-confined. The connection object is the exchange's BodyReader, ResponseWriter and
// Upgradable at once, so a request allocates nothing for them. The same code serves plain and TLS
// connections (a template over the stream type, instantiated for both in the .cc): over TLS,
// Request::scheme is "https", Exchange::tls carries the TLS facts, the routers with a `tls`
// section are used, and a Host that maps to other TLS options than the SNI gets 421.

#include <optional>

#include <boost/asio/ip/tcp.hpp>

#include "common/asio_types.h"
#include "entrypoint/entrypoint_options.h"
#include "entrypoint/worker_state.h"
#include "http/exchange.h"
#include "tls/tls_stream.h"

namespace turnpike::entrypoint {

// Serves the connection until it closes. Never throws. `client` replaces the socket's peer
// address as the client's (set from a trusted PROXY protocol header). A connection whose first
// bytes are the HTTP/2 client preface (h2c with prior knowledge) continues as serve_http2
// (http2_connection.h).
http::Task<void> serve_http1(turnpike::TcpSocket socket, WorkerState& worker,
                             const EntryPointOptions& ep,
                             std::optional<boost::asio::ip::tcp::endpoint> client = std::nullopt);
// Same over an established TLS connection (after the handshake), for ALPN http/1.1 or none.
http::Task<void> serve_http1(tls::TlsStream stream, WorkerState& worker,
                             const EntryPointOptions& ep,
                             std::optional<boost::asio::ip::tcp::endpoint> client = std::nullopt);

// Starts graceful draining of every client connection of this worker (every Drainable,
// drainable.h): idle keep-alive connections are closed now, busy ones after their current response
// (which carries Connection: close); HTTP/2 connections send GOAWAY and close once their open
// streams are done.
void drain_connections(WorkerState& worker);

}  // namespace turnpike::entrypoint
