#pragma once
// Middleware framework. A middleware type ("addPrefix", "headers", ...) is one file pair
// src/middleware/<name>.{h,cc} holding its options struct, its decoder and its Handler, plus one
// line in registry.cc. The snapshot builder (control thread) decodes each configured middleware
// once and wraps the next handler with it; the resulting Handler objects are immutable and shared
// by all workers (see http/exchange.h for the request-path contract).

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"
#include "config/tree/decoder.h"
#include "http/exchange.h"
#include "middleware/state_store.h"

namespace turnpike::middleware {

using HandlerPtr = std::shared_ptr<const http::Handler>;

// Wraps `next` with a configured middleware. Called by the builder once per router that uses the
// middleware (the same Wrap may be applied to several routers' chains).
using Wrap = std::function<HandlerPtr(HandlerPtr next)>;

// What a decoder may ask of the configuration being built. Control thread only.
class BuildContext {
 public:
  virtual ~BuildContext() = default;
  // Resolves another middleware by name (qualified "x@file" or local "x", which is qualified with
  // the referencing provider); used by `chain`. Detects reference cycles and reports them.
  virtual Result<Wrap> middleware(std::string_view name) = 0;
  // The provider the middleware being decoded comes from ("file").
  virtual std::string_view provider() const = 0;
  // Resolves an HTTP service by name (qualified, or local and qualified with the referencing
  // provider), building it if needed; used by `errors` for its error-page service. The handler is
  // the same one routers use (its pools and health are shared).
  // Worker threads the snapshot will run on (sizes per-worker state, e.g. the upstream pools of
  // forwardAuth's client).
  virtual unsigned workers() const { return 1; }
  virtual Result<HandlerPtr> service_handler(std::string_view name) {
    return make_error("the service \"" + std::string(name) + "\" is not available here");
  }
  // State kept across snapshots for the middleware being decoded (state_store.h): its Wrap gets
  // each instance's state from the slot, which hands back the previous snapshot's while the
  // options are unchanged. The default slot keeps nothing.
  virtual StateSlot state_slot() { return {}; }
};

// A middleware type: decodes the options under its type key (e.g. the map under `addPrefix:`)
// and returns the wrap. Errors go to `dec` (path-qualified); return an empty Wrap on failure.
// A factory is a complete validator: it reads every option, calls dec.finish() itself (so unknown
// keys fail it too) and compiles regexes once. Callers must not call finish() again: Decoder's
// finish() is not idempotent and would report each unknown key twice.
using Factory = Wrap (*)(config::Decoder& dec, BuildContext& ctx);

struct Registration {
  std::string_view type;  // Traefik's type key, e.g. "stripPrefix"
  Factory factory;
};

// The explicit registration list (registry.cc). Lookup is case-insensitive on the type key.
std::span<const Registration> registry();
const Registration* find(std::string_view type);

}  // namespace turnpike::middleware
