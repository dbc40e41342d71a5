#pragma once
// The http provider (Traefik's `providers.http`): polls `endpoint` every `pollInterval` for a
// whole dynamic configuration in JSON or YAML (Traefik's schema, the same as a file).
//
// A poll that fails (connection refused, timeout, a status other than 200, a body that does not
// parse) is logged with the endpoint and the reason; nothing is published, so the last good
// configuration stays in force, and polling goes on at `pollInterval` (no backoff needed: the
// interval is the retry). A body equal to the last one publishes nothing. Objects that do not
// decode are dropped and reported one by one (validate.h); the rest serves.
//
// Threads: provider.h. Polling runs on its own thread (SourceThread), never the control thread.

#include <memory>

#include "common/asio_types.h"
#include "config/static_config.h"
#include "provider/provider.h"
#include "provider/source_thread.h"

namespace turnpike::provider {

class HttpProvider : public Provider {
public:
  explicit HttpProvider(config::HttpProviderConfig options);
  ~HttpProvider() override;

  std::string_view name() const override { return "http"; }
  Result<void> start(turnpike::Executor executor, Publish publish) override;
  void stop() override;

  // Parses a response body: JSON when it starts with '{' or '[', YAML otherwise (Traefik accepts
  // both). Errors name the endpoint.
  static Result<config::Node> parse_body(std::string_view body, const std::string& endpoint);

private:
  void loop(SourceThread& t);

  config::HttpProviderConfig options_;
  std::unique_ptr<SourceThread> thread_;
};

} // namespace turnpike::provider
