#include "router/rule.h"

#include <algorithm>

#include "common/strings.h"
#include "router/go_literal.h"

namespace turnpike::router {

bool Rule::matches(const http::Request& request) const {
  RequestFacts facts(request);
  return eval(0, facts);
}

bool Rule::matches(RequestFacts& facts) const {
  return eval(0, facts);
}

bool Rule::eval(uint32_t index, RequestFacts& facts) const {
  const Node& node = nodes_[index];
  switch (node.kind) {
  case Node::Kind::kMatcher:
    return matchers_[node.matcher].matches(facts) != node.negated;
  case Node::Kind::kAnd:
    for (uint32_t i = 0; i < node.child_count; ++i)
      if (!eval(node.first_child + i, facts))
        return false;
    return true;
  case Node::Kind::kOr:
    for (uint32_t i = 0; i < node.child_count; ++i)
      if (eval(node.first_child + i, facts))
        return true;
    return false;
  }
  return false;
}

std::string Rule::to_string() const {
  std::string out;
  print(0, false, out);
  return out;
}

void Rule::print(uint32_t index, bool parenthesise_or, std::string& out) const {
  const Node& node = nodes_[index];
  if (node.kind == Node::Kind::kMatcher) {
    const Matcher& m = matchers_[node.matcher];
    if (node.negated)
      out.push_back('!');
    out.append(m.name());
    out.push_back('(');
    for (size_t i = 0; i < m.args().size(); ++i) {
      if (i > 0)
        out.append(", ");
      append_go_literal(m.args()[i], out);
    }
    out.push_back(')');
    return;
  }
  bool is_or = node.kind == Node::Kind::kOr;
  bool wrap = is_or && parenthesise_or; // && binds tighter: an OR under an AND needs parentheses
  if (wrap)
    out.push_back('(');
  for (uint32_t i = 0; i < node.child_count; ++i) {
    if (i > 0)
      out.append(is_or ? " || " : " && ");
    print(node.first_child + i, !is_or, out);
  }
  if (wrap)
    out.push_back(')');
}

std::vector<std::string> Rule::domains() const {
  std::vector<std::string> out;
  // Nodes are laid out parent-before-children with siblings contiguous; walk them in rule order.
  std::vector<uint32_t> stack{0};
  while (!stack.empty()) {
    const Node& node = nodes_[stack.back()];
    stack.pop_back();
    if (node.kind != Node::Kind::kMatcher) {
      for (uint32_t i = node.child_count; i > 0; --i)
        stack.push_back(node.first_child + i - 1);
      continue;
    }
    const Matcher& m = matchers_[node.matcher];
    if (node.negated || m.kind() != MatcherKind::kHost)
      continue;
    std::string domain = to_lower(m.args()[0]);
    if (std::find(out.begin(), out.end(), domain) == out.end())
      out.push_back(std::move(domain));
  }
  return out;
}

} // namespace turnpike::router
