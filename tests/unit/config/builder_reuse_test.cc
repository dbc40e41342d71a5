// BuildCache: what a build reuses from the previous one (config/builder.h).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <time.h>

#include <random>

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
    // As the gateway: what changed goes to the builder when the decoding knows it.
    ChangeSet changes;
    opts_.changes = nullptr;
    if (!decoded_ || !decode_changes(tree_, tree, "kv", cfg_, &changes)) {
      cfg_ = decode_dynamic(tree, "kv");
    } else if (patch_) {
      opts_.changes = &changes;
    }
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
    opts_.changes = nullptr;
    return snap;
  }

  // The handler (middleware chain + service) serving router `name` on the plain table.
  static const http::Handler* handler(const Snapshot& s, const std::string& name) {
    for (const auto& r : s.entrypoints[0].table.routes())
      if (r->name == name)
        return r->handler.get();
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
  bool patch_ = true;     // hand the builder what changed (BuildOptions::changes)
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
  for (const auto& r : s2->entrypoints[0].table.routes())
    a2 |= r->rule_text == "Host(`a2`)";
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
    EXPECT_TRUE(cache_.last_build().patched);
    EXPECT_EQ(s->router_count, 10000u);
  }
  // The same changes walking every router (no change set), for comparison.
  patch_ = false;
  for (int j = 0; j < 3; ++j) {
    apply(routers("Host(`walked" + std::to_string(j) + ".bench`)"));
    RecordProperty("walk_build_us_" + std::to_string(j), std::to_string(build_us_));
    EXPECT_FALSE(cache_.last_build().patched);
  }
}

// A patched snapshot (BuildOptions::changes) is the snapshot a full build makes: random
// sequences of router changes (rule, priority, service, middlewares, entrypoints, broken rules,
// missing services, added and removed routers, TLS ones that cannot be patched), each compared
// with a build from scratch: statuses, errors, used_by, and the route tables' order.
class BuilderPatch : public BuilderReuse {
protected:
  BuilderPatch() {
    other_.name = "other";
    opts_.entrypoints.push_back(&other_);
  }

  struct Router {
    std::string rule, service, priority, middlewares, entrypoints, tls;
  };

  std::string render() const {
    std::string y = "http:\n  routers:\n";
    for (const auto& [name, r] : routers_) {
      y += "    " + name + ": {rule: \"" + r.rule + "\", service: " + r.service;
      if (!r.priority.empty())
        y += ", priority: " + r.priority;
      if (!r.middlewares.empty())
        y += ", middlewares: [" + r.middlewares + "]";
      if (!r.entrypoints.empty())
        y += ", entryPoints: [" + r.entrypoints + "]";
      if (!r.tls.empty())
        y += ", tls: " + r.tls;
      y += "}\n";
    }
    y += "  services:\n";
    for (int i = 0; i < 6; ++i)
      y += "    s" + std::to_string(i) +
           ": {loadBalancer: {servers: [{url: 'http://127.0.0.1:" + std::to_string(10 + i) +
           "'}]}}\n";
    y += "    broken: {loadBalancer: {servers: [{url: 'not a url'}]}}\n"
         "    weighted: {weighted: {services: [{name: s1, weight: 1}, {name: s2, weight: 2}]}}\n"
         "  middlewares:\n"
         "    hdr: {headers: {customRequestHeaders: {X-A: b}}}\n"
         "    strip: {stripPrefix: {prefixes: [/api]}}\n"
         "    limit: {rateLimit: {average: 5}}\n"
         "    bad: {stripPrefix: {prefixes: 7}}\n";
    return y;
  }

  Router random_router() {
    auto pick = [&](std::initializer_list<const char*> items) {
      return std::string(
          *(items.begin() + std::uniform_int_distribution<size_t>(0, items.size() - 1)(rng_)));
    };
    Router r;
    std::string host = "h" + std::to_string(rng_() % 30) + ".test";
    r.rule = pick({"Host(`%`)", "Host(`%`) && PathPrefix(`/a`)", "Host(`*.%`)", "PathPrefix(`/p`)",
                   "Host(`%`", "Host(`%`) || Host(`x.%`)"});
    for (auto at = r.rule.find('%'); at != std::string::npos; at = r.rule.find('%'))
      r.rule.replace(at, 1, host);
    r.service =
        pick({"s0", "s1", "s2", "s3", "s4", "s5", "weighted", "broken", "missing", "s1", "s2"});
    r.priority = pick({"", "", "", "5", "100"});
    r.middlewares = pick({"", "", "", "hdr", "strip, hdr", "nothere", "bad"});
    r.entrypoints = pick({"", "", "web", "other", "web, other"});
    return r;
  }

  // Snapshot fields a user sees (API statuses, errors, routing order), rendered for comparison.
  static std::string describe(const Snapshot& s) {
    std::string out;
    auto statuses = [&](const char* kind, const std::map<std::string, ObjectStatus>& m) {
      for (const auto& [name, st] : m) {
        out += std::string(kind) + " " + name + " " + st.status + " [";
        for (const auto& e : st.errors)
          out += e + "; ";
        out += "] eps [";
        for (const auto& e : st.using_entrypoints)
          out += e + " ";
        out += "] used_by [";
        for (const auto& e : st.used_by)
          out += e + " ";
        out += "]\n";
      }
    };
    statuses("router", s.routers);
    statuses("service", s.services);
    statuses("middleware", s.middlewares);
    statuses("transport", s.servers_transports);
    statuses("tls", s.tls_options);
    out += "routes " + std::to_string(s.router_count) + "\n";
    for (const auto& ep : s.entrypoints) {
      for (const auto* table : {&ep.table, &ep.tls_table}) {
        out += ep.name + (table == &ep.tls_table ? " tls:" : ":");
        for (const auto& r : table->routes())
          out += " " + r->name + "=" + r->rule_text + "/" + std::to_string(r->priority);
        out += "\n";
      }
    }
    return out;
  }

  EntryPoint other_;
  std::map<std::string, Router> routers_;
  std::mt19937 rng_{7};
};

TEST_F(BuilderPatch, PatchedSnapshotIsTheFullBuild) {
  for (int i = 0; i < 80; ++i)
    routers_["r" + std::to_string(i)] = random_router();
  apply(render());
  size_t patched = 0, steps = 0;
  for (int step = 0; step < 150; ++step, ++steps) {
    int changes = 1 + static_cast<int>(rng_() % 3);
    for (int k = 0; k < changes; ++k) {
      auto it = std::next(routers_.begin(), static_cast<long>(rng_() % routers_.size()));
      switch (rng_() % 10) {
      case 0:
        routers_.erase(it);
        break;
      case 1:
        routers_["n" + std::to_string(step) + "_" + std::to_string(k)] = random_router();
        break;
      case 2:
        it->second = random_router();
        break;
      case 3:
        it->second.service = random_router().service;
        break;
      case 4:
        it->second.priority = std::to_string(rng_() % 50);
        break;
      case 5:
        it->second.middlewares = random_router().middlewares;
        break;
      case 6:
        it->second.entrypoints = random_router().entrypoints;
        break;
      // Not patchable: TLS (host claims) and a stateful middleware.
      case 7:
        it->second.tls = rng_() % 4 == 0 ? "{}" : "";
        break;
      case 8:
        it->second.middlewares = rng_() % 4 == 0 ? "limit" : "";
        break;
      default:
        it->second.rule = random_router().rule;
        break;
      }
    }
    auto snap = apply(render());
    patched += cache_.last_build().patched;
    BuildOptions scratch;
    scratch.entrypoints = opts_.entrypoints;
    auto full = build_snapshot(cfg_, scratch, generation_);
    ASSERT_EQ(describe(*snap), describe(*full)) << "step " << step;
    // Routers the step did not touch keep their route objects.
    EXPECT_EQ(snap->router_count, full->router_count);
  }
  // Most steps patch; the TLS and rate-limit ones (and some after them) walk everything.
  EXPECT_GT(patched, steps / 3);
  EXPECT_LT(patched, steps);
  RecordProperty("patched_steps", std::to_string(patched));
}

}  // namespace
}  // namespace turnpike::config
