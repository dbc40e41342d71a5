#include "entrypoint/dispatch.h"

#include "common/log.h"
#include "tls/server_tls.h"

namespace turnpike::entrypoint {
namespace {

// Traefik's domain-fronting check (snicheck): a request on a TLS connection whose Host maps to
// other TLS options than the connection's SNI would bypass those options (client
// authentication, versions), so it is refused with 421. Both names are looked up in the current
// snapshot, as Traefik does.
bool misdirected(const http::Exchange& ex, const config::EntryPointRoutes& routes) {
  const tls::EntryPointTls* tls = routes.tls.get();
  std::string_view sni = ex.tls->server_name;
  const std::string& host = ex.request.host;
  if (!tls || host == sni || tls->host_count() == 0)
    return false;
  return tls->options_for(host) != tls->options_for(sni);
}

} // namespace

http::Task<void> route_and_serve(http::Exchange& ex, WorkerState& worker,
                                 const EntryPointOptions& ep) {
  http::ResponseWriter* connection_writer = ex.writer; // middlewares may wrap ex.writer
  std::shared_ptr<const config::Snapshot> snapshot = worker.snapshot;
  const router::Route* route = nullptr;
  bool misdirected_request = false;
  if (snapshot && ep.index < snapshot->entrypoints.size()) {
    const auto& routes = snapshot->entrypoints[ep.index];
    // TLS connections see the routers with a `tls` section, plain ones the others.
    if (ex.tls)
      misdirected_request = misdirected(ex, routes);
    if (!misdirected_request)
      route = (ex.tls ? routes.tls_table : routes.table).match(ex.request);
  }
  if (misdirected_request) {
    // Traefik's answer (http.Error) when the Host maps to other TLS options than the SNI.
    http::HeaderMap h;
    h.add("X-Content-Type-Options", "nosniff");
    auto awaited = co_await http::send_response(ex, 421, "Misdirected Request\n", &h);
    if (awaited)
      ex.close_connection = true;
  } else if (route) {
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
