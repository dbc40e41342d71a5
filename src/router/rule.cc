#include "router/rule.h"

#include <algorithm>

#include "common/strings.h"

namespace turnpike::router {

bool Rule::matches(const http::Request& request) const {
  RequestFacts facts(request);
  return matches(facts);
}

bool Rule::matches(RequestFacts& facts) const {
  return eval_rule_tree(nodes_, 0, [&](uint32_t m) { return matchers_[m].matches(facts); });
}

std::string Rule::to_string() const {
  std::string out;
  print_rule_tree(
      nodes_, 0, false, out, [&](uint32_t m) { return matchers_[m].name(); },
      [&](uint32_t m) -> const std::vector<std::string>& { return matchers_[m].args(); });
  return out;
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
