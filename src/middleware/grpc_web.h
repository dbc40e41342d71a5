#pragma once
// grpcWeb (Traefik's GrpcWeb, improbable-eng/grpc-web's wrapper): lets browsers call gRPC
// services. gRPC-Web requests are turned into gRPC for the service, and the gRPC responses back
// into gRPC-Web.
//
//   http.middlewares.<name>.grpcWeb:
//     allowOrigins: ["*"]     # CORS origins allowed (default: none; "*" = any)
//
// A request is gRPC-Web when it is a POST whose Content-Type is application/grpc-web[+fmt] or
// application/grpc-web-text[+fmt] (base64 body); other requests pass through untouched, except
// CORS preflights for gRPC-Web (OPTIONS whose Access-Control-Request-Headers names x-grpc-web),
// which are answered 204 here when the Origin is allowed, 403 otherwise.
//
// Request: Content-Type becomes application/grpc[+fmt]; a -text body is base64-decoded as it
// streams; the service must speak gRPC (h2c:// or https:// with HTTP/2). Response: Content-Type
// becomes application/grpc-web[+fmt] (or -text, base64-encoded per piece); the trailers
// (grpc-status, grpc-message, trailing metadata) are sent as the final message frame (flag 0x80,
// "name:value\r\n" lines), since HTTP/1.1 browsers cannot read trailers. CORS responses expose
// grpc-status, grpc-message and the response headers to scripts.
// Immutable; shared by every worker.

#include <memory>
#include <string>
#include <vector>

#include "middleware/middleware.h"

namespace turnpike::middleware {

class GrpcWeb final : public http::Handler {
public:
  GrpcWeb(std::vector<std::string> allow_origins, HandlerPtr next);
  http::Task<void> handle(http::Exchange& ex) const override;

  bool origin_allowed(std::string_view origin) const;

private:
  std::vector<std::string> allow_origins_;
  HandlerPtr next_;
};

// The gRPC-Web trailer frame for `trailers`: 0x80, 4-byte big-endian length, "name:value\r\n"
// lines with lower-case names.
std::string grpc_web_trailer_frame(const http::HeaderMap& trailers);

// Factory registered as "grpcWeb".
Wrap build_grpc_web(config::Decoder& dec, BuildContext& ctx);

} // namespace turnpike::middleware
