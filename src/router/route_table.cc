#include "router/route_table.h"

#include <algorithm>
#include <cassert>

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
  std::vector<std::pair<std::string, Candidate>> exact, wildcard;
  for (uint32_t i = 0; i < table.routes_.size(); ++i) {
    const Rule* rule = table.routes_[i].rule.get();
    const HostConstraint& hosts = rule->host_constraint();
    if (hosts.any_host) {
      table.catch_all_.push_back(Candidate{rule, i});
      continue;
    }
    for (const auto& host : hosts.exact)
      exact.emplace_back(host, Candidate{rule, i});
    for (const auto& parent : hosts.wildcard)
      wildcard.emplace_back(parent, Candidate{rule, i});
  }
  table.exact_ = HostIndex::build(std::move(exact));
  table.wildcard_ = HostIndex::build(std::move(wildcard));
  return table;
}

const Route* RouteTable::match(const http::Request& request) const {
  RequestFacts facts(request);
  return match(facts);
}

const Route* RouteTable::match(RequestFacts& facts) const {
  // Up to three candidate lists in ascending route order; a route may be in two of them (exact
  // and wildcard), so equal heads are consumed together and tried once.
  std::span<const Candidate> lists[3];
  size_t n = 0;
  auto add = [&](std::span<const Candidate> list) {
    if (!list.empty())
      lists[n++] = list;
  };
  std::string_view host = facts.host();
  add(exact_.find(host));
  if (auto parent = wildcard_parent(host); !parent.empty())
    add(wildcard_.find(parent));
  add(catch_all_);

  while (true) {
    const Candidate* best = nullptr;
    for (size_t i = 0; i < n; ++i)
      if (!lists[i].empty() && (!best || lists[i].front().route < best->route))
        best = &lists[i].front();
    if (!best)
      return nullptr;
    uint32_t route = best->route;
    const Rule* rule = best->rule;
    for (size_t i = 0; i < n; ++i)
      if (!lists[i].empty() && lists[i].front().route == route)
        lists[i] = lists[i].subspan(1);
    if (rule->matches(facts))
      return &routes_[route];
  }
}

} // namespace turnpike::router
