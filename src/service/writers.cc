#include "service/writers.h"

namespace turnpike::service {

http::Task<std::pair<http::ProxyError, bool>> buffer_body(http::BodyReader& reader,
                                                         std::string& out, int64_t limit) {
  for (;;) {
    auto [err, data] = co_await reader.read();
    if (err) co_return std::pair{err, false};
    if (data.empty()) co_return std::pair{http::ProxyError::none(), true};
    out.append(data.data(), data.size());
    if (limit >= 0 && out.size() > static_cast<uint64_t>(limit))
      co_return std::pair{http::ProxyError::none(), false};
  }
}

}  // namespace turnpike::service
