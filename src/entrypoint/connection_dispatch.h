#pragma once
// What happens to a client connection between accept and a protocol handler, on the worker that
// accepted it (Listener spawns serve_connection for every accepted socket):
//
//   1. The TCP stage when the entrypoint needs it (tcp_stage.h): PROXY protocol, then TCP routers
//      (HostSNI, ClientIP, TLS passthrough); a connection no TCP router takes goes on below.
//   2. TLS or plain: the first byte is peeked (MSG_PEEK: nothing is consumed). 0x16, a TLS
//      handshake record, means TLS; anything else is plain HTTP. This is how Traefik serves TLS
//      and non-TLS routers on one entrypoint. Waiting for that byte is under idleTimeout, as
//      waiting for the first request always was.
//   3. TLS: the handshake, under handshake_timeout() (SNI selects the certificate and the TLS
//      options, see tls/server_tls.h), then by the negotiated ALPN protocol: "acme-tls/1" ends
//      the connection (TLS-ALPN-01 validation needs only the handshake); "h2" is HTTP/2
//      (serve_http2); anything else is HTTP/1.1 over TLS.
//   4. Plain: HTTP/1.1 (which hands a connection that starts with the HTTP/2 preface to h2c).
//
// A connection still in steps 2-3 is closed by graceful draining like an idle one.
// Worker-confined.

#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "common/asio_types.h"
#include "common/duration.h"
#include "entrypoint/entrypoint_options.h"
#include "entrypoint/worker_state.h"
#include "http/exchange.h"

namespace turnpike::entrypoint {

// Serves an accepted connection until it closes. Never throws.
http::Task<void> serve_connection(turnpike::TcpSocket socket, WorkerState& worker,
                                  const EntryPointOptions& ep);

// Application protocols a TLS connection may negotiate by ALPN, in the order this build serves
// them: the TLS manager restricts every TLS option's alpnProtocols to these.
std::vector<std::string> served_alpn_protocols();

// The TLS handshake timeout of an entrypoint: 10 s (security.md's header-read bound), or the
// entrypoint's readTimeout when that is shorter and not 0.
Duration handshake_timeout(const EntryPointOptions& ep);

} // namespace turnpike::entrypoint
