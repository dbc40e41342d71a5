#pragma once
// Per-object validation for providers whose configuration is assembled from many independent
// objects (container labels, KV keys, Kubernetes resources). The gateway rejects a provider's
// whole tree when it does not decode (config::rejecting_errors), keeping its last good
// configuration, which is right for one file but wrong when one container's bad label would
// freeze every other container's routes. These providers therefore drop each object that does
// not decode on its own (a router, a service, a middleware, a TLS option...), report it, and
// publish the rest. Control-plane helpers: pure, callable from any thread.

#include <string>
#include <string_view>
#include <vector>

#include "config/tree/node.h"

namespace turnpike::provider {

// Removes from `tree` every object that does not decode, and every unknown section, and returns
// one error per removal ("http.routers.web@docker.rule: ...", prefixed with `source` when it is
// not empty, e.g. "container web-1: "). `provider` qualifies names in the messages.
std::vector<std::string> drop_invalid_objects(config::Node& tree, std::string_view provider,
                                              std::string_view source = {});

// Adds the objects of `tree` (root.kind.name) that `into` does not have yet; lists
// (tls.certificates) are concatenated. For providers that build one tree per source object
// (an Ingress, a CRD resource) and merge them: a name two objects define keeps the first.
void merge_first_wins(config::Node& into, const config::Node& tree);

} // namespace turnpike::provider
