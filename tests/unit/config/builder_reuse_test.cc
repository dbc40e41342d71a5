// BuildCache: what a build reuses from the previous one (config/builder.h).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <time.h>

#include "config/builder.h"
#include "config/incremental_decode.h"

namespace turnpike::config {
namespace {

using ::testing::HasSubstr;

Node yaml(const std::string& text) {
  auto t = parse_yaml(text, "dyn.yml");
  EXPECT_TRUE(t) << (t ? "" : t.error().message);
  return t ? *t : Node();
}

// A provider's configuration changed the way the gateway applies it: only the objects whose
// subtree changed are decoded again (and get a new revision).
class BuilderReuse : public ::testing::Test {
 protected:
  BuilderReuse() {
    ep_.name = "web";
    opts_.entrypoints.push_back(&ep_);
    opts_.rule_cache = &rules_;
    opts_.cache = &cache_;
    opts_.health = &health_;
    opts_.middleware_state = &state_;
    opts_.health_checks = &checks_;
  }

  std::shared_ptr<const Snapshot> apply(const std::string& text) {
    Node tree = yaml(text);
    if (!decoded_ || !decode_changes(tree_, tree, "kv", cfg_)) cfg_ = decode_dynamic(tree, "kv");
    decoded_ = true;
    tree_ = std::move(tree);
    checks_.clear();
    // CPU time of this thread: the machine the tests run on is often busy with other work.
    auto cpu_us = [] {
      timespec ts{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      return int64_t(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
    };
    auto started = cpu_us();
    auto snap = build_snapshot(cfg_, opts_, ++generation_);
    build_us_ = cpu_us() - started;
    return snap;
  }

  // The handler (middleware chain + service) serving router `name` on the plain table.
  static const http::Handler* handler(const Snapshot& s, const std::string& name) {
    for (const auto& r : s.entrypoints[0].table.routes())
      if (r.name == name) return r.handler.get();
    return nullptr;
  }

  EntryPoint ep_;
  BuildOptions opts_;
  RuleCache rules_;
  BuildCache cache_;
  service::HealthRegistry health_;
  middleware::StateStore state_;
  std::vector<service::HealthCheckTarget> checks_;
  Node tree_;
  DynamicConfig cfg_;
  bool decoded_ = false;
  uint64_t generation_ = 0;
  int64_t build_us_ = 0;  // CPU time of the last build_snapshot

};

// Enough unrelated routers that one change stays an incremental decoding.
std::string filler() {
  std::string y;
  for (int i = 0; i < 40; ++i)
    y += "    f" + std::to_string(i) + ": {rule: \"Host(`f" + std::to_string(i) +
         "`)\", service: fs}\n";
  return y;
}

std::string config(const std::string& a_rule, const std::string& sb_url,
                   const std::string& limit = "10") {
  return "http:\n"
         "  routers:\n"
         "    a: {rule: \"" + a_rule + "\", service: sa, middlewares: [limit]}\n"
         "    b: {rule: \"Host(`b`)\", service: sb}\n"
         "    c: {rule: \"Host(`c`)\", service: sc, middlewares: [limit]}\n"
         "    w: {rule: \"Host(`w`)\", service: weighted}\n"
         "    broken: {rule: \"Host(`x`\", service: sa}\n" +
         filler() +
         "  services:\n"
         "    sa: {loadBalancer: {servers: [{url: 'http://127.0.0.1:1'}],"
         " healthCheck: {path: /health}}}\n"
         "    sb: {loadBalancer: {servers: [{url: '" + sb_url + "'}]}}\n"
         "    sc: {loadBalancer: {servers: [{url: 'http://127.0.0.1:3'}]}}\n"
         "    fs: {loadBalancer: {servers: [{url: 'http://127.0.0.1:4'}]}}\n"
         "    weighted: {weighted: {services: [{name: sb, weight: 1}, {name: sc, weight: 1}]}}\n"
         "  middlewares:\n"
         "    limit: {rateLimit: {average: " + limit + "}}\n";
}

TEST_F(BuilderReuse, ChangedRouterAloneIsRebuilt) {
  auto s1 = apply(config("Host(`a`)", "http://127.0.0.1:2"));
  EXPECT_EQ(cache_.last_build().routers_reused, 0u);
  auto s2 = apply(config("Host(`a2`)", "http://127.0.0.1:2"));
  const auto& st = cache_.last_build();
  EXPECT_EQ(st.routers_built, 1u);
  EXPECT_EQ(st.routers_reused, cfg_.http.routers.size() - 1);
  EXPECT_EQ(st.services_built, 0u);
  EXPECT_EQ(st.middlewares_built, 0u);
  // Unrelated routers keep the very same handler objects (chain, balancer state, health).
  EXPECT_EQ(handler(*s1, "b@kv"), handler(*s2, "b@kv"));
  EXPECT_EQ(handler(*s1, "c@kv"), handler(*s2, "c@kv"));
  EXPECT_EQ(handler(*s1, "f7@kv"), handler(*s2, "f7@kv"));
  EXPECT_NE(handler(*s2, "a@kv"), nullptr);
  // The new rule serves, the old one is gone.
  bool a2 = false;
  for (const auto& r : s2->entrypoints[0].table.routes()) a2 |= r.rule_text == "Host(`a2`)";
  EXPECT_TRUE(a2);
  // The reused service's active health check is still handed to the checker.
  ASSERT_EQ(checks_.size(), 1u);
  EXPECT_EQ(checks_[0].service, "sa@kv");
}

TEST_F(BuilderReuse, ChangedServiceRebuildsItsRoutersAndParents) {
  auto s1 = apply(config("Host(`a`)", "http://127.0.0.1:2"));
  auto s2 = apply(config("Host(`a`)", "http://127.0.0.1:22"));
  const auto& st = cache_.last_build();
  // sb changed: sb, the weighted service over it, and routers b and w.
  EXPECT_EQ(st.services_built, 2u);
  EXPECT_EQ(st.routers_built, 2u);
  EXPECT_NE(handler(*s1, "b@kv"), handler(*s2, "b@kv"));
  EXPECT_NE(handler(*s1, "w@kv"), handler(*s2, "w@kv"));
  EXPECT_EQ(handler(*s1, "a@kv"), handler(*s2, "a@kv"));
  EXPECT_EQ(handler(*s1, "c@kv"), handler(*s2, "c@kv"));
  EXPECT_EQ(s2->services.at("sb@kv").used_by, std::vector<std::string>{"b@kv"});
}

TEST_F(BuilderReuse, ChangedMiddlewareRebuildsTheChainsThatUseIt) {
  auto s1 = apply(config("Host(`a`)", "http://127.0.0.1:2"));
  auto s2 = apply(config("Host(`a`)", "http://127.0.0.1:2", "20"));
  const auto& st = cache_.last_build();
  EXPECT_EQ(st.middlewares_built, 1u);
  EXPECT_EQ(st.routers_built, 2u);  // a and c
  EXPECT_EQ(st.services_built, 0u);
  EXPECT_NE(handler(*s1, "a@kv"), handler(*s2, "a@kv"));
  EXPECT_NE(handler(*s1, "c@kv"), handler(*s2, "c@kv"));
  EXPECT_EQ(handler(*s1, "b@kv"), handler(*s2, "b@kv"));
}

TEST_F(BuilderReuse, ErrorsAreStillReportedWhenReused) {
  apply(config("Host(`a`)", "http://127.0.0.1:2"));
  auto s2 = apply(config("Host(`a2`)", "http://127.0.0.1:2"));
  const auto& broken = s2->routers.at("broken@kv");
  EXPECT_EQ(broken.status, "disabled");
  ASSERT_EQ(broken.errors.size(), 1u);
  EXPECT_THAT(broken.errors[0], HasSubstr("rule \"Host(`x`\""));
  EXPECT_EQ(handler(*s2, "broken@kv"), nullptr);
  auto errors = collect_errors(cfg_, *s2);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], HasSubstr("router broken@kv:"));
}

TEST_F(BuilderReuse, AMissingServiceAppearingEnablesItsRouter) {
  std::string base = "http:\n  routers:\n    m: {rule: \"Host(`m`)\", service: later}\n" +
                     filler() + "  services:\n    fs: {loadBalancer: {servers: [{url: 'http://127.0.0.1:4'}]}}\n";
  auto s1 = apply(base);
  EXPECT_EQ(s1->routers.at("m@kv").status, "disabled");
  auto s2 = apply(base + "    later: {loadBalancer: {servers: [{url: 'http://127.0.0.1:5'}]}}\n");
  EXPECT_EQ(s2->routers.at("m@kv").status, "enabled");
  EXPECT_NE(handler(*s2, "m@kv"), nullptr);
  // And disappearing disables it again.
  auto s3 = apply(base);
  EXPECT_EQ(s3->routers.at("m@kv").status, "disabled");
  EXPECT_EQ(handler(*s3, "m@kv"), nullptr);
}

TEST_F(BuilderReuse, RateLimitStateSurvivesAnUnrelatedChange) {
  apply(config("Host(`a`)", "http://127.0.0.1:2"));
  size_t kept = state_.size();
  EXPECT_GT(kept, 0u);
  apply(config("Host(`a`)", "http://127.0.0.1:22"));
  EXPECT_EQ(state_.size(), kept);  // reused chains keep their buckets in the store
  apply(config("Host(`a2`)", "http://127.0.0.1:22"));
  EXPECT_EQ(state_.size(), kept);
}

TEST_F(BuilderReuse, FullDecodingRebuildsEverything) {
  auto s1 = apply(config("Host(`a`)", "http://127.0.0.1:2"));
  cfg_ = decode_dynamic(tree_, "kv");  // new revisions for every object
  auto s2 = build_snapshot(cfg_, opts_, ++generation_);
  EXPECT_EQ(cache_.last_build().routers_reused, 0u);
  EXPECT_EQ(s2->routers.size(), s1->routers.size());
}

// The issue-6 case: one router's rule changed among 10,000 routers with their own services
// rebuilds that router alone.
TEST_F(BuilderReuse, OneChangeAmongTenThousandRouters) {
  auto routers = [](const std::string& first_rule) {
    std::string y = "http:\n  routers:\n";
    for (int i = 0; i < 10000; ++i)
      y += "    r" + std::to_string(i) + ": {rule: \"" +
           (i == 0 ? first_rule : "Host(`r" + std::to_string(i) + ".bench`)") +
           "\", service: s" + std::to_string(i) + "}\n";
    y += "  services:\n";
    for (int i = 0; i < 10000; ++i)
      y += "    s" + std::to_string(i) + ": {loadBalancer: {servers: [{url: 'http://127.0.0.1:9'}]}}\n";
    return y;
  };
  apply(routers("Host(`r0.bench`)"));
  RecordProperty("full_build_us", std::to_string(build_us_));
  for (int j = 0; j < 3; ++j) {
    auto s = apply(routers("Host(`changed" + std::to_string(j) + ".bench`)"));
    RecordProperty("build_us_" + std::to_string(j), std::to_string(build_us_));
    EXPECT_EQ(cache_.last_build().routers_built, 1u);
    EXPECT_EQ(cache_.last_build().services_built, 0u);
    EXPECT_EQ(s->router_count, 10000u);
  }
}

}  // namespace
}  // namespace turnpike::config
