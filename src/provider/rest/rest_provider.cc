#include "provider/rest/rest_provider.h"

#include <limits>
#include <mutex>
#include <optional>

#include <boost/asio/post.hpp>

#include "common/asio_types.h"
#include "common/log.h"
#include "http/exchange.h"
#include "provider/validate.h"

namespace turnpike::provider {

namespace {
// A dynamic configuration of 10,000 routers in JSON is a few MB; far above that is a mistake or
// an attack on the gateway's memory.
constexpr size_t kMaxBody = 64 * 1024 * 1024;
constexpr std::string_view kPrefix = "/api/providers/";
} // namespace

// Shared by the provider (control thread) and the handler (workers): the executor and publish
// callback are set by start() and cleared by stop(), under the mutex.
struct RestProvider::State : std::enable_shared_from_this<State> {
  std::mutex mu;
  std::optional<turnpike::Executor> executor;
  Publish publish;
  bool stopped = false;

  // Worker side: hands the parsed tree to the control thread. False when not running.
  bool deliver(config::Node tree) {
    std::lock_guard lock(mu);
    if (!executor || stopped)
      return false;
    boost::asio::post(*executor, [self = shared_from_this(), tree = std::move(tree)]() mutable {
      // Runs on the control thread, where stop() also runs: no race with `stopped` there, but
      // the flag is still read under the mutex for the workers' sake.
      Publish publish;
      {
        std::lock_guard lock(self->mu);
        if (self->stopped)
          return;
        publish = self->publish;
      }
      for (const auto& e : drop_invalid_objects(tree, "rest", "PUT /api/providers/rest"))
        log::get("rest")->error("{}", e);
      log::get("rest")->info("configuration received");
      publish("rest", std::make_shared<const config::Node>(std::move(tree)));
    });
    return true;
  }
};

namespace {

class RestService final : public service::Service {
public:
  explicit RestService(std::shared_ptr<RestProvider::State> state) : state_(std::move(state)) {}

  http::Task<void> handle(http::Exchange& ex) const override {
    int status = 200;
    std::string reply;
    std::string_view path = ex.request.path;
    std::string body;
    bool read_failed = false;
    if (!path.starts_with(kPrefix)) {
      status = 404;
      reply = "404 page not found\n";
    } else if (ex.request.method != "PUT") {
      status = 405;
      reply = "Method Not Allowed\n";
    } else if (path.substr(kPrefix.size()) != "rest") {
      status = 404;
      reply = "Only 'rest' provider can be updated through the REST API\n";
    } else {
      for (;;) {
        auto [err, piece] = co_await ex.body.read();
        if (err) {
          read_failed = true;
          break;
        }
        if (piece.empty())
          break;
        if (body.size() + piece.size() > kMaxBody) {
          status = 413;
          reply = "request body too large\n";
          break;
        }
        body.append(piece.data(), piece.size());
      }
    }
    if (read_failed) {
      ex.close_connection = true;
      co_return;
    }
    if (status == 200) {
      auto tree = config::parse_json(body, "PUT /api/providers/rest");
      if (!tree) {
        status = 400;
        reply = tree.error().message + "\n";
      } else if (!tree->is_map() && !tree->is_null()) {
        status = 400;
        reply = "the body must be a JSON object (a dynamic configuration)\n";
      } else if (!state_->deliver(std::move(*tree))) {
        status = 503;
        reply = "the rest provider is not running\n";
      }
    }
    http::HeaderMap h;
    h.add("Content-Type", "text/plain; charset=utf-8");
    auto err = co_await http::send_response(ex, status, reply, &h);
    if (err)
      ex.close_connection = true;
  }

private:
  std::shared_ptr<RestProvider::State> state_;
};

} // namespace

RestProvider::RestProvider(config::RestProviderConfig options)
    : options_(options), state_(std::make_shared<State>()),
      service_(std::make_shared<RestService>(state_)) {}

RestProvider::~RestProvider() {
  stop();
}

Result<void> RestProvider::start(turnpike::Executor executor, Publish publish) {
  std::lock_guard lock(state_->mu);
  if (state_->executor)
    return make_error("rest provider already started");
  state_->executor = std::move(executor);
  state_->publish = std::move(publish);
  return {};
}

void RestProvider::stop() {
  std::lock_guard lock(state_->mu);
  state_->stopped = true;
}

service::ServicePtr RestProvider::service() const {
  return service_;
}

config::InternalRoute RestProvider::internal_route() const {
  return config::InternalRoute{"traefik", std::string(kServiceName), "PathPrefix(`/api/providers`)",
                               std::numeric_limits<int64_t>::max() - 1, service_};
}

} // namespace turnpike::provider
