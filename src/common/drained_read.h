// Reads that tell Asio's reactor when the socket is drained, so that the next read does not start
// with a receive that can only fail with EAGAIN.
//
// Asio's epoll reactor (Boost 1.81) tries every read on a socket at once, before waiting
// ("speculative" read), unless it knows the socket is empty: only a read of 0 bytes (end of
// stream) tells it so. On a keep-alive connection that costs one failed recv per request on each
// side: the proxy reads again right after it answered, before the client can have sent its next
// request, and reads the origin right after sending it the request. (async_wait would avoid the
// recv but costs an epoll_ctl per wait in the same reactor.)
//
// The kernel can say how much is left: with TCP_INQ set on the socket, every recvmsg returns the
// bytes still queued (TCP_CM_INQ), and reports 1 rather than 0 when a FIN has arrived, so that the
// end of stream is read too. A read that leaves 0 says "exhausted"
// (reactor_op::done_and_exhausted): the reactor queues the next read for the socket's next event
// without trying it. That is safe because the epoll registration is edge-triggered: anything that
// arrives afterwards (bytes, FIN, RST) raises a new event, which makes the reactor try again. (A
// short read alone would not do: it may have consumed a FIN together with the last bytes, and no
// event follows a FIN already consumed. nginx tracks the same case with EPOLLRDHUP.)
//
// Use: enable_drain_hint(socket) once per connection (or on the listening socket), then
// socket.async_read_some(turnpike::DrainedRead(buffer), token) (or read_some below). Without the
// hint a DrainedRead behaves exactly like Asio's own read. The specialisation below is written
// against Boost 1.81's reactor (epoll, the Linux default) and checked by a static_assert on the
// version.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <type_traits>
#include <utility>

#include <boost/asio/basic_stream_socket.hpp> // first: the detail header below needs socket_base
#include <boost/asio/buffer.hpp>
#include <boost/asio/detail/reactive_socket_recv_op.hpp>
#include <boost/version.hpp>

#include "common/asio_types.h"

static_assert(BOOST_VERSION == 108100,
              "DrainedRead specialises Asio's reactive_socket_recv_op_base of Boost 1.81: check "
              "that its do_perform still matches before changing the Boost version");

namespace turnpike {

// A single receive buffer (an Asio MutableBufferSequence) whose reads report a drained socket.
struct DrainedRead : boost::asio::mutable_buffer {
  explicit DrainedRead(boost::asio::mutable_buffer b) : boost::asio::mutable_buffer(b) {}
};

// Asks the kernel for the bytes left after every read (TCP_INQ) on a TCP socket, or on every
// connection a listening socket accepts (they inherit it). Best effort: without it, reads behave
// as Asio's own.
template <class Socket> void enable_drain_hint(Socket& socket) {
  int on = 1;
  ::setsockopt(socket.native_handle(), SOL_TCP, TCP_INQ, &on, sizeof on);
}

// One read of `stream` into `buffer` with `token`: a DrainedRead on a plain TCP socket, an
// ordinary read on any other stream (TlsStream drains its own socket this way).
template <class Stream, class Token>
auto read_some(Stream& stream, boost::asio::mutable_buffer buffer, Token&& token) {
  if constexpr (std::is_same_v<Stream, TcpSocket>)
    return stream.async_read_some(DrainedRead(buffer), std::forward<Token>(token));
  else
    return stream.async_read_some(buffer, std::forward<Token>(token));
}

} // namespace turnpike

namespace boost::asio::detail {

// Asio's do_perform for one buffer (socket_ops::non_blocking_recv1) with recvmsg instead of recv,
// to read TCP_CM_INQ: 0 bytes left means the queue is empty and no FIN is pending.
template <>
inline reactor_op::status
reactive_socket_recv_op_base<turnpike::DrainedRead>::do_perform(reactor_op* base) {
  auto* o = static_cast<reactive_socket_recv_op_base*>(base);
  const bool stream = (o->state_ & socket_ops::stream_oriented) != 0;
  for (;;) {
    iovec iov{o->buffers_.data(), o->buffers_.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(o->socket_, &msg, o->flags_ | MSG_NOSIGNAL);
    if (n > 0) {
      o->ec_ = boost::system::error_code();
      o->bytes_transferred_ = static_cast<size_t>(n);
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_TCP && c->cmsg_type == TCP_CM_INQ) {
          int left = -1;
          std::memcpy(&left, CMSG_DATA(c), sizeof left);
          if (left == 0)
            return done_and_exhausted;
        }
      }
      return done;
    }
    if (n == 0) {
      o->bytes_transferred_ = 0;
      o->ec_ = stream ? boost::asio::error::eof : boost::system::error_code();
      return stream ? done_and_exhausted : done; // end of stream, as Asio's own
    }
    const int err = errno;
    if (err == EINTR)
      continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      o->ec_ = boost::asio::error::would_block;
      return not_done;
    }
    o->ec_ = boost::system::error_code(err, boost::asio::error::get_system_category());
    o->bytes_transferred_ = 0;
    return stream ? done_and_exhausted : done; // Asio's own: 0 bytes on a stream is exhausted
  }
}

} // namespace boost::asio::detail
