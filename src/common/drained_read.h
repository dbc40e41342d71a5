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
// A TCP receive that returns fewer bytes than were asked for has emptied the socket's receive
// queue, and the epoll registration is edge-triggered: any byte that arrives afterwards raises a
// new EPOLLIN event, which makes the reactor try reads again. So a short read can safely say
// "exhausted" (reactor_op::done_and_exhausted): the next read on the socket is queued for the
// event without the doomed recv. A read that fills its buffer says nothing, and the next read
// tries at once, as before.
//
// Use: socket.async_read_some(turnpike::DrainedRead(buffer), token) on a TCP stream socket.
// The specialisation below is the only change; it is written against Boost 1.81's reactor
// (BOOST_ASIO_HAS_EPOLL, the Linux default) and checked by a static_assert on the version.
#pragma once

#include <boost/asio/basic_stream_socket.hpp> // first: the detail header below needs socket_base
#include <boost/asio/buffer.hpp>
#include <boost/asio/detail/reactive_socket_recv_op.hpp>
#include <boost/version.hpp>

static_assert(BOOST_VERSION == 108100,
              "DrainedRead specialises Asio's reactive_socket_recv_op_base of Boost 1.81: check "
              "that its do_perform still matches before changing the Boost version");

namespace turnpike {

// A single receive buffer (an Asio MutableBufferSequence) whose short reads mark the socket
// drained.
struct DrainedRead : boost::asio::mutable_buffer {
  explicit DrainedRead(boost::asio::mutable_buffer b) : boost::asio::mutable_buffer(b) {}
};

} // namespace turnpike

namespace boost::asio::detail {

// Asio's own do_perform for one buffer (non_blocking_recv1), plus: fewer bytes than the buffer
// holds means the receive queue is empty (see the top of this file).
template <>
inline reactor_op::status
reactive_socket_recv_op_base<turnpike::DrainedRead>::do_perform(reactor_op* base) {
  auto* o = static_cast<reactive_socket_recv_op_base*>(base);
  const boost::asio::mutable_buffer& b = o->buffers_;
  bool stream = (o->state_ & socket_ops::stream_oriented) != 0;
  if (!socket_ops::non_blocking_recv1(o->socket_, b.data(), b.size(), o->flags_, stream, o->ec_,
                                      o->bytes_transferred_))
    return not_done;
  if (stream && !o->ec_ && o->bytes_transferred_ < b.size())
    return done_and_exhausted;
  if (stream && o->bytes_transferred_ == 0)
    return done_and_exhausted; // end of stream, as Asio's own
  return done;
}

} // namespace boost::asio::detail
