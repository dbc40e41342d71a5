#pragma once
// The HTTP/2 server side of a client connection (RFC 9113), on nghttp2: every stream becomes an
// http::Exchange that goes through the same routers, middlewares and services as HTTP/1.1, served
// by a handler coroutine on the connection's worker (handlers are reused from stream to stream,
// at most maxConcurrentStreams of them per connection). The stream object is the exchange's
// BodyReader (request DATA, with HTTP/2 flow control as backpressure: a stream's window is
// returned to the client only as the handler reads) and its ResponseWriter (HEADERS, DATA,
// trailers; write_body waits while the client's window is closed, without holding up other
// streams).
//
// Protections (security.md sections 2.4 and 5): strict field validation (malformed requests get
// RST_STREAM PROTOCOL_ERROR before anything reaches an upstream); limits on concurrent streams and
// handlers, on header list size and count, on CONTINUATION frames; Rapid Reset, HPACK bomb and
// control-frame floods close the connection with GOAWAY ENHANCE_YOUR_CALM. Timeouts follow the
// entrypoint's respondingTimeouts: readTimeout per stream until its request is in, writeTimeout
// per stream from its start, idleTimeout while the connection has no stream. Graceful shutdown
// and keepAliveMaxRequests/keepAliveMaxTime send GOAWAY and let open streams finish.
//
// Worker-confined: a connection, its streams and their handlers live on one worker's thread.

#include <optional>
#include <string>

#include <boost/asio/ip/tcp.hpp>

#include "common/asio_types.h"
#include "entrypoint/entrypoint_options.h"
#include "entrypoint/worker_state.h"
#include "http/exchange.h"

namespace turnpike::entrypoint {

// Serves an HTTP/2 connection until it closes. Never throws.
//
// `stream` is connected (and, for TLS, handshaken with ALPN "h2"); the connection uses only
// async_read_some, async_write_some and lowest_layer() (remote_endpoint, shutdown, cancel,
// close) on it. `preread` holds bytes already read from it (the client preface that an HTTP/1.1
// connection recognised), processed before anything else is read. Requests carry scheme "http"
// on a plain turnpike::TcpSocket and "https" on any other stream type.
//
// Explicitly instantiated in http2_connection.cc for turnpike::TcpSocket (h2c, prior
// knowledge) and tls::TlsStream (ALPN "h2", or the preface without ALPN). `client` replaces the
// socket's peer address as the client's (a trusted PROXY protocol header read before the connection
// got here).
template <class Stream>
http::Task<void> serve_http2(Stream stream, WorkerState& worker, const EntryPointOptions& ep,
                             std::string preread = {},
                             std::optional<boost::asio::ip::tcp::endpoint> client = std::nullopt);

// True when `bytes` (the start of what a client sent on a plain connection) begins with the
// request line of the HTTP/2 client preface, "PRI * HTTP/2.0\r\n\r\n" (RFC 9113 3.4). The
// HTTP/1.1 parser rejects that line as a request, so checking only when it does costs HTTP/1.1
// nothing; nghttp2 then checks the rest of the preface.
bool starts_with_http2_preface(std::string_view bytes);

} // namespace turnpike::entrypoint
