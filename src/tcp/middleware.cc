// The explicit list of TCP middleware types (conventions.md item 2), sorted by type key.

#include "tcp/middleware.h"

#include "common/strings.h"
#include "tcp/in_flight_conn.h"
#include "tcp/ip_allow_list.h"

namespace turnpike::tcp {
namespace {

constexpr Registration kRegistry[] = {
    {"inFlightConn", &build_in_flight_conn},
    {"ipAllowList", &build_ip_allow_list},
    {"ipWhiteList", &build_ip_allow_list}, // deprecated alias of ipAllowList
};

} // namespace

std::span<const Registration> middleware_registry() {
  return kRegistry;
}

const Registration* find_middleware(std::string_view type) {
  for (const auto& r : kRegistry)
    if (iequals(r.type, type))
      return &r;
  return nullptr;
}

} // namespace turnpike::tcp
