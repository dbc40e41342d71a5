// Event::wait is defined here, not inline in the header: a coroutine defined in a header gets a
// frame type per translation unit under one name, which GCC's link-time optimiser reports as an
// ODR violation (GCC bug 101118).
#include "service/event.h"

namespace turnpike::service {

turnpike::Awaitable<bool> Event::wait() {
  if (!set_) {
    timer_.expires_at(turnpike::SteadyTimer::time_point::max());
    co_await timer_.async_wait(boost::asio::as_tuple(turnpike::use_task));
    auto state = co_await boost::asio::this_coro::cancellation_state;
    if (!set_ && state.cancelled() != boost::asio::cancellation_type::none)
      co_return false;
  }
  set_ = false;
  co_return true;
}

} // namespace turnpike::service
