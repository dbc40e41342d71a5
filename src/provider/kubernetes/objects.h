#pragma once
// Small helpers for reading Kubernetes objects (nlohmann::json) without exceptions: absent or
// mistyped fields read as null / "". Pure; any thread.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "config/tree/node.h"
#include "provider/text.h"

namespace turnpike::provider::kubernetes {

// j[key], or a null value when j is not an object or has no such key.
const nlohmann::json& field(const nlohmann::json& j, const char* key);
// j[key] when it is a string, else "".
std::string str(const nlohmann::json& j, const char* key);

// The map `tree`.<root>.<kind> ("http", "routers"), created when absent.
config::Node& section(config::Node& tree, std::string_view root, std::string_view kind);

// The first 10 bytes of the SHA-256 of `s` in hex (20 digits): the suffix of the router names
// generated from a route's rule, as Traefik's makeRouterKey (`%.10x`), so that names match.
std::string rule_hash(std::string_view s);

using provider::base64_decode;
using provider::normalize;

} // namespace turnpike::provider::kubernetes
