#include "entrypoint/dispatch.h"

#include "common/log.h"

namespace turnpike::entrypoint {

http::Task<void> route_and_serve(http::Exchange& ex, WorkerState& worker,
                                 const EntryPointOptions& ep) {
  http::ResponseWriter* connection_writer = ex.writer; // middlewares may wrap ex.writer
  std::shared_ptr<const config::Snapshot> snapshot = worker.snapshot;
  const router::Route* route = nullptr;
  if (snapshot && ep.index < snapshot->entrypoints.size())
    route = snapshot->entrypoints[ep.index].table.match(ex.request);
  if (route) {
    ex.router_name = route->name;
    co_await route->handler->handle(ex);
  } else {
    // Traefik's answer when no router matches.
    http::HeaderMap h;
    h.add("X-Content-Type-Options", "nosniff");
    // GCC 12 miscompiles `if (co_await ...)` whose branch writes through a reference
    // parameter; await into a local first.
    auto awaited = co_await http::send_response(ex, 404, "404 page not found\n", &h);
    if (awaited)
      ex.close_connection = true;
  }
  if (!connection_writer->head_written()) {
    // A handler that returned without answering is a bug unless the client is gone (then the
    // 500 cannot be written either, and there is nothing to report).
    auto awaited = co_await http::send_response(ex, 500, "Internal Server Error");
    if (!awaited)
      log::get("entrypoint")
          ->error("{}: handler for router {} sent no response", ep.name, ex.router_name);
    ex.close_connection = true;
  }
}

} // namespace turnpike::entrypoint
