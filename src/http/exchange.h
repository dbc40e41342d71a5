#pragma once
// The request path's contracts: an Exchange (one request/response on a worker), the Handler
// (router -> middlewares -> service, built once per configuration snapshot and shared read-only by
// every worker), and the streaming body interfaces.
//
// Threading: Handlers are immutable and shared across workers; they keep per-worker mutable state
// in per-worker slots indexed by Exchange::worker_id. An Exchange, its BodyReader and its
// ResponseWriter are confined to the worker running the request and live until handle() returns.
//
// Errors on the request path are values (ProxyError), never exceptions.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "common/asio_types.h"
#include "http/message.h"
#include "http/tls_info.h"

namespace turnpike {
// Per-worker data-plane context (upstream pools, timers). Defined by the service layer
// (service/worker_context.h); opaque here.
struct WorkerContext;
} // namespace turnpike

namespace turnpike::http {

template <class T> using Task = turnpike::Awaitable<T>;

// Why a request failed, and whether retrying it elsewhere is safe (nothing was sent upstream).
struct ProxyError {
  enum class Kind {
    kNone,
    kDownstreamClosed,   // client went away
    kDownstreamTimeout,  // client too slow (read/write timeout)
    kDownstreamProtocol, // malformed request body framing
    kUpstreamConnect,    // dial failed/refused/timed out: retry-safe
    kUpstreamTimeout,    // responseHeaderTimeout
    kUpstreamProtocol,   // malformed upstream response
    kUpstreamClosed,     // upstream closed mid-exchange
    kLimit,              // a configured limit was exceeded
    kInternal,
  };
  Kind kind = Kind::kNone;
  std::string detail;
  bool retry_safe = false;

  explicit operator bool() const { return kind != Kind::kNone; }
  static ProxyError none() { return {}; }
};

// Request body source, already de-chunked. One reader per exchange.
class BodyReader {
public:
  virtual ~BodyReader() = default;
  // Next piece of the body; an empty span means the body is complete. The span stays valid until
  // the next call. On failure returns the error and an empty span.
  virtual Task<std::pair<ProxyError, std::span<const char>>> read() = 0;
  // Declared length (-1 when chunked/unknown). Middlewares that change the body must wrap reader.
  virtual int64_t content_length() const = 0;
  // Bytes handed out so far (retry/mirroring decisions: "did the body reach the upstream?").
  virtual uint64_t consumed() const = 0;
  // Trailer fields that followed the body (HTTP/2 trailers, HTTP/1.1 chunked trailers), valid once
  // read() returned the empty span; null when there were none or the protocol cannot carry them.
  virtual const HeaderMap* trailers() const { return nullptr; }
};

// Response sink towards the client. write_head once, then write_body any number of times, then
// finish. Middlewares wrap it to see or change the response (headers, compression, errors pages).
class ResponseWriter {
public:
  virtual ~ResponseWriter() = default;
  // `head` may be modified by wrappers before it is serialised. A 1xx (other than 101) may be
  // written before the final head.
  virtual Task<ProxyError> write_head(Response& head) = 0;
  virtual Task<ProxyError> write_body(std::string_view data) = 0;
  // Ends the response body. After finish nothing more may be written.
  virtual Task<ProxyError> finish() = 0;
  // Ends the response body with trailer fields (gRPC's grpc-status travels in them). Writers for
  // protocols that can carry trailers override it; the others drop them and finish().
  virtual Task<ProxyError> finish_with_trailers(const HeaderMap& trailers);
  // True once a final (non-1xx) head was written: from then on, errors cannot become a clean
  // error response and the connection must be closed instead.
  virtual bool head_written() const = 0;
  // A whole final response at once (status >= 200, not 101): `head`, its complete `body` (empty
  // when the response has none, e.g. to HEAD) and the end, as write_head + write_body + finish
  // would send them (an error after the head is returned too; head_written() tells). The default
  // does exactly that; a connection overrides it to send everything in one write.
  virtual Task<ProxyError> write_response(Response& head, std::string_view body);
};

// The upstream side of an upgraded connection as the tunnel sees it: plain TCP or TLS, behind
// one small interface (tunnels are long-lived and not on the per-request hot path). Implemented
// by the service layer; valid for the duration of Upgradable::tunnel. Worker-confined.
class TunnelStream {
public:
  virtual ~TunnelStream() = default;
  // Reads some bytes (n > 0), or fails (EOF included).
  virtual Task<std::pair<boost::system::error_code, size_t>>
  read_some(boost::asio::mutable_buffer buffer) = 0;
  // Writes all of `data`.
  virtual Task<boost::system::error_code> write(boost::asio::const_buffer data) = 0;
  // Nothing more will be written (half-close), so the upstream sees the client's EOF.
  virtual void shutdown_send() = 0;
};

// Implemented by client connections that can become a raw byte tunnel after the upstream agreed
// to an upgrade (HTTP/1.1 101 Switching Protocols, e.g. WebSocket). The proxy writes the 101 head
// through Exchange::writer first (so middlewares see it), then hands over the upstream stream
// and the bytes it already read past the 101 head. Returns when either side closes or the idle
// timeout fires.
class Upgradable {
public:
  virtual ~Upgradable() = default;
  virtual Task<ProxyError> tunnel(TunnelStream& upstream, std::string_view upstream_pending) = 0;
};

class Handler;

// One request on one worker. Owned by the connection; the fields are public on purpose (it is a
// plain record that every stage reads and annotates).
struct Exchange {
  Request& request;
  BodyReader& body;
  ResponseWriter* writer = nullptr;           // replaced by wrapping middlewares
  std::optional<turnpike::Executor> executor; // the worker's (io_context executors have no default)
  unsigned worker_id = 0;                     // index for per-worker slots
  WorkerContext* worker = nullptr;            // null in unit tests that need no upstream
  Upgradable* upgradable = nullptr;           // null where upgrades are impossible
  const TlsInfo* tls = nullptr;               // the connection's TLS facts; null for plain HTTP

  // Annotations for logs and metrics.
  std::string_view router_name;
  std::string_view service_name;
  std::string service_url;     // the upstream server used, if any
  std::string username;        // authenticated user (basicAuth...)
  int status = 0;              // status sent downstream
  uint64_t response_bytes = 0; // body bytes sent downstream
  int retry_attempts = 0;
  bool close_connection = false; // set to close the client connection afterwards
  // The failure send_error answered for, set just before its error response is written; kNone
  // when the response came from the upstream or a middleware. Read by the middlewares that judge
  // an attempt's outcome (retry, circuitBreaker, buffering's retryExpression).
  ProxyError::Kind failure = ProxyError::Kind::kNone;

  // The original request path (before middlewares changed it): stripPrefix records what it removed
  // in X-Forwarded-Prefix; replacePath records X-Replaced-Path.
};

// A copy of `ex` serving `request` with `body` instead (Exchange holds them by reference): for the
// middlewares that run the rest of the chain more than once (retry) or replace the request body
// (buffering). Every other field, annotations included, starts as ex's; hand the annotations back
// with adopt_annotations when the inner exchange is done (close_connection is or-ed in: a reason
// to close stays one).
Exchange derive_exchange(const Exchange& ex, Request& request, BodyReader& body);
void adopt_annotations(Exchange& outer, const Exchange& inner);

// A step of the request path. Immutable; shared by every worker that uses the snapshot.
class Handler {
public:
  virtual ~Handler() = default;
  // Serves the exchange completely: either writes a response through ex.writer or delegates to the
  // next handler. Must not throw. Returns when the response is finished (or the exchange failed;
  // then ex.close_connection is set).
  virtual Task<void> handle(Exchange& ex) const = 0;
};

// Sends a complete small response (local reply) with Content-Type text/plain unless `headers`
// says otherwise. Used by middlewares that answer themselves and by the error paths.
Task<ProxyError> send_response(Exchange& ex, int status, std::string_view body,
                               const HeaderMap* headers = nullptr);

// Maps a proxy failure to the status Traefik answers with (502, 504, 503, 400...), and sends it
// when no head was written yet; otherwise marks the connection to be closed.
Task<void> send_error(Exchange& ex, const ProxyError& err);

} // namespace turnpike::http
