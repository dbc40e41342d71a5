#include "provider/docker/container_config.h"

#include <gtest/gtest.h>

#include "config/dynamic_config.h"

namespace turnpike::provider::docker {
namespace {

Container web(std::string name, std::map<std::string, std::string> labels,
              std::vector<Port> ports = {}) {
  Container c;
  c.id = name + "-id";
  c.name = std::move(name);
  c.labels = std::move(labels);
  c.state = "running";
  c.status = "Up 2 seconds";
  c.network_mode = "bridge";
  c.networks["bridge"] = "172.17.0.2";
  c.ports = std::move(ports);
  return c;
}

config::DynamicConfig build(const std::vector<Container>& cs, std::vector<std::string>* errors,
                            config::DockerProviderConfig o = {}, std::string constraints = "") {
  auto c = Constraints::parse(constraints);
  EXPECT_TRUE(c) << c.error().message;
  auto built = build_configuration(cs, o, *c);
  if (errors)
    *errors = built.errors;
  auto d = config::decode_dynamic(built.tree, "docker");
  EXPECT_TRUE(config::rejecting_errors(d).empty()) << built.tree.debug_string();
  return d;
}

std::string first_url(const config::DynamicConfig& d, const std::string& svc) {
  auto it = d.http.services.find(svc);
  if (it == d.http.services.end() || !it->second.load_balancer ||
      it->second.load_balancer->servers.empty())
    return "";
  return it->second.load_balancer->servers[0].url;
}

TEST(DockerConfig, Normalize) {
  EXPECT_EQ(normalize("/my_app.1"), "my-app-1");
  EXPECT_EQ(normalize("web"), "web");
  EXPECT_EQ(normalize("--a__b--"), "a-b");
}

TEST(DockerConfig, RenderRule) {
  std::map<std::string, std::string> labels{{"domain", "ex.com"}};
  EXPECT_EQ(*render_rule("Host(`{{ normalize .Name }}.localhost`)", "my_app", "x", labels),
            "Host(`my-app.localhost`)");
  EXPECT_EQ(*render_rule("Host(`{{ .ContainerName }}.{{ index .Labels \"domain\" }}`)", "n", "c1",
                         labels),
            "Host(`c1.ex.com`)");
  EXPECT_FALSE(render_rule("Host(`{{ .Nope }}`)", "n", "c", labels));
  EXPECT_FALSE(render_rule("Host(`{{ .Name `)", "n", "c", labels));
}

TEST(DockerConfig, AutoWiringWithoutLabels) {
  std::vector<std::string> errors;
  auto d = build({web("my_web", {}, {{8080, 0, "", "tcp"}, {80, 0, "", "tcp"}})}, &errors);
  EXPECT_TRUE(errors.empty());
  ASSERT_EQ(d.http.routers.count("my-web@docker"), 1u);
  const auto& r = d.http.routers.at("my-web@docker");
  EXPECT_EQ(r.rule, "Host(`my-web`)");
  EXPECT_EQ(r.service, "my-web@docker");
  EXPECT_EQ(first_url(d, "my-web@docker"), "http://172.17.0.2:80"); // lowest exposed port
}

TEST(DockerConfig, LabelsRouterAndServerPort) {
  auto d = build({web("api", {{"traefik.http.routers.r1.rule", "Host(`api.test`)"},
                              {"traefik.http.routers.r1.entrypoints", "web,websecure"},
                              {"traefik.http.services.s1.loadbalancer.server.port", "9000"},
                              {"traefik.http.services.s1.loadbalancer.server.scheme", "h2c"}})},
                 nullptr);
  ASSERT_EQ(d.http.routers.count("r1@docker"), 1u);
  EXPECT_EQ(d.http.routers.at("r1@docker").service, "s1@docker");
  EXPECT_EQ(d.http.routers.at("r1@docker").entry_points.size(), 2u);
  EXPECT_EQ(first_url(d, "s1@docker"), "h2c://172.17.0.2:9000");
}

TEST(DockerConfig, HostNetworkAndNetworkLabel) {
  auto c = web("h", {{"traefik.http.services.h.loadbalancer.server.port", "18080"}});
  c.network_mode = "host";
  c.networks = {{"host", ""}};
  auto d = build({c}, nullptr);
  EXPECT_EQ(first_url(d, "h@docker"), "http://127.0.0.1:18080");

  auto n = web("n", {{"traefik.docker.network", "back"}}, {{80, 0, "", "tcp"}});
  n.networks = {{"bridge", "172.17.0.2"}, {"back", "10.1.0.5"}};
  d = build({n}, nullptr);
  EXPECT_EQ(first_url(d, "n@docker"), "http://10.1.0.5:80");
}

TEST(DockerConfig, EnableExposedByDefaultAndConstraints) {
  config::DockerProviderConfig o;
  o.exposed_by_default = false;
  auto d = build({web("a", {}, {{80, 0, "", "tcp"}}),
                  web("b", {{"traefik.enable", "true"}}, {{80, 0, "", "tcp"}})},
                 nullptr, o);
  EXPECT_EQ(d.http.routers.count("a@docker"), 0u);
  EXPECT_EQ(d.http.routers.count("b@docker"), 1u);

  d = build({web("a", {{"team", "x"}}, {{80, 0, "", "tcp"}}),
             web("b", {{"team", "y"}}, {{80, 0, "", "tcp"}}),
             web("c", {{"team", "zz"}}, {{80, 0, "", "tcp"}})},
            nullptr, {}, "Label(`team`,`x`) || LabelRegex(`team`, `^z+$`)");
  EXPECT_EQ(d.http.routers.count("a@docker"), 1u);
  EXPECT_EQ(d.http.routers.count("b@docker"), 0u);
  EXPECT_EQ(d.http.routers.count("c@docker"), 1u);
}

TEST(DockerConfig, NotRunningOrUnhealthyIsIgnored) {
  auto stopped = web("s", {}, {{80, 0, "", "tcp"}});
  stopped.state = "exited";
  auto sick = web("u", {}, {{80, 0, "", "tcp"}});
  sick.status = "Up 1 minute (unhealthy)";
  auto d = build({stopped, sick}, nullptr);
  EXPECT_TRUE(d.http.routers.empty());
}

TEST(DockerConfig, SameServiceAcrossContainersLoadBalances) {
  auto a = web("a", {{"traefik.http.services.shared.loadbalancer.server.port", "80"},
                     {"traefik.http.routers.shared.rule", "Host(`s.test`)"}});
  auto b = a;
  b.name = "b";
  b.networks["bridge"] = "172.17.0.3";
  auto d = build({a, b}, nullptr);
  ASSERT_EQ(d.http.services.count("shared@docker"), 1u);
  EXPECT_EQ(d.http.services.at("shared@docker").load_balancer->servers.size(), 2u);
  EXPECT_EQ(d.http.routers.count("shared@docker"), 1u);
}

TEST(DockerConfig, ConflictingRoutersAreDroppedAndNamed) {
  auto a = web("a", {{"traefik.http.routers.r.rule", "Host(`a.test`)"}}, {{80, 0, "", "tcp"}});
  auto b = web("b", {{"traefik.http.routers.r.rule", "Host(`b.test`)"}}, {{80, 0, "", "tcp"}});
  std::vector<std::string> errors;
  auto d = build({a, b}, &errors);
  EXPECT_EQ(d.http.routers.count("r@docker"), 0u);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("containers a, b"), std::string::npos) << errors[0];
}

TEST(DockerConfig, BadLabelDisablesThatObjectOnly) {
  auto bad = web("bad",
                 {{"traefik.http.routers.x.rule", "Host(`x.test`)"},
                  {"traefik.http.routers.x.priority", "not-a-number"},
                  {"traefik.http.routers.y.rule", "Host(`y.test`)"}},
                 {{80, 0, "", "tcp"}});
  auto good = web("good", {}, {{80, 0, "", "tcp"}});
  std::vector<std::string> errors;
  auto d = build({bad, good}, &errors);
  EXPECT_EQ(d.http.routers.count("x@docker"), 0u);
  EXPECT_EQ(d.http.routers.count("y@docker"), 1u);
  EXPECT_EQ(d.http.routers.count("good@docker"), 1u);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("container bad"), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("priority"), std::string::npos) << errors[0];
}

TEST(DockerConfig, MissingPortSkipsContainer) {
  std::vector<std::string> errors;
  auto d = build({web("noport", {})}, &errors);
  EXPECT_TRUE(d.http.routers.empty());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("container noport"), std::string::npos);
  EXPECT_NE(errors[0].find("port is missing"), std::string::npos);
}

TEST(DockerConfig, TcpRouterTurnsOffAutomaticHttpRouter) {
  auto d = build({web("db", {{"traefik.tcp.routers.db.rule", "HostSNI(`*`)"},
                             {"traefik.tcp.services.db.loadbalancer.server.port", "5432"}})},
                 nullptr);
  EXPECT_TRUE(d.http.routers.empty());
  ASSERT_EQ(d.tcp.routers.count("db@docker"), 1u);
  EXPECT_EQ(d.tcp.routers.at("db@docker").service, "db@docker");
}

TEST(DockerConfig, TooManyServicesForARouter) {
  std::vector<std::string> errors;
  build({web("m", {{"traefik.http.services.s1.loadbalancer.server.port", "1"},
                   {"traefik.http.services.s2.loadbalancer.server.port", "2"}})},
        &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("too many services"), std::string::npos);
}

TEST(DockerConfig, ParseContainerList) {
  auto list = parse_container_list(R"([{"Id":"abc","Names":["/web"],"State":"running",
    "Status":"Up 1 second","Labels":{"traefik.enable":"true"},"HostConfig":{"NetworkMode":"host"},
    "Ports":[{"PrivatePort":80,"PublicPort":8080,"IP":"0.0.0.0","Type":"tcp"}],
    "NetworkSettings":{"Networks":{"host":{"IPAddress":""}}}}])");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "web");
  EXPECT_EQ((*list)[0].network_mode, "host");
  EXPECT_EQ((*list)[0].ports[0].public_port, 8080);
  EXPECT_FALSE(parse_container_list("{}"));
}

} // namespace
} // namespace turnpike::provider::docker
