#include "router/matcher.h"

#include <array>

#include <re2/re2.h>

#include "common/strings.h"
#include "router/hex.h"

namespace turnpike::router {

namespace {

// The registration list: one row per matcher.
constexpr std::array<MatcherSpec, 11> kMatcherSpecs{{
    {"Host", MatcherKind::kHost, 1, 1},
    {"HostRegexp", MatcherKind::kHostRegexp, 1, 1},
    {"Path", MatcherKind::kPath, 1, 1},
    {"PathPrefix", MatcherKind::kPathPrefix, 1, 1},
    {"PathRegexp", MatcherKind::kPathRegexp, 1, 1},
    {"Method", MatcherKind::kMethod, 1, 1},
    {"Header", MatcherKind::kHeader, 2, 2},
    {"HeaderRegexp", MatcherKind::kHeaderRegexp, 2, 2},
    {"Query", MatcherKind::kQuery, 1, 2},
    {"QueryRegexp", MatcherKind::kQueryRegexp, 1, 2},
    {"ClientIP", MatcherKind::kClientIP, 1, 1},
}};

std::string quoted(std::string_view s) {
  return "`" + std::string(s) + "`";
}

bool is_upper(char c) {
  return c >= 'A' && c <= 'Z';
}
bool is_lower(char c) {
  return c >= 'a' && c <= 'z';
}

// The kind and name (see HostPattern) of a Host() argument.
Result<std::pair<HostPattern::Kind, std::string>> parse_host_pattern(const std::string& arg) {
  if (!is_ascii(arg))
    return make_error("invalid Host value " + quoted(arg) +
                      ": non-ASCII characters are not allowed (use the punycode form)");
  std::string host = canonical_host(arg);
  if (host == "*")
    return std::pair(HostPattern::Kind::kAny, std::string());
  if (host.empty())
    return make_error("invalid Host value " + quoted(arg) + ": empty host");
  if (host.starts_with("**."))
    return make_error("invalid Host value " + quoted(arg) +
                      ": double wildcards are not supported, use HostRegexp");
  if (host.starts_with("*.")) {
    std::string parent = host.substr(2);
    if (parent.empty() || parent.find('*') != std::string::npos)
      return make_error("invalid Host value " + quoted(arg) +
                        ": '*' is only allowed as the whole first label (`*.example.com`)");
    return std::pair(HostPattern::Kind::kWildcard, std::move(parent));
  }
  if (host.find('*') != std::string::npos)
    return make_error("invalid Host value " + quoted(arg) +
                      ": '*' is only allowed as the whole first label (`*.example.com`)");
  return std::pair(HostPattern::Kind::kExact, std::move(host));
}

// Upper-cases the hex digits of %XX escapes so that a rule compares like the normalised request
// path, whose kept escapes are upper case.
std::string upper_escapes(std::string_view path) {
  std::string out(path);
  for (size_t i = 0; i + 2 < out.size(); ++i) {
    int hi = out[i] == '%' ? hex_digit(out[i + 1]) : -1;
    int lo = hi >= 0 ? hex_digit(out[i + 2]) : -1;
    if (lo < 0)
      continue;
    out[i + 1] = kUpperHex[hi];
    out[i + 2] = kUpperHex[lo];
    i += 2;
  }
  return out;
}

// Go's net/http keeps Host out of Request.Header, so Traefik's Header/HeaderRegexp never see it.
bool is_host_field(std::string_view name) {
  return iequals(name, "host");
}

bool any_header(const http::HeaderMap& headers, std::string_view name, auto&& pred) {
  for (const auto& h : headers)
    if (iequals(h.name, name) && pred(h.value))
      return true;
  return false;
}

bool any_query_value(const std::vector<QueryParam>& params, std::string_view key, auto&& pred) {
  for (const auto& p : params)
    if (p.key == key && pred(p.value))
      return true;
  return false;
}

} // namespace

bool accepted_spelling(std::string_view name, std::string_view canonical) {
  if (name == canonical)
    return true;
  bool all_lower = true, all_upper = true, tail_lower = true;
  for (size_t i = 0; i < name.size(); ++i) {
    if (is_upper(name[i]))
      all_lower = false;
    if (is_lower(name[i]))
      all_upper = false;
    if (i > 0 && is_upper(name[i]))
      tail_lower = false;
  }
  return all_lower || all_upper || tail_lower;
}

bool is_ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80)
      return false;
  return true;
}

Result<std::unique_ptr<const re2::RE2>> compile_regex(std::string_view matcher,
                                                      const std::string& pattern) {
  re2::RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_unique<const re2::RE2>(pattern, options);
  if (!re->ok())
    return make_error("invalid " + std::string(matcher) + " regular expression " + quoted(pattern) +
                      ": " + re->error());
  return std::unique_ptr<const re2::RE2>(std::move(re));
}

const MatcherSpec* find_matcher(std::string_view name) {
  for (const auto& spec : kMatcherSpecs)
    if (iequals(name, spec.name) && accepted_spelling(name, spec.name))
      return &spec;
  return nullptr;
}

std::string_view Matcher::name() const {
  for (const auto& spec : kMatcherSpecs)
    if (spec.kind == kind_)
      return spec.name;
  return {};
}

std::string_view matcher_case_hint(std::string_view name) {
  for (const auto& spec : kMatcherSpecs)
    if (iequals(name, spec.name))
      return spec.name;
  return {};
}

bool HostPattern::matches(std::string_view host) const {
  switch (kind) {
  case Kind::kExact:
    return host == name;
  case Kind::kWildcard:
    return wildcard_parent(host) == name;
  case Kind::kAny:
    return true;
  }
  return false;
}

std::string_view wildcard_parent(std::string_view host) {
  auto dot = host.find('.');
  if (dot == std::string_view::npos || dot == 0)
    return {};
  return host.substr(dot + 1);
}

Matcher::Matcher(Matcher&&) noexcept = default;
Matcher& Matcher::operator=(Matcher&&) noexcept = default;
Matcher::~Matcher() = default;

Result<Matcher> make_matcher(const MatcherSpec& spec, std::vector<std::string> args,
                             size_t* bad_arg) {
  if (args.size() < spec.min_args || args.size() > spec.max_args) {
    std::string expected = spec.min_args == spec.max_args ? std::to_string(spec.min_args)
                                                          : std::to_string(spec.min_args) + " or " +
                                                                std::to_string(spec.max_args);
    return make_error(std::string(spec.name) + " takes " + expected + " argument" +
                      (spec.max_args == 1 ? "" : "s") + ", got " + std::to_string(args.size()));
  }
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].empty()) {
      *bad_arg = i;
      return make_error("empty argument for " + std::string(spec.name));
    }
  }

  Matcher m;
  m.kind_ = spec.kind;
  // Errors below concern the last argument unless said otherwise.
  *bad_arg = args.size() - 1;
  switch (spec.kind) {
  case MatcherKind::kHost: {
    auto pattern = parse_host_pattern(args[0]);
    if (!pattern)
      return pattern.error();
    m.host_kind_ = pattern->first;
    m.value_ = InlineString(pattern->second);
    break;
  }
  case MatcherKind::kHostRegexp: {
    if (!is_ascii(args[0]))
      return make_error("invalid HostRegexp value " + quoted(args[0]) +
                        ": non-ASCII characters are not allowed (use the punycode form)");
    auto re = compile_regex(spec.name, args[0]);
    if (!re)
      return re.error();
    m.regex_ = std::move(*re);
    break;
  }
  case MatcherKind::kPath:
  case MatcherKind::kPathPrefix:
    if (args[0].front() != '/')
      return make_error(std::string(spec.name) + " value " + quoted(args[0]) +
                        " must start with '/'");
    m.value_ = InlineString(upper_escapes(args[0]));
    break;
  case MatcherKind::kPathRegexp:
  case MatcherKind::kHeaderRegexp: {
    auto re = compile_regex(spec.name, args.back());
    if (!re)
      return re.error();
    m.regex_ = std::move(*re);
    if (spec.kind == MatcherKind::kHeaderRegexp)
      m.key_ = args[0];
    break;
  }
  case MatcherKind::kMethod: {
    std::string method = args[0];
    for (auto& c : method)
      if (is_lower(c))
        c = static_cast<char>(c - 32);
    m.value_ = InlineString(method);
    break;
  }
  case MatcherKind::kHeader:
  case MatcherKind::kQuery:
    m.key_ = args[0];
    if (args.size() == 2)
      m.value_ = InlineString(args[1]); // Query(`k`): any value equal to ""
    break;
  case MatcherKind::kQueryRegexp:
    m.key_ = args[0];
    if (args.size() == 2) { // one argument: same as Query(`k`)
      auto re = compile_regex(spec.name, args[1]);
      if (!re)
        return re.error();
      m.regex_ = std::move(*re);
    }
    break;
  case MatcherKind::kClientIP: {
    auto net = IpNet::parse(args[0]);
    if (!net)
      return make_error("invalid ClientIP value " + quoted(args[0]) +
                        ": not an IP address or CIDR range");
    m.net_ = std::make_unique<const IpNet>(std::move(*net));
    break;
  }
  }
  m.args_ = std::move(args);
  return m;
}

bool Matcher::matches(RequestFacts& facts) const {
  const http::Request& req = facts.request();
  std::string_view value = value_.view();
  switch (kind_) {
  case MatcherKind::kHost:
    return HostPattern{host_kind_, value}.matches(facts.host());
  case MatcherKind::kHostRegexp:
    return re2::RE2::PartialMatch(facts.host(), *regex_);
  case MatcherKind::kPath:
    return facts.routing_path() == value;
  case MatcherKind::kPathPrefix:
    return facts.routing_path().starts_with(value);
  case MatcherKind::kPathRegexp:
    return re2::RE2::PartialMatch(facts.routing_path(), *regex_);
  case MatcherKind::kMethod:
    return req.method == value;
  case MatcherKind::kHeader:
    return !is_host_field(key_) &&
           any_header(req.headers, key_, [&](std::string_view v) { return v == value; });
  case MatcherKind::kHeaderRegexp:
    return !is_host_field(key_) && any_header(req.headers, key_, [&](std::string_view v) {
      return re2::RE2::PartialMatch(v, *regex_);
    });
  case MatcherKind::kQuery:
    return any_query_value(facts.query(), key_, [&](const std::string& v) { return v == value; });
  case MatcherKind::kQueryRegexp:
    return any_query_value(facts.query(), key_, [&](const std::string& v) {
      return regex_ ? re2::RE2::PartialMatch(v, *regex_) : v.empty();
    });
  case MatcherKind::kClientIP:
    return net_->contains(req.client_addr);
  }
  return false;
}

} // namespace turnpike::router
