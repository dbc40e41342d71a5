#include <gtest/gtest.h>

#include "harness.h"

namespace turnpike::middleware {
namespace {

using testing::build;
using testing::serve;

struct RedirectCase {
  std::string desc;
  std::string config;
  std::string method = "GET";
  std::string url;  // scheme://authority/target
  std::vector<std::pair<std::string, std::string>> headers;
  int status;  // 200: passed on
  std::string location;
};

http::Request request_for(const RedirectCase& c) {
  const size_t sep = c.url.find("://");
  const std::string scheme = c.url.substr(0, sep);
  std::string rest = c.url.substr(sep + 3);
  const size_t slash = rest.find_first_of("/?");
  std::string authority = rest.substr(0, slash);
  std::string target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (target.front() == '?') target.insert(target.begin(), '/');
  auto req = testing::make_request(c.method, target, authority);
  req.scheme = scheme;
  for (const auto& [k, v] : c.headers) req.headers.add(k, v);
  return req;
}

void run_cases(std::string_view type, const std::vector<RedirectCase>& cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(c.desc);
    auto b = build(type, c.config);
    ASSERT_TRUE(b) << b.error_text();
    auto req = request_for(c);
    auto out = serve(*b.handler, req);
    EXPECT_EQ(out.status, c.status);
    if (c.status == 200) {
      EXPECT_EQ(b.terminal->calls, 1);
      EXPECT_FALSE(out.headers.has("Location"));
    } else {
      EXPECT_EQ(b.terminal->calls, 0);
      EXPECT_EQ(out.header("Location"), c.location);
      EXPECT_TRUE(out.finished);
    }
  }
}

// Traefik's redirect_scheme_test.go cases.
TEST(RedirectScheme, TraefikCases) {
  run_cases("redirectScheme", {
      {"HTTP to HTTPS", "scheme: https", "GET", "http://foo", {}, 302, "https://foo/"},
      {"with X-Forwarded-Proto http", "scheme: https", "GET", "http://foo",
       {{"X-Forwarded-Proto", "http"}}, 302, "https://foo/"},
      {"X-Forwarded-Proto https: already there", "scheme: https", "GET", "http://foo",
       {{"X-Forwarded-Proto", "https"}}, 200, ""},
      {"X-Forwarded-Proto unknown", "scheme: https", "GET", "http://foo",
       {{"X-Forwarded-Proto", "bar"}}, 302, "https://foo/"},
      {"X-Forwarded-Proto ws", "scheme: https", "GET", "http://foo",
       {{"X-Forwarded-Proto", "ws"}}, 302, "https://foo/"},
      {"X-Forwarded-Proto wss", "scheme: https", "GET", "http://foo",
       {{"X-Forwarded-Proto", "wss"}}, 200, ""},
      {"port dropped", "scheme: https", "GET", "http://foo:8080", {}, 302, "https://foo/"},
      {"port added", "scheme: https\nport: '8443'", "GET", "http://foo", {}, 302,
       "https://foo:8443/"},
      {"port replaced", "scheme: https\nport: '8443'", "GET", "http://foo:8000", {}, 302,
       "https://foo:8443/"},
      {"https port replaced", "scheme: https\nport: '8443'", "GET", "https://foo:8000", {}, 302,
       "https://foo:8443/"},
      {"https port dropped", "scheme: https", "GET", "https://foo:8000", {}, 302, "https://foo/"},
      {"path kept", "scheme: https", "GET", "https://foo:8000/theother", {}, 302,
       "https://foo/theother"},
      {"query kept", "scheme: https", "GET", "http://foo/a?b=c&d", {}, 302, "https://foo/a?b=c&d"},
      {"permanent", "scheme: https\nport: '8443'\npermanent: true", "GET", "http://foo", {}, 301,
       "https://foo:8443/"},
      {"already http on 80", "scheme: http\nport: '80'", "GET", "http://foo:80", {}, 200, ""},
      {"already https on 443", "scheme: https\nport: '443'", "GET", "https://foo:443", {}, 200,
       ""},
      {"already https", "scheme: https", "GET", "https://foo/x", {}, 200, ""},
      {"to wss", "scheme: wss\nport: '9443'", "GET", "http://foo", {}, 302, "wss://foo:9443/"},
      {"to wss without port", "scheme: wss", "GET", "http://foo:5678", {}, 302, "wss://foo/"},
      {"http on 443 to https", "scheme: https", "GET", "http://foo:443", {}, 302, "https://foo/"},
      {"port redirection", "scheme: http\nport: '8181'", "GET", "http://foo:8080", {}, 302,
       "http://foo:8181/"},
      {"https on 80", "scheme: https", "GET", "https://foo:80", {}, 302, "https://foo/"},
      {"IPv6", "scheme: https", "GET", "http://[::1]", {}, 302, "https://[::1]/"},
      {"IPv6 with port", "scheme: https\nport: '8443'", "GET", "http://[::1]", {}, 302,
       "https://[::1]:8443/"},
      {"IPv6 port 80", "scheme: https", "GET", "http://[::1]:80", {}, 302, "https://[::1]/"},
      {"IPv6 port 80 to port", "scheme: https\nport: '8443'", "GET", "http://[::1]:80", {}, 302,
       "https://[::1]:8443/"},
      {"HEAD keeps 302", "scheme: https", "HEAD", "http://foo", {}, 302, "https://foo/"},
      {"POST gets 307", "scheme: https", "POST", "http://foo", {}, 307, "https://foo/"},
      {"POST permanent gets 308", "scheme: https\npermanent: true", "POST", "http://foo", {}, 308,
       "https://foo/"},
  });
}

TEST(RedirectScheme, BodyIsStatusText) {
  auto b = build("redirectScheme", "scheme: https\npermanent: true");
  auto req = testing::make_request("GET", "/", "foo");
  auto out = serve(*b.handler, req);
  EXPECT_EQ(out.status, 301);
  EXPECT_EQ(out.body, "Moved Permanently");
}

TEST(RedirectScheme, DecodeErrors) {
  for (const auto& [yaml, expected] : std::initializer_list<std::pair<std::string, std::string>>{
      {"{}", "redirectScheme.scheme: is required"},
      {"scheme: 'ht tp'", "redirectScheme.scheme: invalid"},
      {"scheme: https\nport: abc", "redirectScheme.port: must be a port number"},
      {"scheme: https\nport: '70000'", "redirectScheme.port"},
      {"scheme: https\npermanent: maybe", "redirectScheme.permanent"},
      })
    testing::expect_decode_error("redirectScheme", yaml, expected);
}

// Traefik's redirect_regex_test.go cases.
TEST(RedirectRegex, TraefikCases) {
  run_cases("redirectRegex", {
      {"simple redirection", "regex: '^(?:http?:\\/\\/)(foo)(\\.com)(:\\d+)(.*)$'\n"
                             "replacement: 'https://${1}bar$2:443$4'",
       "GET", "http://foo.com:80", {}, 302, "https://foobar.com:443/"},
      {"URL doesn't match regex", "regex: 'bar'\nreplacement: 'foo'", "GET", "http://foo.com:80",
       {}, 200, ""},
      {"same URL: no redirect", "regex: '(.*)'\nreplacement: '$1'", "GET", "http://foo.com/x",
       {}, 200, ""},
      {"path and query", "regex: '^http://localhost/(.*)'\nreplacement: 'http://mydomain/${1}'",
       "GET", "http://localhost/a/b?c=d", {}, 302, "http://mydomain/a/b?c=d"},
      {"https scheme from the connection",
       "regex: '^https://(.*)'\nreplacement: 'https://www.$1'", "GET", "https://foo.com/",
       {{"X-Forwarded-Proto", "http"}}, 302, "https://www.foo.com/"},
      {"permanent", "regex: '^http://foo/(.*)'\nreplacement: 'http://bar/$1'\npermanent: true",
       "GET", "http://foo/x", {}, 301, "http://bar/x"},
      {"POST temporary", "regex: '^http://foo/(.*)'\nreplacement: 'http://bar/$1'", "POST",
       "http://foo/x", {}, 307, "http://bar/x"},
      {"PUT permanent", "regex: '^http://foo/(.*)'\nreplacement: 'http://bar/$1'\npermanent: true",
       "PUT", "http://foo/x", {}, 308, "http://bar/x"},
      {"unsafe characters encoded in Location",
       "regex: '^http://foo/(.*)'\nreplacement: 'http://bar/ \"x\"/$1'", "GET", "http://foo/y", {},
       302, "http://bar/%20%22x%22/y"},
  });
}

TEST(RedirectRegex, DecodeErrors) {
  for (const auto& [yaml, expected] : std::initializer_list<std::pair<std::string, std::string>>{
      {"replacement: x", "redirectRegex.regex: is required"},
      {"regex: x", "redirectRegex.replacement: is required"},
      {"regex: '(x'\nreplacement: y", "redirectRegex.regex: invalid regular expression"},
      })
    testing::expect_decode_error("redirectRegex", yaml, expected);
}

}  // namespace
}  // namespace turnpike::middleware
