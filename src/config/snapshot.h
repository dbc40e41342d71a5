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
  router::RouteTable table;
};

struct Snapshot {
  uint64_t generation = 0;
  // Indexed like the static entrypoint list (EntryPointOptions::index): no lookup by name on the
  // request path.
  std::vector<EntryPointRoutes> entrypoints;
  std::map<std::string, ObjectStatus> routers;
  std::map<std::string, ObjectStatus> services;
  std::map<std::string, ObjectStatus> servers_transports;  // only the broken ones are listed
  std::map<std::string, ObjectStatus> middlewares;
  size_t router_count = 0;
};

}  // namespace turnpike::config
