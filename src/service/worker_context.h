#pragma once
// The per-worker data-plane context every request on a worker can reach through
// Exchange::worker: its executor, its deadline scanner, its upstream connection pools (HTTP/1.1
// and HTTP/2) and its upstream TLS sessions. Worker-confined: created and used only on the
// worker's thread.

#include <boost/asio/io_context.hpp>

#include "common/deadline.h"
#include "service/h2_client.h"
#include "service/upstream_pool.h"
#include "service/upstream_tls.h"

namespace turnpike {

struct WorkerContext {
  WorkerContext(unsigned worker_id, boost::asio::io_context& ctx)
      : id(worker_id), io(ctx), deadlines(ctx.get_executor()), pools(deadlines) {}

  unsigned id;
  boost::asio::io_context& io;
  DeadlineScanner deadlines;
  // Declared after `deadlines`, so destroyed before it: pooled connections unregister their
  // deadlines from a living scanner.
  service::TlsSessionCache tls_sessions;
  service::UpstreamPool pools;
  service::H2Pool h2_pools;
  uint64_t h2_connections_opened = 0;  // ids for H2ClientConnection (logs)
  bool draining = false;  // graceful shutdown started: finish current requests, then close
};

}  // namespace turnpike
