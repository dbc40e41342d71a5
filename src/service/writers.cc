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

// Out of line, as every coroutine shared by several translation units (see event.cc).
http::Task<std::pair<http::ProxyError, std::span<const char>>> BufferBodyReader::read() {
  if (offset_ < data_.size()) {
    // Hand out at most 64 KiB at a time, like a socket read would.
    size_t n = std::min<size_t>(data_.size() - offset_, 64 * 1024);
    std::span<const char> piece(data_.data() + offset_, n);
    offset_ += n;
    co_return std::pair{http::ProxyError::none(), piece};
  }
  if (rest_) {
    auto r = co_await rest_->read();
    offset_ += r.second.size();
    co_return r;
  }
  co_return std::pair{http::ProxyError::none(), std::span<const char>()};
}

}  // namespace turnpike::service
