#pragma once
// Looking at the first bytes of a connection without consuming them (recv with MSG_PEEK), for the
// decisions taken before any protocol handler reads: is there a PROXY header, is it TLS, which
// server name and ALPN does the ClientHello carry. Whatever handler the connection goes to then
// reads every byte from the socket itself (a TLS library included), as if nobody had looked.
//
// Waiting for "at least n bytes" uses SO_RCVLOWAT: the socket only becomes readable (epoll) when
// n bytes are queued or the peer has stopped sending, so a client that sends its hello in several
// segments costs one wake-up per useful step, never a busy loop. SO_RCVLOWAT is set back to 1
// before returning. Worker-confined; the caller's deadline bounds the wait (cancel the socket).

#include <cstddef>
#include <span>

#include <boost/asio/ip/tcp.hpp>

#include "common/asio_types.h"
#include "http/exchange.h"

namespace turnpike::entrypoint {

struct Peeked {
  boost::system::error_code ec; // set: the wait failed (cancelled by a deadline, reset...)
  size_t size = 0;              // bytes copied into the buffer (what is queued, up to its size)
  bool peer_closed = false;     // the peer has shut down its sending side: no more will come
};

// Waits until at least min(want, buffer.size()) bytes are queued on `socket` (or the peer stopped
// sending, or an error), then copies the queued bytes (up to buffer.size()) into `buffer`
// without consuming them.
http::Task<Peeked> peek_at_least(turnpike::TcpSocket& socket, std::span<char> buffer,
                                 size_t want);

} // namespace turnpike::entrypoint
