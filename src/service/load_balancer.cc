#include "service/load_balancer.h"

#include "common/ipnet.h"
#include "common/strings.h"
#include "service/proxy_http1.h"
#include "service/proxy_http2.h"

namespace turnpike::service {

std::string Server::preserved_target(const http::Request& req) const {
  std::string target;
  if (!preserve_path || base_path.size() <= 1) return target;
  std::string_view base = base_path;
  if (base.back() == '/') base.remove_suffix(1);
  target.append(base).append(req.path);
  if (req.has_query) target.append("?").append(req.query);
  return target;
}

Result<Server> Server::parse(std::string_view url, int weight) {
  Server s;
  s.url = std::string(url);
  s.weight = weight;
  std::string_view rest = url;
  if (istarts_with(rest, "http://")) {
    rest.remove_prefix(7);
  } else if (istarts_with(rest, "https://")) {
    rest.remove_prefix(8);
    s.scheme = Scheme::kHttps;
    s.port = 443;
  } else if (istarts_with(rest, "h2c://")) {
    rest.remove_prefix(6);
    s.scheme = Scheme::kH2c;
  } else {
    return make_error("url \"" + std::string(url) +
                      "\": scheme must be http://, https:// or h2c://");
  }
  auto slash = rest.find('/');
  std::string_view hostport = rest.substr(0, slash);
  if (slash != std::string_view::npos) s.base_path = std::string(rest.substr(slash));
  if (hostport.empty()) return make_error("url \"" + std::string(url) + "\": missing host");
  std::string_view host = hostport;
  std::string_view port;
  if (hostport.front() == '[') {
    auto close = hostport.find(']');
    if (close == std::string_view::npos)
      return make_error("url \"" + std::string(url) + "\": bad IPv6 literal");
    host = hostport.substr(1, close - 1);
    if (close + 1 < hostport.size()) {
      if (hostport[close + 1] != ':')
        return make_error("url \"" + std::string(url) + "\": bad port");
      port = hostport.substr(close + 2);
    }
  } else if (auto colon = hostport.rfind(':'); colon != std::string_view::npos) {
    host = hostport.substr(0, colon);
    port = hostport.substr(colon + 1);
  }
  if (!port.empty()) {
    auto p = parse_uint(port);
    if (!p || *p == 0 || *p > 65535)
      return make_error("url \"" + std::string(url) + "\": bad port");
    s.port = static_cast<uint16_t>(*p);
  }
  s.host = std::string(host);
  bool v6 = s.host.find(':') != std::string::npos;
  s.authority = (v6 ? "[" + s.host + "]" : s.host) + ":" + std::to_string(s.port);
  if (auto ip = parse_ip(s.host)) s.endpoint = boost::asio::ip::tcp::endpoint(*ip, s.port);
  return s;
}

LoadBalancerService::LoadBalancerService(std::string name, std::vector<Server> servers,
                                         bool pass_host_header,
                                         std::shared_ptr<const TransportOptions> transport,
                                         unsigned workers)
    : name_(std::move(name)),
      servers_(std::move(servers)),
      pass_host_header_(pass_host_header),
      transport_(std::move(transport)),
      slots_(workers == 0 ? 1 : workers) {
  // Weight 0 servers never receive traffic (Traefik skips them).
  std::erase_if(servers_, [](const Server& s) { return s.weight <= 0; });
  for (auto& s : servers_) {
    total_weight_ += s.weight;
    weights_.push_back(s.weight);
    s.pool_key = transport_->name;
    // A TLS connection made under one configuration is never reused under another.
    if (s.scheme == Scheme::kHttps && transport_->tls) s.pool_key += "#" + transport_->tls->fingerprint();
    s.pool_key += s.scheme == Scheme::kHttp ? "|http://" : s.scheme == Scheme::kHttps ? "|https://" : "|h2c://";
    s.pool_key += s.authority;
  }
  for (auto& slot : slots_) slot.current.assign(servers_.size(), 0);
}

const Server* LoadBalancerService::pick(unsigned worker_id) const {
  if (servers_.empty()) return nullptr;
  if (servers_.size() == 1) return &servers_[0];
  auto& slot = slots_[worker_id % slots_.size()];
  return &servers_[smooth_wrr_pick(slot.current, weights_, total_weight_)];
}

http::Task<void> LoadBalancerService::handle(http::Exchange& ex) const {
  ex.service_name = name_;
  const Server* server = pick(ex.worker_id);
  if (!server) {
    // Traefik answers 503 when a service has no (healthy) server.
    // GCC 12 miscompiles `if (co_await ...)` whose branch writes through a reference
    // parameter; await into a local first.
    auto awaited = co_await http::send_response(ex, 503, "no available server");
    if (awaited) ex.close_connection = true;
    co_return;
  }
  ex.service_url = server->url;
  http::ProxyError err;
  // Plain http:// goes straight to the HTTP/1.1 proxy (no extra coroutine frame on the hot path).
  if (server->scheme == Scheme::kHttp || !use_http2(ex, *server, *transport_))
    err = co_await forward_http1(ex, *server, *transport_, pass_host_header_);
  else
    err = co_await forward_http2(ex, *server, *transport_, pass_host_header_);
  if (err) co_await http::send_error(ex, err);
}

WeightedService::WeightedService(std::string name, std::vector<Child> children, unsigned workers)
    : name_(std::move(name)), children_(std::move(children)), slots_(workers == 0 ? 1 : workers) {
  std::erase_if(children_, [](const Child& c) { return c.weight <= 0; });
  for (const auto& c : children_) {
    total_weight_ += c.weight;
    weights_.push_back(c.weight);
  }
  for (auto& slot : slots_) slot.current.assign(children_.size(), 0);
}

http::Task<void> WeightedService::handle(http::Exchange& ex) const {
  if (children_.empty()) {
    // GCC 12 miscompiles `if (co_await ...)` whose branch writes through a reference
    // parameter; await into a local first.
    auto awaited = co_await http::send_response(ex, 503, "no available server");
    if (awaited) ex.close_connection = true;
    co_return;
  }
  auto& slot = slots_[ex.worker_id % slots_.size()];
  size_t i = smooth_wrr_pick(slot.current, weights_, total_weight_);
  co_await children_[i].handler->handle(ex);
}

}  // namespace turnpike::service
