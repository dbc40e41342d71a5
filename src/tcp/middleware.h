#pragma once
// TCP middlewares (Traefik's `tcp.middlewares`): a type is one file pair in src/tcp holding its
// decoder and its Handler, plus one line in tcp/middleware.cc's registration list. The snapshot
// builder (control thread) decodes each configured middleware once and wraps the next handler
// with it; the resulting Handlers are immutable and shared by all workers (see handler.h).

#include <functional>
#include <span>
#include <string_view>

#include "config/tree/decoder.h"
#include "tcp/handler.h"

namespace turnpike::tcp {

// Wraps `next` with a configured middleware; applied once per router that uses it.
using Wrap = std::function<HandlerPtr(HandlerPtr next)>;

// Decodes the options under the type key (`ipAllowList: {...}`), calls dec.finish() itself, and
// returns the wrap, or an empty Wrap after reporting errors to `dec`.
using Factory = Wrap (*)(config::Decoder& dec);

struct Registration {
  std::string_view type; // Traefik's type key, e.g. "inFlightConn"
  Factory factory;
};

// The explicit registration list; lookup is case-insensitive on the type key.
std::span<const Registration> middleware_registry();
const Registration* find_middleware(std::string_view type);

// Whether `dec` gained errors since `before` = dec.errors().list().size() (the list may already
// hold other objects' errors).
inline bool decoded_cleanly(config::Decoder& dec, size_t before) {
  return dec.errors().list().size() == before;
}

} // namespace turnpike::tcp
