#pragma once
// The docker provider (Traefik's `providers.docker`): containers and their labels from the
// Docker Engine API, dockerd or `podman system service`, over a unix socket
// (`unix:///var/run/docker.sock`) or TCP (`tcp://host:2376`, with `tls` for https).
//
// It lists the running containers (GET /containers/json) and builds the configuration from
// them (container_config.h), then follows GET /events: every container event that can change
// what is served (start, die, stop, destroy, pause, unpause, rename, update, health_status)
// re-lists at once, so a container that stops withdraws its routes within milliseconds. The
// events stream is opened with `since` = just before the list, so nothing that happens between
// the list and the stream is missed (a replayed event costs one extra list).
// When the daemon goes away (socket gone, stream closed) nothing is published, so routes stay as
// they were, and the provider reconnects with exponential backoff (100 ms to 10 s).
// `watch: false` lists once per `refresh` (15 s) instead.
//
// Errors name the container (a bad label, a port that cannot be found, two containers defining
// one router differently) and disable only what they concern.
//
// Threads: provider.h; the API is read on the provider's own thread.

#include <memory>

#include "common/asio_types.h"
#include "config/static_config.h"
#include "provider/constraints.h"
#include "provider/provider.h"
#include "provider/source_thread.h"

namespace turnpike::provider {

class DockerProvider : public Provider {
public:
  explicit DockerProvider(config::DockerProviderConfig options);
  ~DockerProvider() override;

  std::string_view name() const override { return "docker"; }
  // Errors: an endpoint that is not unix://, tcp://, http:// or https://; bad constraints.
  Result<void> start(turnpike::Executor executor, Publish publish) override;
  void stop() override;

private:
  void loop(SourceThread& t);

  config::DockerProviderConfig options_;
  Constraints constraints_;
  std::string base_url_;    // "http://docker" for unix sockets
  std::string unix_socket_; // empty for TCP
  std::unique_ptr<SourceThread> thread_;
};

} // namespace turnpike::provider
