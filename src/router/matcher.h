#pragma once
// The HTTP matchers of the rule language (Traefik v3 syntax). Each matcher is one row of the
// registration table in matcher.cc (name, argument counts) plus one case in make_matcher (argument
// validation) and one in Matcher::matches (evaluation); adding a matcher touches only those.
//
// A Matcher is built on the control plane by the rule parser and is immutable afterwards: Rules
// that own it are shared read-only by every worker (RE2 matching is thread-safe). matches() runs
// on the request path: it never throws and allocates only what RequestFacts caches.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ipnet.h"
#include "common/result.h"
#include "router/inline_string.h"
#include "router/request_facts.h"

namespace re2 {
class RE2;
}

namespace turnpike::router {

enum class MatcherKind : uint8_t {
  kHost,
  kHostRegexp,
  kPath,
  kPathPrefix,
  kPathRegexp,
  kMethod,
  kHeader,
  kHeaderRegexp,
  kQuery,
  kQueryRegexp,
  kClientIP,
};

struct MatcherSpec {
  std::string_view name; // canonical spelling ("PathPrefix")
  MatcherKind kind;
  size_t min_args;
  size_t max_args;
};

// Finds a matcher by name. Like Traefik, four spellings are accepted: canonical (`PathPrefix`),
// lower (`pathprefix`), upper (`PATHPREFIX`) and capitalised lower (`Pathprefix`). nullptr when
// the name is unknown or spelt otherwise (`pathPrefix`).
const MatcherSpec* find_matcher(std::string_view name);
// The canonical spelling of the matcher that `name` would be in another case, or empty.
std::string_view matcher_case_hint(std::string_view name);

// Helpers shared with the TCP matchers (tcp_rule.h):
// True when `name` (case-insensitively equal to `canonical`) uses one of the four spellings
// Traefik registers: canonical, lower, UPPER, Capitalised-lower.
bool accepted_spelling(std::string_view name, std::string_view canonical);
bool is_ascii(std::string_view s);
// Compiles a matcher's RE2 regular expression; the error names the matcher and the pattern.
Result<std::unique_ptr<const re2::RE2>> compile_regex(std::string_view matcher,
                                                      const std::string& pattern);

// What one Host() argument matches, compared with a canonical host (see canonical_host).
// A view: valid as long as the Matcher it comes from.
struct HostPattern {
  enum class Kind : uint8_t {
    kExact,    // host == name
    kWildcard, // `*.name`: exactly one non-empty label, then "." name
    kAny,      // `*`: every host, including an empty one
  };
  Kind kind = Kind::kExact;
  std::string_view name; // kExact: the canonical host; kWildcard: the parent domain; kAny: empty

  bool matches(std::string_view host) const;
};

// The parent domain of a canonical host for wildcard lookups: "b.example.com" for
// "a.b.example.com"; empty when the host has no dot or an empty first label.
std::string_view wildcard_parent(std::string_view host);

class Matcher {
public:
  Matcher(Matcher&&) noexcept;
  Matcher& operator=(Matcher&&) noexcept;
  ~Matcher();

  MatcherKind kind() const { return kind_; }
  std::string_view name() const; // canonical spelling
  // The arguments as written in the rule (string literals decoded), for printing.
  const std::vector<std::string>& args() const { return args_; }
  // For Host matchers: the host pattern; nullopt otherwise.
  std::optional<HostPattern> host_pattern() const {
    if (kind_ != MatcherKind::kHost)
      return std::nullopt;
    return HostPattern{host_kind_, value_.view()};
  }

  bool matches(RequestFacts& facts) const;

private:
  friend Result<Matcher> make_matcher(const MatcherSpec& spec, std::vector<std::string> args,
                                      size_t* bad_arg);
  Matcher() = default;

  // What evaluation reads first shares one cache line: kind and compared value.
  MatcherKind kind_ = MatcherKind::kHost;
  HostPattern::Kind host_kind_ = HostPattern::Kind::kExact; // Host
  // Host: HostPattern::name; Path*/Method/Header/Query: the value compared.
  InlineString value_;
  std::string key_;                       // Header*/Query*: field name / query key
  std::unique_ptr<const re2::RE2> regex_; // *Regexp (QueryRegexp with one argument: none)
  std::unique_ptr<const IpNet> net_;      // ClientIP
  std::vector<std::string> args_;         // for printing
};

// Validates the arguments of matcher `spec` and builds it. On failure the error says what is wrong
// (without a position) and, when one argument is at fault, *bad_arg is set to its index (otherwise
// it is left unchanged).
Result<Matcher> make_matcher(const MatcherSpec& spec, std::vector<std::string> args,
                             size_t* bad_arg);

} // namespace turnpike::router
