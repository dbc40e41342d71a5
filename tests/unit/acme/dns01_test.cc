#include "acme/dns01.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace turnpike::acme {
namespace {

using ::testing::HasSubstr;

EnvLookup map_env(std::map<std::string, std::string> m) {
  return [m = std::move(m)](std::string_view name) -> std::optional<std::string> {
    auto it = m.find(std::string(name));
    if (it == m.end()) return std::nullopt;
    return it->second;
  };
}

TEST(Dns01, ServerAddresses) {
  auto a = parse_dns_server("127.0.0.1:5353");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->address, "127.0.0.1");
  EXPECT_EQ(a->port, 5353);
  auto b = parse_dns_server("[::1]:53");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->address, "::1");
  EXPECT_EQ(b->describe(), "[::1]:53");
  auto c = parse_dns_server("localhost");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->port, 53);
  EXPECT_FALSE(parse_dns_server("127.0.0.1:99999"));
  EXPECT_EQ(dns01_value("token.thumb").size(), 43u);
}

TEST(Dns01, ProvidersNameWhatIsMissing) {
  auto env = map_env({});
  auto r = make_dns_provider("rfc2136", env);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("RFC2136_NAMESERVER is required"));
  r = make_dns_provider("exec", env);
  EXPECT_THAT(r.error().message, HasSubstr("EXEC_PATH is required"));
  r = make_dns_provider("httpreq", env);
  EXPECT_THAT(r.error().message, HasSubstr("HTTPREQ_ENDPOINT is required"));
  r = make_dns_provider("rfc2136", map_env({{"RFC2136_NAMESERVER", "127.0.0.1"},
                                             {"RFC2136_TSIG_KEY", "k"}}));
  EXPECT_THAT(r.error().message, HasSubstr("go together"));
  r = make_dns_provider("rfc2136", map_env({{"RFC2136_NAMESERVER", "127.0.0.1"},
                                             {"RFC2136_PROPAGATION_TIMEOUT", "soon"}}));
  EXPECT_THAT(r.error().message, HasSubstr("RFC2136_PROPAGATION_TIMEOUT"));
}

// The exec provider runs the script with lego's arguments; its output explains a failure.
TEST(Dns01, ExecProviderRunsTheScript) {
  auto dir = std::filesystem::temp_directory_path() / ("dns01_exec_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string script = (dir / "hook.sh").string();
  std::string log = (dir / "calls").string();
  std::ofstream(script) << "#!/bin/sh\necho \"$@\" >> " << log
                        << "\n[ \"$1\" = cleanup ] && { echo cannot clean >&2; exit 3; }\nexit 0\n";
  ::chmod(script.c_str(), 0755);
  std::string secret_file = (dir / "path").string();
  std::ofstream(secret_file) << script << "\n";
  // EXEC_PATH_FILE: lego's _FILE form.
  auto p = make_dns_provider("exec", map_env({{"EXEC_PATH_FILE", secret_file}}));
  ASSERT_TRUE(p) << p.error().message;
  DnsRecord rec{"_acme-challenge.a.example.com.", "VALUE", "a.example.com", "tok", "tok.th"};
  ASSERT_TRUE((*p)->present(rec));
  auto c = (*p)->cleanup(rec);
  ASSERT_FALSE(c);
  EXPECT_THAT(c.error().message, HasSubstr("exit status 3"));
  EXPECT_THAT(c.error().message, HasSubstr("cannot clean"));
  auto raw = make_dns_provider("exec", map_env({{"EXEC_PATH", script}, {"EXEC_MODE", "RAW"}}));
  ASSERT_TRUE((*raw)->present(rec));
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(),
            "present _acme-challenge.a.example.com. VALUE\n"
            "cleanup _acme-challenge.a.example.com. VALUE\n"
            "present a.example.com tok tok.th\n");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace turnpike::acme
