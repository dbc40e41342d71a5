#pragma once
// The request path shared by HTTP/1.1 and HTTP/2 connections once a request is parsed,
// normalised and its forwarded headers are set: route with the worker's current configuration
// and serve. Worker-confined.

#include "entrypoint/entrypoint_options.h"
#include "entrypoint/worker_state.h"
#include "http/exchange.h"

namespace turnpike::entrypoint {

// Routes `ex` on the entrypoint's table (TLS routers for TLS connections; 421 when the Host
// maps to other TLS options than the SNI) of the snapshot current now (kept alive until the
// exchange is served, so an in-flight request finishes on the configuration it started with) and
// runs the matching router's handler chain, setting ex.router_name. No match: Traefik's
// `404 page not found`. A handler that returned without answering gets a 500 (and
// ex.close_connection) so the client still sees an answer. Never throws.
http::Task<void> route_and_serve(http::Exchange& ex, WorkerState& worker,
                                 const EntryPointOptions& ep);

// Counts a client connection in WorkerState::open_connections for its lifetime (graceful
// shutdown waits for the count to drop to zero).
class OpenConnection {
public:
  explicit OpenConnection(WorkerState& worker) : worker_(worker) { ++worker_.open_connections; }
  ~OpenConnection() { --worker_.open_connections; }
  OpenConnection(const OpenConnection&) = delete;
  OpenConnection& operator=(const OpenConnection&) = delete;

private:
  WorkerState& worker_;
};

} // namespace turnpike::entrypoint
