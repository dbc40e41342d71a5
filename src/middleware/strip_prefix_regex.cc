#include "middleware/strip_prefix_regex.h"

#include "middleware/decode_support.h"
#include "middleware/strip_prefix.h"

namespace turnpike::middleware {

StripPrefixRegex::StripPrefixRegex(std::vector<std::shared_ptr<const GoRegex>> regexes,
                                   HandlerPtr next)
    : regexes_(std::move(regexes)), next_(std::move(next)) {}

http::Task<void> StripPrefixRegex::handle(http::Exchange& ex) const {
  const std::string& path = ex.request.path;
  for (const auto& re : regexes_) {
    auto match = re->find(path);
    if (!match || match->empty() || match->data() != path.data()) continue;
    // Copy: stripping rewrites the string the match points into.
    const std::string prefix(*match);
    co_await strip_and_serve(ex, prefix, *next_);
    co_return;
  }
  co_await next_->handle(ex);
}

Wrap build_strip_prefix_regex(config::Decoder& dec, BuildContext&) {
  ErrorMark mark(dec);
  std::vector<std::string> patterns;
  dec.get("regex", patterns);
  dec.finish();
  std::vector<std::shared_ptr<const GoRegex>> regexes;
  for (size_t i = 0; i < patterns.size(); ++i) {
    if (auto re = compile_regex(dec, item_key("regex", i), patterns[i])) regexes.push_back(re);
  }
  if (!mark.clean()) return {};
  return [regexes = std::move(regexes)](HandlerPtr next) -> HandlerPtr {
    return std::make_shared<const StripPrefixRegex>(regexes, std::move(next));
  };
}

}  // namespace turnpike::middleware
