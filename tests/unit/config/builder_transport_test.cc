#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/builder.h"

namespace turnpike::config {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

class BuilderTransports : public ::testing::Test {
 protected:
  BuilderTransports() { ep_.name = "web"; }

  std::shared_ptr<const Snapshot> build(const std::string& yaml) {
    auto tree = parse_yaml(yaml, "dyn.yml");
    EXPECT_TRUE(tree.has_value()) << (tree ? "" : tree.error().message);
    cfg_ = decode_dynamic(tree ? *tree : Node(), "file");
    BuildOptions opts;
    opts.entrypoints.push_back(&ep_);
    return build_snapshot(cfg_, opts, 1);
  }

  EntryPoint ep_;
  DynamicConfig cfg_;
};

TEST_F(BuilderTransports, BrokenTransportDisablesOnlyItsServices) {
  auto snap = build("http:\n"
                    "  routers:\n"
                    "    good: {rule: \"Host(`good`)\", service: good}\n"
                    "    bad: {rule: \"Host(`bad`)\", service: bad}\n"
                    "  services:\n"
                    "    good: {loadBalancer: {servers: [{url: \"https://a:443\"}],"
                    " serversTransport: ok}}\n"
                    "    bad: {loadBalancer: {servers: [{url: \"h2c://a:80\"}],"
                    " serversTransport: broken}}\n"
                    "  serversTransports:\n"
                    "    ok: {insecureSkipVerify: true, minVersion: VersionTLS13}\n"
                    "    broken: {rootCAs: [/nonexistent/ca.pem]}\n"
                    "    unused: {maxVersion: VersionTLS99}\n");
  EXPECT_EQ(snap->routers.at("good@file").status, "enabled");
  EXPECT_EQ(snap->routers.at("bad@file").status, "disabled");
  EXPECT_EQ(snap->services.at("bad@file").status, "disabled");
  EXPECT_THAT(snap->services.at("bad@file").errors[0],
              HasSubstr("dyn.yml:10: http.serversTransports.broken@file.rootCAs[0]: open "
                        "/nonexistent/ca.pem: No such file or directory"));
  EXPECT_EQ(snap->servers_transports.count("ok@file"), 0u);
  // A broken transport nobody uses is reported too.
  EXPECT_EQ(snap->servers_transports.at("unused@file").status, "disabled");
  auto errors = collect_errors(cfg_, *snap);
  EXPECT_THAT(errors, Contains(HasSubstr("serversTransport unused@file: dyn.yml:11: "
                                         "http.serversTransports.unused@file.maxVersion: "
                                         "unknown TLS version \"VersionTLS99\"")));
}

TEST_F(BuilderTransports, UnknownTransport) {
  auto snap = build("http:\n"
                    "  services:\n"
                    "    s: {loadBalancer: {servers: [{url: \"http://a\"}],"
                    " serversTransport: nope}}\n");
  EXPECT_EQ(snap->services.at("s@file").errors[0], "serversTransport \"nope@file\" does not exist");
}

}  // namespace
}  // namespace turnpike::config
