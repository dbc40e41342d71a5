#pragma once
// What a worker thread owns for the data plane: its context (pools, deadlines) and the current
// configuration snapshot. Worker-confined: only the worker's thread reads or swaps `snapshot`
// (the control thread posts the swap to the worker's io_context).

#include <memory>

#include "config/snapshot.h"
#include "observability/access_log.h"
#include "service/worker_context.h"

namespace turnpike::entrypoint {

struct WorkerState {
  WorkerState(unsigned id, boost::asio::io_context& io) : ctx(id, io) {}

  WorkerContext ctx;
  std::shared_ptr<const config::Snapshot> snapshot;
  observability::AccessLog* access_log = nullptr;  // null when disabled; shared, thread-safe
  std::atomic<uint64_t> open_connections{0};  // written by the worker, read by the control thread
};

}  // namespace turnpike::entrypoint
