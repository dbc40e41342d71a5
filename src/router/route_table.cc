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

namespace {

// Match order without the position tie-break: priority descending, then name ascending.
bool goes_before(const Route& a, const Route& b) {
  if (a.priority != b.priority)
    return a.priority > b.priority;
  return a.name < b.name;
}

} // namespace

RouteTable RouteTable::build(std::vector<Route> routes) {
  std::vector<RoutePtr> shared;
  shared.reserve(routes.size());
  for (auto& r : routes)
    shared.push_back(std::make_shared<const Route>(std::move(r)));
  return build(std::move(shared));
}

RouteTable RouteTable::build(std::vector<RoutePtr> routes) {
  std::vector<uint32_t> order;
  order.reserve(routes.size());
  for (uint32_t i = 0; i < routes.size(); ++i) {
    assert(routes[i] && routes[i]->rule && "Route without a compiled rule");
    if (routes[i] && routes[i]->rule)
      order.push_back(i);
  }
  // Index tie-break last makes the order total, so plain sort is deterministic.
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    const Route& ra = *routes[a];
    const Route& rb = *routes[b];
    if (goes_before(ra, rb))
      return true;
    if (goes_before(rb, ra))
      return false;
    return a < b;
  });
  std::vector<RoutePtr> sorted;
  sorted.reserve(order.size());
  for (uint32_t i : order)
    sorted.push_back(std::move(routes[i]));
  return index(std::move(sorted));
}

RouteTable RouteTable::patched(const std::vector<RoutePtr>& removed,
                               std::vector<RoutePtr> added) const {
  const std::vector<RoutePtr>& base = routes();
  // Positions of the removed routes: found by binary search on the match order, then by
  // identity among the routes of the same priority and name.
  std::vector<size_t> drop;
  for (const auto& r : removed) {
    if (!r)
      continue;
    auto [lo, hi] =
        std::equal_range(base.begin(), base.end(), r,
                         [](const RoutePtr& a, const RoutePtr& b) { return goes_before(*a, *b); });
    for (auto it = lo; it != hi; ++it) {
      size_t at = static_cast<size_t>(it - base.begin());
      if (*it == r && std::find(drop.begin(), drop.end(), at) == drop.end()) {
        drop.push_back(at);
        break;
      }
    }
  }
  std::sort(drop.begin(), drop.end());
  std::erase_if(added, [](const RoutePtr& r) {
    assert(r && r->rule && "Route without a compiled rule");
    return !r || !r->rule;
  });
  std::stable_sort(added.begin(), added.end(),
                   [](const RoutePtr& a, const RoutePtr& b) { return goes_before(*a, *b); });
  std::vector<RoutePtr> out;
  out.reserve(base.size() - drop.size() + added.size());
  // Where each old route went (HostIndex::kDropped when removed), and the added routes' places.
  std::vector<uint32_t> remap(base.size(), HostIndex::kDropped);
  std::vector<uint32_t> placed;
  placed.reserve(added.size());
  auto add = [&](RoutePtr r) {
    placed.push_back(static_cast<uint32_t>(out.size()));
    out.push_back(std::move(r));
  };
  size_t d = 0, a = 0;
  for (size_t i = 0; i < base.size(); ++i) {
    if (d < drop.size() && drop[d] == i) {
      ++d;
      continue;
    }
    // Strictly before: an added route goes after kept routes of the same priority and name.
    while (a < added.size() && goes_before(*added[a], *base[i]))
      add(std::move(added[a++]));
    remap[i] = static_cast<uint32_t>(out.size());
    out.push_back(base[i]);
  }
  while (a < added.size())
    add(std::move(added[a++]));
  if (!data_ || out.empty())
    return index(std::move(out));

  // The host indexes are patched: the kept routes' candidates renumbered, the added routes'
  // filed. Built anew when a patch cannot (HostIndex::patched).
  std::vector<std::pair<std::string, Candidate>> exact, wildcard;
  std::vector<Candidate> catch_all;
  for (uint32_t i : placed) {
    const Rule* rule = out[i]->rule.get();
    const HostConstraint& hosts = rule->host_constraint();
    if (hosts.any_host) {
      catch_all.push_back(Candidate{rule, i});
      continue;
    }
    for (const auto& host : hosts.exact)
      exact.emplace_back(host, Candidate{rule, i});
    for (const auto& parent : hosts.wildcard)
      wildcard.emplace_back(parent, Candidate{rule, i});
  }
  auto patched_exact = data_->exact.patched(remap, std::move(exact));
  auto patched_wildcard = data_->wildcard.patched(remap, std::move(wildcard));
  if (!patched_exact || !patched_wildcard)
    return index(std::move(out));
  auto data = std::make_shared<Data>();
  data->exact = std::move(*patched_exact);
  data->wildcard = std::move(*patched_wildcard);
  data->catch_all.reserve(data_->catch_all.size() + catch_all.size());
  for (const Candidate& c : data_->catch_all)
    if (uint32_t r = remap[c.route]; r != HostIndex::kDropped)
      data->catch_all.push_back(Candidate{c.rule, r});
  size_t kept = data->catch_all.size();
  data->catch_all.insert(data->catch_all.end(), catch_all.begin(), catch_all.end());
  std::inplace_merge(data->catch_all.begin(),
                     data->catch_all.begin() + static_cast<ptrdiff_t>(kept), data->catch_all.end(),
                     [](const Candidate& x, const Candidate& y) { return x.route < y.route; });
  data->routes = std::move(out);
  RouteTable table;
  table.data_ = std::move(data);
  return table;
}

RouteTable RouteTable::index(std::vector<RoutePtr> routes) {
  RouteTable table;
  if (routes.empty())
    return table;
  auto data = std::make_shared<Data>();
  data->routes = std::move(routes);
  // Filing routes in match order keeps every candidate list sorted by construction.
  std::vector<std::pair<std::string, Candidate>> exact, wildcard;
  for (uint32_t i = 0; i < data->routes.size(); ++i) {
    const Rule* rule = data->routes[i]->rule.get();
    const HostConstraint& hosts = rule->host_constraint();
    if (hosts.any_host) {
      data->catch_all.push_back(Candidate{rule, i});
      continue;
    }
    for (const auto& host : hosts.exact)
      exact.emplace_back(host, Candidate{rule, i});
    for (const auto& parent : hosts.wildcard)
      wildcard.emplace_back(parent, Candidate{rule, i});
  }
  data->exact = HostIndex::build(std::move(exact));
  data->wildcard = HostIndex::build(std::move(wildcard));
  table.data_ = std::move(data);
  return table;
}

const std::vector<RoutePtr>& RouteTable::routes() const {
  static const std::vector<RoutePtr> kNone;
  return data_ ? data_->routes : kNone;
}

const Route* RouteTable::match(const http::Request& request) const {
  RequestFacts facts(request);
  return match(facts);
}

const Route* RouteTable::match(RequestFacts& facts) const {
  // Up to three candidate lists in ascending route order; a route may be in two of them (exact
  // and wildcard), so equal heads are consumed together and tried once.
  if (!data_)
    return nullptr;
  const Data& d = *data_;
  std::span<const Candidate> lists[3];
  size_t n = 0;
  auto add = [&](std::span<const Candidate> list) {
    if (!list.empty())
      lists[n++] = list;
  };
  std::string_view host = facts.host();
  add(d.exact.find(host));
  if (auto parent = wildcard_parent(host); !parent.empty())
    add(d.wildcard.find(parent));
  add(d.catch_all);

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
      return d.routes[route].get();
  }
}

} // namespace turnpike::router
