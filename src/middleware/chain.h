#pragma once
// chain (Traefik's Chain): a named, reusable list of other middlewares.
//
//   http.middlewares.<name>.chain:
//     middlewares: ["auth", "strip@file"]   # applied in order; local names get this provider
//
// Each name is resolved through BuildContext::middleware() at decode time (which reports unknown
// names and reference cycles); the chain wraps `next` with them so that the first listed runs
// first. An empty list passes requests straight through. Adds no handler of its own.

#include "middleware/middleware.h"

namespace turnpike::middleware {

// Factory registered as "chain".
Wrap build_chain(config::Decoder& dec, BuildContext& ctx);

}  // namespace turnpike::middleware
