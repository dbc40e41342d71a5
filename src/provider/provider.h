#pragma once
// A provider discovers dynamic configuration (a file, an HTTP endpoint, a KV store, Docker,
// Kubernetes) and publishes its FULL current configuration as a config::Node tree whenever it
// changes; nobody sends deltas. The aggregator (aggregator.h) keeps the latest tree per provider,
// throttles and triggers rebuilds.
//
// Threads: a provider runs on the control thread's executor. start(), stop() and the destructor
// are called on that executor's thread; `publish` is only ever invoked from handlers running on
// the executor, never synchronously from inside start() or stop(). A provider that needs blocking
// work does it elsewhere and posts the result back to the executor.
//
// Ownership: the caller owns the provider and must call stop() (or destroy it) before the
// executor's io_context stops running; after stop() returns `publish` is not called again.

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>

#include "common/asio_types.h"
#include "common/result.h"
#include "config/tree/node.h"

namespace turnpike::provider {

// A provider's whole dynamic configuration, immutable and shared (the aggregator and the gateway
// keep it without copying; a 10,000-router tree is not cheap to copy).
using Tree = std::shared_ptr<const config::Node>;

// Delivers `tree`, the provider's whole dynamic configuration, under `provider_name` ("file").
// A null Node means "this provider has no configuration" (e.g. an empty directory); the pointer
// itself is never null.
using Publish = std::function<void(std::string provider_name, Tree tree)>;

class Provider {
public:
  virtual ~Provider() = default;

  // The name objects are qualified with (`router@file`). Constant.
  virtual std::string_view name() const = 0;

  // Starts watching. The first configuration (if the source can be read) is published soon
  // after, from the executor. An error means the provider could not start at all (bad options,
  // inotify unavailable); a source that is momentarily unreadable or invalid is logged, not an
  // error, and watching continues so that fixing it is picked up.
  virtual Result<void> start(turnpike::Executor executor, Publish publish) = 0;

  // Stops watching and cancels pending work. Idempotent.
  virtual void stop() = 0;
};

} // namespace turnpike::provider
