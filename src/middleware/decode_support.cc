#include "middleware/decode_support.h"

namespace turnpike::middleware {

std::string item_key(std::string_view key, size_t index) {
  return std::string(key) + "[" + std::to_string(index) + "]";
}

std::shared_ptr<const GoRegex> compile_regex(config::Decoder& dec, std::string_view key,
                                             std::string_view pattern) {
  auto re = GoRegex::compile(pattern);
  if (!re) {
    dec.fail(key, re.error().message);
    return nullptr;
  }
  return std::make_shared<const GoRegex>(std::move(*re));
}

std::optional<RegexReplacement> decode_regex_replacement(config::Decoder& dec) {
  std::string pattern, replacement;
  dec.get("regex", pattern);
  dec.get("replacement", replacement);
  std::shared_ptr<const GoRegex> regex;
  if (pattern.empty())
    dec.fail("regex", "is required");
  else
    regex = compile_regex(dec, "regex", pattern);
  if (replacement.empty()) dec.fail("replacement", "is required");
  if (!regex || replacement.empty()) return std::nullopt;
  return RegexReplacement{regex, regex->compile_template(replacement)};
}

}  // namespace turnpike::middleware
