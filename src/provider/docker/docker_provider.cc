#include "provider/docker/docker_provider.h"

#include <cctype>
#include <chrono>
#include <set>

#include <nlohmann/json.hpp>

#include "common/asio_types.h"
#include "common/log.h"
#include "provider/docker/container_config.h"
#include "provider/text.h"

namespace turnpike::provider {

namespace {

constexpr auto kNoWatchRefresh = std::chrono::seconds(15);

// Events that can change the running set or what a container serves.
bool relevant(std::string_view action) {
  for (std::string_view a : {"start", "die", "stop", "destroy", "pause", "unpause", "rename",
                             "update", "remove", "cleanup"})
    if (action == a)
      return true;
  return action.starts_with("health_status");
}

} // namespace

DockerProvider::DockerProvider(config::DockerProviderConfig options)
    : options_(std::move(options)) {}

DockerProvider::~DockerProvider() {
  stop();
}

Result<void> DockerProvider::start(turnpike::Executor executor, Publish publish) {
  if (thread_)
    return make_error("docker provider already started");
  const std::string& ep = options_.endpoint;
  if (ep.starts_with("unix://")) {
    unix_socket_ = ep.substr(7);
    base_url_ = "http://docker";
  } else if (ep.starts_with("tcp://")) {
    base_url_ = (options_.tls ? "https://" : "http://") + ep.substr(6);
  } else if (ep.starts_with("http://") || ep.starts_with("https://")) {
    base_url_ = ep;
  } else {
    return make_error("providers.docker.endpoint: \"" + ep +
                      "\": expected unix://, tcp://, http:// or https://");
  }
  while (base_url_.ends_with('/'))
    base_url_.pop_back();
  auto c = Constraints::parse(options_.constraints);
  if (!c)
    return c.error().prefixed("providers.docker.constraints");
  constraints_ = std::move(*c);
  thread_ = std::make_unique<SourceThread>("docker", std::move(executor), std::move(publish));
  thread_->start([this](SourceThread& t) { loop(t); });
  return {};
}

void DockerProvider::stop() {
  if (thread_)
    thread_->stop();
}

void DockerProvider::loop(SourceThread& t) {
  auto log = log::get("docker");
  // The list runs while the events stream's transfer is in progress (from its callback), so it
  // needs its own client.
  SourceClient& lister = t.side_client();
  auto base_request = [&](std::string path) {
    SourceRequest r;
    r.url = base_url_ + path;
    r.unix_socket = unix_socket_;
    r.tls = options_.tls ? &*options_.tls : nullptr;
    r.timeout = options_.http_client_timeout;
    return r;
  };
  // Containers whose `die` (or destroy) event arrived: dockerd 20.10 still lists a container as
  // running when it sends `die` (measured: a list made on the event shows "running"), so the
  // event itself withdraws it, until it starts again.
  std::set<std::string> dead;
  auto list = [&]() -> Result<void> {
    SourceRequest r = base_request("/containers/json");
    if (r.timeout.count() == 0)
      r.timeout = std::chrono::seconds(30);
    auto resp = lister.fetch(r);
    if (!resp)
      return resp.error();
    if (resp->status != 200)
      return make_error(r.url + ": status " + std::to_string(resp->status) + ": " +
                        resp->body.substr(0, 200));
    auto containers = docker::parse_container_list(resp->body);
    if (!containers)
      return containers.error();
    std::set<std::string> listed;
    for (auto& c : *containers) {
      listed.insert(c.id);
      if (c.network_mode.empty() && c.networks.empty() && c.state == "running") {
        // podman: the list has no network facts; the inspection does.
        auto inspected = lister.fetch(base_request("/containers/" + c.id + "/json"));
        if (inspected && inspected->status == 200)
          docker::apply_inspect(c, inspected->body);
      }
      if (dead.count(c.id))
        c.state = "exited";
    }
    std::erase_if(dead, [&](const std::string& id) { return !listed.count(id); });
    auto built = docker::build_configuration(*containers, options_, constraints_);
    t.report(std::move(built.errors));
    log->debug("{} container(s), {} exposed", containers->size(), built.exposed);
    t.publish(std::move(built.tree));
    return {};
  };
  Backoff backoff;
  std::string last_error;
  auto failed = [&](const std::string& e) {
    if (e != last_error)
      log->error("providers.docker: {}; routes stay as they are, retrying", e);
    last_error = e;
    t.sleep_for(backoff.next());
  };
  while (!t.stopped()) {
    auto since = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count() -
                 1;
    auto listed = list();
    if (t.stopped())
      break;
    if (!listed) {
      failed(listed.error().message);
      continue;
    }
    if (!last_error.empty())
      log->info("providers.docker: connected to {}", options_.endpoint);
    last_error.clear();
    if (!options_.watch) {
      t.sleep_for(kNoWatchRefresh);
      continue;
    }
    backoff.reset();
    std::string pending;
    std::string filter = R"({"type":["container"]})";
    SourceRequest ev =
        base_request("/events?since=" + std::to_string(since) + "&filters=" + url_encode(filter));
    ev.timeout = Duration::zero();
    bool list_failed = false;
    auto streamed = t.client().stream(ev, [&](std::string_view data) {
      bool changed = false;
      for_each_json_line(pending, data, [&](const nlohmann::json& j) {
        // Untrusted input: only string fields count (value() would throw on another type).
        auto text = [&](const char* k) {
          auto it = j.find(k);
          return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
        };
        std::string action = text("Action").empty() ? text("status") : text("Action");
        if (relevant(action)) {
          changed = true;
          std::string id = text("id");
          if (id.empty())
            if (auto actor = j.find("Actor"); actor != j.end() && actor->is_object())
              if (auto aid = actor->find("ID"); aid != actor->end() && aid->is_string())
                id = aid->get<std::string>();
          if (action == "die" || action == "destroy" || action == "remove")
            dead.insert(id);
          else if (action == "start" || action == "unpause")
            dead.erase(id);
          log->debug("event {} for {}", action, id);
        }
      });
      if (changed && !t.stopped()) {
        auto r = list();
        if (!r) {
          log->error("providers.docker: {}", r.error().message);
          list_failed = true;
          return false; // reconnect: list again, then a new stream
        }
      }
      return !t.stopped();
    });
    if (t.stopped())
      break;
    if (list_failed) {
      t.sleep_for(backoff.next());
      continue;
    }
    failed(streamed ? std::string("the events stream ended") : streamed.error().message);
  }
}

} // namespace turnpike::provider
