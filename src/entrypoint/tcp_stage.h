#pragma once
// What happens on a TCP entrypoint between accept and HTTP handling:
//
//   1. Inbound PROXY protocol (entryPoints.<name>.proxyProtocol): a v1 or v2 header at the start
//      of the connection is read (exactly its bytes, nothing more) under the entrypoint's
//      readTimeout (60 s when that is 0). From a trusted peer (trustedIPs, or any with insecure)
//      its client address becomes the connection's client address everywhere: ClientIP rules,
//      ipAllowList, X-Forwarded-For, X-Real-Ip, the access log, PROXY headers sent to backends.
//      From an untrusted peer the header is read and ignored (Traefik: go-proxyproto's IGNORE
//      policy). A malformed header, or none before the timeout, closes the connection. A
//      connection without a header is served with its socket addresses.
//   2. TCP routing, when the snapshot has TCP routers on the entrypoint (Traefik's tcp.Router):
//      - if the entrypoint has only non-TLS TCP routers (no TLS TCP router, no HTTPS router), a
//        route is matched at once without reading anything, so server-first protocols (SMTP,
//        MySQL, ...) work; if none matches (ClientIP), the connection goes on as below;
//      - otherwise the first bytes are peeked (never consumed) under readTimeout: a Postgres
//        SSLRequest is answered 'S' and the ClientHello that follows is routed to TLS routers
//        only; a TLS ClientHello gives the SNI and ALPN; anything else is plain TCP;
//      - plain TCP: the non-TLS routers are tried (HostSNI(`*`), ClientIP), then HTTP;
//      - TLS: a ClientHello offering ALPN "acme-tls/1" goes to HTTP handling, whose handshake
//        answers the TLS-ALPN-01 challenge (Traefik, without allowACMEByPass); otherwise an
//        HTTPS router for that exact SNI wins over TCP TLS routers (Traefik's order), then a TCP
//        TLS router, then HTTPS routers without a host, then a TCP TLS catch-all, then HTTP
//        handling (the TLS side decides what to do with it);
//      - a TCP TLS router forwards the raw TLS bytes (tls.passthrough) or terminates TLS: the
//        handshake uses the router's own TLS options (chosen before the handshake, as Traefik's
//        TLSHandler does; the per-host map of HTTPS routers does not apply) and the certificate
//        the store has for the SNI, ALPN is negotiated from the options' full alpnProtocols
//        (the bytes are piped, so any protocol goes), under handshake_timeout(); then the
//        router's handler pipes the decrypted bytes.
//      A connection a TCP router takes is served to its end here (see tcp/handler.h).
//
// Worker-confined. The connection counts in WorkerState::open_connections while it is here, so
// graceful shutdown waits for TCP connections (until graceTimeOut, as Traefik).

#include <optional>

#include <boost/asio/ip/tcp.hpp>

#include "common/asio_types.h"
#include "entrypoint/entrypoint_options.h"
#include "entrypoint/worker_state.h"
#include "http/exchange.h"

namespace turnpike::entrypoint {

// A connection handed on to HTTP handling.
struct AcceptedConnection {
  turnpike::TcpSocket socket;
  // The client after the PROXY protocol; unset when the socket's peer address applies.
  std::optional<boost::asio::ip::tcp::endpoint> client;
};

// Graceful shutdown: closes the connections of this worker that are still waiting in the stage
// for their first bytes (a PROXY header, a ClientHello), like idle HTTP connections. Connections
// a TCP router serves are left alone: they end on their own or at graceTimeOut. Worker thread.
void drain_tcp_stage();

// True when a connection accepted on `ep` now must go through run_tcp_stage (PROXY protocol
// configured, or TCP routers in the worker's current snapshot); otherwise it can go straight to
// HTTP handling.
bool tcp_stage_needed(const WorkerState& worker, const EntryPointOptions& ep);

// Runs steps 1 and 2 above. Returns the connection for HTTP handling, or nullopt when it is done
// (served by a TCP router, or closed). Never throws.
http::Task<std::optional<AcceptedConnection>> run_tcp_stage(turnpike::TcpSocket socket,
                                                            WorkerState& worker,
                                                            const EntryPointOptions& ep);

} // namespace turnpike::entrypoint
