#include "provider/kubernetes/gateway.h"

#include <algorithm>
#include <ctime>
#include <map>
#include <set>

#include "common/strings.h"
#include "provider/kubernetes/objects.h"
#include "provider/validate.h"

namespace turnpike::provider::kubernetes {

using config::Node;
using json = nlohmann::json;

std::string quote_meta(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::string_view(R"(\.+*?()|[]{}^$)").find(c) != std::string_view::npos)
      out += '\\';
    out += c;
  }
  return out;
}

namespace {

constexpr std::string_view kController = "traefik.io/gateway-controller";
constexpr std::string_view kGatewayGroup = "gateway.networking.k8s.io";
constexpr const char* kProvider = "kubernetesgateway";

using Errors = std::vector<std::string>;

std::string ns_of(const json& obj) {
  return str(field(obj, "metadata"), "namespace");
}
std::string name_of(const json& obj) {
  return str(field(obj, "metadata"), "name");
}
int int_of(const json& j, const char* key, int fallback = 0) {
  const json& v = field(j, key);
  return v.is_number_integer() ? v.get<int>() : fallback;
}

// An accepted listener of one of our Gateways.
struct Listener {
  std::string gateway; // namespace/name
  std::string gateway_ns, gateway_name;
  std::string name;
  int port = 0;
  std::string entry_point;
  bool https = false;
  std::string hostname; // empty = any
  std::string from = "Same";
  json selector;
  size_t status_index = 0; // in its Gateway's status.listeners
};

// A metav1.Condition.
json condition(const char* type, bool ok, const std::string& reason, const std::string& message,
               const json& generation) {
  json c = {
      {"type", type}, {"status", ok ? "True" : "False"}, {"reason", reason}, {"message", message}};
  if (generation.is_number_integer())
    c["observedGeneration"] = generation;
  return c;
}

std::string now_rfc3339() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Gives each condition (at any depth) the lastTransitionTime of the old status's condition at
// the same place when its type and status did not change, else `now`.
void carry_transition_times(json& fresh, const json& old, const std::string& now) {
  if (fresh.is_object()) {
    if (fresh.contains("type") && fresh.contains("status") && fresh.contains("reason")) {
      bool same = old.is_object() && old.value("type", "") == fresh.value("type", "") &&
                  old.value("status", "") == fresh.value("status", "");
      fresh["lastTransitionTime"] =
          same && old.contains("lastTransitionTime") ? old["lastTransitionTime"] : json(now);
    }
    for (auto& [k, v] : fresh.items())
      carry_transition_times(v, field(old, k.c_str()), now);
  } else if (fresh.is_array()) {
    for (size_t i = 0; i < fresh.size(); ++i)
      carry_transition_times(fresh[i], old.is_array() && i < old.size() ? old[i] : json(), now);
  }
}

// Kubernetes label selector (matchLabels, matchExpressions) against `labels`.
bool selector_matches(const json& selector, const json& labels) {
  for (const auto& [k, v] : field(selector, "matchLabels").items())
    if (!v.is_string() || str(labels, k.c_str()) != v.get<std::string>())
      return false;
  for (const auto& e : field(selector, "matchExpressions")) {
    std::string key = str(e, "key"), op = str(e, "operator");
    const json& have = field(labels, key.c_str());
    bool present = have.is_string();
    bool in = false;
    for (const auto& v : field(e, "values"))
      in = in || (present && v == have);
    if ((op == "In" && !in) || (op == "NotIn" && in) || (op == "Exists" && !present) ||
        (op == "DoesNotExist" && present))
      return false;
  }
  return true;
}

// `host` matches wildcard `pattern` (`*.example.com`): one or more labels before the domain.
bool wildcard_covers(std::string_view pattern, std::string_view host) {
  if (!pattern.starts_with("*."))
    return false;
  std::string_view domain = pattern.substr(1); // ".example.com"
  std::string_view h = host.starts_with("*.") ? host.substr(1) : host;
  return h.size() > domain.size() && h.ends_with(domain);
}

// The hostnames a route serves on a listener (Gateway API: the intersection of the listener's
// hostname and the route's hostnames); false when they do not intersect.
bool matching_hostnames(const std::string& listener, const std::vector<std::string>& route,
                        std::vector<std::string>& out) {
  if (listener.empty()) {
    out = route;
    return true;
  }
  if (route.empty()) {
    out = {listener};
    return true;
  }
  for (const auto& h : route) {
    if (h == listener)
      out.push_back(h);
    else if (wildcard_covers(listener, h))
      out.push_back(h); // the route's name is the more specific one
    else if (wildcard_covers(h, listener))
      out.push_back(listener);
  }
  return !out.empty();
}

std::string host_rule(const std::vector<std::string>& hostnames, int& priority) {
  std::vector<std::string> rules;
  for (const auto& host : hostnames) {
    priority = std::max<int>(priority, static_cast<int>(host.size()));
    if (host.find('*') == std::string::npos) {
      rules.push_back("Host(`" + host + "`)");
      continue;
    }
    std::string re = quote_meta(host);
    if (auto p = re.find("\\*\\."); p != std::string::npos)
      re.replace(p, 4, "[a-z0-9-\\.]+\\.");
    rules.push_back("HostRegexp(`^" + re + "$`)");
  }
  if (rules.size() <= 1)
    return rules.empty() ? std::string() : rules[0];
  std::string out = "(" + rules[0];
  for (size_t i = 1; i < rules.size(); ++i)
    out += " || " + rules[i];
  return out + ")";
}

// Traefik's buildPathRule.
std::string path_rule(const json& path, int& priority, Errors& errs) {
  std::string type = str(path, "type"), value = str(path, "value");
  if (type.empty())
    type = "PathPrefix";
  if (value.empty())
    value = "/";
  if (type == "Exact") {
    priority += 100000;
    return "Path(`" + value + "`)";
  }
  if (type == "PathPrefix") {
    if (value == "/") {
      priority += 1;
      return "PathPrefix(`/`)";
    }
    std::string pv = value.ends_with('/') ? value.substr(0, value.size() - 1) : value;
    priority += 10000 + static_cast<int>(value.size()) * 100;
    return "(Path(`" + pv + "`) || PathPrefix(`" + pv + "/`))";
  }
  if (type == "RegularExpression") {
    priority += 10000 + static_cast<int>(value.size()) * 100;
    return "PathRegexp(`" + value + "`)";
  }
  errs.push_back("path match type \"" + type + "\" is not supported");
  return {};
}

// The name/value matches of `match[key]` (headers, queryParams), Exact or RegularExpression,
// appended to `rule` as ` && <exact>(`n`,`v`)` or ` && <regexp>(...)`; returns how many.
int pair_rules(const json& match, const char* key, const char* exact, const char* regexp,
               std::string& rule, Errors& errs) {
  int n = 0;
  for (const auto& h : field(match, key)) {
    const std::string type = str(h, "type");
    const bool re = type == "RegularExpression";
    if (!type.empty() && type != "Exact" && !re) {
      errs.push_back(std::string(key) + " match type \"" + type + "\" is not supported");
      continue;
    }
    rule += std::string(" && ") + (re ? regexp : exact) + "(`" + str(h, "name") + "`,`" +
            str(h, "value") + "`)";
    ++n;
  }
  return n;
}

// Traefik's buildMatchRule: the rule of one HTTPRouteMatch and its priority.
std::string match_rule(const std::vector<std::string>& hostnames, const json& match, int& priority,
                       Errors& errs) {
  priority = 0;
  std::string rule = path_rule(field(match, "path"), priority, errs);
  if (auto m = str(match, "method"); !m.empty()) {
    rule += " && Method(`" + m + "`)";
    priority += 1000;
  }
  priority += 100 * pair_rules(match, "headers", "Header", "HeaderRegexp", rule, errs);
  priority += 10 * pair_rules(match, "queryParams", "Query", "QueryRegexp", rule, errs);
  int host_priority = 0;
  std::string host = host_rule(hostnames, host_priority);
  if (host.empty())
    return rule;
  priority += host_priority;
  return host + " && " + rule;
}

// Traefik's buildGRPCMatchRule: the rule of one GRPCRouteMatch (the method as a path
// `/<service>/<method>`, each header) and its priority (the rule's length plus the host part's).
std::string grpc_match_rule(const std::vector<std::string>& hostnames, const json& match,
                            int& priority, Errors& errs) {
  std::string rule = "PathPrefix(`/`)";
  if (const json& method = field(match, "method"); method.is_object()) {
    const std::string type = str(method, "type");
    const bool exact = type.empty() || type == "Exact";
    if (!exact && type != "RegularExpression")
      errs.push_back("method match type \"" + type + "\" is not supported");
    auto part = [&](const char* key) {
      const std::string v = str(method, key);
      return v.empty() ? std::string("[^/]+") : exact ? quote_meta(v) : v;
    };
    rule = "PathRegexp(`/" + part("service") + "/" + part("method") + "`)";
  }
  pair_rules(match, "headers", "Header", "HeaderRegexp", rule, errs);
  int host_priority = 0;
  const std::string host = host_rule(hostnames, host_priority);
  priority = host_priority + static_cast<int>(rule.size());
  return host.empty() ? rule : host + " && " + rule;
}

class GatewayBuilder {
public:
  GatewayBuilder(const GatewayInputs& in, const config::KubernetesProviderConfig& o,
                 const std::vector<EntryPointPort>& eps, BuiltConfig& out)
      : in_(in), o_(o), eps_(eps), out_(out) {
    out_.tree = Node::map();
  }

  void build() {
    std::set<std::string> classes;
    for (const auto& [name, cls] : in_.gateway_classes)
      if (str(field(cls, "spec"), "controllerName") == kController)
        classes.insert(name);
    for (const auto& [key, gw] : in_.gateways) {
      if (!classes.contains(str(field(gw, "spec"), "gatewayClassName")))
        continue;
      Node tree = Node::map();
      gateway(key, gw, tree);
      for (auto& e : drop_invalid_objects(tree, kProvider, "gateway " + key))
        out_.errors.push_back(std::move(e));
      merge_first_wins(out_.tree, tree);
    }
    for (const auto& [key, route] : in_.http_routes)
      route_object(key, route, false);
    for (const auto& [key, route] : in_.grpc_routes)
      route_object(key, route, true);
    gateway_statuses();
  }

private:
  // One HTTPRoute or GRPCRoute: its routers, services and middlewares join the tree unless it
  // cannot be served as written; its status is written back either way.
  void route_object(const std::string& key, const json& route, bool grpc) {
    grpc_ = grpc;
    const std::string what = (grpc ? "grpcroute " : "httproute ") + key;
    Node tree = Node::map();
    Errors errs;
    json parents = json::array();
    ref_errs_.clear();
    http_route(route, tree, errs, parents);
    Errors all = errs;
    all.insert(all.end(), ref_errs_.begin(), ref_errs_.end());
    route_status(route, parents, all);
    if (!errs.empty()) {
      std::set<std::string> seen; // a rule's filters are built once per match
      for (auto& e : errs)
        if (seen.insert(e).second)
          out_.errors.push_back(what + ": " + e + "; the route is not served");
      return;
    }
    for (auto& e : ref_errs_)
      out_.errors.push_back(what + ": " + e + "; requests for that backend are answered " +
                            (grpc ? "gRPC UNAVAILABLE" : "500"));
    for (auto& e : drop_invalid_objects(tree, kProvider, what))
      out_.errors.push_back(std::move(e));
    merge_first_wins(out_.tree, tree);
  }

  // status.parents: Accepted per parent (set by http_route), ResolvedRefs from the route's errors.
  void route_status(const json& route, json& parents, const Errors& errs) {
    if (parents.empty())
      return; // not attached to any of our Gateways: another controller's route
    std::string reason = "ResolvedRefs", message;
    for (const auto& e : errs) {
      if (e.find("not found") != std::string::npos || e.find("no ready") != std::string::npos)
        reason = "BackendNotFound";
      else if (e.find("another namespace") != std::string::npos)
        reason = "RefNotPermitted";
      else if (reason == "ResolvedRefs")
        reason = "InvalidKind";
      message += (message.empty() ? "" : "; ") + e;
    }
    for (auto& p : parents)
      p["conditions"].push_back(
          condition("ResolvedRefs", errs.empty(), reason, message, generation_of(route)));
    write_status(route, grpc_ ? "grpcroutes" : "httproutes", {{"parents", std::move(parents)}});
  }

  void gateway(const std::string& key, const json& gw, Node& tree) {
    const std::string ns = ns_of(gw);
    for (const auto& l : field(field(gw, "spec"), "listeners")) {
      Listener li;
      li.gateway = key;
      li.gateway_ns = ns;
      li.gateway_name = name_of(gw);
      li.name = str(l, "name");
      li.port = int_of(l, "port");
      li.hostname = str(l, "hostname");
      json& statuses = gateway_status_[key].listeners;
      li.status_index = statuses.size();
      statuses.push_back(
          {{"name", li.name},
           {"supportedKinds", json::array({{{"group", kGatewayGroup}, {"kind", "HTTPRoute"}},
                                           {{"group", kGatewayGroup}, {"kind", "GRPCRoute"}}})},
           {"attachedRoutes", 0},
           {"conditions", json::array()}});
      auto fail = [&](const std::string& what) {
        out_.errors.push_back("gateway " + key + ": listener " + li.name + ": " + what);
        json& c = gateway_status_[key].listeners[li.status_index]["conditions"];
        if (c.empty()) {
          c.push_back(condition("Accepted", false, "Invalid", what, generation_of(gw)));
          c.push_back(condition("Programmed", false, "Invalid", what, generation_of(gw)));
        }
        gateway_status_[key].programmed = false;
      };
      std::string protocol = str(l, "protocol");
      if (protocol != "HTTP" && protocol != "HTTPS") {
        fail("protocol \"" + protocol + "\" is not supported (HTTP, HTTPS)");
        continue;
      }
      li.https = protocol == "HTTPS";
      for (const auto& ep : eps_)
        if (ep.port == li.port)
          li.entry_point = ep.name;
      if (li.entry_point.empty()) {
        fail("no entryPoint listens on port " + std::to_string(li.port));
        continue;
      }
      const json& ns_rule = field(field(l, "allowedRoutes"), "namespaces");
      if (auto from = str(ns_rule, "from"); !from.empty())
        li.from = from;
      li.selector = field(ns_rule, "selector");
      if (li.from != "Same" && li.from != "All" && li.from != "Selector") {
        fail("allowedRoutes.namespaces.from \"" + li.from + "\" is not supported");
        continue;
      }
      if (li.https) {
        Errors errs;
        listener_tls(ns, field(l, "tls"), tree, errs);
        if (!errs.empty()) {
          for (const auto& e : errs)
            fail(e + "; the listener is not served");
          continue;
        }
      }
      json& c = gateway_status_[key].listeners[li.status_index]["conditions"];
      c.push_back(condition("Accepted", true, "Accepted", "", generation_of(gw)));
      c.push_back(condition("Programmed", true, "Programmed", "", generation_of(gw)));
      c.push_back(condition("ResolvedRefs", true, "ResolvedRefs", "", generation_of(gw)));
      listeners_.push_back(std::move(li));
    }
  }

  static const json& generation_of(const json& obj) {
    return field(field(obj, "metadata"), "generation");
  }

  // Queues a status write when `status` differs from the object's (transition times aside).
  void write_status(const json& obj, const std::string& plural, json status) {
    const json& old = field(obj, "status");
    carry_transition_times(status, old, now_);
    if (status == old)
      return;
    json updated = obj;
    updated["status"] = std::move(status);
    out_.status_writes.push_back({"/apis/gateway.networking.k8s.io/v1/namespaces/" + ns_of(obj) +
                                      "/" + plural + "/" + name_of(obj) + "/status",
                                  std::move(updated)});
  }

  void gateway_statuses() {
    const json addresses = status_addresses(); // the same for every Gateway
    for (auto& [key, st] : gateway_status_) {
      const json& gw = in_.gateways.at(key);
      json status = {
          {"conditions",
           json::array(
               {condition("Accepted", true, "Accepted", "", generation_of(gw)),
                condition("Programmed", st.programmed, st.programmed ? "Programmed" : "Invalid",
                          st.programmed ? "" : "a listener is not served", generation_of(gw))})},
          {"listeners", st.listeners}};
      if (!addresses.empty())
        status["addresses"] = addresses;
      write_status(gw, "gateways", std::move(status));
    }
  }

  // status.addresses from providers.kubernetesGateway.statusAddress (Traefik's order: ip, then
  // hostname, then the Service's load-balancer ingress addresses).
  json status_addresses() const {
    json out = json::array();
    if (!o_.status_address)
      return out;
    const auto& sa = *o_.status_address;
    auto add = [&](const char* type, const std::string& value) {
      out.push_back({{"type", type}, {"value", value}});
    };
    if (!sa.ip.empty()) {
      add("IPAddress", sa.ip);
    } else if (!sa.hostname.empty()) {
      add("Hostname", sa.hostname);
    } else if (auto it = in_.services.find(sa.service_namespace + "/" + sa.service_name);
               it != in_.services.end()) {
      for (const auto& ing : field(field(field(it->second, "status"), "loadBalancer"), "ingress")) {
        if (!str(ing, "ip").empty())
          add("IPAddress", str(ing, "ip"));
        else if (!str(ing, "hostname").empty())
          add("Hostname", str(ing, "hostname"));
      }
    }
    return out;
  }

  // An HTTPS listener's certificates (Secrets of the Gateway's namespace).
  void listener_tls(const std::string& ns, const json& tls, Node& tree, Errors& errs) {
    if (auto mode = str(tls, "mode"); !mode.empty() && mode != "Terminate") {
      errs.push_back("tls.mode " + mode + " is not supported on an HTTPS listener");
      return;
    }
    const json& refs = field(tls, "certificateRefs");
    if (refs.empty())
      errs.push_back("an HTTPS listener needs tls.certificateRefs");
    for (const auto& ref : refs) {
      std::string group = str(ref, "group"), kind = str(ref, "kind"), name = str(ref, "name");
      std::string rns = str(ref, "namespace");
      if (!group.empty() || (!kind.empty() && kind != "Secret")) {
        errs.push_back("certificateRef " + group + "/" + kind + " " + name +
                       " is not a core Secret");
        continue;
      }
      if (rns.empty())
        rns = ns;
      if (rns != ns && !granted("Gateway", ns, "Secret", rns, name)) {
        errs.push_back("certificateRef to secret " + rns + "/" + name +
                       " in another namespace is not permitted (no ReferenceGrant in " + rns +
                       " allows it)");
        continue;
      }
      auto it = in_.secrets.find(rns + "/" + name);
      if (it == in_.secrets.end()) {
        errs.push_back("secret " + rns + "/" + name + " not found");
        continue;
      }
      const json& data = field(it->second, "data");
      std::string crt = base64_decode(str(data, "tls.crt"));
      std::string k = base64_decode(str(data, "tls.key"));
      if (crt.empty() || k.empty()) {
        errs.push_back("secret " + rns + "/" + name + " has no tls.crt/tls.key");
        continue;
      }
      if (!certs_.insert(rns + "/" + name).second)
        continue;
      Node c = Node::map();
      c.child("certFile") = Node::scalar(crt);
      c.child("keyFile") = Node::scalar(k);
      Node& list = tree.child("tls").child("certificates");
      if (!list.is_list())
        list = Node::list();
      list.items().push_back(std::move(c));
    }
  }

  bool allowed(const Listener& l, const std::string& route_ns) const {
    if (l.from == "All")
      return true;
    if (l.from == "Same")
      return route_ns == l.gateway_ns;
    auto it = in_.namespaces.find(route_ns);
    const json& labels = it == in_.namespaces.end()
                             ? json::object()
                             : field(field(it->second, "metadata"), "labels");
    return selector_matches(l.selector, labels);
  }

  void http_route(const json& route, Node& tree, Errors& errs, json& parents) {
    const std::string ns = ns_of(route);
    const json& spec = field(route, "spec");
    std::vector<std::string> hostnames;
    for (const auto& h : field(spec, "hostnames"))
      if (h.is_string())
        hostnames.push_back(h.get<std::string>());
    bool attached = false;
    Errors refused;
    for (const auto& pr : field(spec, "parentRefs")) {
      std::string group = str(pr, "group"), kind = str(pr, "kind");
      if ((!group.empty() && group != kGatewayGroup) || (!kind.empty() && kind != "Gateway"))
        continue;
      std::string pns = str(pr, "namespace");
      std::string gw = (pns.empty() ? ns : pns) + "/" + str(pr, "name");
      std::string section_name = str(pr, "sectionName");
      int port = int_of(pr, "port");
      bool ours = false, matched = false, here = false;
      size_t refused_before = refused.size();
      for (const auto& l : listeners_) {
        ours = ours || l.gateway == gw;
        if (l.gateway != gw || (!section_name.empty() && l.name != section_name) ||
            (port != 0 && l.port != port))
          continue;
        matched = true;
        if (!allowed(l, ns)) {
          refused.push_back("listener " + l.name + " of gateway " + gw +
                            " does not allow routes from namespace " + ns + " (allowedRoutes " +
                            l.from + ")");
          continue;
        }
        std::vector<std::string> names;
        if (!matching_hostnames(l.hostname, hostnames, names)) {
          refused.push_back("no hostname of the route matches listener " + l.name + " of gateway " +
                            gw + " (" + l.hostname + ")");
          continue;
        }
        attached = here = true;
        gateway_status_[gw].listeners[l.status_index]["attachedRoutes"] =
            gateway_status_[gw].listeners[l.status_index].value("attachedRoutes", 0) + 1;
        on_listener(route, l, names, tree, errs);
      }
      if (ours && !matched)
        refused.push_back("gateway " + gw + " has no served listener" +
                          (section_name.empty() ? std::string() : " named " + section_name) +
                          (port ? " on port " + std::to_string(port) : std::string()));
      if (!ours)
        continue;
      std::string why = refused.size() > refused_before ? refused[refused_before] : "";
      std::string reason = here                                         ? "Accepted"
                           : why.find("namespace") != std::string::npos ? "NotAllowedByListeners"
                           : why.find("hostname") != std::string::npos
                               ? "NoMatchingListenerHostname"
                               : "NoMatchingParent";
      parents.push_back({{"parentRef", pr},
                         {"controllerName", kController},
                         {"conditions", json::array({condition("Accepted", here, reason, why,
                                                               generation_of(route))})}});
    }
    if (!attached)
      for (auto& r : refused)
        errs.push_back(std::move(r));
  }

  void on_listener(const json& route, const Listener& l, const std::vector<std::string>& hostnames,
                   Node& tree, Errors& errs) {
    const std::string ns = ns_of(route);
    const json& rules = field(field(route, "spec"), "rules");
    const int count = static_cast<int>(rules.size());
    int ri = 0;
    for (const auto& rule : rules) {
      // GRPCRoutes' keys are prefixed: a GRPCRoute and an HTTPRoute may share a name.
      std::string route_key = normalize((grpc_ ? "grpcroute-" : "") + ns + "-" + name_of(route) +
                                        "-" + l.gateway_name + "-" + l.entry_point + "-" +
                                        std::to_string(ri));
      std::string service = rule_service(rule, ns, route_key, tree, errs);
      json matches = field(rule, "matches");
      if (!matches.is_array() || matches.empty())
        matches = json::array({json::object()});
      for (const auto& match : matches) {
        int priority = 0;
        std::string expr = grpc_ ? grpc_match_rule(hostnames, match, priority, errs)
                                 : match_rule(hostnames, match, priority, errs);
        if (!grpc_)
          priority += count - ri; // an earlier HTTPRoute rule wins a tie
        std::string router_name = route_key + "-" + rule_hash(expr);
        Node r = Node::map();
        r.child("rule") = Node::scalar(expr);
        r.child("ruleSyntax") = Node::scalar("v3");
        r.child("priority") = Node::scalar(std::to_string(priority));
        Node eps = Node::list();
        eps.items().push_back(Node::scalar(l.entry_point));
        r.child("entryPoints") = std::move(eps);
        if (l.https)
          r.child("tls") = Node::map();
        Node mws = Node::list();
        int fi = 0;
        for (const auto& f : field(rule, "filters"))
          filter(f, ns, router_name + "-" + to_lower(str(f, "type")) + "-" + std::to_string(fi++),
                 field(match, "path"), tree, mws, errs);
        if (!mws.items().empty())
          r.child("middlewares") = std::move(mws);
        r.child("service") = Node::scalar(service);
        section(tree, "http", "routers").entries().emplace_back(router_name, std::move(r));
      }
      ++ri;
    }
  }

  // The weighted service of a rule over its backendRefs.
  // A backendRef that does not resolve is reported in ref_errs_ (the route stays served) and
  // gets its weight's share answered 500; so does a rule without a backendRef of weight > 0.
  std::string rule_service(const json& rule, const std::string& ns, const std::string& route_key,
                           Node& tree, Errors& errs) {
    std::string name = route_key + "-wrr";
    Node children = Node::list();
    auto add_child = [&](const std::string& child, int weight) {
      Node c = Node::map();
      c.child("name") = Node::scalar(child);
      c.child("weight") = Node::scalar(std::to_string(weight));
      children.items().push_back(std::move(c));
    };
    for (const auto& br : field(rule, "backendRefs")) {
      std::string group = str(br, "group"), kind = str(br, "kind"), bname = str(br, "name");
      int weight = int_of(br, "weight", 1);
      std::string child;
      if (group == "traefik.io" && kind == "TraefikService" &&
          bname.find('@') != std::string::npos) {
        child = bname; // another provider's service (api@internal, x@file)
      } else if (!group.empty() || (!kind.empty() && kind != "Service")) {
        ref_errs_.push_back("backendRef " + group + "/" + kind + " " + bname + " is not supported");
      } else {
        child = k8s_service(br, ns, tree);
      }
      if (!field(br, "filters").empty())
        errs.push_back("backendRef " + bname + ": per-backend filters are not supported");
      if (weight <= 0)
        continue; // no traffic (Gateway API)
      add_child(child.empty() ? invalid_backend() : child, weight);
    }
    if (children.items().empty())
      add_child(invalid_backend(), 1);
    Node svc = Node::map();
    svc.child("weighted").child("services") = std::move(children);
    Node& services = section(tree, "http", "services");
    if (!services.find(name))
      services.entries().emplace_back(name, std::move(svc));
    return mirrored(rule, ns, route_key, name, tree);
  }

  // RequestMirror filters: the rule's service wrapped in a mirroring service whose mirrors get a
  // copy of `percent` % (or `fraction`) of the requests; a mirror backendRef that does not
  // resolve is reported and left out.
  std::string mirrored(const json& rule, const std::string& ns, const std::string& route_key,
                       const std::string& service, Node& tree) {
    Node mirrors = Node::list();
    for (const auto& f : field(rule, "filters")) {
      if (str(f, "type") != "RequestMirror")
        continue;
      const json& rm = field(f, "requestMirror");
      const json& br = field(rm, "backendRef");
      std::string child = k8s_service(br, ns, tree);
      if (child.empty())
        continue; // reported by k8s_service
      int percent = int_of(rm, "percent", 100);
      if (const json& fr = field(rm, "fraction"); fr.is_object()) {
        const int den = int_of(fr, "denominator", 100);
        percent = den > 0 ? int_of(fr, "numerator") * 100 / den : 0;
      }
      Node m = Node::map();
      m.child("name") = Node::scalar(child);
      m.child("percent") = Node::scalar(std::to_string(std::clamp(percent, 0, 100)));
      mirrors.items().push_back(std::move(m));
    }
    if (mirrors.items().empty())
      return service;
    const std::string name = route_key + "-mirror";
    Node svc = Node::map();
    Node& m = svc.child("mirroring");
    m.child("service") = Node::scalar(service);
    m.child("mirrors") = std::move(mirrors);
    Node& services = section(tree, "http", "services");
    if (!services.find(name))
      services.entries().emplace_back(name, std::move(svc));
    return name;
  }

  // Whether a ReferenceGrant of namespace `to_ns` lets the `from_kind` objects (Gateway API
  // group) of `from_ns` refer to the core `to_kind` object `to_name` (all of that kind when the
  // grant names none).
  bool granted(std::string_view from_kind, const std::string& from_ns, std::string_view to_kind,
               const std::string& to_ns, const std::string& to_name) const {
    for (const auto& [key, grant] : in_.reference_grants) {
      if (ns_of(grant) != to_ns)
        continue;
      const json& spec = field(grant, "spec");
      bool from = false;
      for (const auto& f : field(spec, "from"))
        from = from || (str(f, "group") == kGatewayGroup && str(f, "kind") == from_kind &&
                        str(f, "namespace") == from_ns);
      if (!from)
        continue;
      for (const auto& t : field(spec, "to"))
        if (str(t, "group").empty() && str(t, "kind") == to_kind &&
            (str(t, "name").empty() || str(t, "name") == to_name))
          return true;
    }
    return false;
  }

  // What answers for a backendRef that does not resolve: 500, or gRPC UNAVAILABLE on a GRPCRoute.
  std::string invalid_backend() const {
    return std::string(grpc_ ? kInvalidGrpcBackendService : kInvalidBackendService);
  }

  // The load balancer of a Service backendRef; empty (and the reason in ref_errs_) when it does
  // not resolve.
  std::string k8s_service(const json& br, const std::string& ns, Node& tree) {
    Errors& errs = ref_errs_;
    std::string bname = str(br, "name"), bns = str(br, "namespace");
    if (bns.empty())
      bns = ns;
    if (bns != ns && !granted(grpc_ ? "GRPCRoute" : "HTTPRoute", ns, "Service", bns, bname)) {
      errs.push_back("backendRef to service " + bns + "/" + bname +
                     " in another namespace is not permitted (no ReferenceGrant in " + bns +
                     " allows it)");
      return {};
    }
    const json& port = field(br, "port");
    if (!port.is_number_integer()) {
      errs.push_back("backendRef " + bname + ": port is required");
      return {};
    }
    // Traefik's `traefik.io/service.nativelb` annotation on the Service, else nativeLBByDefault.
    std::string native;
    if (auto it = in_.services.find(bns + "/" + bname); it != in_.services.end())
      native =
          str(field(field(it->second, "metadata"), "annotations"), "traefik.io/service.nativelb");
    auto sp = resolve_service_port(in_.services, in_.endpoint_slices, bns, bname, port,
                                   o_.allow_external_name_services,
                                   native.empty() ? o_.native_lb_by_default : native == "true");
    if (!sp) {
      errs.push_back("backendRef " + bname + ": " + sp.error().message);
      return {};
    }
    if (sp->addresses.empty() && !o_.allow_empty_services) {
      errs.push_back("backendRef " + bname + ": service " + bns + "/" + bname +
                     " has no ready endpoints");
      return {};
    }
    // GRPCRoute backends speak HTTP/2: cleartext (h2c) unless the port's appProtocol says https.
    std::string scheme = sp->scheme;
    if (grpc_) {
      if (sp->app_protocol.empty() || sp->app_protocol == "kubernetes.io/h2c") {
        scheme = "h2c";
      } else if (sp->app_protocol == "https") {
        scheme = "https";
      } else {
        errs.push_back("backendRef " + bname + ": appProtocol \"" + sp->app_protocol +
                       "\" is not supported for gRPC (kubernetes.io/h2c, https)");
        return {};
      }
    }
    std::string transport;
    if (const json* policy = backend_tls_policy(bns, bname, sp->port_name)) {
      transport = policy_transport(*policy, tree, errs);
      if (transport.empty())
        return {};
      scheme = "https";
    }
    std::string name = normalize(bns + "-" + bname + "-" + port.dump() + (grpc_ ? "-grpc" : ""));
    Node servers = Node::list();
    for (const auto& a : sp->addresses) {
      Node s = Node::map();
      s.child("url") = Node::scalar(scheme + "://" + a);
      servers.items().push_back(std::move(s));
    }
    Node svc = Node::map();
    svc.child("loadBalancer").child("servers") = std::move(servers);
    if (!transport.empty())
      svc.child("loadBalancer").child("serversTransport") = Node::scalar(transport);
    Node& services = section(tree, "http", "services");
    if (!services.find(name))
      services.entries().emplace_back(name, std::move(svc));
    return name;
  }

  // The BackendTLSPolicy for port `port_name` of Service `ns`/`name`: of the policies whose
  // targetRefs name it (all its ports, or this one by sectionName), the oldest (then by name), as
  // the Gateway API resolves conflicts; null when none.
  const json* backend_tls_policy(const std::string& ns, const std::string& name,
                                 const std::string& port_name) const {
    const json* best = nullptr;
    auto created = [](const json& p) { return str(field(p, "metadata"), "creationTimestamp"); };
    for (const auto& [key, policy] : in_.backend_tls_policies) {
      if (ns_of(policy) != ns)
        continue;
      for (const auto& t : field(field(policy, "spec"), "targetRefs")) {
        if (!str(t, "group").empty() || str(t, "kind") != "Service" || str(t, "name") != name)
          continue;
        std::string section = str(t, "sectionName");
        if (!section.empty() && section != port_name)
          continue;
        if (!best ||
            std::pair(created(policy), name_of(policy)) < std::pair(created(*best), name_of(*best)))
          best = &policy;
      }
    }
    return best;
  }

  // Traefik's serversTransport for a BackendTLSPolicy (<ns>-<policy>): serverName is the
  // validation hostname (SNI and the name the certificate must have), rootCAs the ca.crt of each
  // caCertificateRefs ConfigMap, or the system's with wellKnownCACertificates: System. Empty, and
  // the reason in `errs`, when it cannot be used.
  std::string policy_transport(const json& policy, Node& tree, Errors& errs) {
    const std::string ns = ns_of(policy);
    const std::string where = "backendtlspolicy " + ns + "/" + name_of(policy) + ": ";
    const json& v = field(field(policy, "spec"), "validation");
    std::string host = str(v, "hostname");
    if (host.empty()) {
      errs.push_back(where + "validation.hostname is required");
      return {};
    }
    Node st = Node::map();
    st.child("serverName") = Node::scalar(host);
    const std::string known = str(v, "wellKnownCACertificates");
    const json& refs = field(v, "caCertificateRefs");
    if (known.empty() == refs.empty()) {
      errs.push_back(where + "validation needs exactly one of caCertificateRefs and "
                             "wellKnownCACertificates");
      return {};
    }
    if (!known.empty() && known != "System") {
      errs.push_back(where + "wellKnownCACertificates \"" + known + "\" is not supported (System)");
      return {};
    }
    Node cas = Node::list();
    for (const auto& ref : refs) {
      std::string cm = str(ref, "name");
      if (!str(ref, "group").empty() || str(ref, "kind") != "ConfigMap") {
        errs.push_back(where + "caCertificateRef " + cm + ": only core ConfigMaps are supported");
        return {};
      }
      auto it = in_.config_maps.find(ns + "/" + cm);
      const json* data = it == in_.config_maps.end() ? nullptr : &field(it->second, "data");
      if (!data || str(*data, "ca.crt").empty()) {
        errs.push_back(where + "configmap " + ns + "/" + cm +
                       (data ? " has no ca.crt" : " does not exist"));
        return {};
      }
      cas.items().push_back(Node::scalar(str(*data, "ca.crt")));
    }
    if (!cas.items().empty())
      st.child("rootCAs") = std::move(cas);
    std::string name = normalize(ns + "-" + name_of(policy));
    Node& transports = section(tree, "http", "serversTransports");
    if (!transports.find(name))
      transports.entries().emplace_back(name, std::move(st));
    return name;
  }

  void add_middleware(Node& tree, Node& mws, const std::string& name, Node m) {
    section(tree, "http", "middlewares").entries().emplace_back(name, std::move(m));
    mws.items().push_back(Node::scalar(name));
  }

  // An HTTPHeaderFilter as Traefik's requestHeaderModifier/responseHeaderModifier middleware.
  static Node header_modifier(const json& f, const char* type) {
    Node options = Node::map();
    for (const char* op : {"set", "add"}) {
      Node pairs = Node::map();
      for (const auto& h : field(f, op))
        pairs.child(str(h, "name")) = Node::scalar(str(h, "value"));
      if (!field(f, op).empty()) options.child(op) = std::move(pairs);
    }
    Node remove = Node::list();
    for (const auto& h : field(f, "remove"))
      if (h.is_string()) remove.items().push_back(Node::scalar(h.get<std::string>()));
    if (!field(f, "remove").empty()) options.child("remove") = std::move(remove);
    Node m = Node::map();
    m.child(type) = std::move(options);
    return m;
  }

  void filter(const json& f, const std::string& ns, const std::string& name, const json& path,
              Node& tree, Node& mws, Errors& errs) {
    std::string type = str(f, "type");
    std::string prefix; // the match's path prefix, for ReplacePrefixMatch
    if (str(path, "type").empty() || str(path, "type") == "PathPrefix")
      prefix = str(path, "value").empty() ? "/" : str(path, "value");
    while (prefix.ends_with('/'))
      prefix.pop_back();
    auto prefix_match = [&](const json& p) {
      if (prefix.empty() && !(str(path, "type").empty() || str(path, "type") == "PathPrefix"))
        errs.push_back(type + ": ReplacePrefixMatch needs a PathPrefix match");
      std::string r = str(p, "replacePrefixMatch");
      while (r.ends_with('/'))
        r.pop_back();
      return r;
    };
    if (type == "RequestHeaderModifier") {
      add_middleware(tree, mws, name,
                     header_modifier(field(f, "requestHeaderModifier"), "requestHeaderModifier"));
    } else if (type == "ResponseHeaderModifier") {
      add_middleware(tree, mws, name,
                     header_modifier(field(f, "responseHeaderModifier"), "responseHeaderModifier"));
    } else if (type == "RequestMirror") {
      // the rule's service mirrors (rule_service)
    } else if (grpc_ && type != "ExtensionRef") {
      errs.push_back("filter " + type + " is not supported on a GRPCRoute");
    } else if (type == "RequestRedirect") {
      const json& rr = field(f, "requestRedirect");
      std::string scheme = str(rr, "scheme"), host = str(rr, "hostname");
      int port = int_of(rr, "port");
      const json& p = field(rr, "path");
      std::string regex = "^([a-z][a-z0-9+.-]*)://([^/:]+|\\[[^\\]]+\\])(:[0-9]+)?";
      std::string path_out = "${4}";
      if (str(p, "type") == "ReplaceFullPath") {
        regex += "(/[^?]*)?";
        path_out = str(p, "replaceFullPath");
      } else if (str(p, "type") == "ReplacePrefixMatch") {
        regex += quote_meta(prefix) + "(/[^?]*)?";
        path_out = prefix_match(p) + "${4}";
      } else {
        regex += "(/[^?]*)?";
      }
      regex += "(\\?.*)?$";
      std::string port_out = "${3}";
      if (port != 0)
        port_out = ":" + std::to_string(port);
      if ((port == 0 && !scheme.empty()) || (scheme == "http" && port == 80) ||
          (scheme == "https" && port == 443))
        port_out.clear(); // the scheme's default port
      Node m = Node::map();
      Node& r = m.child("redirectRegex");
      r.child("regex") = Node::scalar(regex);
      r.child("replacement") =
          Node::scalar((scheme.empty() ? "${1}" : scheme) + "://" + (host.empty() ? "${2}" : host) +
                       port_out + path_out + "${5}");
      r.child("permanent") = Node::scalar(int_of(rr, "statusCode", 302) == 301 ? "true" : "false");
      add_middleware(tree, mws, name, std::move(m));
    } else if (type == "URLRewrite") {
      const json& ur = field(f, "urlRewrite");
      const json& p = field(ur, "path");
      if (auto host = str(ur, "hostname"); !host.empty()) {
        Node m = Node::map();
        m.child("headers").child("customRequestHeaders").child("Host") = Node::scalar(host);
        add_middleware(tree, mws, name + "-host", std::move(m));
      }
      if (str(p, "type") == "ReplaceFullPath") {
        Node m = Node::map();
        m.child("replacePath").child("path") = Node::scalar(str(p, "replaceFullPath"));
        add_middleware(tree, mws, name, std::move(m));
      } else if (str(p, "type") == "ReplacePrefixMatch") {
        Node m = Node::map();
        Node& r = m.child("replacePathRegex");
        r.child("regex") = Node::scalar("^" + quote_meta(prefix) + "/?(.*)$");
        r.child("replacement") = Node::scalar(prefix_match(p) + "/${1}");
        add_middleware(tree, mws, name, std::move(m));
      } else if (str(ur, "hostname").empty()) {
        errs.push_back("URLRewrite filter without hostname or path");
      }
    } else if (type == "ExtensionRef") {
      const json& ref = field(f, "extensionRef");
      if (str(ref, "group") != "traefik.io" || str(ref, "kind") != "Middleware") {
        errs.push_back("ExtensionRef " + str(ref, "group") + "/" + str(ref, "kind") +
                       " is not supported (traefik.io/Middleware)");
        return;
      }
      mws.items().push_back(
          Node::scalar(normalize(ns + "-" + str(ref, "name")) + "@kubernetescrd"));
    } else {
      errs.push_back("filter " + type + " is not supported");
    }
  }

  const GatewayInputs& in_;
  const config::KubernetesProviderConfig& o_;
  const std::vector<EntryPointPort>& eps_;
  BuiltConfig& out_;
  std::vector<Listener> listeners_;
  struct GatewayStatus {
    json listeners = json::array();
    bool programmed = true;
  };
  std::map<std::string, GatewayStatus> gateway_status_; // by namespace/name
  Errors ref_errs_;   // the current route's backendRefs that do not resolve
  bool grpc_ = false; // the current route is a GRPCRoute
  const std::string now_ = now_rfc3339();
  std::set<std::string> certs_;
};

} // namespace

BuiltConfig build_gateway_configuration(const GatewayInputs& in,
                                        const config::KubernetesProviderConfig& options,
                                        const std::vector<EntryPointPort>& entry_points) {
  BuiltConfig out;
  GatewayBuilder(in, options, entry_points, out).build();
  return out;
}

} // namespace turnpike::provider::kubernetes
