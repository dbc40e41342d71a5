#pragma once
// requestHeaderModifier and responseHeaderModifier (Traefik's Gateway API filter middlewares):
// the Gateway API's HTTPHeaderFilter, as the kubernetesGateway provider writes it for an
// HTTPRoute's RequestHeaderModifier and ResponseHeaderModifier filters.
//
//   http.middlewares.<name>.requestHeaderModifier:    # or responseHeaderModifier
//     set:    {X-Env: prod}       # replaces every field of that name
//     add:    {X-Tag: gateway}    # one more field, after any existing ones
//     remove: [X-Debug]
//
// Applied in that order (set, add, remove), as Traefik does. Like Traefik, which keeps these types
// out of the file, label and KV schemas, only the kubernetesGateway provider may configure them;
// elsewhere the key is refused as unknown. "Host" is not a header field here (Go keeps the
// request's host apart from its header map): a Host entry changes nothing.
// Immutable; one instance is shared by every worker. Response edits go through a HeadEditingWriter.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "middleware/middleware.h"

namespace turnpike::middleware {

struct HeaderModifierOptions {
  std::vector<std::pair<std::string, std::string>> set;
  std::vector<std::pair<std::string, std::string>> add;
  std::vector<std::string> remove;

  // Applies the three lists to `headers`.
  void apply(http::HeaderMap& headers) const;
};

// Factories registered as "requestHeaderModifier" and "responseHeaderModifier".
Wrap build_request_header_modifier(config::Decoder& dec, BuildContext& ctx);
Wrap build_response_header_modifier(config::Decoder& dec, BuildContext& ctx);

} // namespace turnpike::middleware
