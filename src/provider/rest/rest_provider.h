#pragma once
// The rest provider (Traefik's `providers.rest`): a whole dynamic configuration in JSON, PUT to
// /api/providers/rest, replaces the provider's configuration.
//
// The endpoint is the internal service `rest@internal` (service()): routers of any provider can
// use it, and with `insecure` the gateway serves it itself on the `traefik` entrypoint through
// the internal router `rest@internal` (internal_route()), as Traefik does. It answers on workers:
//   PUT /api/providers/rest     200, body parsed as JSON and handed to the control thread
//   PUT /api/providers/<other>  404 "Only 'rest' provider can be updated through the REST API"
//   other methods               405
//   a body that is not JSON     400 with the parse error
// The configuration is validated on the control thread: objects that do not decode are dropped
// and logged one by one (validate.h), the rest serves.
//
// Threads: the provider is control-thread (provider.h); the handler runs on any worker and only
// posts to the control executor. Requests before start() or after stop() are answered 503.

#include <memory>

#include "common/asio_types.h"
#include "config/builder.h"
#include "config/static_config.h"
#include "provider/provider.h"

namespace turnpike::provider {

class RestProvider : public Provider {
public:
  explicit RestProvider(config::RestProviderConfig options);
  ~RestProvider() override;

  std::string_view name() const override { return "rest"; }
  Result<void> start(turnpike::Executor executor, Publish publish) override;
  void stop() override;

  // rest@internal, for BuildOptions::internal_services. Valid for the provider's lifetime and
  // beyond (requests after stop() get 503).
  service::ServicePtr service() const;
  // The router Traefik adds with `insecure`: PathPrefix(`/api/providers`) on `traefik`.
  config::InternalRoute internal_route() const;

  static constexpr std::string_view kServiceName = "rest@internal";

  struct State; // shared with the handler (defined in the .cc)

private:
  config::RestProviderConfig options_;
  std::shared_ptr<State> state_;
  service::ServicePtr service_;
};

} // namespace turnpike::provider
