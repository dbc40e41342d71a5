#pragma once
// Decoding only what changed in a provider's tree. A provider publishes its whole configuration
// at every change; with 10,000 routers from a KV store or Kubernetes, decoding all of them again
// to apply one changed key cost ~100 ms. Objects (root.kind.name: `http.routers.web`) whose
// subtree is equal to the previous tree's are kept as decoded; only the others are decoded.
// Control thread only; pure apart from `decoded`.

#include <string_view>

#include "config/dynamic_config.h"
#include "config/tree/node.h"

namespace turnpike::config {

// Turns `decoded`, the decoding of `previous`, into the decoding of `tree` (what decode_dynamic
// would return), decoding only the objects that differ and erasing the ones that are gone.
// Returns false and leaves `decoded` as it was when it cannot do so exactly: a tree that is not
// the usual root.kind.name maps, tls.certificates changed, a changed object that does not decode
// cleanly (the full decoding then reports it as usual), or so many changes that decoding
// everything is as cheap. The caller then decodes `tree` as a whole.
// `changes`, when given and the function returns true, receives what was added, changed or
// removed (added to what it holds).
bool decode_changes(const Node& previous, const Node& tree, std::string_view provider,
                    DynamicConfig& decoded, ChangeSet* changes = nullptr);

} // namespace turnpike::config
