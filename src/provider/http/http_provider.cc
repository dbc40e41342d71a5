#include "provider/http/http_provider.h"

#include "common/asio_types.h"
#include "common/log.h"
#include "common/strings.h"
#include "provider/validate.h"

namespace turnpike::provider {

HttpProvider::HttpProvider(config::HttpProviderConfig options) : options_(std::move(options)) {}

HttpProvider::~HttpProvider() {
  stop();
}

Result<void> HttpProvider::start(turnpike::Executor executor, Publish publish) {
  if (thread_)
    return make_error("http provider already started");
  if (options_.endpoint.empty())
    return make_error("providers.http.endpoint: is required");
  thread_ = std::make_unique<SourceThread>("http", std::move(executor), std::move(publish));
  thread_->start([this](SourceThread& t) { loop(t); });
  return {};
}

void HttpProvider::stop() {
  if (thread_)
    thread_->stop();
}

Result<config::Node> HttpProvider::parse_body(std::string_view body, const std::string& endpoint) {
  std::string_view t = trim(body);
  if (t.starts_with('{') || t.starts_with('['))
    return config::parse_json(body, endpoint);
  return config::parse_yaml(body, endpoint);
}

void HttpProvider::loop(SourceThread& t) {
  auto log = log::get("http");
  SourceRequest req;
  req.url = options_.endpoint;
  req.timeout = options_.poll_timeout;
  req.connect_timeout = options_.poll_timeout;
  for (const auto& [k, v] : options_.headers)
    req.headers.emplace_back(k, v);
  req.tls = options_.tls ? &*options_.tls : nullptr;
  req.max_body = options_.max_response_body_size;
  std::string last_error;
  std::string last_body; // of the last good poll: an unchanged body is not parsed again
  // Each failure is logged when it changes (an endpoint down for an hour is one line, not 720).
  auto fail = [&](const std::string& e) {
    if (e != last_error)
      log->error("{}; keeping the last good configuration", e);
    last_error = e;
  };
  while (!t.stopped()) {
    auto resp = t.client().fetch(req);
    if (t.stopped())
      break;
    if (!resp) {
      fail("providers.http: " + resp.error().message);
    } else if (resp->status != 200) {
      fail("providers.http: " + options_.endpoint + ": status " + std::to_string(resp->status));
    } else if (resp->body == last_body) {
      last_error.clear();
    } else {
      auto tree = parse_body(resp->body, options_.endpoint);
      if (!tree) {
        fail("providers.http: " + tree.error().message);
      } else {
        if (!last_error.empty())
          log->info("providers.http: {} answers again", options_.endpoint);
        last_error.clear();
        last_body = std::move(resp->body);
        for (const auto& e : drop_invalid_objects(*tree, "http", options_.endpoint))
          log->error("{}", e);
        t.publish(std::move(*tree));
      }
    }
    t.sleep_for(options_.poll_interval);
  }
}

} // namespace turnpike::provider
