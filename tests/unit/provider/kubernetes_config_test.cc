#include <gtest/gtest.h>

#include "config/dynamic_config.h"
#include "provider/kubernetes/crd.h"
#include "provider/kubernetes/gateway.h"
#include "provider/kubernetes/ingress.h"

namespace turnpike::provider::kubernetes {
namespace {

using json = nlohmann::json;

void add(ObjectMap& m, json obj) {
  std::string key = object_key(obj); // before the move: `a = b` evaluates b first
  m[key] = std::move(obj);
}

json service(const std::string& name, int port = 80, const std::string& port_name = "http") {
  return {{"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec", {{"ports", json::array({{{"name", port_name}, {"port", port}}})}}}};
}

json slice(const std::string& svc, int target, std::vector<std::string> ips,
           const std::string& port_name = "http", bool ready = true) {
  return {{"metadata",
           {{"name", svc + "-" + ips[0]},
            {"namespace", "default"},
            {"labels", {{"kubernetes.io/service-name", svc}}}}},
          {"ports", json::array({{{"name", port_name}, {"port", target}}})},
          {"endpoints", json::array({{{"addresses", ips}, {"conditions", {{"ready", ready}}}}})}};
}

json ingress(const std::string& name, const std::string& host, const std::string& svc,
             const std::string& path = "/", const std::string& type = "Prefix") {
  return {
      {"metadata", {{"name", name}, {"namespace", "default"}}},
      {"spec",
       {{"rules",
         json::array(
             {{{"host", host},
               {"http",
                {{"paths",
                  json::array(
                      {{{"path", path},
                        {"pathType", type},
                        {"backend",
                         {{"service", {{"name", svc}, {"port", {{"number", 80}}}}}}}}})}}}}})}}}};
}

config::DynamicConfig decode(const BuiltConfig& b, const char* provider) {
  auto d = config::decode_dynamic(b.tree, provider);
  EXPECT_TRUE(config::rejecting_errors(d).empty()) << b.tree.debug_string();
  return d;
}

TEST(IngressConfig, RoutersServicesAndEndpoints) {
  IngressInputs in;
  add(in.services, service("web"));
  add(in.endpoint_slices, slice("web", 8080, {"10.0.0.1", "10.0.0.2"}));
  add(in.endpoint_slices, slice("web", 8080, {"10.0.0.9"}, "http", false)); // not ready
  add(in.ingresses, ingress("ing", "a.example.com", "web"));
  add(in.ingresses, ingress("exact", "b.example.com", "web", "/api", "Exact"));
  auto built = build_ingress_configuration(in, {});
  EXPECT_TRUE(built.errors.empty()) << built.errors[0];
  auto d = decode(built, "kubernetes");
  ASSERT_EQ(d.http.routers.count("default-ing-a-example-com@kubernetes"), 1u)
      << built.tree.debug_string();
  const auto& r = d.http.routers.at("default-ing-a-example-com@kubernetes");
  EXPECT_EQ(r.rule, "Host(`a.example.com`) && PathPrefix(`/`)");
  EXPECT_EQ(r.service, "default-web-80@kubernetes");
  EXPECT_EQ(d.http.routers.at("default-exact-b-example-com-api@kubernetes").rule,
            "Host(`b.example.com`) && Path(`/api`)");
  const auto& lb = *d.http.services.at("default-web-80@kubernetes").load_balancer;
  ASSERT_EQ(lb.servers.size(), 2u);
  EXPECT_EQ(lb.servers[0].url, "http://10.0.0.1:8080");
}

TEST(IngressConfig, ServiceAnnotationsAreTheServicesAndNativeLb) {
  IngressInputs in;
  json web = service("web");
  web["spec"]["clusterIP"] = "10.96.0.10";
  web["metadata"]["annotations"] = {
      {"traefik.ingress.kubernetes.io/service.nativelb", "true"},
      {"traefik.ingress.kubernetes.io/service.serversscheme", "https"},
      {"traefik.ingress.kubernetes.io/service.passhostheader", "false"}};
  add(in.services, web);
  add(in.endpoint_slices, slice("web", 8080, {"10.0.0.1", "10.0.0.2"}));
  json headless = service("headless");
  headless["spec"]["clusterIP"] = "None";
  add(in.services, headless);
  add(in.endpoint_slices, slice("headless", 8080, {"10.0.0.3"}));
  auto ing = ingress("ing", "a.example.com", "web");
  // On the Ingress these are not Traefik's service annotations: ignored.
  ing["metadata"]["annotations"] = {
      {"traefik.ingress.kubernetes.io/service.serverstransport", "ignored@file"}};
  add(in.ingresses, ing);
  add(in.ingresses, ingress("plain", "b.example.com", "headless"));
  config::KubernetesProviderConfig o;
  auto built = build_ingress_configuration(in, o);
  EXPECT_TRUE(built.errors.empty()) << built.errors[0];
  auto d = decode(built, "kubernetes");
  const auto& lb = *d.http.services.at("default-web-80@kubernetes").load_balancer;
  ASSERT_EQ(lb.servers.size(), 1u); // the ClusterIP, not the two endpoints
  EXPECT_EQ(lb.servers[0].url, "https://10.96.0.10:80");
  EXPECT_FALSE(lb.pass_host_header);
  EXPECT_TRUE(lb.servers_transport.empty());
  // nativeLBByDefault: a headless Service has no ClusterIP, so its path is not routed.
  o.native_lb_by_default = true;
  built = build_ingress_configuration(in, o);
  ASSERT_EQ(built.errors.size(), 1u);
  EXPECT_NE(built.errors[0].find("no clusterIP"), std::string::npos) << built.errors[0];
}

TEST(IngressConfig, MissingServiceDisablesThatPathOnly) {
  IngressInputs in;
  add(in.services, service("web"));
  add(in.endpoint_slices, slice("web", 8080, {"10.0.0.1"}));
  add(in.ingresses, ingress("bad", "bad.example.com", "missing"));
  add(in.ingresses, ingress("good", "good.example.com", "web"));
  auto built = build_ingress_configuration(in, {});
  ASSERT_EQ(built.errors.size(), 1u);
  EXPECT_NE(built.errors[0].find("ingress default/bad"), std::string::npos) << built.errors[0];
  EXPECT_NE(built.errors[0].find("service default/missing not found"), std::string::npos);
  auto d = decode(built, "kubernetes");
  EXPECT_EQ(d.http.routers.size(), 1u);
}

TEST(IngressConfig, ClassesAnnotationsWildcards) {
  IngressInputs in;
  add(in.services, service("web", 80, "https"));
  add(in.endpoint_slices, slice("web", 8443, {"10.0.0.1"}, "https"));
  add(in.ingress_classes, {{"metadata", {{"name", "traefik"}}},
                           {"spec", {{"controller", "traefik.io/ingress-controller"}}}});
  auto mine = ingress("mine", "*.example.com", "web");
  mine["spec"]["ingressClassName"] = "traefik";
  mine["metadata"]["annotations"] = {
      {"traefik.ingress.kubernetes.io/router.entrypoints", "web,websecure"},
      {"traefik.ingress.kubernetes.io/router.middlewares", "auth@file"},
      {"traefik.ingress.kubernetes.io/router.priority", "42"}};
  auto other = ingress("other", "o.example.com", "web");
  other["spec"]["ingressClassName"] = "nginx";
  add(in.ingresses, mine);
  add(in.ingresses, other);
  auto built = build_ingress_configuration(in, {});
  auto d = decode(built, "kubernetes");
  ASSERT_EQ(d.http.routers.size(), 1u) << built.tree.debug_string() << (built.errors.empty() ? "" : built.errors[0]);
  const auto& r = d.http.routers.begin()->second;
  EXPECT_EQ(r.rule, "HostRegexp(`^[a-z0-9-\\.]+\\.example\\.com$`) && PathPrefix(`/`)");
  EXPECT_EQ(r.entry_points.size(), 2u);
  EXPECT_EQ(r.priority, 42);
  ASSERT_EQ(r.middlewares.size(), 1u);
  EXPECT_EQ(r.middlewares[0], "auth@file");
  EXPECT_EQ(d.http.services.begin()->second.load_balancer->servers[0].url, "https://10.0.0.1:8443");

  config::KubernetesProviderConfig o;
  o.ingress_class = "nginx";
  d = decode(build_ingress_configuration(in, o), "kubernetes");
  ASSERT_EQ(d.http.routers.size(), 1u);
  EXPECT_NE(d.http.routers.begin()->first.find("other"), std::string::npos);
}

TEST(CrdConfig, IngressRouteMiddlewareWeighted) {
  CrdInputs in;
  add(in.services, service("a"));
  add(in.services, service("b"));
  add(in.endpoint_slices, slice("a", 1001, {"10.0.0.1"}));
  add(in.endpoint_slices, slice("b", 1002, {"10.0.0.2"}));
  add(in.middlewares, {{"metadata", {{"name", "strip"}, {"namespace", "default"}}},
                       {"spec", {{"stripPrefix", {{"prefixes", json::array({"/x"})}}}}}});
  add(in.ingress_routes,
      {{"metadata", {{"name", "r"}, {"namespace", "default"}}},
       {"spec",
        {{"entryPoints", json::array({"web"})},
         {"routes",
          json::array({{{"match", "Host(`a.test`)"},
                        {"middlewares", json::array({{{"name", "strip"}}})},
                        {"services", json::array({{{"name", "a"}, {"port", 80}, {"weight", 3}},
                                                  {{"name", "b"}, {"port", 80}}})}}})}}}});
  auto built = build_crd_configuration(in, {});
  EXPECT_TRUE(built.errors.empty()) << built.errors[0];
  auto d = decode(built, "kubernetescrd");
  ASSERT_EQ(d.http.routers.size(), 1u) << built.tree.debug_string();
  const auto& r = d.http.routers.begin()->second;
  EXPECT_EQ(r.rule, "Host(`a.test`)");
  ASSERT_EQ(r.middlewares.size(), 1u);
  EXPECT_EQ(r.middlewares[0], "default-strip@kubernetescrd");
  EXPECT_EQ(d.http.middlewares.count("default-strip@kubernetescrd"), 1u);
  const auto& svc = d.http.services.at(r.service);
  ASSERT_TRUE(svc.weighted);
  EXPECT_EQ(svc.weighted->services.size(), 2u);
}

TEST(CrdConfig, NativeLbPerServiceOverridesTheDefault) {
  CrdInputs in;
  json a = service("a");
  a["spec"]["clusterIP"] = "10.96.0.11";
  add(in.services, a);
  add(in.endpoint_slices, slice("a", 1001, {"10.0.0.1"}));
  add(in.ingress_routes,
      {{"metadata", {{"name", "r"}, {"namespace", "default"}}},
       {"spec",
        {{"routes",
          json::array({{{"match", "Host(`a.test`)"},
                        {"services",
                         json::array({{{"name", "a"}, {"port", 80}, {"nativeLB", true}}})}}})}}}});
  auto built = build_crd_configuration(in, {});
  EXPECT_TRUE(built.errors.empty()) << built.errors[0];
  auto d = decode(built, "kubernetescrd");
  const auto& r = d.http.routers.begin()->second;
  EXPECT_EQ(d.http.services.at(r.service).load_balancer->servers[0].url, "http://10.96.0.11:80");
}

TEST(CrdConfig, CrossNamespaceAndMissingService) {
  CrdInputs in;
  add(in.services, service("a"));
  add(in.endpoint_slices, slice("a", 1001, {"10.0.0.1"}));
  auto route = [](const std::string& name, json services, json mws = json::array()) {
    return json{{"metadata", {{"name", name}, {"namespace", "default"}}},
                {"spec",
                 {{"routes", json::array({{{"match", "Host(`" + name + "`)"},
                                           {"middlewares", mws},
                                           {"services", services}}})}}}};
  };
  add(in.ingress_routes, route("ok", json::array({{{"name", "a"}, {"port", 80}}})));
  add(in.ingress_routes, route("missing", json::array({{{"name", "zz"}, {"port", 80}}})));
  add(in.ingress_routes, route("cross", json::array({{{"name", "a"}, {"port", 80}}}),
                               json::array({{{"name", "m"}, {"namespace", "other"}}})));
  auto built = build_crd_configuration(in, {});
  ASSERT_EQ(built.errors.size(), 2u);
  auto d = decode(built, "kubernetescrd");
  EXPECT_EQ(d.http.routers.size(), 1u);

  config::KubernetesProviderConfig o;
  o.allow_cross_namespace = true;
  built = build_crd_configuration(in, o);
  EXPECT_EQ(built.errors.size(), 1u);
}

TEST(CrdConfig, ServersTransportFromSecretsReachesTheService) {
  CrdInputs in;
  add(in.services, service("up", 443, "https"));
  add(in.endpoint_slices, slice("up", 8443, {"10.0.0.1"}, "https"));
  // "-----BEGIN CA-----" base64: a PEM-looking value is enough for the configuration.
  add(in.secrets, {{"metadata", {{"name", "ca"}, {"namespace", "default"}}},
                   {"data", {{"tls.ca", "LS0tLS1CRUdJTiBDQS0tLS0t"}}}});
  add(in.servers_transports, {{"metadata", {{"name", "trusted"}, {"namespace", "default"}}},
                              {"spec", {{"rootCAsSecrets", json::array({"ca"})},
                                        {"serverName", "up.test"}}}});
  add(in.ingress_routes,
      {{"metadata", {{"name", "r"}, {"namespace", "default"}}},
       {"spec",
        {{"routes", json::array({{{"match", "Host(`a.test`)"},
                                  {"services", json::array({{{"name", "up"},
                                                             {"port", 443},
                                                             {"serversTransport", "trusted"}}})}}})}}}});
  auto built = build_crd_configuration(in, {});
  ASSERT_TRUE(built.errors.empty()) << built.errors[0];
  auto d = decode(built, "kubernetescrd");
  ASSERT_EQ(d.http.routers.size(), 1u) << built.tree.debug_string();
  const auto& svc = d.http.services.at(d.http.routers.begin()->second.service);
  ASSERT_TRUE(svc.load_balancer) << built.tree.debug_string();
  EXPECT_EQ(svc.load_balancer->servers_transport, "default-trusted@kubernetescrd")
      << built.tree.debug_string();
  ASSERT_EQ(svc.load_balancer->servers.size(), 1u);
  EXPECT_EQ(svc.load_balancer->servers[0].url, "https://10.0.0.1:8443");
  const auto& st = d.http.servers_transports.at("default-trusted@kubernetescrd");
  ASSERT_EQ(st.root_cas.size(), 1u) << built.tree.debug_string();
  EXPECT_EQ(st.root_cas[0], "-----BEGIN CA-----");
  EXPECT_EQ(st.server_name, "up.test");
}

// The service of a Service and port is shared by the routes naming it: the first IngressRoute
// (by namespace/name) gives its options (docs/providers/kubernetes.md).
TEST(CrdConfig, TheFirstRouteDefinesASharedService) {
  CrdInputs in;
  add(in.services, service("up", 443, "https"));
  add(in.endpoint_slices, slice("up", 8443, {"10.0.0.1"}, "https"));
  add(in.servers_transports, {{"metadata", {{"name", "t"}, {"namespace", "default"}}},
                              {"spec", {{"insecureSkipVerify", true}}}});
  auto route = [](const std::string& name, json svc) {
    return json{{"metadata", {{"name", name}, {"namespace", "default"}}},
                {"spec", {{"routes", json::array({{{"match", "Host(`" + name + "`)"},
                                                   {"services", json::array({svc})}}})}}}};
  };
  add(in.ingress_routes, route("b", {{"name", "up"}, {"port", 443}}));
  add(in.ingress_routes, route("a", {{"name", "up"}, {"port", 443}, {"serversTransport", "t"}}));
  auto built = build_crd_configuration(in, {});
  ASSERT_TRUE(built.errors.empty()) << built.errors[0];
  auto d = decode(built, "kubernetescrd");
  ASSERT_EQ(d.http.routers.size(), 2u);
  ASSERT_EQ(d.http.services.size(), 1u) << built.tree.debug_string();
  EXPECT_EQ(d.http.services.begin()->second.load_balancer->servers_transport,
            "default-t@kubernetescrd");
}

// kubernetesGateway (gateway.h)

json meta(const std::string& name, const std::string& ns = "default") {
  json m = {{"name", name}};
  if (!ns.empty())
    m["namespace"] = ns;
  return m;
}

// A cluster with Service `web` (port 80 -> 10.0.0.1:8080), our GatewayClass, and Gateway `gw`
// with listener `http` on port 8000 (entrypoint `web`), allowedRoutes `from`.
GatewayInputs cluster(const std::string& listener_host = "", const std::string& from = "Same") {
  GatewayInputs in;
  add(in.services, service("web"));
  add(in.endpoint_slices, slice("web", 8080, {"10.0.0.1"}));
  add(in.gateway_classes, {{"metadata", meta("traefik", "")},
                           {"spec", {{"controllerName", "traefik.io/gateway-controller"}}}});
  add(in.gateway_classes, {{"metadata", meta("other", "")},
                           {"spec", {{"controllerName", "example.com/other"}}}});
  json listener = {{"name", "http"}, {"port", 8000}, {"protocol", "HTTP"}};
  if (!listener_host.empty())
    listener["hostname"] = listener_host;
  listener["allowedRoutes"] = {{"namespaces", {{"from", from}}}};
  add(in.gateways, {{"metadata", meta("gw")},
                    {"spec", {{"gatewayClassName", "traefik"},
                              {"listeners", json::array({listener})}}}});
  return in;
}

json route(const std::string& name, json rules, json hostnames = json::array(),
           const std::string& ns = "default") {
  return {{"metadata", meta(name, ns)},
          {"spec",
           {{"parentRefs", json::array({{{"name", "gw"}, {"namespace", "default"}}})},
            {"hostnames", hostnames},
            {"rules", rules}}}};
}

json backend(const std::string& svc = "web", int weight = 1) {
  return {{"name", svc}, {"port", 80}, {"weight", weight}};
}

const std::vector<EntryPointPort> kEps = {{"web", 8000}, {"websecure", 8443}};

config::DynamicConfig decode(const BuiltConfig& b) {
  return decode(b, "kubernetesgateway");
}

TEST(GatewayConfig, RulesPrioritiesAndServicesAsTraefik) {
  auto in = cluster();
  json rules = json::array(
      {{{"matches", json::array({{{"path", {{"type", "Exact"}, {"value", "/exact"}}},
                                  {"method", "GET"}},
                                 {{"path", {{"type", "PathPrefix"}, {"value", "/api/"}}},
                                  {"headers", json::array({{{"name", "X-A"}, {"value", "1"}}})},
                                  {"queryParams",
                                   json::array({{{"name", "q"},
                                                 {"type", "RegularExpression"},
                                                 {"value", "^x"}}})}}})},
        {"backendRefs", json::array({backend()})}},
       {{"backendRefs", json::array({backend("web", 3)})}}});
  add(in.http_routes, route("r", rules, json::array({"a.example.com", "*.b.example.com"})));
  auto built = build_gateway_configuration(in, {}, kEps);
  EXPECT_TRUE(built.errors.empty()) << built.errors[0];
  auto d = decode(built);
  std::map<std::string, std::pair<std::string, int64_t>> got;
  for (const auto& [name, r] : d.http.routers) {
    got[r.rule] = {r.service, r.priority};
    EXPECT_EQ(r.entry_points, std::vector<std::string>{"web"});
    EXPECT_TRUE(name.starts_with("default-r-gw-web-")) << name;
  }
  const std::string hosts = "(Host(`a.example.com`) || HostRegexp(`^[a-z0-9-\\.]+\\.b\\.example\\.com$`))";
  ASSERT_EQ(got.size(), 3u);
  // 2 rules: rule 0 gets +2, rule 1 +1; the longest hostname (15) is added when hosts are set.
  EXPECT_EQ(got[hosts + " && Path(`/exact`) && Method(`GET`)"],
            std::pair(std::string("default-r-gw-web-0-wrr@kubernetesgateway"),
                      int64_t{100000 + 1000 + 15 + 2}));
  EXPECT_EQ(got[hosts + " && (Path(`/api`) || PathPrefix(`/api/`)) && Header(`X-A`,`1`) && "
                        "QueryRegexp(`q`,`^x`)"]
                .second,
            10000 + 5 * 100 + 100 + 10 + 15 + 2);
  EXPECT_EQ(got[hosts + " && PathPrefix(`/`)"].second, 1 + 15 + 1);
  // Router names as Traefik's: the route key and the first 10 bytes of the rule's SHA-256
  // (computed independently: python3 hashlib.sha256(rule).hexdigest()[:20]).
  EXPECT_EQ(d.http.routers.count("default-r-gw-web-1-f14407395ec125046367@kubernetesgateway"), 1u);
  const auto& w = d.http.services.at("default-r-gw-web-1-wrr@kubernetesgateway").weighted;
  ASSERT_TRUE(w);
  ASSERT_EQ(w->services.size(), 1u);
  EXPECT_EQ(w->services[0].name, "default-web-80@kubernetesgateway");
  EXPECT_EQ(w->services[0].weight, 3);
  const auto& lb = *d.http.services.at("default-web-80@kubernetesgateway").load_balancer;
  ASSERT_EQ(lb.servers.size(), 1u);
  EXPECT_EQ(lb.servers[0].url, "http://10.0.0.1:8080");
}

TEST(GatewayConfig, ListenerHostnameAndNamespacesRestrictRoutes) {
  auto in = cluster("*.example.com");
  json rules = json::array({{{"backendRefs", json::array({backend()})}}});
  add(in.http_routes, route("inherits", rules));                                  // listener's
  add(in.http_routes, route("narrower", rules, json::array({"a.example.com"})));  // kept
  add(in.http_routes, route("outside", rules, json::array({"a.example.org"})));   // refused
  add(in.http_routes, route("foreign", rules, json::array(), "team"));            // refused
  auto built = build_gateway_configuration(in, {}, kEps);
  auto d = decode(built);
  std::set<std::string> rules_seen;
  for (const auto& [name, r] : d.http.routers)
    rules_seen.insert(r.rule);
  EXPECT_EQ(rules_seen,
            (std::set<std::string>{
                "HostRegexp(`^[a-z0-9-\\.]+\\.example\\.com$`) && PathPrefix(`/`)",
                "Host(`a.example.com`) && PathPrefix(`/`)"}));
  ASSERT_EQ(built.errors.size(), 2u);
  EXPECT_NE(built.errors[0].find("httproute default/outside: no hostname"), std::string::npos)
      << built.errors[0];
  EXPECT_NE(built.errors[1].find("httproute team/foreign: listener http of gateway default/gw "
                                 "does not allow routes from namespace team"),
            std::string::npos)
      << built.errors[1];

  // Selector: namespaces labelled team=a.
  auto sel = cluster("", "Selector");
  sel.gateways.begin()->second["spec"]["listeners"][0]["allowedRoutes"]["namespaces"]["selector"] =
      {{"matchLabels", {{"team", "a"}}}};
  add(sel.namespaces, {{"metadata", {{"name", "team"}, {"labels", {{"team", "a"}}}}}});
  add(sel.namespaces, {{"metadata", {{"name", "other"}, {"labels", {{"team", "b"}}}}}});
  // The routes' backend, in their namespace.
  json team_svc = service("web"), team_slice = slice("web", 8080, {"10.0.0.2"});
  team_svc["metadata"]["namespace"] = team_slice["metadata"]["namespace"] = "team";
  add(sel.services, team_svc);
  add(sel.endpoint_slices, team_slice);
  json other_svc = team_svc, other_slice = team_slice;
  other_svc["metadata"]["namespace"] = other_slice["metadata"]["namespace"] = "other";
  add(sel.services, other_svc);
  add(sel.endpoint_slices, other_slice);
  add(sel.http_routes, route("in", rules, json::array({"in.test"}), "team"));
  add(sel.http_routes, route("out", rules, json::array({"out.test"}), "other"));
  built = build_gateway_configuration(sel, {}, kEps);
  d = decode(built);
  ASSERT_EQ(d.http.routers.size(), 1u);
  EXPECT_EQ(d.http.routers.begin()->second.rule, "Host(`in.test`) && PathPrefix(`/`)");
}

TEST(GatewayConfig, UnresolvedBackendIsAnswered500AndNamed) {
  auto in = cluster();
  add(in.http_routes, route("ok", json::array({{{"backendRefs", json::array({backend()})}}}),
                            json::array({"ok.test"})));
  add(in.http_routes,
      route("foo", json::array({{{"backendRefs", json::array({backend(), backend("x")})}}}),
            json::array({"foo.test"})));
  add(in.http_routes, route("none", json::array({json::object()}), json::array({"none.test"})));
  auto built = build_gateway_configuration(in, {}, kEps);
  auto d = decode(built);
  ASSERT_EQ(d.http.routers.size(), 3u);
  ASSERT_EQ(built.errors.size(), 1u);
  EXPECT_EQ(built.errors[0], "httproute default/foo: backendRef x: service default/x not found; "
                             "requests for that backend are answered 500");
  // The unresolved backendRef keeps its weight, on the internal service that answers 500.
  const auto& w = d.http.services.at("default-foo-gw-web-0-wrr@kubernetesgateway").weighted;
  ASSERT_TRUE(w);
  ASSERT_EQ(w->services.size(), 2u);
  EXPECT_EQ(w->services[0].name, "default-web-80@kubernetesgateway");
  EXPECT_EQ(w->services[1].name, std::string(kInvalidBackendService));
  // A rule without backendRefs: all its traffic (if no filter answers) gets 500; no error.
  const auto& none = d.http.services.at("default-none-gw-web-0-wrr@kubernetesgateway").weighted;
  ASSERT_TRUE(none);
  ASSERT_EQ(none->services.size(), 1u);
  EXPECT_EQ(none->services[0].name, std::string(kInvalidBackendService));
}

TEST(GatewayConfig, CrossNamespaceCertificateRefNeedsAReferenceGrant) {
  auto in = cluster();
  // "-----BEGIN X-----" base64: a PEM-looking value is enough for the configuration.
  add(in.secrets, {{"metadata", meta("site", "certs")},
                   {"data", {{"tls.crt", "LS0tLS1CRUdJTiBYLS0tLS0="},
                             {"tls.key", "LS0tLS1CRUdJTiBYLS0tLS0="}}}});
  json https = {{"name", "https"},
                {"port", 8443},
                {"protocol", "HTTPS"},
                {"tls",
                 {{"certificateRefs",
                   json::array({{{"kind", "Secret"}, {"name", "site"}, {"namespace", "certs"}}})}}}};
  in.gateways.begin()->second["spec"]["listeners"].push_back(https);
  auto built = build_gateway_configuration(in, {}, kEps);
  ASSERT_EQ(built.errors.size(), 1u);
  EXPECT_EQ(built.errors[0], "gateway default/gw: listener https: certificateRef to secret "
                             "certs/site in another namespace is not permitted (no "
                             "ReferenceGrant in certs allows it); the listener is not served");
  EXPECT_TRUE(decode(built).tls.certificates.empty());
  // A grant in the Secret's namespace, from Gateways of the Gateway's namespace.
  add(in.reference_grants,
      {{"metadata", meta("gateways-may-read", "certs")},
       {"spec",
        {{"from", json::array({{{"group", "gateway.networking.k8s.io"},
                                {"kind", "Gateway"},
                                {"namespace", "default"}}})},
         {"to", json::array({{{"group", ""}, {"kind", "Secret"}}})}}}});
  built = build_gateway_configuration(in, {}, kEps);
  EXPECT_TRUE(built.errors.empty()) << built.errors[0];
  EXPECT_EQ(decode(built).tls.certificates.size(), 1u);
}

TEST(GatewayConfig, GrpcRouteAsTraefik) {
  auto in = cluster();
  json rules = json::array(
      {{{"matches",
         json::array({{{"method", {{"service", "pkg.Svc"}, {"method", "Get"}}},
                       {"headers", json::array({{{"name", "x-v"}, {"value", "1"}}})}},
                      {{"method", {{"type", "RegularExpression"}, {"method", "Li.*"}}}}})},
        {"backendRefs", json::array({backend()})}}});
  json r = route("g", rules, json::array({"g.test"}));
  add(in.grpc_routes, r);
  auto built = build_gateway_configuration(in, {}, kEps);
  EXPECT_TRUE(built.errors.empty()) << built.errors[0];
  auto d = decode(built);
  std::map<std::string, int64_t> got;
  for (const auto& [name, router] : d.http.routers) {
    got[router.rule] = router.priority;
    EXPECT_TRUE(name.starts_with("grpcroute-default-g-gw-web-0-")) << name;
    EXPECT_EQ(router.service, "grpcroute-default-g-gw-web-0-wrr@kubernetesgateway");
  }
  // Traefik's buildGRPCMatchRule: the method as a path regexp (exact names quoted), priority =
  // the host part's plus the length of the rest.
  const std::string exact = "PathRegexp(`/pkg\\.Svc/Get`) && Header(`x-v`,`1`)";
  const std::string re = "PathRegexp(`/[^/]+/Li.*`)";
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got.at("Host(`g.test`) && " + exact), static_cast<int64_t>(6 + exact.size()));
  EXPECT_EQ(got.at("Host(`g.test`) && " + re), static_cast<int64_t>(6 + re.size()));
  // Backends speak h2c.
  const auto& lb = *d.http.services.at("default-web-80-grpc@kubernetesgateway").load_balancer;
  ASSERT_EQ(lb.servers.size(), 1u);
  EXPECT_EQ(lb.servers[0].url, "h2c://10.0.0.1:8080");
  // Filters other than header modifiers and ExtensionRef drop the route.
  rules[0]["filters"] = json::array({{{"type", "RequestRedirect"}, {"requestRedirect", json::object()}}});
  in.grpc_routes.clear();
  add(in.grpc_routes, route("g", rules, json::array({"g.test"})));
  built = build_gateway_configuration(in, {}, kEps);
  ASSERT_EQ(built.errors.size(), 1u);
  EXPECT_NE(built.errors[0].find("grpcroute default/g: filter RequestRedirect is not supported on a "
                                 "GRPCRoute"),
            std::string::npos)
      << built.errors[0];
}

TEST(GatewayConfig, ListenerWithoutEntryPointOrOfAnotherClassIsNotServed) {
  auto in = cluster();
  in.gateways.begin()->second["spec"]["listeners"][0]["port"] = 9999;
  add(in.gateways, {{"metadata", meta("theirs")},
                    {"spec", {{"gatewayClassName", "other"},
                              {"listeners", json::array({{{"name", "http"},
                                                          {"port", 8000},
                                                          {"protocol", "HTTP"}}})}}}});
  auto built = build_gateway_configuration(in, {}, kEps);
  ASSERT_EQ(built.errors.size(), 1u);
  EXPECT_EQ(built.errors[0], "gateway default/gw: listener http: no entryPoint listens on port 9999");
}

TEST(GatewayConfig, FiltersBecomeMiddlewares) {
  auto in = cluster();
  json filters = json::array(
      {{{"type", "RequestHeaderModifier"},
        {"requestHeaderModifier",
         {{"set", json::array({{{"name", "X-Set"}, {"value", "1"}}})}, {"remove", {"X-Drop"}}}}},
       {{"type", "URLRewrite"},
        {"urlRewrite",
         {{"hostname", "internal.test"},
          {"path", {{"type", "ReplacePrefixMatch"}, {"replacePrefixMatch", "/v2"}}}}}},
       {{"type", "ExtensionRef"},
        {"extensionRef", {{"group", "traefik.io"}, {"kind", "Middleware"}, {"name", "auth"}}}},
       {{"type", "RequestRedirect"}, {"requestRedirect", {{"scheme", "https"}, {"statusCode", 301}}}}});
  json rules = json::array(
      {{{"matches", json::array({{{"path", {{"type", "PathPrefix"}, {"value", "/api"}}}}})},
        {"filters", filters},
        {"backendRefs", json::array({backend()})}}});
  add(in.http_routes, route("f", rules));
  auto built = build_gateway_configuration(in, {}, kEps);
  ASSERT_TRUE(built.errors.empty()) << built.errors[0];
  auto d = decode(built);
  ASSERT_EQ(d.http.routers.size(), 1u);
  const auto& r = d.http.routers.begin()->second;
  ASSERT_EQ(r.middlewares.size(), 5u);
  EXPECT_TRUE(r.middlewares[0].find("-requestheadermodifier-0@") != std::string::npos);
  EXPECT_TRUE(r.middlewares[1].find("-urlrewrite-1-host@") != std::string::npos);
  EXPECT_EQ(r.middlewares[3], "default-auth@kubernetescrd");
  EXPECT_EQ(d.http.middlewares.size(), 4u);
}

json tls_policy(const std::string& name, json validation, const std::string& section = "",
                const std::string& created = "2026-01-01T00:00:00Z") {
  json target = {{"group", ""}, {"kind", "Service"}, {"name", "web"}};
  if (!section.empty())
    target["sectionName"] = section;
  return {{"metadata", {{"name", name}, {"namespace", "default"}, {"creationTimestamp", created}}},
          {"spec", {{"targetRefs", json::array({target})}, {"validation", validation}}}};
}

TEST(GatewayConfig, BackendTlsPolicyMakesTheBackendHttpsWithItsCa) {
  auto in = cluster();
  add(in.config_maps, {{"metadata", meta("web-ca")}, {"data", {{"ca.crt", "-----BEGIN CERT..."}}}});
  json ca_ref = {{"group", ""}, {"kind", "ConfigMap"}, {"name", "web-ca"}};
  add(in.backend_tls_policies,
      tls_policy("web-tls", {{"hostname", "web.internal"}, {"caCertificateRefs", {ca_ref}}}));
  // A newer policy for the same Service loses the conflict.
  add(in.backend_tls_policies,
      tls_policy("newer", {{"hostname", "other"}, {"wellKnownCACertificates", "System"}}, "",
                 "2026-02-01T00:00:00Z"));
  add(in.http_routes, route("r", json::array({{{"backendRefs", json::array({backend()})}}})));
  auto built = build_gateway_configuration(in, {}, kEps);
  ASSERT_TRUE(built.errors.empty()) << built.errors[0];
  auto d = decode(built);
  const auto& lb = *d.http.services.at("default-web-80@kubernetesgateway").load_balancer;
  ASSERT_EQ(lb.servers.size(), 1u);
  EXPECT_EQ(lb.servers[0].url, "https://10.0.0.1:8080");
  EXPECT_EQ(lb.servers_transport, "default-web-tls@kubernetesgateway");
  const auto& st = d.http.servers_transports.at("default-web-tls@kubernetesgateway");
  EXPECT_EQ(st.server_name, "web.internal");
  EXPECT_EQ(st.root_cas, std::vector<std::string>{"-----BEGIN CERT..."});
}

TEST(GatewayConfig, BackendTlsPolicyForAnotherPortOrBrokenLeavesTheRef) {
  auto in = cluster();
  add(in.backend_tls_policies,
      tls_policy("p", {{"hostname", "web.internal"}, {"wellKnownCACertificates", "System"}},
                 "metrics")); // another port of the Service
  add(in.http_routes, route("r", json::array({{{"backendRefs", json::array({backend()})}}})));
  auto built = build_gateway_configuration(in, {}, kEps);
  ASSERT_TRUE(built.errors.empty()) << built.errors[0];
  auto d = decode(built);
  const auto& lb = *d.http.services.at("default-web-80@kubernetesgateway").load_balancer;
  EXPECT_EQ(lb.servers[0].url, "http://10.0.0.1:8080");
  EXPECT_TRUE(lb.servers_transport.empty());
  EXPECT_TRUE(d.http.servers_transports.empty());

  // A policy whose CA ConfigMap is missing: the backendRef does not resolve (its share is 500).
  auto in2 = cluster();
  json ca_ref = {{"group", ""}, {"kind", "ConfigMap"}, {"name", "missing"}};
  add(in2.backend_tls_policies,
      tls_policy("p", {{"hostname", "web.internal"}, {"caCertificateRefs", {ca_ref}}}));
  add(in2.http_routes, route("r", json::array({{{"backendRefs", json::array({backend()})}}})));
  built = build_gateway_configuration(in2, {}, kEps);
  auto all = built.tree.debug_string();
  EXPECT_NE(all.find("invalid-backend@internal"), std::string::npos) << all;
  bool reported = false;
  for (const auto& e : built.errors)
    reported = reported || e.find("configmap default/missing does not exist") != std::string::npos;
  EXPECT_TRUE(reported) << (built.errors.empty() ? "no error" : built.errors[0]);
}

TEST(GatewayConfig, NativeLbByDefaultAndPerServiceAnnotation) {
  auto in = cluster();
  in.services["default/web"]["spec"]["clusterIP"] = "10.96.0.12";
  add(in.http_routes, route("r", json::array({{{"backendRefs", json::array({backend()})}}})));
  config::KubernetesProviderConfig o;
  o.native_lb_by_default = true;
  auto d = decode(build_gateway_configuration(in, o, kEps));
  EXPECT_EQ(d.http.services.at("default-web-80@kubernetesgateway").load_balancer->servers[0].url,
            "http://10.96.0.12:80");
  in.services["default/web"]["metadata"]["annotations"] = {
      {"traefik.io/service.nativelb", "false"}};
  d = decode(build_gateway_configuration(in, o, kEps));
  EXPECT_EQ(d.http.services.at("default-web-80@kubernetesgateway").load_balancer->servers[0].url,
            "http://10.0.0.1:8080");
}

TEST(GatewayConfig, StatusIsWrittenOnlyWhenItChanges) {
  auto in = cluster();
  add(in.http_routes, route("ok", json::array({{{"backendRefs", json::array({backend()})}}})));
  add(in.http_routes, route("bad", json::array({{{"backendRefs", json::array({backend("x")})}}})));
  auto built = build_gateway_configuration(in, {}, kEps);
  ASSERT_EQ(built.status_writes.size(), 3u); // the Gateway and both routes
  std::map<std::string, json> by_path;
  for (const auto& w : built.status_writes)
    by_path[w.path] = w.object;
  const json& bad =
      by_path.at("/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes/bad/status");
  const json& conds = bad["status"]["parents"][0]["conditions"];
  EXPECT_EQ(conds[0]["type"], "Accepted");
  EXPECT_EQ(conds[0]["status"], "True");
  EXPECT_EQ(conds[1]["type"], "ResolvedRefs");
  EXPECT_EQ(conds[1]["status"], "False");
  EXPECT_EQ(conds[1]["reason"], "BackendNotFound");
  const json& gw =
      by_path.at("/apis/gateway.networking.k8s.io/v1/namespaces/default/gateways/gw/status");
  EXPECT_EQ(gw["status"]["listeners"][0]["attachedRoutes"], 2);
  // The written statuses come back with the objects: nothing more to write.
  for (auto& [path, obj] : by_path) {
    ObjectMap& m = path.find("/gateways/") != std::string::npos ? in.gateways : in.http_routes;
    m[object_key(obj)] = obj;
  }
  EXPECT_TRUE(build_gateway_configuration(in, {}, kEps).status_writes.empty());
}

TEST(GatewayConfig, StatusAddressesFromStatusAddress) {
  auto in = cluster();
  json lb = service("traefik", 443);
  lb["metadata"]["namespace"] = "infra";
  lb["status"] = {
      {"loadBalancer",
       {{"ingress", json::array({{{"ip", "203.0.113.7"}}, {{"hostname", "lb.test"}}})}}}};
  add(in.services, lb);
  auto gateway_status = [&](const config::KubernetesProviderConfig& o) {
    for (const auto& w : build_gateway_configuration(in, o, kEps).status_writes)
      if (w.path.ends_with("/gateways/gw/status"))
        return w.object["status"];
    return json();
  };
  config::KubernetesProviderConfig o;
  EXPECT_FALSE(gateway_status(o).contains("addresses"));
  o.status_address = config::KubernetesProviderConfig::StatusAddress{"192.0.2.1", "", "", ""};
  EXPECT_EQ(gateway_status(o)["addresses"],
            json::array({{{"type", "IPAddress"}, {"value", "192.0.2.1"}}}));
  o.status_address = config::KubernetesProviderConfig::StatusAddress{"", "", "traefik", "infra"};
  EXPECT_EQ(gateway_status(o)["addresses"],
            json::array({{{"type", "IPAddress"}, {"value", "203.0.113.7"}},
                         {{"type", "Hostname"}, {"value", "lb.test"}}}));
}

TEST(GatewayConfig, QuoteMeta) {
  EXPECT_EQ(quote_meta("*.a-b.com/x?(y)"), "\\*\\.a-b\\.com/x\\?\\(y\\)");
}

} // namespace
} // namespace turnpike::provider::kubernetes
