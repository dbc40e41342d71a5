// The snapshot builder's TLS part: which routers serve TLS connections, which TLS options each
// server name uses (Traefik's tlsOptionsForHost), and how broken options disable routers.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/builder.h"

namespace turnpike::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

struct Built {
  std::shared_ptr<const Snapshot> snapshot;
  const tls::ServerTls* server = nullptr;
};

class BuilderTls : public ::testing::Test {
protected:
  BuilderTls() {
    web_.name = "web";
    secure_.name = "websecure";
    secure_.http.tls.emplace(); // entrypoint-level `http.tls: {}`
  }

  Built build(const std::string& yaml) {
    auto tree = parse_yaml(yaml, "dyn.yml");
    EXPECT_TRUE(tree.has_value());
    auto cfg = decode_dynamic(*tree, "file");
    EXPECT_THAT(cfg.errors, IsEmpty());
    BuildOptions opts;
    opts.entrypoints = {&web_, &secure_};
    opts.tls = &manager_;
    Built b;
    b.snapshot = build_snapshot(cfg, opts, 1);
    b.server = manager_.current().get();
    return b;
  }

  EntryPoint web_;
  EntryPoint secure_;
  tls::TlsManager manager_;
};

constexpr const char* kServices =
    "  services:\n"
    "    s: {loadBalancer: {servers: [{url: \"http://127.0.0.1:1\"}]}}\n";

TEST_F(BuilderTls, TlsRoutersGoToTheTlsTableAndTheEntrypointDefaultMakesTls) {
  auto b = build(std::string("http:\n  routers:\n"
                             "    secure: {rule: Host(`a.test`), service: s, tls: {}}\n"
                             "    plain: {rule: Host(`b.test`), service: s}\n") +
                 kServices);
  const auto& web = b.snapshot->entrypoints[0];
  const auto& secure = b.snapshot->entrypoints[1];
  ASSERT_EQ(web.tls_table.size(), 1u);
  EXPECT_EQ(web.tls_table.routes()[0]->name, "secure@file");
  ASSERT_EQ(web.table.size(), 1u);
  EXPECT_EQ(web.table.routes()[0]->name, "plain@file");
  // websecure has http.tls: both routers are TLS routers there.
  EXPECT_EQ(secure.table.size(), 0u);
  EXPECT_EQ(secure.tls_table.size(), 2u);
  ASSERT_NE(web.tls, nullptr);
  EXPECT_EQ(web.tls->options_for("a.test"), b.server->default_options());
}

TEST_F(BuilderTls, HostsUseTheirRoutersOptionsAndConflictsFallBackToDefault) {
  auto b = build(
      std::string(
          "http:\n  routers:\n"
          "    a: {rule: Host(`a.test`), service: s, entryPoints: [web], tls: {options: mtls}}\n"
          "    a2: {rule: Host(`a.test`) && Path(`/x`), service: s, entryPoints: [web], tls: "
          "{options: mtls}}\n"
          "    c1: {rule: Host(`c.test`), service: s, entryPoints: [web], tls: {options: mtls}}\n"
          "    c2: {rule: Host(`c.test`) && Path(`/y`), service: s, entryPoints: [web], tls: "
          "{options: default}}\n"
          "    w: {rule: Host(`*.w.test`), service: s, entryPoints: [web], tls: {options: "
          "mtls}}\n") +
      kServices + "tls:\n  options:\n    mtls: {sniStrict: true}\n");
  const auto& ep = *b.snapshot->entrypoints[0].tls;
  int mtls = b.server->find_options("mtls@file");
  ASSERT_NE(mtls, tls::kBrokenOptions);
  EXPECT_EQ(ep.options_for("a.test"), mtls);
  EXPECT_EQ(ep.options_for("x.w.test"), mtls);
  EXPECT_EQ(ep.options_for("c.test"), b.server->default_options());
  EXPECT_EQ(ep.options_for("other.test"), b.server->default_options());
  const auto& c1 = b.snapshot->routers.at("c1@file");
  EXPECT_EQ(c1.status, "warning");
  EXPECT_THAT(c1.errors,
              ElementsAre(HasSubstr("different TLS options for routers on the same host c.test")));
  EXPECT_EQ(b.snapshot->routers.at("a@file").status, "enabled");
  EXPECT_EQ(b.snapshot->entrypoints[0].tls_table.size(), 5u);
}

TEST_F(BuilderTls, UnknownOrBrokenOptionsDisableTheRouterAndBreakTheHost) {
  auto b = build(
      std::string(
          "http:\n  routers:\n"
          "    u: {rule: Host(`u.test`), service: s, entryPoints: [web], tls: {options: nope}}\n"
          "    k: {rule: Host(`k.test`), service: s, entryPoints: [web], tls: {options: bad}}\n") +
      kServices + "tls:\n  options:\n    bad: {minVersion: VersionTLS99}\n");
  const auto& u = b.snapshot->routers.at("u@file");
  EXPECT_EQ(u.status, "disabled");
  EXPECT_THAT(u.errors, ElementsAre("unknown TLS options: nope@file"));
  const auto& k = b.snapshot->routers.at("k@file");
  EXPECT_EQ(k.status, "disabled");
  EXPECT_THAT(k.errors, ElementsAre(HasSubstr("TLS options \"bad@file\" are broken")));
  const auto& ep = *b.snapshot->entrypoints[0].tls;
  EXPECT_EQ(ep.options_for("u.test"), tls::kBrokenOptions);
  EXPECT_EQ(ep.options_for("k.test"), tls::kBrokenOptions);
  EXPECT_EQ(b.snapshot->entrypoints[0].tls_table.size(), 0u);
  EXPECT_THAT(b.snapshot->tls_options.at("bad@file").errors,
              ElementsAre(HasSubstr("tls.options.bad@file.minVersion: unknown TLS version")));
  auto errors = collect_errors(DynamicConfig{}, *b.snapshot);
  EXPECT_THAT(errors, testing::Contains(HasSubstr("tls.options.bad@file.minVersion")));
}

TEST_F(BuilderTls, CertificateErrorsAreReportedAndTheRestServes) {
  auto b = build(
      std::string("http:\n  routers:\n"
                  "    r: {rule: Host(`a.test`), service: s, tls: {}}\n") +
      kServices +
      "tls:\n  certificates:\n    - {certFile: /nonexistent/c.pem, keyFile: /nonexistent/k.pem}\n");
  ASSERT_EQ(b.snapshot->tls_errors.size(), 1u);
  EXPECT_THAT(b.snapshot->tls_errors[0],
              HasSubstr("dyn.yml:8: tls.certificates[0].certFile: cannot read file"));
  EXPECT_EQ(b.snapshot->routers.at("r@file").status, "enabled");
}

} // namespace
} // namespace turnpike::config
