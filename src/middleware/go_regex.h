#pragma once
// Regular expressions in Traefik options (stripPrefixRegex, replacePathRegex, redirectRegex, CORS
// origin regexes). Traefik uses Go's regexp, whose syntax is RE2's, so RE2 compiles them with the
// same meaning; this class adds Go's matching conventions (unanchored search, leftmost match) and
// Go's replacement templates (`$1`, `${1}`, `$name`, `${name}`, `$$`, as regexp.Expand does).
//
// Compiled once on the control thread at decode time; immutable afterwards and safe to share by
// every worker (RE2 matching is thread-safe).

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace re2 {
class RE2;
}

namespace turnpike::middleware {

class GoRegex {
 public:
  // A replacement template resolved against one regex's capture groups.
  class Template {
   public:
    const std::string& text() const { return text_; }

   private:
    friend class GoRegex;
    struct Piece {
      std::string literal;  // emitted first
      int group = -1;       // then this group's text (-1: nothing)
    };
    std::string text_;
    std::vector<Piece> pieces_;
  };

  // The error carries RE2's message ("missing ): ...").
  static Result<GoRegex> compile(std::string_view pattern);

  GoRegex(GoRegex&&) noexcept;
  GoRegex& operator=(GoRegex&&) noexcept;
  ~GoRegex();

  const std::string& pattern() const { return pattern_; }

  // Whether the regex matches anywhere in `text` (Go's MatchString).
  bool matches(std::string_view text) const;
  // The leftmost match (Go's FindString), or nullopt.
  std::optional<std::string_view> find(std::string_view text) const;

  // Compiles a Go replacement template. Unknown group names and out-of-range numbers expand to
  // nothing, and a '$' that starts no valid reference stays literal, as in Go.
  Template compile_template(std::string_view replacement) const;
  // Go's ReplaceAllString: every non-overlapping match replaced by the expanded template.
  std::string replace_all(std::string_view text, const Template& tmpl) const;

 private:
  GoRegex() = default;
  std::string pattern_;
  std::unique_ptr<re2::RE2> re_;
};

}  // namespace turnpike::middleware
