#pragma once
// What a TCP router hands a connection to: a Handler (a TCP service, possibly wrapped by TCP
// middlewares) serving a Connection (the client side of the routed connection).
//
// The client side is type-erased behind Connection so that handlers do not care whether the
// client bytes come straight from the socket (plain TCP, TLS passthrough) or through a TLS
// stream the gateway terminates. The only operation that moves bytes, pipe(), is implemented
// once per pair of stream types (StreamConnection<Stream> in byte_pipe.h, over BytePipe), with
// one overload per upstream kind (a plain socket, or a TLS stream for `tls: true` servers), so
// the erasure costs one virtual call per connection, not one per chunk.
//
// Threading: a Connection is confined to the worker that accepted it and lives until serve()
// returns. Handlers are immutable, built on the control plane with the configuration snapshot and
// shared by every worker; per-worker state lives in per-worker slots, state that must be global
// (inFlightConn counts) is documented where it lives. serve() never throws.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "common/asio_types.h"
#include "common/deadline.h"
#include "common/duration.h"

namespace turnpike::tls {
class TlsStream;
}

namespace turnpike::tcp {

template <class T> using Task = turnpike::Awaitable<T>;

// How a pipe ends (see BytePipe).
struct PipeOptions {
  // No byte in either direction for this long closes both sides; 0 = never (Traefik's
  // behaviour: long-lived idle connections such as database pools stay up).
  Duration idle_timeout = Duration::zero();
  // After one side has finished sending (its FIN was forwarded), the other direction has this
  // long to finish too; negative = no limit (serversTransport.terminationDelay, default 100ms).
  Duration termination_delay = std::chrono::milliseconds(100);
};

struct PipeStats {
  uint64_t to_upstream = 0; // bytes client -> upstream
  uint64_t to_client = 0;   // bytes upstream -> client
};

// Facts about the client side, fixed when the connection is routed.
struct ConnectionInfo {
  boost::asio::ip::tcp::endpoint client; // the client (from the PROXY header when trusted)
  boost::asio::ip::tcp::endpoint local;  // where it connected to (likewise)
  std::string entrypoint;
  std::string server_name; // SNI, lower case; empty for plain TCP
  unsigned worker_id = 0;
  DeadlineScanner* deadlines = nullptr;  // the worker's
  std::optional<turnpike::Executor> executor; // the worker's
  // The client negotiated Postgres STARTTLS with the gateway before its ClientHello: a
  // passthrough service must replay that negotiation with the backend (Traefik's postgresConn).
  bool postgres_starttls = false;
};

// Postgres's SSLRequest message (int32 length 8, int32 code 80877103) and the server's "yes".
inline constexpr std::string_view kPostgresSslRequest{"\x00\x00\x00\x08\x04\xd2\x16\x2f", 8};
inline constexpr char kPostgresSslAccepted = 'S';

class Connection {
public:
  explicit Connection(ConnectionInfo info) : info_(std::move(info)) {}
  virtual ~Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  const ConnectionInfo& info() const { return info_; }
  boost::asio::ip::address client_ip() const { return info_.client.address(); }

  // Moves bytes both ways between the client and `upstream` until both directions have ended
  // (see BytePipe for half-close and timeouts). Returns the byte counts; never throws.
  virtual Task<PipeStats> pipe(turnpike::TcpSocket& upstream,
                               const PipeOptions& options) = 0;
  // The same towards a backend reached over TLS (after its handshake).
  virtual Task<PipeStats> pipe(tls::TlsStream& upstream, const PipeOptions& options) = 0;
  // Closes the client side now (a middleware refusing the connection, a backend unreachable).
  virtual void close() = 0;

private:
  ConnectionInfo info_;
};

class Handler {
public:
  virtual ~Handler() = default;
  // Serves the connection until it is over; on return the caller closes what is left open.
  virtual Task<void> serve(Connection& conn) const = 0;
};

using HandlerPtr = std::shared_ptr<const Handler>;

} // namespace turnpike::tcp
