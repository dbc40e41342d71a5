#include "service/load_balancer.h"

#include "common/ipnet.h"
#include "common/strings.h"
#include "service/proxy_http1.h"
#include "service/proxy_http2.h"
#include "http/head_editor.h"
#include "service/writers.h"

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

namespace {

std::vector<int> positive_weights(const std::vector<Server>& servers) {
  std::vector<int> w;
  for (const auto& s : servers)
    if (s.weight > 0) w.push_back(s.weight);
  return w;
}

// Failures that say something about the server (passive health checks count them): it could not
// be reached, broke the connection, broke the protocol or did not answer in time.
bool server_failure(const http::ProxyError& err) {
  using K = http::ProxyError::Kind;
  return err.kind == K::kUpstreamConnect || err.kind == K::kUpstreamClosed ||
         err.kind == K::kUpstreamProtocol || err.kind == K::kUpstreamTimeout;
}

}  // namespace

std::vector<std::string> LoadBalancerService::health_keys(const std::vector<Server>& servers) {
  std::vector<std::string> keys;
  for (const auto& s : servers)
    if (s.weight > 0) keys.push_back(s.url);
  return keys;
}

uint64_t client_hash(const http::Request& req) {
  const auto& a = req.client_addr;
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    return hash64(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
  }
  auto b = a.to_v6().to_bytes();
  return hash64(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
}

http::Task<void> send_unavailable(http::Exchange& ex) {
  // GCC 12 miscompiles `if (co_await ...)` whose branch writes through a reference
  // parameter; await into a local first.
  auto awaited = co_await http::send_response(ex, 503, "no available server");
  if (awaited) ex.close_connection = true;
}

LoadBalancerService::LoadBalancerService(std::string name, std::vector<Server> servers,
                                         bool pass_host_header,
                                         std::shared_ptr<const TransportOptions> transport,
                                         unsigned workers)
    : LoadBalancerService(std::move(name), std::move(servers), [&] {
        LoadBalancerOptions o;
        o.pass_host_header = pass_host_header;
        o.transport = std::move(transport);
        return o;
      }(), workers) {}

LoadBalancerService::LoadBalancerService(std::string name, std::vector<Server> servers,
                                         LoadBalancerOptions options, unsigned workers)
    : name_(std::move(name)),
      servers_(std::move(servers)),
      options_(std::move(options)),
      balancer_(options_.strategy, positive_weights(servers_), health_keys(servers_), workers),
      budgets_(workers == 0 ? 1 : workers) {
  // Weight 0 servers never receive traffic (Traefik skips them).
  std::erase_if(servers_, [](const Server& s) { return s.weight <= 0; });
  const auto& transport = *options_.transport;
  for (auto& s : servers_) {
    s.pool_key = transport.name;
    // A TLS connection made under one configuration is never reused under another.
    if (s.scheme == Scheme::kHttps && transport.tls) s.pool_key += "#" + transport.tls->fingerprint();
    s.pool_key += s.scheme == Scheme::kHttp ? "|http://" : s.scheme == Scheme::kHttps ? "|https://" : "|h2c://";
    s.pool_key += s.authority;
  }
  if (options_.health && options_.health->size() != servers_.size()) options_.health = nullptr;
  if (options_.sticky) sticky_.emplace(*options_.sticky, name_, health_keys(servers_));
  for (auto& b : budgets_) b.tokens = options_.retry.min_retries_per_second;
}

bool LoadBalancerService::healthy(int64_t now_ns) const {
  if (servers_.empty()) return false;
  return !options_.health || options_.health->any_up(now_ns);
}

void LoadBalancerService::deposit_retry_credit(unsigned worker) const {
  auto& b = budgets_[worker % budgets_.size()];
  const auto& r = options_.retry;
  // Each request earns `ratio` of a retry; the bucket holds at most what ten seconds of the
  // minimum rate would give, so a quiet period cannot bank an unbounded burst.
  double cap = std::max(10 * r.min_retries_per_second, 1.0) + 100 * r.budget_ratio;
  b.tokens = std::min(cap, b.tokens + r.budget_ratio);
}

bool LoadBalancerService::take_retry_token(unsigned worker) const {
  auto& b = budgets_[worker % budgets_.size()];
  const auto& r = options_.retry;
  auto now = Clock::now();
  if (now - b.refilled >= std::chrono::seconds(1)) {
    // The per-second minimum: retries stay possible at a low rate whatever the traffic.
    b.tokens = std::max(b.tokens, r.min_retries_per_second);
    b.refilled = now;
  }
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

http::Task<void> LoadBalancerService::handle(http::Exchange& ex) const {
  ex.service_name = name_;
  if (servers_.empty()) {
      co_await send_unavailable(ex);
      co_return;
    }
  const unsigned worker = ex.worker_id;
  const ServiceHealth* health = options_.health.get();
  int64_t now = health ? steady_ns(Clock::now()) : 0;
  uint64_t hash = balancer_.strategy() == Strategy::kHrw ? client_hash(ex.request) : 0;
  if (options_.retry.attempts > 0) deposit_retry_credit(worker);

  // Servers tried by this request, excluded from the next pick.
  std::array<size_t, 8> tried{};
  size_t n_tried = 0;
  auto ok = [&](size_t i) {
    if (health && !health->up(i, now)) return false;
    for (size_t k = 0; k < n_tried; ++k)
      if (tried[k] == i) return false;
    return true;
  };

  std::optional<size_t> target;
  bool pin = false;  // a Set-Cookie must (re)pin the client
  if (sticky_) {
    target = sticky_->find(ex.request);
    // An unhealthy sticky server is replaced and the cookie rewritten (Traefik).
    if (target && !ok(*target)) target.reset();
    pin = !target;
  }
  http::ProxyError err;
  for (int attempt = 0;; ++attempt) {
    if (!target) target = balancer_.pick(worker, hash, ok);
    if (!target) {
      if (attempt == 0) {
      co_await send_unavailable(ex);
      co_return;
    }
      break;  // no other server left: answer with the last failure
    }
    size_t i = *target;
    target.reset();
    const Server& server = servers_[i];
    ex.service_url = server.url;
    Clock::time_point started = Clock::now();
    auto hook = [&](http::Response& head) {
      if (pin) head.headers.add("Set-Cookie", sticky_->set_cookie(i));
      balancer_.first_byte(worker, i, Clock::now() - started);
    };
    http::HeadEditingWriter<decltype(hook)> writer(*ex.writer, hook);
    bool hooked = pin || balancer_.strategy() == Strategy::kLeastTime;
    std::optional<http::WriterScope> swap;
    if (hooked) swap.emplace(ex, writer);
    balancer_.started(worker, i);
    // Plain http:// goes straight to the HTTP/1.1 proxy.
    if (server.scheme == Scheme::kHttp || !use_http2(ex, server, *options_.transport))
      err = co_await forward_http1(ex, server, *options_.transport, options_.pass_host_header);
    else
      err = co_await forward_http2(ex, server, *options_.transport, options_.pass_host_header);
    balancer_.ended(worker, i);
    swap.reset();
    if (!err) co_return;
    if (health && options_.passive && server_failure(err))
      options_.health->record_failure(i, steady_ns(Clock::now()), *options_.passive);
    // Retry on another server only when the request cannot have been processed twice.
    bool nothing_sent = err.kind == http::ProxyError::Kind::kUpstreamConnect;
    bool safe_again = err.kind == http::ProxyError::Kind::kUpstreamClosed &&
                      http::idempotent_method(ex.request.method) && !ex.request.has_body() &&
                      !ex.request.upgrade_websocket;
    bool retry = (nothing_sent || safe_again) && ex.body.consumed() == 0 &&
                 !ex.writer->head_written() && attempt < options_.retry.attempts &&
                 n_tried < tried.size();
    if (!retry || !take_retry_token(worker)) break;
    tried[n_tried++] = i;
    ++ex.retry_attempts;
    pin = sticky_.has_value();  // the client is re-pinned to whichever server answers
    if (health) now = steady_ns(Clock::now());
  }
  co_await http::send_error(ex, err);
}

WeightedService::WeightedService(std::string name, std::vector<Child> children, Options options,
                                 unsigned workers)
    : name_(std::move(name)),
      children_([&] {
        std::erase_if(children, [](const Child& c) { return c.weight <= 0; });
        return std::move(children);
      }()),
      options_(std::move(options)),
      balancer_(options_.strategy, weights_of(children_),
                [&] {
                  std::vector<std::string> keys;
                  for (const auto& c : children_) keys.push_back(c.name);
                  return keys;
                }(),
                workers) {
  if (options_.sticky) {
    std::vector<std::string> keys;
    for (const auto& c : children_) keys.push_back(c.name);
    sticky_.emplace(*options_.sticky, name_, keys);
  }
}

bool WeightedService::healthy(int64_t now_ns) const {
  if (!options_.check_health) return true;
  for (const auto& c : children_)
    if (c.handler->healthy(now_ns)) return true;
  return false;
}

http::Task<void> WeightedService::handle(http::Exchange& ex) const {
  if (children_.empty()) {
      co_await send_unavailable(ex);
      co_return;
    }
  int64_t now = options_.check_health ? steady_ns(Clock::now()) : 0;
  auto ok = [&](size_t i) { return !options_.check_health || children_[i].handler->healthy(now); };
  std::optional<size_t> target;
  bool pin = false;
  if (sticky_) {
    target = sticky_->find(ex.request);
    if (target && !ok(*target)) target.reset();
    pin = !target;
  }
  uint64_t hash = options_.strategy == Strategy::kHrw ? client_hash(ex.request) : 0;
  if (!target) target = balancer_.pick(ex.worker_id, hash, ok);
  if (!target) {
      co_await send_unavailable(ex);
      co_return;
    }
  size_t i = *target;
  if (!pin) co_return co_await children_[i].handler->handle(ex);
  auto hook = [&](http::Response& head) { head.headers.add("Set-Cookie", sticky_->set_cookie(i)); };
  http::HeadEditingWriter<decltype(hook)> writer(*ex.writer, hook);
  http::WriterScope swap(ex, writer);
  co_await children_[i].handler->handle(ex);
}

}  // namespace turnpike::service
