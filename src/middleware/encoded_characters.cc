#include "middleware/encoded_characters.h"

#include "common/strings.h"
#include "middleware/decode_support.h"
#include "middleware/local_reply.h"

namespace turnpike::middleware {
namespace {

struct Option {
  std::string_view key;
  std::string_view sequence;
};
constexpr Option kOptions[] = {
    {"allowEncodedSlash", "%2F"},         {"allowEncodedBackSlash", "%5C"},
    {"allowEncodedNullCharacter", "%00"}, {"allowEncodedSemicolon", "%3B"},
    {"allowEncodedPercent", "%25"},       {"allowEncodedQuestionMark", "%3F"},
    {"allowEncodedHash", "%23"},
};

} // namespace

EncodedCharacters::EncodedCharacters(std::vector<std::string_view> refused, HandlerPtr next)
    : refused_(std::move(refused)), next_(std::move(next)) {}

bool EncodedCharacters::refuses(std::string_view path) const {
  for (size_t at = path.find('%'); at != std::string_view::npos; at = path.find('%', at + 1)) {
    const auto seq = path.substr(at, 3);
    for (auto r : refused_)
      if (iequals(seq, r))
        return true;
  }
  return false;
}

http::Task<void> EncodedCharacters::handle(http::Exchange& ex) const {
  if (refuses(ex.request.path)) {
    co_await reply(ex, 400, status_text(400));
    co_return;
  }
  co_await next_->handle(ex);
}

Wrap build_encoded_characters(config::Decoder& dec, BuildContext&) {
  ErrorMark mark(dec);
  std::vector<std::string_view> refused;
  for (const auto& o : kOptions) {
    bool allowed = false;
    dec.get(o.key, allowed);
    if (!allowed)
      refused.push_back(o.sequence);
  }
  dec.finish();
  if (!mark.clean())
    return {};
  return [refused](HandlerPtr next) -> HandlerPtr {
    return std::make_shared<const EncodedCharacters>(refused, std::move(next));
  };
}

} // namespace turnpike::middleware
