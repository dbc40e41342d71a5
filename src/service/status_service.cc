#include "service/status_service.h"

namespace turnpike::service {

StatusService::StatusService(int status, std::string body, http::HeaderMap headers)
    : status_(status), body_(std::move(body)), headers_(std::move(headers)) {}

http::Task<void> StatusService::handle(http::Exchange& ex) const {
  // Await into a local (GCC 12 coroutine miscompilation with `if (co_await ...)`).
  auto failed =
      co_await http::send_response(ex, status_, body_, headers_.empty() ? nullptr : &headers_);
  if (failed)
    ex.close_connection = true;
}

} // namespace turnpike::service
