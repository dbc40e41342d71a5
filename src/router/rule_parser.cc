// Rule text -> Rule: a recursive-descent parser over the Go-expression subset that Traefik's rule
// language uses (vulcand/predicate on go/parser), then lowering (negations pushed to the matchers,
// same-operator chains flattened) and host analysis for the route table's index.
//
// Linear time: every byte is looked at a bounded number of times; the only recursion is through
// parentheses and '!', whose nesting is capped at kMaxRuleDepth, so a hostile rule can neither
// blow the stack nor go quadratic (chains of && / || are loops, not recursion).

#include <algorithm>
#include <cstdio>

#include "router/go_literal.h"
#include "router/rule.h"

namespace turnpike::router {

namespace {

struct AstNode {
  enum class Kind { kAnd, kOr, kNot, kMatcher };
  Kind kind = Kind::kMatcher;
  uint32_t matcher = 0;           // kMatcher
  std::vector<uint32_t> children; // kAnd/kOr: >= 2; kNot: 1
};

// A subtree after lowering: no kNot, no AND directly under AND nor OR under OR.
struct LoweredNode {
  Rule::Node::Kind kind = Rule::Node::Kind::kMatcher;
  bool negated = false;
  uint32_t matcher = 0;
  std::vector<LoweredNode> children;
};

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_ident_char(char c) {
  return is_ident_start(c) || (c >= '0' && c <= '9');
}

std::string describe(std::string_view text, size_t pos) {
  if (pos >= text.size())
    return "end of rule";
  unsigned char c = static_cast<unsigned char>(text[pos]);
  if (c >= 0x21 && c < 0x7F)
    return std::string("'") + static_cast<char>(c) + "'";
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\x%02X", c);
  return std::string("byte ") + buf;
}

} // namespace

// Builds a Rule from text; one instance per parse_rule call.
class RuleBuilder {
public:
  explicit RuleBuilder(std::string_view text) : text_(text) {}

  Result<std::shared_ptr<const Rule>> build() {
    skip_space();
    if (pos_ == text_.size())
      return error_at(0, "empty rule");
    auto root = parse_or();
    if (!root)
      return *error_;
    skip_space();
    if (pos_ != text_.size())
      return error_at(pos_, "unexpected " + describe(text_, pos_) + " after a complete expression");

    std::shared_ptr<Rule> rule(new Rule());
    rule->matchers_.assign(std::make_move_iterator(matchers_.begin()),
                           std::make_move_iterator(matchers_.end()));
    LoweredNode lowered = lower(*root, false);
    rule->nodes_.resize(1);
    emit(*rule, lowered, 0);
    rule->hosts_ = analyse_hosts(*rule, 0);
    normalise(rule->hosts_);
    return std::shared_ptr<const Rule>(std::move(rule));
  }

private:
  // ---- errors ----
  Error error_at(size_t pos, const std::string& message) {
    return make_error("rule position " + std::to_string(pos + 1) + ": " + message);
  }
  std::nullopt_t fail(size_t pos, const std::string& message) {
    if (!error_)
      error_ = error_at(pos, message);
    return std::nullopt;
  }

  // ---- lexing ----
  void skip_space() {
    while (pos_ < text_.size() && is_space(text_[pos_]))
      ++pos_;
  }
  bool at(std::string_view token) const { return text_.substr(pos_).starts_with(token); }

  // ---- grammar ----
  uint32_t add_node(AstNode node) {
    ast_.push_back(std::move(node));
    return static_cast<uint32_t>(ast_.size() - 1);
  }

  // or := and ( "||" and )*   and := unary ( "&&" unary )*
  std::optional<uint32_t> parse_binary(AstNode::Kind kind) {
    bool is_or = kind == AstNode::Kind::kOr;
    std::string_view op = is_or ? "||" : "&&";
    auto first = is_or ? parse_binary(AstNode::Kind::kAnd) : parse_unary();
    if (!first)
      return std::nullopt;
    AstNode node{kind, 0, {*first}};
    while (true) {
      skip_space();
      if (!at(op)) {
        if (pos_ < text_.size() && text_[pos_] == op[0] && !at(op))
          return fail(pos_, "expected '" + std::string(op) + "'");
        break;
      }
      pos_ += 2;
      auto next = is_or ? parse_binary(AstNode::Kind::kAnd) : parse_unary();
      if (!next)
        return std::nullopt;
      node.children.push_back(*next);
    }
    if (node.children.size() == 1)
      return node.children[0];
    return add_node(std::move(node));
  }
  std::optional<uint32_t> parse_or() { return parse_binary(AstNode::Kind::kOr); }

  // unary := "!" unary | "(" or ")" | call
  std::optional<uint32_t> parse_unary() {
    skip_space();
    if (pos_ < text_.size() && (text_[pos_] == '!' || text_[pos_] == '(')) {
      size_t open = pos_;
      if (++depth_ > kMaxRuleDepth)
        return fail(open, "rule nests deeper than " + std::to_string(kMaxRuleDepth) + " levels");
      ++pos_;
      std::optional<uint32_t> result;
      if (text_[open] == '!') {
        auto child = parse_unary();
        if (!child)
          return std::nullopt;
        result = add_node(AstNode{AstNode::Kind::kNot, 0, {*child}});
      } else {
        result = parse_or();
        if (!result)
          return std::nullopt;
        skip_space();
        if (pos_ >= text_.size() || text_[pos_] != ')')
          return fail(pos_, "expected ')' to close '(' at position " + std::to_string(open + 1) +
                                ", found " + describe(text_, pos_));
        ++pos_;
      }
      --depth_;
      return result;
    }
    return parse_call();
  }

  // call := Name "(" string ( "," string )* [","] ")"
  std::optional<uint32_t> parse_call() {
    size_t name_pos = pos_;
    if (pos_ >= text_.size() || !is_ident_start(text_[pos_]))
      return fail(pos_, "expected a matcher, found " + describe(text_, pos_));
    while (pos_ < text_.size() && is_ident_char(text_[pos_]))
      ++pos_;
    std::string_view name = text_.substr(name_pos, pos_ - name_pos);
    const MatcherSpec* spec = find_matcher(name);
    if (!spec) {
      std::string message = "unknown matcher \"" + std::string(name) + "\"";
      if (auto hint = matcher_case_hint(name); !hint.empty())
        message += " (did you mean " + std::string(hint) + "?)";
      return fail(name_pos, message);
    }
    skip_space();
    if (pos_ >= text_.size() || text_[pos_] != '(')
      return fail(pos_,
                  "expected '(' after " + std::string(name) + ", found " + describe(text_, pos_));
    ++pos_;
    std::vector<std::string> args;
    std::vector<size_t> arg_pos;
    skip_space();
    while (pos_ < text_.size() && text_[pos_] != ')') {
      arg_pos.push_back(pos_);
      args.emplace_back();
      if (text_[pos_] != '`' && text_[pos_] != '"' && text_[pos_] != '\'')
        return fail(pos_, "expected a quoted string argument (`...` or \"...\"), found " +
                              describe(text_, pos_));
      if (auto err = read_go_literal(text_, pos_, args.back()))
        return fail(err->pos, err->message);
      skip_space();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        skip_space();
      } else if (pos_ >= text_.size() || text_[pos_] != ')') {
        return fail(pos_, "expected ',' or ')' in " + std::string(name) + "(...), found " +
                              describe(text_, pos_));
      }
    }
    if (pos_ >= text_.size())
      return fail(pos_, "expected ')' to close " + std::string(name) + "(, found end of rule");
    ++pos_;
    size_t bad_arg = SIZE_MAX;
    auto matcher = make_matcher(*spec, std::move(args), &bad_arg);
    if (!matcher)
      return fail(bad_arg < arg_pos.size() ? arg_pos[bad_arg] : name_pos, matcher.error().message);
    matchers_.push_back(std::move(*matcher));
    return add_node(
        AstNode{AstNode::Kind::kMatcher, static_cast<uint32_t>(matchers_.size() - 1), {}});
  }

  // ---- lowering ----
  LoweredNode lower(uint32_t index, bool negate) const {
    const AstNode& node = ast_[index];
    using Kind = Rule::Node::Kind;
    switch (node.kind) {
    case AstNode::Kind::kNot:
      return lower(node.children[0], !negate);
    case AstNode::Kind::kMatcher:
      return LoweredNode{Kind::kMatcher, negate, node.matcher, {}};
    case AstNode::Kind::kAnd:
    case AstNode::Kind::kOr:
      break;
    }
    // De Morgan: a negated AND is an OR of negations and vice versa.
    bool is_and = (node.kind == AstNode::Kind::kAnd) != negate;
    LoweredNode out{is_and ? Kind::kAnd : Kind::kOr, false, 0, {}};
    for (uint32_t child : node.children) {
      LoweredNode sub = lower(child, negate);
      if (sub.kind == out.kind) {
        for (auto& grandchild : sub.children)
          out.children.push_back(std::move(grandchild));
      } else {
        out.children.push_back(std::move(sub));
      }
    }
    return out;
  }

  // Lays the lowered tree out in rule.nodes_ with each node's children contiguous.
  static void emit(Rule& rule, const LoweredNode& node, size_t slot) {
    Rule::Node out;
    out.kind = node.kind;
    out.negated = node.negated;
    out.matcher = node.matcher;
    if (node.kind != Rule::Node::Kind::kMatcher) {
      out.first_child = static_cast<uint32_t>(rule.nodes_.size());
      out.child_count = static_cast<uint32_t>(node.children.size());
      rule.nodes_.resize(rule.nodes_.size() + node.children.size());
      for (size_t i = 0; i < node.children.size(); ++i)
        emit(rule, node.children[i], out.first_child + i);
    }
    rule.nodes_[slot] = out;
  }

  // ---- host analysis ----
  // A superset of the hosts that can satisfy the subtree.
  static HostConstraint analyse_hosts(const Rule& rule, uint32_t index) {
    const Rule::Node& node = rule.nodes_[index];
    HostConstraint out;
    if (node.kind == Rule::Node::Kind::kMatcher) {
      auto pattern = rule.matchers_[node.matcher].host_pattern();
      if (node.negated || !pattern || pattern->kind == HostPattern::Kind::kAny)
        return out;
      out.any_host = false;
      (pattern->kind == HostPattern::Kind::kExact ? out.exact : out.wildcard)
          .emplace_back(pattern->name);
      return out;
    }
    bool is_and = node.kind == Rule::Node::Kind::kAnd;
    if (!is_and)
      out.any_host = false;
    for (uint32_t i = 0; i < node.child_count; ++i) {
      HostConstraint sub = analyse_hosts(rule, node.first_child + i);
      if (is_and) {
        // Every child must match: any constrained child bounds the whole; keep the smallest.
        if (sub.any_host)
          continue;
        if (out.any_host ||
            sub.exact.size() + sub.wildcard.size() < out.exact.size() + out.wildcard.size())
          out = std::move(sub);
      } else {
        // One child suffices: the union, unbounded as soon as one child is.
        if (sub.any_host)
          return HostConstraint{};
        out.exact.insert(out.exact.end(), sub.exact.begin(), sub.exact.end());
        out.wildcard.insert(out.wildcard.end(), sub.wildcard.begin(), sub.wildcard.end());
      }
    }
    return out;
  }

  static void normalise(HostConstraint& hosts) {
    for (auto* list : {&hosts.exact, &hosts.wildcard}) {
      std::sort(list->begin(), list->end());
      list->erase(std::unique(list->begin(), list->end()), list->end());
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
  int depth_ = 0;
  std::vector<AstNode> ast_;
  std::vector<Matcher> matchers_;
  std::optional<Error> error_;
};

Result<std::shared_ptr<const Rule>> parse_rule(std::string_view text) {
  return RuleBuilder(text).build();
}

} // namespace turnpike::router
