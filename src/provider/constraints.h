#pragma once
// Traefik's provider `constraints` expressions, which decide from an object's labels (or tags)
// whether the provider exposes it:
//   Label(`key`, `value`)       the label is present with exactly this value
//   LabelRegex(`key`, `regex`)  the label is present and its value matches (Go's regexp search,
//                               RE2 here: same syntax, unanchored)
//   Tag(`t`), TagRegex(`re`)    for tag-based providers (a tag is a label without value)
// combined with `&&`, `||`, `!` and parentheses (&& binds tighter than ||). Strings are
// backquoted or double-quoted. Immutable once parsed; thread-safe.

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

namespace turnpike::provider {

class Constraints {
public:
  // An empty expression matches everything. Errors give the position of the problem.
  static Result<Constraints> parse(std::string_view expression);

  bool matches(const std::map<std::string, std::string>& labels) const;

  struct Node; // the expression tree (defined in the .cc)

private:
  std::shared_ptr<const Node> root_; // null = match all
};

} // namespace turnpike::provider
