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
#include "tls/server_tls.h"

namespace turnpike::config {

// Runtime status of one dynamic object, as Traefik's API shows it.
struct ObjectStatus {
  std::string status = "enabled";  // enabled | disabled | warning
  std::vector<std::string> errors;
  std::vector<std::string> using_entrypoints;  // routers
  std::vector<std::string> used_by;             // services, middlewares
};

struct EntryPointRoutes {
  std::string name;
  router::RouteTable table;      // routers without TLS: plain HTTP connections
  router::RouteTable tls_table;  // routers with a `tls` section (or the entrypoint's http.tls)
  // TLS for connections that start with a ClientHello: certificates and per-SNI options. Null
  // only when the snapshot was built without TLS (some unit tests).
  std::shared_ptr<const tls::EntryPointTls> tls;
};

struct Snapshot {
  uint64_t generation = 0;
  // Indexed like the static entrypoint list (EntryPointOptions::index): no lookup by name on the
  // request path.
  std::vector<EntryPointRoutes> entrypoints;
  std::map<std::string, ObjectStatus> routers;
  std::map<std::string, ObjectStatus> services;
  std::map<std::string, ObjectStatus> middlewares;
  std::map<std::string, ObjectStatus> tls_options;  // by name ("default", "mtls@file")
  // TLS problems that belong to no router: certificates that cannot be loaded, a broken default
  // certificate ("tls.certificates[0] (dyn.yml:12).certFile: cannot read file ...").
  std::vector<std::string> tls_errors;
  size_t router_count = 0;
};

}  // namespace turnpike::config
