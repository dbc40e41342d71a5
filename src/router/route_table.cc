#include "router/route_table.h"

#include <algorithm>
#include <cassert>
#include <numeric>

namespace turnpike::router {

Result<Route> make_route(std::string name, std::string rule_text, int64_t configured_priority,
                         std::shared_ptr<const http::Handler> handler) {
  auto rule = parse_rule(rule_text);
  if (!rule)
    return rule.error();
  int64_t priority = effective_priority(configured_priority, rule_text);
  return Route{std::move(name), std::move(rule_text), std::move(*rule), priority,
               std::move(handler)};
}

RouteTable RouteTable::build(std::vector<Route> routes) {
  std::vector<uint32_t> order;
  order.reserve(routes.size());
  for (uint32_t i = 0; i < routes.size(); ++i) {
    assert(routes[i].rule && "Route without a compiled rule");
    if (routes[i].rule)
      order.push_back(i);
  }
  // Index tie-break last makes the order total, so plain sort is deterministic.
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    const Route& ra = routes[a];
    const Route& rb = routes[b];
    if (ra.priority != rb.priority)
      return ra.priority > rb.priority;
    if (int c = ra.name.compare(rb.name); c != 0)
      return c < 0;
    return a < b;
  });

  RouteTable table;
  table.routes_.reserve(order.size());
  for (uint32_t i : order)
    table.routes_.push_back(std::move(routes[i]));

  // Filing routes in match order keeps every candidate list sorted by construction.
  for (uint32_t i = 0; i < table.routes_.size(); ++i) {
    const HostConstraint& hosts = table.routes_[i].rule->host_constraint();
    if (hosts.any_host) {
      table.catch_all_.push_back(i);
      continue;
    }
    for (const auto& host : hosts.exact)
      table.exact_[host].push_back(i);
    for (const auto& parent : hosts.wildcard)
      table.wildcard_[parent].push_back(i);
  }
  return table;
}

const Route* RouteTable::match(const http::Request& request) const {
  RequestFacts facts(request);
  return match(facts);
}

const Route* RouteTable::match(RequestFacts& facts) const {
  // Up to three ascending lists of route indices; a route may be in two (exact and wildcard).
  struct Cursor {
    const uint32_t* next = nullptr;
    const uint32_t* end = nullptr;
  };
  Cursor cursors[3];
  size_t n = 0;
  auto add = [&](const std::vector<uint32_t>& list) {
    if (!list.empty())
      cursors[n++] = Cursor{list.data(), list.data() + list.size()};
  };
  std::string_view host = facts.host();
  if (auto it = exact_.find(host); it != exact_.end())
    add(it->second);
  if (auto parent = wildcard_parent(host); !parent.empty() && !wildcard_.empty())
    if (auto it = wildcard_.find(parent); it != wildcard_.end())
      add(it->second);
  add(catch_all_);

  while (true) {
    uint32_t best = UINT32_MAX;
    for (size_t i = 0; i < n; ++i)
      if (cursors[i].next != cursors[i].end)
        best = std::min(best, *cursors[i].next);
    if (best == UINT32_MAX)
      return nullptr;
    for (size_t i = 0; i < n; ++i)
      if (cursors[i].next != cursors[i].end && *cursors[i].next == best)
        ++cursors[i].next;
    const Route& route = routes_[best];
    if (route.rule->matches(facts))
      return &route;
  }
}

} // namespace turnpike::router
