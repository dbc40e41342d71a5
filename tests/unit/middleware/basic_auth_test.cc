#include <fstream>

#include <gtest/gtest.h>

#include "harness.h"
#include "middleware/basic_auth.h"
#include "middleware/password_hash.h"

namespace turnpike::middleware {
namespace {

using testing::build;
using testing::make_request;
using testing::serve;

// Generated with the real tools:
//   htpasswd -nbB -C 5 alice 's3cret!'     openssl passwd -apr1 -salt H6uskkkW test
//   htpasswd -nbm bob hunter2              htpasswd -nbs carol 'p@ss:word'
//   openssl passwd -1 -salt abcdefgh md5pass
constexpr std::string_view kAliceBcrypt =
    "$2y$05$nQPvKcrmTbk6.Z9kONSdreQuBHZltwNnKP4w2ZCZfqyr43hLkzPyO";
constexpr std::string_view kTestApr1 = "$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/";
constexpr std::string_view kBobApr1 = "$apr1$710pjyqF$/NcEIzRvJBbIe6nQKW9z31";
constexpr std::string_view kCarolSha = "{SHA}XVo4QKYxOH2OeKuETjdaW6SkHls=";
constexpr std::string_view kMd5 = "$1$abcdefgh$vc.h.b7/b1zYYwJ7DKEQG1";

std::string basic(std::string_view user_colon_password) {
  static constexpr char kB64[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out = "Basic ";
  const auto* s = reinterpret_cast<const unsigned char*>(user_colon_password.data());
  const size_t n = user_colon_password.size();
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = uint32_t(s[i]) << 16;
    if (i + 1 < n) v |= uint32_t(s[i + 1]) << 8;
    if (i + 2 < n) v |= s[i + 2];
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += i + 1 < n ? kB64[(v >> 6) & 63] : '=';
    out += i + 2 < n ? kB64[v & 63] : '=';
  }
  return out;
}

TEST(PasswordHashTest, VerifiesRealHashes) {
  struct Case {
    std::string_view hash, good, bad;
    PasswordHash::Scheme scheme;
  };
  const Case cases[] = {
      {kAliceBcrypt, "s3cret!", "s3cret", PasswordHash::Scheme::kBcrypt},
      {kTestApr1, "test", "Test", PasswordHash::Scheme::kMd5Crypt},
      {kBobApr1, "hunter2", "hunter3", PasswordHash::Scheme::kMd5Crypt},
      {kCarolSha, "p@ss:word", "p@ss", PasswordHash::Scheme::kSha1},
      {kMd5, "md5pass", "md5pas", PasswordHash::Scheme::kMd5Crypt},
  };
  for (const auto& c : cases) {
    auto h = PasswordHash::parse(c.hash);
    ASSERT_TRUE(h) << c.hash;
    EXPECT_EQ(h->scheme(), c.scheme);
    EXPECT_TRUE(h->verify(c.good)) << c.hash;
    EXPECT_FALSE(h->verify(c.bad)) << c.hash;
    EXPECT_FALSE(h->verify("")) << c.hash;
  }
}

TEST(PasswordHashTest, Md5CryptMatchesOpenssl) {
  EXPECT_EQ(md5_crypt("test", "H6uskkkW", "$apr1$"), kTestApr1);
  EXPECT_EQ(md5_crypt("md5pass", "abcdefgh", "$1$"), kMd5);
}

TEST(PasswordHashTest, RejectsUnsupportedFormats) {
  for (std::string_view h : {"plaintext", "", "{SHA}short", "$2y$05$tooshort",
                             "$apr1$nodollar", "$6$salt$abcdef", "$apr1$salt$short"})
    EXPECT_FALSE(PasswordHash::parse(h)) << h;
}

TEST(BasicAuthParse, Credentials) {
  std::string user, password;
  EXPECT_TRUE(parse_basic_credentials(basic("a:b:c"), user, password));
  EXPECT_EQ(user, "a");
  EXPECT_EQ(password, "b:c");
  EXPECT_TRUE(parse_basic_credentials("basic " + basic("x:y").substr(6), user, password));
  EXPECT_FALSE(parse_basic_credentials("Bearer abc", user, password));
  EXPECT_FALSE(parse_basic_credentials("Basic !!!!", user, password));
  EXPECT_FALSE(parse_basic_credentials("Basic YWJj", user, password));  // "abc": no colon
  EXPECT_FALSE(parse_basic_credentials("Basic YQ", user, password));    // unpadded
}

std::string users_yaml() {
  return "users:\n"
         "  - 'alice:" + std::string(kAliceBcrypt) + "'\n"
         "  - 'test:" + std::string(kTestApr1) + "'\n"
         "  - 'carol:" + std::string(kCarolSha) + "'\n";
}

TEST(BasicAuth, Authentication) {
  struct Case {
    std::string desc;
    std::optional<std::string> authorization;
    int status;
    std::string username;
  };
  const Case cases[] = {
      {"bcrypt user", basic("alice:s3cret!"), 200, "alice"},
      {"apr1 user", basic("test:test"), 200, "test"},
      {"sha user with colon in password", basic("carol:p@ss:word"), 200, "carol"},
      {"wrong password", basic("alice:nope"), 401, "alice"},
      {"unknown user", basic("mallory:test"), 401, "mallory"},
      {"no header", std::nullopt, 401, ""},
      {"not basic", std::string("Bearer abc"), 401, ""},
      {"malformed base64", std::string("Basic ###"), 401, ""},
  };
  auto b = build("basicAuth", users_yaml());
  ASSERT_TRUE(b) << b.error_text();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.desc);
    b.terminal->calls = 0;
    auto req = make_request("GET", "/");
    if (c.authorization) req.headers.add("Authorization", *c.authorization);
    auto out = serve(*b.handler, req);
    EXPECT_EQ(out.status, c.status);
    EXPECT_EQ(out.username, c.username);
    if (c.status == 401) {
      EXPECT_EQ(b.terminal->calls, 0);
      EXPECT_EQ(out.header("WWW-Authenticate"), "Basic realm=\"traefik\"");
      EXPECT_EQ(out.body, "401 Unauthorized\n");
    } else {
      EXPECT_EQ(b.terminal->calls, 1);
      // Forwarded as is by default.
      EXPECT_EQ(b.terminal->seen->headers.get("Authorization").value_or(""), *c.authorization);
    }
  }
}

TEST(BasicAuth, RepeatedBcryptSuccessStillChecksPassword) {
  auto b = build("basicAuth", users_yaml());
  ASSERT_TRUE(b);
  for (int i = 0; i < 3; ++i) {
    auto ok = make_request("GET", "/");
    ok.headers.add("Authorization", basic("alice:s3cret!"));
    EXPECT_EQ(serve(*b.handler, ok).status, 200);
    auto bad = make_request("GET", "/");
    bad.headers.add("Authorization", basic("alice:s3cret?"));
    EXPECT_EQ(serve(*b.handler, bad).status, 401);
  }
}

TEST(BasicAuth, RealmHeaderFieldAndRemoveHeader) {
  auto b = build("basicAuth", users_yaml() +
                                  "realm: my realm\nheaderField: X-WebAuth-User\nremoveHeader: true");
  ASSERT_TRUE(b) << b.error_text();
  auto req = make_request("GET", "/");
  req.headers.add("X-WebAuth-User", "spoofed");
  req.headers.add("Authorization", basic("test:test"));
  auto out = serve(*b.handler, req);
  EXPECT_EQ(out.status, 200);
  const auto& seen = *b.terminal->seen;
  EXPECT_FALSE(seen.headers.has("Authorization"));
  EXPECT_EQ(seen.headers.values("X-WebAuth-User"), std::vector<std::string_view>{"test"});

  auto denied = make_request("GET", "/");
  out = serve(*b.handler, denied);
  EXPECT_EQ(out.status, 401);
  EXPECT_EQ(out.header("WWW-Authenticate"), "Basic realm=\"my realm\"");
}

TEST(BasicAuth, UsersFileAndPrecedence) {
  const std::string path = ::testing::TempDir() + "/basic_auth_users";
  {
    std::ofstream f(path);
    f << "# comment\n\n  bob:" << kBobApr1 << "  \r\n"
      << "test:" << kCarolSha << "\n";  // overridden by the inline entry
  }
  auto b = build("basicAuth", users_yaml() + "usersFile: '" + path + "'");
  ASSERT_TRUE(b) << b.error_text();
  auto bob = make_request("GET", "/");
  bob.headers.add("Authorization", basic("bob:hunter2"));
  EXPECT_EQ(serve(*b.handler, bob).status, 200);
  auto test = make_request("GET", "/");
  test.headers.add("Authorization", basic("test:test"));  // inline users win
  EXPECT_EQ(serve(*b.handler, test).status, 200);
}

TEST(BasicAuth, DecodeErrors) {
  for (const auto& [yaml, expected] : std::initializer_list<std::pair<std::string, std::string>>{
      {"{}", "basicAuth.users: no user is defined"},
      {"users: ['nocolon']", "basicAuth.users[0]: expected \"user:hash\""},
      {"users: ['a:b:c']", "basicAuth.users[0]"},
      {"users: ['alice:plaintext']", "basicAuth.users[0]: user \"alice\": unsupported password hash"},
      {"users: ['alice:$6$IgXLP6ewTrSuBkTrqE8wj']", "unsupported password hash"},
      {"usersFile: /nonexistent/file", "basicAuth.usersFile: cannot read"},
      {"users: ['test:" + std::string(kTestApr1) + "']\nrealm: 'a\"b'", "basicAuth.realm"},
      {"users: ['test:" + std::string(kTestApr1) + "']\nheaderField: 'a b'",
       "basicAuth.headerField: invalid header name"},
      })
    testing::expect_decode_error("basicAuth", yaml, expected);
  auto b = build("basicAuth", "users: ['alice:$6$IgXLP6ewTrSuBkTrqE8wj']");
  EXPECT_EQ(b.error_text().find("IgXLP6ewTrSuBkTrqE8wj"), std::string::npos)
      << "hash echoed in the error: " << b.error_text();
}

}  // namespace
}  // namespace turnpike::middleware
