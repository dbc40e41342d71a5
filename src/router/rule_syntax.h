#pragma once
// The rule language's syntax, shared by the HTTP rules (rule.h) and the TCP rules (tcp_rule.h):
//
//   rule    := or
//   or      := and ( "||" and )*
//   and     := unary ( "&&" unary )*
//   unary   := "!" unary | "(" or ")" | Matcher "(" string ( "," string )* [","] ")"
//   string  := `raw` | "Go-escaped"
//
// parse_rule_tree() lexes and parses the text, asks a MatcherLanguage to check each matcher name
// and build each matcher, then lowers the result as Traefik does: negations pushed down to the
// matchers (`!(A && B)` is `!A || !B`) and chains of the same operator flattened, so a rule is a
// tree of n-ary AND/OR nodes over possibly negated matchers, laid out with each node's children
// contiguous and the root at index 0.
//
// Linear time: every byte is looked at a bounded number of times; the only recursion is through
// parentheses and '!', whose nesting is capped at kMaxRuleDepth, so a hostile rule can neither
// blow the stack nor go quadratic (chains of && / || are loops, not recursion). Errors name the
// 1-based byte position of the offending token or argument ("rule position 17: ...").
//
// Control plane only (parsing); the evaluation and printing helpers are pure and thread-safe.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace turnpike::router {

// Maximum nesting of parentheses and negations in a rule text.
inline constexpr int kMaxRuleDepth = 64;

// One node of a lowered rule tree.
struct RuleNode {
  enum class Kind : uint8_t { kAnd, kOr, kMatcher };
  Kind kind = Kind::kMatcher;
  bool negated = false;     // kMatcher only
  uint32_t matcher = 0;     // kMatcher: index of the matcher (as returned by add_matcher)
  uint32_t first_child = 0; // kAnd/kOr: index of the first child
  uint32_t child_count = 0; // kAnd/kOr: >= 2
};

// A set of matchers (HTTP's Host, Path...; TCP's HostSNI, ClientIP...). One instance per parse;
// it keeps the matchers it builds.
class MatcherLanguage {
public:
  virtual ~MatcherLanguage() = default;
  // Empty when `name` is a matcher of the language in an accepted spelling; otherwise the error
  // message ("unknown matcher \"Hots\"").
  virtual std::optional<std::string> check_name(std::string_view name) const = 0;
  // Validates the arguments, builds and keeps the matcher `name` (already checked), and returns
  // its index. On failure the error says what is wrong (without a position) and, when one
  // argument is at fault, *bad_arg is set to its index.
  virtual Result<uint32_t> add_matcher(std::string_view name, std::vector<std::string> args,
                                       size_t* bad_arg) = 0;
};

// Parses and lowers `text` (see above). nodes[0] is the root.
Result<std::vector<RuleNode>> parse_rule_tree(std::string_view text, MatcherLanguage& language);

// Evaluates the subtree at `index`; leaf(matcher_index) says whether a matcher matches.
template <class Leaf>
bool eval_rule_tree(std::span<const RuleNode> nodes, uint32_t index, Leaf&& leaf) {
  const RuleNode& node = nodes[index];
  switch (node.kind) {
  case RuleNode::Kind::kMatcher:
    return leaf(node.matcher) != node.negated;
  case RuleNode::Kind::kAnd:
    for (uint32_t i = 0; i < node.child_count; ++i)
      if (!eval_rule_tree(nodes, node.first_child + i, leaf))
        return false;
    return true;
  case RuleNode::Kind::kOr:
    for (uint32_t i = 0; i < node.child_count; ++i)
      if (eval_rule_tree(nodes, node.first_child + i, leaf))
        return true;
    return false;
  }
  return false;
}

// Canonical text of a lowered tree: negations on matchers, minimal parentheses, backtick literals
// where possible. name_of(i) and args_of(i) describe matcher i.
template <class NameOf, class ArgsOf>
void print_rule_tree(std::span<const RuleNode> nodes, uint32_t index, bool parenthesise_or,
                     std::string& out, NameOf&& name_of, ArgsOf&& args_of);

// Appends `Name(`a`, `b`)`.
void print_matcher_call(std::string_view name, const std::vector<std::string>& args,
                        std::string& out);

template <class NameOf, class ArgsOf>
void print_rule_tree(std::span<const RuleNode> nodes, uint32_t index, bool parenthesise_or,
                     std::string& out, NameOf&& name_of, ArgsOf&& args_of) {
  const RuleNode& node = nodes[index];
  if (node.kind == RuleNode::Kind::kMatcher) {
    if (node.negated)
      out.push_back('!');
    print_matcher_call(name_of(node.matcher), args_of(node.matcher), out);
    return;
  }
  bool is_or = node.kind == RuleNode::Kind::kOr;
  bool wrap = is_or && parenthesise_or; // && binds tighter: an OR under an AND needs parentheses
  if (wrap)
    out.push_back('(');
  for (uint32_t i = 0; i < node.child_count; ++i) {
    if (i > 0)
      out.append(is_or ? " || " : " && ");
    print_rule_tree(nodes, node.first_child + i, !is_or, out, name_of, args_of);
  }
  if (wrap)
    out.push_back(')');
}

} // namespace turnpike::router
