#pragma once
// contentType (Traefik's ContentType): Content-Type auto-detection for responses the upstream sent
// without a Content-Type.
//
//   http.middlewares.<name>.contentType: {}    # enables detection
//   http.middlewares.<name>.contentType:
//     autoDetect: false                        # deprecated: detection stays off
//
// Turnpike, like Traefik v3, never sniffs response bodies by default: a response without a
// Content-Type reaches the client without one. This middleware turns Go's sniffing back on for the
// routers that use it: when the final response has no Content-Type, no Content-Encoding and a
// status that allows a body, the head is held until the first body piece, whose first 512 bytes
// choose the type with Go's http.DetectContentType table (see detect_content_type). A response
// without a body keeps its head as it is. `autoDetect: true` is the same as `{}`; `autoDetect:
// false` (Traefik v2's meaning, kept by v3 for compatibility) leaves responses alone.
// Immutable; shared by every worker. The holding writer lives on the exchange's coroutine frame.

#include <string_view>

#include "middleware/middleware.h"

namespace turnpike::middleware {

class ContentType final : public http::Handler {
 public:
  explicit ContentType(HandlerPtr next);
  http::Task<void> handle(http::Exchange& ex) const override;

 private:
  HandlerPtr next_;
};

// Go's net/http DetectContentType: the MIME type of `data` (only its first 512 bytes are looked
// at); "application/octet-stream" when nothing matches and the data looks binary.
std::string_view detect_content_type(std::string_view data);

// Factory registered as "contentType".
Wrap build_content_type(config::Decoder& dec, BuildContext& ctx);

}  // namespace turnpike::middleware
