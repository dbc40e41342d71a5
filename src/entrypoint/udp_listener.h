#pragma once
// A UDP entrypoint (`address: ":53/udp"`) on one worker: Traefik's session model. Datagrams from
// one client address form a session; the session's first datagram picks the backend through the
// entrypoint's UDP router and service (per the worker's current snapshot) and opens one upstream
// socket connected to it. Client datagrams go out on that socket; the backend's answers come
// back to the client from the entrypoint's own socket (so the client sees the address it sent
// to). A session ends after udp.timeout (default 3 s) without a datagram in either direction,
// or when the backend refuses (ICMP port unreachable).
//
// Per-worker sockets: every worker binds its own socket to the address with SO_REUSEPORT, and
// Linux picks the socket of a datagram by hashing its addresses and ports. The hash of one client
// address is the same for every datagram as long as the group of sockets does not change, and
// the gateway's sockets stay open from start to exit, so all of a client's datagrams reach the
// same worker and its session there; sessions need no sharing between workers. (A second
// process joining the group with `reusePort`, or leaving it, reshuffles clients; their sessions
// then restart on another worker, which UDP clients tolerate.)
//
// No allocation per datagram: one receive buffer per direction per listener, non-blocking sends
// (a datagram the kernel cannot take at once is dropped, as UDP allows). Worker-confined.

#include <memory>
#include <unordered_map>

#include <boost/asio/ip/udp.hpp>

#include "common/asio_types.h"
#include "common/deadline.h"
#include "common/result.h"
#include "entrypoint/entrypoint_options.h"
#include "entrypoint/worker_state.h"

namespace turnpike {
using UdpSocket = boost::asio::basic_datagram_socket<boost::asio::ip::udp, Executor>;
}  // namespace turnpike

namespace turnpike::entrypoint {

class UdpListener {
public:
  // Binds (on the calling thread, before the worker runs); errors name the address.
  static Result<std::unique_ptr<UdpListener>> open(boost::asio::io_context& io,
                                                   const EntryPointOptions& ep);
  ~UdpListener();

  // Starts receiving on the worker's io_context.
  void start(WorkerState& worker);
  // Graceful shutdown: datagrams from new clients are dropped from now on; existing sessions go
  // on until they time out (each counts in WorkerState::open_connections).
  void stop_accepting() { accepting_ = false; }
  // Closes the socket and every session.
  void close();
  uint16_t local_port() const;
  size_t session_count() const { return sessions_.size(); }

private:
  struct Session;
  struct EndpointHash {
    size_t operator()(const boost::asio::ip::udp::endpoint& e) const;
  };

  UdpListener(turnpike::UdpSocket socket, const EntryPointOptions& ep);
  http::Task<void> receive_loop();
  void on_datagram(const boost::asio::ip::udp::endpoint& from, size_t size);
  Session* open_session(const boost::asio::ip::udp::endpoint& client);
  http::Task<void> run_session(Session& session);
  void forward(Session& session, const char* data, size_t size);

  turnpike::UdpSocket socket_;
  const EntryPointOptions& ep_;
  WorkerState* worker_ = nullptr;
  bool accepting_ = true;
  std::unordered_map<boost::asio::ip::udp::endpoint, std::unique_ptr<Session>, EndpointHash>
      sessions_;
  std::unique_ptr<char[]> from_clients_; // receive buffers, kMaxDatagram each
  std::unique_ptr<char[]> from_servers_;
};

} // namespace turnpike::entrypoint
