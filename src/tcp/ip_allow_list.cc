#include "tcp/ip_allow_list.h"

#include "common/log.h"

namespace turnpike::tcp {

Task<void> IpAllowList::serve(Connection& conn) const {
  if (allowed_.contains(conn.client_ip())) {
    co_await next_->serve(conn);
    co_return;
  }
  log::get("tcp")->debug("{}: connection from {} refused by ipAllowList", conn.info().entrypoint,
                         conn.client_ip().to_string());
  conn.close();
}

Wrap build_ip_allow_list(config::Decoder& dec) {
  size_t before = dec.errors().list().size();
  IpNetSet allowed;
  dec.get_required("sourceRange", allowed);
  dec.finish();
  if (!decoded_cleanly(dec, before))
    return {};
  return [allowed = std::move(allowed)](HandlerPtr next) -> HandlerPtr {
    return std::make_shared<const IpAllowList>(allowed, std::move(next));
  };
}

} // namespace turnpike::tcp
