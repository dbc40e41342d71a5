#include "middleware/predicate.h"

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <optional>

namespace turnpike::middleware {

// Recursive descent over the grammar
//   or   := and ('||' and)*
//   and  := not ('&&' not)*
//   not  := '!' not | cmp
//   cmp  := atom (('>'|'>='|'<'|'<='|'=='|'!=') atom)?
//   atom := '(' or ')' | number | name '(' [number (',' number)*] ')'
// tracking whether each subexpression is boolean so that type errors are reported at parse time.
class Predicate::Parser {
public:
  Parser(std::string_view text, std::span<const Function> functions, Predicate& out)
      : s_(text), functions_(functions), out_(out) {}

  Result<int> run() {
    auto root = parse_or();
    if (!root)
      return root;
    skip();
    if (pos_ != s_.size())
      return error("unexpected \"" + std::string(s_.substr(pos_)) + "\"");
    if (!boolean_.at(static_cast<size_t>(*root)))
      return error("the expression is not a condition");
    return root;
  }

private:
  Result<int> error(std::string message) const {
    return make_error(message + " (at offset " + std::to_string(pos_) + ")");
  }
  void skip() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_])))
      ++pos_;
  }
  bool eat(std::string_view token) {
    skip();
    if (s_.substr(pos_, token.size()) != token)
      return false;
    pos_ += token.size();
    return true;
  }
  int add(Node n, bool boolean) {
    out_.nodes_.push_back(std::move(n));
    boolean_.push_back(boolean);
    return static_cast<int>(out_.nodes_.size() - 1);
  }
  bool is_bool(int n) const { return boolean_.at(static_cast<size_t>(n)); }

  Result<int> logical(Op op, std::string_view token, Result<int> (Parser::*sub)()) {
    auto left = (this->*sub)();
    if (!left)
      return left;
    while (eat(token)) {
      auto right = (this->*sub)();
      if (!right)
        return right;
      if (!is_bool(*left) || !is_bool(*right))
        return error("the operands of " + std::string(token) + " must be conditions");
      Node n;
      n.op = op;
      n.left = *left;
      n.right = *right;
      left = add(std::move(n), true);
    }
    return left;
  }
  Result<int> parse_or() { return logical(Op::kOr, "||", &Parser::parse_and); }
  Result<int> parse_and() { return logical(Op::kAnd, "&&", &Parser::parse_not); }

  Result<int> parse_not() {
    skip();
    if (pos_ < s_.size() && s_[pos_] == '!' && s_.substr(pos_, 2) != "!=") {
      ++pos_;
      auto operand = parse_not();
      if (!operand)
        return operand;
      if (!is_bool(*operand))
        return error("the operand of ! must be a condition");
      Node n;
      n.op = Op::kNot;
      n.left = *operand;
      return add(std::move(n), true);
    }
    return parse_cmp();
  }

  Result<int> parse_cmp() {
    auto left = parse_atom();
    if (!left)
      return left;
    static constexpr std::pair<std::string_view, Op> kOps[] = {{">=", Op::kGe}, {"<=", Op::kLe},
                                                               {"==", Op::kEq}, {"!=", Op::kNe},
                                                               {">", Op::kGt},  {"<", Op::kLt}};
    for (const auto& [token, op] : kOps) {
      if (!eat(token))
        continue;
      auto right = parse_atom();
      if (!right)
        return right;
      if (is_bool(*left) || is_bool(*right))
        return error("the operands of " + std::string(token) + " must be numbers");
      Node n;
      n.op = op;
      n.left = *left;
      n.right = *right;
      return add(std::move(n), true);
    }
    return left;
  }

  std::optional<double> number() {
    skip();
    const char* begin = s_.data() + pos_;
    const char* end = s_.data() + s_.size();
    double v = 0;
    auto [p, ec] = std::from_chars(begin, end, v);
    if (ec != std::errc() || p == begin)
      return std::nullopt;
    pos_ += static_cast<size_t>(p - begin);
    return v;
  }

  // `text` or "text" (no escapes, as Go's raw strings).
  std::optional<std::string> text() {
    skip();
    if (pos_ >= s_.size() || (s_[pos_] != '`' && s_[pos_] != '"'))
      return std::nullopt;
    const char quote = s_[pos_];
    const size_t end = s_.find(quote, pos_ + 1);
    if (end == std::string_view::npos)
      return std::nullopt;
    std::string out(s_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return out;
  }

  Result<int> parse_atom() {
    skip();
    if (eat("(")) {
      auto inner = parse_or();
      if (!inner)
        return inner;
      if (!eat(")"))
        return error("missing )");
      return inner;
    }
    if (auto v = number()) {
      Node n;
      n.number = *v;
      return add(std::move(n), false);
    }
    const size_t start = pos_;
    while (pos_ < s_.size() &&
           (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_'))
      ++pos_;
    const std::string_view name = s_.substr(start, pos_ - start);
    if (name.empty())
      return error("expected a function call or a number");
    size_t index = 0;
    while (index < functions_.size() && functions_[index].name != name)
      ++index;
    if (index == functions_.size())
      return error("unknown function " + std::string(name));
    if (!eat("("))
      return error("expected ( after " + std::string(name));
    Node n;
    n.op = Op::kCall;
    n.function = index;
    const auto& f = functions_[index];
    if (!eat(")")) {
      for (;;) {
        Arg arg;
        if (f.text_args) {
          auto t = text();
          if (!t)
            return error("the arguments of " + std::string(name) + " must be strings");
          arg.text = std::move(*t);
        } else {
          auto v = number();
          if (!v)
            return error("the arguments of " + std::string(name) + " must be numbers");
          arg.number = *v;
        }
        n.args.push_back(std::move(arg));
        if (eat(")"))
          break;
        if (!eat(","))
          return error("expected , or ) in the arguments of " + std::string(name));
      }
    }
    if (f.arity >= 0 ? static_cast<int>(n.args.size()) != f.arity : n.args.empty())
      return error(std::string(name) + " takes " +
                   (f.arity >= 0 ? std::to_string(f.arity) : std::string("at least 1")) +
                   " argument(s)");
    return add(std::move(n), f.boolean);
  }

  std::string_view s_;
  std::span<const Function> functions_;
  Predicate& out_;
  std::vector<bool> boolean_;
  size_t pos_ = 0;
};

Result<Predicate> Predicate::parse(std::string_view text, std::span<const Function> functions) {
  Predicate p;
  Parser parser(text, functions, p);
  auto root = parser.run();
  if (!root)
    return root.error();
  p.root_ = *root;
  return p;
}

double Predicate::value(int index, const Resolve& resolve) const {
  const Node& n = nodes_[static_cast<size_t>(index)];
  switch (n.op) {
  case Op::kNumber:
    return n.number;
  case Op::kCall:
    return resolve(n.function, n.args);
  case Op::kNot:
    return value(n.left, resolve) != 0 ? 0 : 1;
  case Op::kAnd:
    return value(n.left, resolve) != 0 && value(n.right, resolve) != 0;
  case Op::kOr:
    return value(n.left, resolve) != 0 || value(n.right, resolve) != 0;
  case Op::kGt:
    return value(n.left, resolve) > value(n.right, resolve);
  case Op::kGe:
    return value(n.left, resolve) >= value(n.right, resolve);
  case Op::kLt:
    return value(n.left, resolve) < value(n.right, resolve);
  case Op::kLe:
    return value(n.left, resolve) <= value(n.right, resolve);
  case Op::kEq:
    return value(n.left, resolve) == value(n.right, resolve);
  case Op::kNe:
    return value(n.left, resolve) != value(n.right, resolve);
  }
  return 0;
}

bool Predicate::eval(const Resolve& resolve) const {
  return value(root_, resolve) != 0;
}

bool Predicate::uses(size_t index) const {
  for (const auto& n : nodes_)
    if (n.op == Op::kCall && n.function == index)
      return true;
  return false;
}

} // namespace turnpike::middleware
