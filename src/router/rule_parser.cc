// Rule text -> HTTP Rule: the shared parser (rule_syntax.h) over the HTTP matchers, then host
// analysis for the route table's index.

#include <algorithm>

#include "router/rule.h"

namespace turnpike::router {

namespace {

// The HTTP matchers as a MatcherLanguage: the parser hands it each call, it keeps the matchers.
class HttpMatchers final : public MatcherLanguage {
public:
  std::optional<std::string> check_name(std::string_view name) const override {
    if (find_matcher(name))
      return std::nullopt;
    std::string message = "unknown matcher \"" + std::string(name) + "\"";
    if (auto hint = matcher_case_hint(name); !hint.empty())
      message += " (did you mean " + std::string(hint) + "?)";
    return message;
  }
  Result<uint32_t> add_matcher(std::string_view name, std::vector<std::string> args,
                               size_t* bad_arg) override {
    auto matcher = make_matcher(*find_matcher(name), std::move(args), bad_arg);
    if (!matcher)
      return matcher.error();
    matchers.push_back(std::move(*matcher));
    return static_cast<uint32_t>(matchers.size() - 1);
  }

  std::vector<Matcher> matchers;
};

} // namespace

// Builds a Rule from text; one instance per parse_rule call.
class RuleBuilder {
public:
  explicit RuleBuilder(std::string_view text) : text_(text) {}

  Result<std::shared_ptr<const Rule>> build() {
    HttpMatchers language;
    auto nodes = parse_rule_tree(text_, language);
    if (!nodes)
      return nodes.error();
    std::shared_ptr<Rule> rule(new Rule());
    rule->matchers_.assign(std::make_move_iterator(language.matchers.begin()),
                           std::make_move_iterator(language.matchers.end()));
    rule->nodes_.assign(nodes->begin(), nodes->end());
    rule->hosts_ = analyse_hosts(*rule, 0);
    normalise(rule->hosts_);
    return std::shared_ptr<const Rule>(std::move(rule));
  }

private:
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
};

Result<std::shared_ptr<const Rule>> parse_rule(std::string_view text) {
  return RuleBuilder(text).build();
}

} // namespace turnpike::router
