// Fuzz target for the router rule language (src/router/rule.h).
//
// Properties checked on every input:
//   - parsing never crashes, hangs or throws; a rejected rule's error names a position;
//   - an accepted rule prints (Rule::to_string) to text that parses again, prints identically,
//     and matches the same probe requests as the original;
//   - the host analysis is sound: a rule that matches a request whose host lies outside
//     host_constraint() would be missed by the route table's index;
//   - the same text as a TCP rule (router/tcp_rule.h, same parser): never crashes, and an
//     accepted one prints to text that parses again, prints identically and matches the same
//     probe connections.
// Under clang: clang++ -fsanitize=fuzzer,address ... links libFuzzer. Under g++ the committed
// corpus (tests/fuzz/rule_parser/) is replayed by tests/unit/router/rule_parser_corpus_test.cc.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "common/ipnet.h"
#include "router/matcher.h"
#include "router/rule.h"
#include "router/tcp_rule.h"

namespace {

namespace router = turnpike::router;

[[noreturn]] void violated(const char* property, std::string_view rule, std::string_view detail) {
  std::fprintf(stderr, "rule_parser_fuzz: %s\n  rule: %.*s\n  %.*s\n", property,
               static_cast<int>(rule.size()), rule.data(), static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

const std::vector<turnpike::http::Request>& probes() {
  static const std::vector<turnpike::http::Request> requests = [] {
    struct Probe {
      const char* host;
      const char* method;
      const char* path;
      const char* query;
      const char* header;
      const char* client;
    };
    const Probe table[] = {
        {"example.com", "GET", "/", "", "", "10.0.0.1"},
        {"a.example.com", "POST", "/api/v1", "q=1&mobile", "https", "192.168.1.5"},
        {"", "GET", "/css/main.css", "q=traefik", "http", "::1"},
        {"xn--9t9h.com", "PUT", "/foo%20bar", "a=b+c", "", "2001:db8::1"},
        {"a.b.example.org", "DELETE", "/a%2Fb", "x", "x", "127.0.0.1"},
    };
    std::vector<turnpike::http::Request> out;
    for (const auto& p : table) {
      turnpike::http::Request req;
      req.host = p.host;
      req.method = p.method;
      req.path = p.path;
      req.query = p.query;
      req.has_query = *p.query != '\0';
      if (*p.header)
        req.headers.add("X-Forwarded-Proto", p.header);
      req.client_addr = *turnpike::parse_ip(p.client);
      out.push_back(std::move(req));
    }
    return out;
  }();
  return requests;
}

bool host_allowed(const router::HostConstraint& hosts, std::string_view host) {
  if (hosts.any_host)
    return true;
  for (const auto& h : hosts.exact)
    if (h == host)
      return true;
  auto parent = router::wildcard_parent(host);
  for (const auto& w : hosts.wildcard)
    if (!parent.empty() && w == parent)
      return true;
  return false;
}

void check_tcp_rule(std::string_view text) {
  auto rule = router::parse_tcp_rule(text);
  if (!rule) {
    if (!rule.error().message.starts_with("rule position "))
      violated("TCP rule error without a position", text, rule.error().message);
    return;
  }
  std::string printed = (*rule)->to_string();
  auto again = router::parse_tcp_rule(printed);
  if (!again)
    violated("printed TCP rule does not parse", text, printed + "\n  " + again.error().message);
  if ((*again)->to_string() != printed)
    violated("TCP rule printing is not stable", text, printed);
  static const std::vector<std::string> alpn = {"h2", "http/1.1"};
  static const std::vector<std::string> none;
  const router::ConnectionFacts probes[] = {
      {"", *turnpike::parse_ip("10.0.0.1"), none},
      {"a.example.com", *turnpike::parse_ip("192.168.1.5"), alpn},
      {"example.com", *turnpike::parse_ip("::1"), none},
  };
  for (const auto& facts : probes)
    if ((*rule)->matches(facts) != (*again)->matches(facts))
      violated("printed TCP rule matches differently", text, printed);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024)
    return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  check_tcp_rule(text);
  auto rule = router::parse_rule(text);
  if (!rule) {
    if (!rule.error().message.starts_with("rule position "))
      violated("error without a position", text, rule.error().message);
    return 0;
  }
  std::string printed = (*rule)->to_string();
  auto again = router::parse_rule(printed);
  if (!again)
    violated("printed rule does not parse", text, printed + "\n  " + again.error().message);
  if ((*again)->to_string() != printed)
    violated("printing is not stable", text, printed + "\n  " + (*again)->to_string());
  for (const auto& req : probes()) {
    bool matched = (*rule)->matches(req);
    if ((*again)->matches(req) != matched)
      violated("printed rule matches differently", text, printed);
    if (matched && !host_allowed((*rule)->host_constraint(), req.host))
      violated("host constraint excludes a matching host", text, req.host);
  }
  return 0;
}
