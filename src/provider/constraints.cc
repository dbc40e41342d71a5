#include "provider/constraints.h"

#include <cctype>
#include <vector>

#include <re2/re2.h>

#include "common/strings.h"

namespace turnpike::provider {

struct Constraints::Node {
  enum class Op { kAnd, kOr, kNot, kLabel, kLabelRegex, kTag, kTagRegex } op;
  std::shared_ptr<const Node> a, b;
  std::string key, value;
  std::shared_ptr<const re2::RE2> re;

  bool eval(const std::map<std::string, std::string>& labels) const {
    switch (op) {
    case Op::kAnd:
      return a->eval(labels) && b->eval(labels);
    case Op::kOr:
      return a->eval(labels) || b->eval(labels);
    case Op::kNot:
      return !a->eval(labels);
    case Op::kLabel: {
      auto it = labels.find(key);
      return it != labels.end() && it->second == value;
    }
    case Op::kLabelRegex: {
      auto it = labels.find(key);
      return it != labels.end() && re2::RE2::PartialMatch(it->second, *re);
    }
    case Op::kTag:
      return labels.count(value) > 0;
    case Op::kTagRegex:
      for (const auto& [k, v] : labels)
        if (re2::RE2::PartialMatch(k, *re))
          return true;
      return false;
    }
    return false;
  }
};

namespace {

using NodePtr = std::shared_ptr<const Constraints::Node>;
using Op = Constraints::Node::Op;

class Parser {
public:
  explicit Parser(std::string_view s) : s_(s) {}

  Result<NodePtr> parse() {
    auto n = parse_or();
    if (!n)
      return n;
    skip_ws();
    if (pos_ != s_.size())
      return fail("unexpected \"" + std::string(s_.substr(pos_, 10)) + "\"");
    return n;
  }

private:
  Result<NodePtr> parse_or() {
    auto left = parse_and();
    if (!left)
      return left;
    while (eat("||")) {
      auto right = parse_and();
      if (!right)
        return right;
      left = binary(Op::kOr, *left, *right);
    }
    return left;
  }
  Result<NodePtr> parse_and() {
    auto left = parse_unary();
    if (!left)
      return left;
    while (eat("&&")) {
      auto right = parse_unary();
      if (!right)
        return right;
      left = binary(Op::kAnd, *left, *right);
    }
    return left;
  }
  Result<NodePtr> parse_unary() {
    if (eat("!")) {
      auto inner = parse_unary();
      if (!inner)
        return inner;
      auto n = std::make_shared<Constraints::Node>();
      n->op = Op::kNot;
      n->a = *inner;
      return NodePtr(n);
    }
    if (eat("(")) {
      auto inner = parse_or();
      if (!inner)
        return inner;
      if (!eat(")"))
        return fail("missing \")\"");
      return inner;
    }
    skip_ws();
    size_t start = pos_;
    while (pos_ < s_.size() && std::isalpha(static_cast<unsigned char>(s_[pos_])))
      ++pos_;
    std::string name(s_.substr(start, pos_ - start));
    if (name.empty())
      return fail("expected Label, LabelRegex, Tag or TagRegex");
    if (!eat("("))
      return fail("expected \"(\" after " + name);
    std::vector<std::string> args;
    while (!eat(")")) {
      if (!args.empty() && !eat(","))
        return fail("expected \",\" or \")\"");
      auto arg = string_arg();
      if (!arg)
        return arg.error();
      args.push_back(std::move(*arg));
    }
    auto n = std::make_shared<Constraints::Node>();
    size_t want = 0;
    if (name == "Label")
      n->op = Op::kLabel, want = 2;
    else if (name == "LabelRegex")
      n->op = Op::kLabelRegex, want = 2;
    else if (name == "Tag")
      n->op = Op::kTag, want = 1;
    else if (name == "TagRegex")
      n->op = Op::kTagRegex, want = 1;
    else
      return fail("unknown constraint \"" + name + "\"");
    if (args.size() != want)
      return fail(name + " takes " + std::to_string(want) + " argument(s), got " +
                  std::to_string(args.size()));
    if (want == 2) {
      n->key = args[0];
      n->value = args[1];
    } else {
      n->value = args[0];
    }
    if (n->op == Op::kLabelRegex || n->op == Op::kTagRegex) {
      auto re = std::make_shared<re2::RE2>(n->value, re2::RE2::Quiet);
      if (!re->ok())
        return fail(name + ": invalid regular expression: " + re->error());
      n->re = std::move(re);
    }
    return NodePtr(n);
  }

  Result<std::string> string_arg() {
    skip_ws();
    if (pos_ >= s_.size() || (s_[pos_] != '`' && s_[pos_] != '"'))
      return fail("expected a quoted string");
    char q = s_[pos_++];
    size_t end = s_.find(q, pos_);
    if (end == std::string_view::npos)
      return fail("unterminated string");
    std::string out(s_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return Result<std::string>(boost::system::in_place_value, std::move(out));
  }

  static NodePtr binary(Op op, NodePtr a, NodePtr b) {
    auto n = std::make_shared<Constraints::Node>();
    n->op = op;
    n->a = std::move(a);
    n->b = std::move(b);
    return n;
  }
  void skip_ws() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_])))
      ++pos_;
  }
  bool eat(std::string_view tok) {
    skip_ws();
    if (s_.substr(pos_).starts_with(tok)) {
      pos_ += tok.size();
      return true;
    }
    return false;
  }
  Error fail(const std::string& msg) const {
    return make_error("constraints: " + msg + " at position " + std::to_string(pos_));
  }

  std::string_view s_;
  size_t pos_ = 0;
};

} // namespace

Result<Constraints> Constraints::parse(std::string_view expression) {
  Constraints c;
  if (trim(expression).empty())
    return c;
  auto root = Parser(expression).parse();
  if (!root)
    return root.error();
  c.root_ = *root;
  return c;
}

bool Constraints::matches(const std::map<std::string, std::string>& labels) const {
  return !root_ || root_->eval(labels);
}

} // namespace turnpike::provider
