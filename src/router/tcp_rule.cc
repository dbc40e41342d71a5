#include "router/tcp_rule.h"

#include <algorithm>
#include <array>

#include <re2/re2.h>

#include "common/strings.h"

namespace turnpike::router {

namespace {

struct TcpMatcherSpec {
  std::string_view name;
  TcpMatcherKind kind;
};

// The registration list: one row per TCP matcher.
constexpr std::array<TcpMatcherSpec, 4> kTcpMatchers{{
    {"ALPN", TcpMatcherKind::kALPN},
    {"ClientIP", TcpMatcherKind::kClientIP},
    {"HostSNI", TcpMatcherKind::kHostSNI},
    {"HostSNIRegexp", TcpMatcherKind::kHostSNIRegexp},
}};

const TcpMatcherSpec* find_tcp_matcher(std::string_view name) {
  for (const auto& spec : kTcpMatchers)
    if (iequals(name, spec.name) && accepted_spelling(name, spec.name))
      return &spec;
  return nullptr;
}

// Traefik's almostFQDN: letters, digits, dots and dashes.
bool almost_fqdn(std::string_view host) {
  if (host.empty())
    return false;
  for (char c : host) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-';
    if (!ok)
      return false;
  }
  return true;
}

Result<std::pair<HostPattern::Kind, std::string>> parse_sni_pattern(const std::string& arg) {
  if (arg == "*")
    return std::pair(HostPattern::Kind::kAny, std::string());
  auto invalid = [&] {
    return make_error("invalid value for HostSNI matcher, `" + arg + "` is not a valid hostname");
  };
  std::string host = to_lower(arg);
  if (host.ends_with('.'))
    host.pop_back(); // an FQDN written with its root dot; SNI never carries one
  if (host.starts_with("*.")) {
    std::string parent = host.substr(2);
    if (!almost_fqdn(parent))
      return invalid();
    return std::pair(HostPattern::Kind::kWildcard, std::move(parent));
  }
  if (!almost_fqdn(host))
    return invalid();
  return std::pair(HostPattern::Kind::kExact, std::move(host));
}

} // namespace

// The TCP matchers as a MatcherLanguage for the shared parser; keeps the matchers it builds.
class TcpMatchers final : public MatcherLanguage {
public:
  std::optional<std::string> check_name(std::string_view name) const override {
    if (find_tcp_matcher(name))
      return std::nullopt;
    std::string message = "unknown TCP matcher \"" + std::string(name) + "\"";
    for (const auto& spec : kTcpMatchers)
      if (iequals(name, spec.name))
        message += " (did you mean " + std::string(spec.name) + "?)";
    return message;
  }

  Result<uint32_t> add_matcher(std::string_view name, std::vector<std::string> args,
                               size_t* bad_arg) override {
    const TcpMatcherSpec& spec = *find_tcp_matcher(name);
    if (args.size() != 1)
      return make_error(std::string(spec.name) + " takes 1 argument, got " +
                        std::to_string(args.size()));
    *bad_arg = 0;
    const std::string& arg = args[0];
    if (arg.empty())
      return make_error("empty argument for " + std::string(spec.name));
    TcpMatcher m;
    m.kind_ = spec.kind;
    switch (spec.kind) {
    case TcpMatcherKind::kHostSNI: {
      auto pattern = parse_sni_pattern(arg);
      if (!pattern)
        return pattern.error();
      m.host_kind_ = pattern->first;
      m.value_ = std::move(pattern->second);
      break;
    }
    case TcpMatcherKind::kHostSNIRegexp: {
      if (!is_ascii(arg))
        return make_error("invalid value for HostSNIRegexp matcher, `" + arg +
                          "` is not a valid hostname");
      auto re = compile_regex(spec.name, arg);
      if (!re)
        return re.error();
      m.regex_ = std::move(*re);
      break;
    }
    case TcpMatcherKind::kClientIP: {
      auto net = IpNet::parse(arg);
      if (!net)
        return make_error("invalid ClientIP value `" + arg + "`: not an IP address or CIDR range");
      m.net_ = std::make_unique<const IpNet>(std::move(*net));
      break;
    }
    case TcpMatcherKind::kALPN:
      // The TLS-ALPN-01 challenge protocol belongs to the ACME resolver.
      if (arg == "acme-tls/1")
        return make_error("invalid protocol value for ALPN matcher, \"acme-tls/1\" is not allowed");
      m.value_ = arg;
      break;
    }
    m.args_ = std::move(args);
    matchers.push_back(std::move(m));
    return static_cast<uint32_t>(matchers.size() - 1);
  }

  std::vector<TcpMatcher> matchers;
};

TcpMatcher::TcpMatcher(TcpMatcher&&) noexcept = default;
TcpMatcher& TcpMatcher::operator=(TcpMatcher&&) noexcept = default;
TcpMatcher::~TcpMatcher() = default;

std::string_view TcpMatcher::name() const {
  for (const auto& spec : kTcpMatchers)
    if (spec.kind == kind_)
      return spec.name;
  return {};
}

std::optional<HostPattern> TcpMatcher::host_pattern() const {
  if (kind_ != TcpMatcherKind::kHostSNI)
    return std::nullopt;
  return HostPattern{host_kind_, value_};
}

bool TcpMatcher::matches(const ConnectionFacts& facts) const {
  switch (kind_) {
  case TcpMatcherKind::kHostSNI:
    if (host_kind_ == HostPattern::Kind::kAny)
      return true;
    return !facts.server_name.empty() && HostPattern{host_kind_, value_}.matches(facts.server_name);
  case TcpMatcherKind::kHostSNIRegexp:
    return re2::RE2::PartialMatch(facts.server_name, *regex_);
  case TcpMatcherKind::kClientIP:
    return net_->contains(facts.client_ip);
  case TcpMatcherKind::kALPN:
    return std::find(facts.alpn.begin(), facts.alpn.end(), value_) != facts.alpn.end();
  }
  return false;
}

bool TcpRule::matches(const ConnectionFacts& facts) const {
  return eval_rule_tree(nodes_, 0, [&](uint32_t m) { return matchers_[m].matches(facts); });
}

std::string TcpRule::to_string() const {
  std::string out;
  print_rule_tree(
      nodes_, 0, false, out, [&](uint32_t m) { return matchers_[m].name(); },
      [&](uint32_t m) -> const std::vector<std::string>& { return matchers_[m].args(); });
  return out;
}

bool TcpRule::catch_all() const {
  if (nodes_.size() != 1 || nodes_[0].negated)
    return false;
  auto pattern = matchers_[nodes_[0].matcher].host_pattern();
  return pattern && pattern->kind == HostPattern::Kind::kAny;
}

std::vector<std::string> TcpRule::sni_domains() const {
  std::vector<std::string> out;
  for (const auto& m : matchers_)
    if (m.kind() == TcpMatcherKind::kHostSNI && m.args()[0] != "*")
      out.push_back(to_lower(m.args()[0]));
  return out;
}

Result<std::shared_ptr<const TcpRule>> parse_tcp_rule(std::string_view text) {
  TcpMatchers language;
  auto nodes = parse_rule_tree(text, language);
  if (!nodes)
    return nodes.error();
  std::shared_ptr<TcpRule> rule(new TcpRule());
  rule->nodes_ = std::move(*nodes);
  rule->matchers_ = std::move(language.matchers);
  return std::shared_ptr<const TcpRule>(std::move(rule));
}

int64_t tcp_route_priority(int64_t configured, std::string_view rule_text, const TcpRule& rule) {
  if (configured != 0)
    return configured;
  // Traefik: the catch-all comes after every rule whose priority was computed.
  return rule.catch_all() ? -1 : static_cast<int64_t>(rule_text.size());
}

TcpRouteTable TcpRouteTable::build(std::vector<TcpRoute> routes) {
  TcpRouteTable table;
  table.routes_ = std::move(routes);
  std::stable_sort(table.routes_.begin(), table.routes_.end(),
                   [](const TcpRoute& a, const TcpRoute& b) {
                     if (a.priority != b.priority)
                       return a.priority > b.priority;
                     return a.name < b.name;
                   });
  return table;
}

const TcpRoute* TcpRouteTable::match(const ConnectionFacts& facts) const {
  for (const auto& route : routes_)
    if (route.rule->matches(facts))
      return &route;
  return nullptr;
}

} // namespace turnpike::router
