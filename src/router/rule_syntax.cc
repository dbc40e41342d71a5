// Rule text -> lowered rule tree: a recursive-descent parser over the Go-expression subset that
// Traefik's rule language uses (vulcand/predicate on go/parser), then lowering (negations pushed
// to the matchers, same-operator chains flattened). See rule_syntax.h.

#include "router/rule_syntax.h"

#include <cstdio>

#include "router/go_literal.h"

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
  RuleNode::Kind kind = RuleNode::Kind::kMatcher;
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

// One parse_rule_tree call.
class Parser {
public:
  Parser(std::string_view text, MatcherLanguage& language) : text_(text), language_(language) {}

  Result<std::vector<RuleNode>> run() {
    skip_space();
    if (pos_ == text_.size())
      return error_at(0, "empty rule");
    auto root = parse_or();
    if (!root)
      return *error_;
    skip_space();
    if (pos_ != text_.size())
      return error_at(pos_, "unexpected " + describe(text_, pos_) + " after a complete expression");
    LoweredNode lowered = lower(*root, false);
    std::vector<RuleNode> nodes(1);
    emit(nodes, lowered, 0);
    return nodes;
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
    if (auto unknown = language_.check_name(name))
      return fail(name_pos, *unknown);
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
    auto matcher = language_.add_matcher(name, std::move(args), &bad_arg);
    if (!matcher)
      return fail(bad_arg < arg_pos.size() ? arg_pos[bad_arg] : name_pos, matcher.error().message);
    return add_node(AstNode{AstNode::Kind::kMatcher, *matcher, {}});
  }

  // ---- lowering ----
  LoweredNode lower(uint32_t index, bool negate) const {
    const AstNode& node = ast_[index];
    using Kind = RuleNode::Kind;
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

  // Lays the lowered tree out in `nodes` with each node's children contiguous.
  static void emit(std::vector<RuleNode>& nodes, const LoweredNode& node, size_t slot) {
    RuleNode out;
    out.kind = node.kind;
    out.negated = node.negated;
    out.matcher = node.matcher;
    if (node.kind != RuleNode::Kind::kMatcher) {
      out.first_child = static_cast<uint32_t>(nodes.size());
      out.child_count = static_cast<uint32_t>(node.children.size());
      nodes.resize(nodes.size() + node.children.size());
      for (size_t i = 0; i < node.children.size(); ++i)
        emit(nodes, node.children[i], out.first_child + i);
    }
    nodes[slot] = out;
  }

  std::string_view text_;
  MatcherLanguage& language_;
  size_t pos_ = 0;
  int depth_ = 0;
  std::vector<AstNode> ast_;
  std::optional<Error> error_;
};

} // namespace

Result<std::vector<RuleNode>> parse_rule_tree(std::string_view text, MatcherLanguage& language) {
  return Parser(text, language).run();
}

void print_matcher_call(std::string_view name, const std::vector<std::string>& args,
                        std::string& out) {
  out.append(name);
  out.push_back('(');
  for (size_t i = 0; i < args.size(); ++i) {
    if (i > 0)
      out.append(", ");
    append_go_literal(args[i], out);
  }
  out.push_back(')');
}

} // namespace turnpike::router
