#pragma once
// Room-making for the receive buffers of client and upstream connections, which keep their
// unread bytes in buffer[begin, end). Pure function over caller-owned state; worker-confined use.

#include <algorithm>
#include <cstring>
#include <string>

#include <boost/asio/buffer.hpp>

namespace turnpike {

// Returns the writable tail of `buffer` after making room: an empty buffer restarts at 0, a full
// one is compacted (unread bytes moved to the front) or, when nothing can be dropped, doubled up
// to `max_size`. Returns an empty buffer when it is full at `max_size`. After reading n bytes into
// the result, the caller adds n to `end`.
inline boost::asio::mutable_buffer prepare_read(std::string& buffer, size_t& begin, size_t& end,
                                                size_t max_size) {
  if (begin == end) {
    begin = end = 0;
  } else if (end == buffer.size()) {
    if (begin > 0) {
      std::memmove(buffer.data(), buffer.data() + begin, end - begin);
      end -= begin;
      begin = 0;
    } else if (buffer.size() < max_size) {
      buffer.resize(std::min(buffer.size() * 2, max_size));
    } else {
      return {};
    }
  }
  return boost::asio::buffer(buffer.data() + end, buffer.size() - end);
}

}  // namespace turnpike
