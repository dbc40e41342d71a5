#pragma once
// Small helpers for reading Kubernetes objects (nlohmann::json) without exceptions: absent or
// mistyped fields read as null / "". Pure; any thread.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "provider/text.h"

namespace turnpike::provider::kubernetes {

// j[key], or a null value when j is not an object or has no such key.
const nlohmann::json& field(const nlohmann::json& j, const char* key);
// j[key] when it is a string, else "".
std::string str(const nlohmann::json& j, const char* key);

using provider::base64_decode;
using provider::normalize;

} // namespace turnpike::provider::kubernetes
