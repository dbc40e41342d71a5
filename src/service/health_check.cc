#include "service/health_check.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/post.hpp>

#include "common/asio_types.h"
#include "common/log.h"
#include "common/strings.h"
#include "service/proxy_http1.h"
#include "service/proxy_http2.h"
#include "service/worker_context.h"
#include "service/writers.h"

namespace turnpike::service {
namespace {

namespace asio = boost::asio;

const std::shared_ptr<spdlog::logger>& logger() {
  static auto l = log::get("healthcheck");
  return l;
}

constexpr int kMaxRedirects = 10;
// gRPC frame of an empty grpc.health.v1.HealthCheckRequest (service "": the whole server).
const std::string kGrpcCheckRequest("\0\0\0\0\0", 5);

std::string scheme_name(Scheme s) {
  switch (s) {
    case Scheme::kHttp: return "http";
    case Scheme::kHttps: return "https";
    case Scheme::kH2c: return "h2c";
  }
  return "http";
}

// The server a probe goes to: the configured one with the check's scheme and port.
Result<Server> probe_server(const Server& configured, const ActiveHealthOptions& o,
                            const TransportOptions& transport) {
  std::string scheme = o.scheme.empty() ? scheme_name(configured.scheme) : to_lower(o.scheme);
  // gRPC over a plain http:// URL is h2c (Traefik dials gRPC without TLS there).
  if (o.grpc && scheme == "http") scheme = "h2c";
  bool v6 = configured.host.find(':') != std::string::npos;
  std::string url = scheme + "://" + (v6 ? "[" + configured.host + "]" : configured.host) + ":" +
                    std::to_string(o.port > 0 ? o.port : configured.port);
  auto s = Server::parse(url, 1);
  if (!s) return s.error();
  s->pool_key = transport.name + "|healthcheck|" + url;
  if (s->scheme == Scheme::kHttps && transport.tls) s->pool_key += "#" + transport.tls->fingerprint();
  return s;
}

// The message of a grpc.health.v1.HealthCheckResponse: field 1 (status), 1 = SERVING.
bool grpc_serving(const std::string& body) {
  // 5-byte frame header, then the message: 0x08 <varint status>.
  if (body.size() < 7 || body[0] != 0) return false;
  return static_cast<unsigned char>(body[5]) == 0x08 && body[6] == 1;
}

}  // namespace

std::string ActiveHealthOptions::fingerprint() const {
  std::string f = path + "?" + query + "|" + scheme + "|" + (grpc ? "grpc" : "http") + "|" +
                  hostname + "|" + std::to_string(port) + "|" +
                  std::to_string(interval.count()) + "|" +
                  std::to_string(unhealthy_interval.count()) + "|" +
                  std::to_string(timeout.count()) + "|" + (follow_redirects ? "f" : "n") + "|" +
                  method + "|" + std::to_string(status);
  for (const auto& [k, v] : headers) f += "|" + k + ":" + v;
  return f;
}

HealthChecker::HealthChecker() : guard_(io_.get_executor()) {
  ctx_ = std::make_unique<WorkerContext>(0, io_);
  thread_ = std::thread([this] {
    ctx_->deadlines.start();
    io_.run();
  });
}

HealthChecker::~HealthChecker() {
  asio::post(io_, [this] {
    ++generation_;
    for (auto& t : timers_) t->cancel();
    ctx_->deadlines.stop();
    io_.stop();
  });
  guard_.reset();
  if (thread_.joinable()) thread_.join();
}

void HealthChecker::update(std::vector<HealthCheckTarget> targets) {
  asio::post(io_, [this, targets = std::move(targets)]() mutable { apply(std::move(targets)); });
}

void HealthChecker::apply(std::vector<HealthCheckTarget> targets) {
  ++generation_;
  for (auto& t : timers_) t->cancel();
  timers_.clear();
  std::map<std::string, Clock::time_point> kept;
  for (auto& t : targets) {
    std::string key = t.service + "|" + t.server.url + "|" + t.options->fingerprint();
    if (auto it = next_due_.find(key); it != next_due_.end()) kept.insert(*it);
    auto timer = std::make_shared<turnpike::SteadyTimer>(io_);
    timers_.push_back(timer);
    asio::co_spawn(io_, run(std::move(t), key, generation_, timer),
                   [](std::exception_ptr e) {
                     if (!e) return;
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& x) {
                       logger()->error("health check stopped: {}", x.what());
                     }
                   });
  }
  next_due_ = std::move(kept);
}

http::Task<void> HealthChecker::run(HealthCheckTarget target, std::string key,
                                    uint64_t generation,
                                    std::shared_ptr<turnpike::SteadyTimer> timer) {
  const auto& o = *target.options;
  for (;;) {
    auto due = Clock::now();
    if (auto it = next_due_.find(key); it != next_due_.end()) due = it->second;
    if (due > Clock::now()) {
      timer->expires_at(due);
      auto [ec] = co_await timer->async_wait(asio::as_tuple(turnpike::use_task));
      (void)ec;
    }
    if (generation != generation_) co_return;
    std::string why;
    bool up = co_await probe(*ctx_, target, &why);
    if (generation != generation_) co_return;
    if (target.health->set_active(target.index, up)) {
      if (up)
        logger()->info("service {}: server {} is healthy again", target.service, target.server.url);
      else
        logger()->warn("service {}: server {} is unhealthy: {}", target.service,
                       target.server.url, why);
    } else if (!up) {
      logger()->debug("service {}: server {} still unhealthy: {}", target.service,
                      target.server.url, why);
    }
    Duration wait = up || o.unhealthy_interval.count() <= 0 ? o.interval : o.unhealthy_interval;
    next_due_[key] = Clock::now() + std::chrono::duration_cast<Clock::duration>(wait);
  }
}

http::Task<bool> HealthChecker::probe(WorkerContext& ctx, const HealthCheckTarget& target,
                                      std::string* why) {
  const auto& o = *target.options;
  auto server = probe_server(target.server, o, *target.transport);
  if (!server) {
    if (why) *why = server.error().message;
    co_return false;
  }
  // The probe's own deadlines: dial and response head within `timeout`.
  TransportOptions transport = *target.transport;
  if (o.timeout.count() > 0) {
    transport.dial_timeout = std::min(transport.dial_timeout, o.timeout);
    transport.response_header_timeout = o.timeout;
  }
  std::string path = o.path;
  std::string query = o.query;
  bool has_query = !query.empty();
  for (int hop = 0;; ++hop) {
    http::Request req;
    req.method = o.grpc ? "POST" : o.method;
    req.path = o.grpc ? "/grpc.health.v1.Health/Check" : path;
    req.query = query;
    req.has_query = has_query && !o.grpc;
    req.authority = o.hostname;
    req.host = to_lower(o.hostname);
    req.client_addr = boost::asio::ip::make_address("127.0.0.1");
    for (const auto& [k, v] : o.headers) req.headers.add(k, v);
    if (o.grpc) {
      req.headers.set("Content-Type", "application/grpc");
      req.content_length = static_cast<int64_t>(kGrpcCheckRequest.size());
    }
    static const std::string kNoBody;
    BufferBodyReader body(o.grpc ? kGrpcCheckRequest : kNoBody, req.content_length);
    CaptureWriter writer(64 * 1024);
    http::Exchange ex{req, body};
    ex.writer = &writer;
    ex.executor = ctx.io.get_executor();
    ex.worker_id = 0;
    ex.worker = &ctx;
    bool pass_host = !o.hostname.empty();
    http::ProxyError err;
    if (server->scheme == Scheme::kHttp || !use_http2(ex, *server, transport))
      err = co_await forward_http1(ex, *server, transport, pass_host);
    else
      err = co_await forward_http2(ex, *server, transport, pass_host);
    if (err) {
      if (why) *why = err.detail;
      co_return false;
    }
    if (!writer.head_written() || !writer.finished()) {
      if (why) *why = "incomplete response";
      co_return false;
    }
    int status = writer.head().status;
    if (o.grpc) {
      // grpc-status travels in the trailers, or in the head of a Trailers-Only answer.
      auto gs = writer.trailers().get("grpc-status");
      if (!gs) gs = writer.head().headers.get("grpc-status");
      bool ok = status == 200 && gs && *gs == "0" && grpc_serving(writer.body());
      if (!ok && why) *why = "gRPC health status is not SERVING";
      co_return ok;
    }
    auto location = writer.head().headers.get("Location");
    if (o.follow_redirects && status >= 300 && status < 400 && location && hop < kMaxRedirects) {
      std::string loc(*location);
      if (!loc.empty() && loc.front() == '/') {
        // Same server, another path.
        auto q = loc.find('?');
        path = loc.substr(0, q);
        query = q == std::string::npos ? "" : loc.substr(q + 1);
        has_query = q != std::string::npos;
        continue;
      }
      auto target_server = Server::parse(loc, 1);
      if (!target_server) {
        if (why) *why = "redirect to an unsupported location \"" + loc + "\"";
        co_return false;
      }
      path = target_server->base_path.empty() ? "/" : target_server->base_path;
      query.clear();
      if (auto q = path.find('?'); q != std::string::npos) {
        query = path.substr(q + 1);
        path.resize(q);
      }
      has_query = !query.empty();
      target_server->pool_key = transport.name + "|healthcheck|" + loc;
      server = std::move(target_server);
      continue;
    }
    bool ok = o.status > 0 ? status == o.status : status >= 200 && status < 400;
    if (!ok && why) *why = "status " + std::to_string(status);
    co_return ok;
  }
}

}  // namespace turnpike::service
