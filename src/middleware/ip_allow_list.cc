#include "middleware/ip_allow_list.h"

#include "middleware/decode_support.h"
#include "middleware/local_reply.h"

namespace turnpike::middleware {

IpAllowList::IpAllowList(IpNetSet allowed, ClientIpStrategy strategy, int reject_status,
                         HandlerPtr next)
    : allowed_(std::move(allowed)),
      strategy_(std::move(strategy)),
      reject_status_(reject_status),
      next_(std::move(next)) {}

http::Task<void> IpAllowList::handle(http::Exchange& ex) const {
  auto client = strategy_.client_ip(ex.request);
  if (client && allowed_.contains(*client)) {
    co_await next_->handle(ex);
    co_return;
  }
  co_await reply(ex, reject_status_, status_text(reject_status_));
}

Wrap build_ip_allow_list(config::Decoder& dec, BuildContext&) {
  ErrorMark mark(dec);
  IpNetSet allowed;
  int reject_status = 0;
  dec.get_required("sourceRange", allowed);
  dec.get("rejectStatusCode", reject_status);
  ClientIpStrategy strategy = ClientIpStrategy::decode(dec, "ipStrategy");
  dec.finish();

  if (reject_status == 0) {
    reject_status = 403;
  } else if (status_text(reject_status).empty()) {
    dec.fail("rejectStatusCode", "invalid HTTP status code " + std::to_string(reject_status));
  }
  if (!mark.clean()) return {};
  return [allowed = std::move(allowed), strategy = std::move(strategy),
          reject_status](HandlerPtr next) -> HandlerPtr {
    return std::make_shared<const IpAllowList>(allowed, strategy, reject_status, std::move(next));
  };
}

}  // namespace turnpike::middleware
