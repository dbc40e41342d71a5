#include "entrypoint/socket_peek.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/asio_types.h"

namespace turnpike::entrypoint {
namespace {

namespace asio = boost::asio;

void set_low_water_mark(int fd, size_t bytes) {
  int v = static_cast<int>(bytes);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v));
}

// True when the peer has shut down its sending side (FIN received) or the socket failed.
bool peer_done(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

} // namespace

http::Task<Peeked> peek_at_least(turnpike::TcpSocket& socket, std::span<char> buffer,
                                 size_t want) {
  want = std::min(want, buffer.size());
  int fd = socket.native_handle();
  bool lowered = false;
  Peeked out;
  for (;;) {
    ssize_t n = ::recv(fd, buffer.data(), buffer.size(), MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      out.ec = boost::system::error_code(errno, boost::system::system_category());
      break;
    }
    out.size = n > 0 ? static_cast<size_t>(n) : 0;
    if (out.size >= want)
      break;
    if (n == 0 || peer_done(fd)) { // orderly shutdown: what is queued is all there will be
      out.peer_closed = true;
      break;
    }
    // Not enough yet: be woken only once `want` bytes are queued. Setting the mark before the
    // next recv closes the race with bytes arriving in between (the kernel re-checks it).
    if (!lowered) {
      set_low_water_mark(fd, want);
      lowered = true;
      continue;
    }
    auto [ec] = co_await socket.async_wait(turnpike::TcpSocket::wait_read,
                                           asio::as_tuple(turnpike::use_task));
    if (ec) {
      out.ec = ec;
      break;
    }
  }
  if (lowered)
    set_low_water_mark(fd, 1);
  co_return out;
}

} // namespace turnpike::entrypoint
