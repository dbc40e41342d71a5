#pragma once
// The compiled, immutable configuration the data plane runs on. Built on the control thread by
// the builder (config/builder.h) from the merged dynamic configuration, then posted to every
// worker, which swaps its shared_ptr. A request holds the snapshot it started with until it ends,
// so in-flight requests finish on their configuration while new ones use the new one.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "router/route_table.h"
#include "router/tcp_rule.h"
#include "tls/server_tls.h"
#include "udp/service.h"

namespace turnpike::config {

// Runtime status of one dynamic object, as Traefik's API shows it.
struct ObjectStatus {
  std::string status = "enabled";  // enabled | disabled | warning
  std::vector<std::string> errors;
  std::vector<std::string> using_entrypoints;  // routers
  std::vector<std::string> used_by;             // services, middlewares
};

// TCP routing of one TCP entrypoint (Traefik's per-entrypoint tcp.Router); see
// entrypoint/tcp_stage.h for how a connection goes through it.
struct TcpEntryPointRoutes {
  router::TcpRouteTable tcp;    // routers without `tls` (HostSNI(`*`), ClientIP)
  router::TcpRouteTable tls;    // TLS routers (tls.passthrough)
  router::TcpRouteTable https;  // HostSNI of the HTTPS routers' domains (no handler): a TLS
                                // connection for one of them goes to HTTP handling
  bool empty() const { return tcp.empty() && tls.empty(); }
};

struct EntryPointRoutes {
  std::string name;
  router::RouteTable table;      // routers without TLS: plain HTTP connections
  router::RouteTable tls_table;  // routers with a `tls` section (or the entrypoint's http.tls)
  // TLS for connections that start with a ClientHello: certificates and per-SNI options. Null
  // only when the snapshot was built without TLS (some unit tests).
  std::shared_ptr<const tls::EntryPointTls> tls;
  TcpEntryPointRoutes tcp;
};

// The UDP router of one UDP entrypoint (Traefik uses one router per UDP entrypoint).
struct UdpEntryPointRoutes {
  std::string name;    // entrypoint
  std::string router;  // qualified router name; empty when none
  udp::ServicePtr service;  // null when no router serves this entrypoint
};

struct Snapshot {
  uint64_t generation = 0;
  // Indexed like the static entrypoint list (EntryPointOptions::index): no lookup by name on the
  // request path.
  std::vector<EntryPointRoutes> entrypoints;
  // Indexed like BuildOptions::udp_entrypoints.
  std::vector<UdpEntryPointRoutes> udp_entrypoints;
  std::map<std::string, ObjectStatus> routers;
  std::map<std::string, ObjectStatus> services;
  std::map<std::string, ObjectStatus> servers_transports;  // only the broken ones are listed
  std::map<std::string, ObjectStatus> middlewares;
  std::map<std::string, ObjectStatus> tls_options;  // by name ("default", "mtls@file")
  // TLS problems that belong to no router: certificates that cannot be loaded, a broken default
  // certificate ("tls.certificates[0] (dyn.yml:12).certFile: cannot read file ...").
  std::vector<std::string> tls_errors;
  std::map<std::string, ObjectStatus> tcp_routers;
  std::map<std::string, ObjectStatus> tcp_services;
  std::map<std::string, ObjectStatus> tcp_middlewares;
  std::map<std::string, ObjectStatus> udp_routers;
  std::map<std::string, ObjectStatus> udp_services;
  size_t router_count = 0;  // HTTP routes
  size_t tcp_router_count = 0;
};

}  // namespace turnpike::config
