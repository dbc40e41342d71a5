#pragma once
// Text helpers shared by providers. Pure; any thread.

#include <string>
#include <string_view>

namespace turnpike::provider {

// Traefik's provider.Normalize: runs of characters other than ASCII letters and digits become
// one '-', leading and trailing ones are dropped ("/my_app.1" -> "my-app-1"). Names of objects
// derived from containers, Ingresses and CRDs.
std::string normalize(std::string_view name);

// Percent-encodes everything but RFC 3986 unreserved characters (query parameter values).
std::string url_encode(std::string_view s);

// Standard base64 (Kubernetes Secret data, kubeconfig *-data); characters outside the alphabet
// (padding, line breaks) are skipped.
std::string base64_decode(std::string_view in);

} // namespace turnpike::provider
