#pragma once
// encodedCharacters (Traefik 3.6+): refuses requests whose path contains percent-encoded
// characters that upstreams commonly decode into path syntax, unless each is allowed.
//
//   http.middlewares.<name>.encodedCharacters:
//     allowEncodedSlash: false          # %2F
//     allowEncodedBackSlash: false      # %5C
//     allowEncodedNullCharacter: false  # %00
//     allowEncodedSemicolon: false      # %3B
//     allowEncodedPercent: false        # %25
//     allowEncodedQuestionMark: false   # %3F
//     allowEncodedHash: false           # %23
//
// A refused request is answered 400 "Bad Request" and never reaches the service. The check runs on
// the normalised path (http/path.h keeps these bytes percent-encoded, in upper case), which is
// the path that is routed and forwarded. Immutable; shared by every worker.

#include <string_view>
#include <vector>

#include "middleware/middleware.h"

namespace turnpike::middleware {

class EncodedCharacters final : public http::Handler {
public:
  // `refused`: the encoded sequences ("%2F") that are refused.
  EncodedCharacters(std::vector<std::string_view> refused, HandlerPtr next);
  http::Task<void> handle(http::Exchange& ex) const override;

  // Whether `path` contains a refused sequence (case-insensitive hex).
  bool refuses(std::string_view path) const;

private:
  std::vector<std::string_view> refused_;
  HandlerPtr next_;
};

// Factory registered as "encodedCharacters".
Wrap build_encoded_characters(config::Decoder& dec, BuildContext& ctx);

} // namespace turnpike::middleware
