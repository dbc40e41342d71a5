#pragma once
// From Docker containers (their labels, networks and ports) to a dynamic configuration, with
// Traefik's docker provider rules, so existing `traefik.*` labels work unchanged:
//   - `traefik.enable` (else `exposedByDefault`) and `constraints` select containers; only
//     running containers count, and one with a health check must be healthy;
//   - labels under the prefix form the configuration (`traefik.http.routers.r.rule=...`; keys are
//     case-insensitive, lists comma-separated); the label form of a server
//     (`...loadbalancer.server.port|scheme|url|weight|preservepath`) becomes one server per
//     container at the container's address (`traefik.docker.network` / `network`, host network
//     = 127.0.0.1, `useBindPortIP`); no port label = the lowest exposed port;
//   - auto-wiring: no service = a service named after the container; no router = a router named
//     after it with `defaultRule`; a router without rule gets `defaultRule`; a router without
//     service gets the only service (an error when there are several); declaring TCP or UDP
//     routers or services and nothing for HTTP turns the automatic HTTP router off;
//   - containers are merged: a service defined by several containers load-balances over all of
//     them when its other options agree; a router, middleware or service defined differently by
//     two containers is dropped, with an error naming both.
// A container whose labels are broken loses the objects concerned (or, when its addresses
// cannot be worked out, all of them) and the error names it; the others are unaffected.
// Pure functions; any thread.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "config/static_config.h"
#include "config/tree/node.h"
#include "provider/constraints.h"
#include "provider/text.h"

namespace turnpike::provider::docker {

struct Port {
  int private_port = 0;
  int public_port = 0; // 0 = not published
  std::string host_ip; // of the binding
  std::string type;    // tcp | udp
};

struct Container {
  std::string id;
  std::string name; // without Docker's leading '/'
  std::map<std::string, std::string> labels;
  std::string state;                           // "running", "exited", "paused"...
  std::string status;                          // "Up 3 seconds (healthy)"
  std::string network_mode;                    // "host", "bridge", "default", "container:<id>"...
  std::map<std::string, std::string> networks; // network name -> IP address
  std::vector<Port> ports;
};

// Parses GET /containers/json (dockerd and podman's compatible API).
Result<std::vector<Container>> parse_container_list(std::string_view json);

// Completes `c` from GET /containers/<id>/json: podman's compatible list leaves HostConfig and
// NetworkSettings.Networks empty, the inspection has them. True when `json` was understood.
bool apply_inspect(Container& c, std::string_view json);

using provider::normalize; // Traefik's provider.Normalize (text.h)

// Renders a defaultRule template. Supported actions (Go text/template subset Traefik's docs use):
// {{ .Name }}, {{ .ContainerName }}, {{ index .Labels "key" }}, each optionally as the argument
// of `normalize` ({{ normalize .Name }}).
Result<std::string> render_rule(std::string_view tpl, const std::string& name,
                                const std::string& container_name,
                                const std::map<std::string, std::string>& labels);

struct Built {
  config::Node tree;               // the provider's whole configuration
  std::vector<std::string> errors; // each names its container
  size_t exposed = 0;              // containers that contributed
};

Built build_configuration(const std::vector<Container>& containers,
                          const config::DockerProviderConfig& options,
                          const Constraints& constraints);

} // namespace turnpike::provider::docker
