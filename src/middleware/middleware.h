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
