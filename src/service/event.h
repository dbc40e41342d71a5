#pragma once
// Wake-ups between coroutines of one worker: an Event is a flag plus a timer that never expires
// by itself; notify() sets the flag and cancels the timer, which resumes the waiter. A
// notification that arrives before the wait is not lost (the flag is checked first).
//
// Worker-confined. One waiter at a time per Event.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/asio_types.h"

namespace turnpike::service {

class Event {
 public:
  explicit Event(const turnpike::Executor& ex)
      : timer_(ex, turnpike::SteadyTimer::time_point::max()) {}

  void notify() {
    set_ = true;
    timer_.cancel();
  }
  // Returns true at once if notified since the last wait, else when notified. Returns false
  // when the awaiting coroutine was cancelled instead (e.g. the client reset its HTTP/2 stream):
  // the caller stops and reports that as a value.
  turnpike::Awaitable<bool> wait();

 private:
  turnpike::SteadyTimer timer_;
  bool set_ = false;
};

}  // namespace turnpike::service
