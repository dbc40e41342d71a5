#pragma once
// A compiled router rule of Traefik's v3 rule language for HTTP (syntax: rule_syntax.h; matchers
// and their arguments: matcher.h and docs/routing.md). As in Traefik, negations are pushed down to
// the matchers at parse time (`!(A && B)` is `!A || !B`), and chains of the same operator are
// flattened, so a Rule is a tree of n-ary AND/OR nodes over possibly negated matchers.
//
// Threading: parse_rule runs on the control plane. A Rule is immutable once built and is shared
// (shared_ptr<const Rule>) by every worker; matches() never throws and is safe to call
// concurrently.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/container/small_vector.hpp>

#include "common/result.h"
#include "http/message.h"
#include "router/matcher.h"
#include "router/request_facts.h"
#include "router/rule_syntax.h"

namespace turnpike::router {

// The hosts a rule can match at all, derived from its structure: a request whose host is outside
// this set never matches the rule, whatever its other facts. Used by RouteTable to index rules.
struct HostConstraint {
  // True when the rule may match any host (some way of satisfying the rule needs no positive
  // Host, or uses Host(`*`)): the rule belongs to the catch-all list. The vectors are then empty.
  bool any_host = true;
  std::vector<std::string> exact;    // canonical hosts, sorted, unique
  std::vector<std::string> wildcard; // parent domains of `*.parent` patterns, sorted, unique
};

class Rule {
public:
  // One node of the rule tree. Children of a node are contiguous in nodes().
  using Node = RuleNode;

  // True when the request satisfies the rule.
  bool matches(const http::Request& request) const;
  // Same, sharing derived facts with other rules tried for the same request.
  bool matches(RequestFacts& facts) const;

  // Canonical text of the rule: canonical matcher names, negations on matchers, minimal
  // parentheses, backtick literals where possible. parse_rule(to_string()) succeeds and yields a
  // rule with the same to_string().
  std::string to_string() const;

  // Hosts the rule is limited to (see HostConstraint).
  const HostConstraint& host_constraint() const { return hosts_; }
  // The arguments of the non-negated Host matchers, lower-cased, in rule order, duplicates
  // removed ("*.example.com" kept as written). For TLS/ACME domain selection, like Traefik's
  // ParseDomains.
  std::vector<std::string> domains() const;

  std::span<const Node> nodes() const { return nodes_; } // nodes()[0] is the root
  std::span<const Matcher> matchers() const { return matchers_; }

private:
  friend class RuleBuilder;
  Rule() = default;


  // Inline storage for typical rules (a few matchers): evaluating one touches one allocation.
  boost::container::small_vector<Node, 5> nodes_;
  boost::container::small_vector<Matcher, 2> matchers_;
  HostConstraint hosts_;
};

// Parses and compiles a rule. Errors name the 1-based byte position of the offending token or
// argument: "rule position 17: PathPrefix value `css` must start with '/'". Parsing is linear in
// the text length; nesting deeper than kMaxRuleDepth is an error.
Result<std::shared_ptr<const Rule>> parse_rule(std::string_view text);

} // namespace turnpike::router
