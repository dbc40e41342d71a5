#pragma once
// The per-worker data-plane context every request on a worker can reach through
// Exchange::worker: its executor, its deadline scanner and its upstream connection pools.
// Worker-confined: created and used only on the worker's thread.

#include <boost/asio/io_context.hpp>

#include "common/deadline.h"
#include "service/upstream_pool.h"

namespace turnpike {

struct WorkerContext {
  WorkerContext(unsigned worker_id, boost::asio::io_context& ctx)
      : id(worker_id), io(ctx), deadlines(ctx.get_executor()), pools(deadlines) {}

  unsigned id;
  boost::asio::io_context& io;
  DeadlineScanner deadlines;
  service::UpstreamPool pools;
  bool draining = false;  // graceful shutdown started: finish current requests, then close
};

}  // namespace turnpike
