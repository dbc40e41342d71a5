#include "provider/kubernetes/crd.h"

#include <cstdint>

#include "common/strings.h"
#include "provider/kubernetes/objects.h"
#include "provider/validate.h"

namespace turnpike::provider::kubernetes {

using config::Node;
using json = nlohmann::json;

Node node_from_json(const json& j) {
  if (j.is_object()) {
    Node m = Node::map();
    for (const auto& [k, v] : j.items())
      m.entries().emplace_back(k, node_from_json(v));
    return m;
  }
  if (j.is_array()) {
    Node l = Node::list();
    for (const auto& v : j)
      l.items().push_back(node_from_json(v));
    return l;
  }
  if (j.is_null())
    return Node();
  if (j.is_string()) {
    Node s = Node::scalar(j.get<std::string>());
    s.set_quoted(true);
    return s;
  }
  return Node::scalar(j.dump()); // numbers, booleans
}

namespace {

class CrdBuilder {
public:
  CrdBuilder(const CrdInputs& in, const config::KubernetesProviderConfig& o, BuiltConfig& out)
      : in_(in), o_(o), out_(out) {
    out_.tree = Node::map();
  }

  void build() {
    each(in_.middlewares, "Middleware",
         [&](const json& obj, Node& tree, Errors& errs) { middleware(obj, tree, errs, "http"); });
    each(in_.middleware_tcps, "MiddlewareTCP",
         [&](const json& obj, Node& tree, Errors& errs) { middleware(obj, tree, errs, "tcp"); });
    each(in_.traefik_services, "TraefikService",
         [&](const json& obj, Node& tree, Errors& errs) { traefik_service(obj, tree, errs); });
    each(in_.tls_options, "TLSOption",
         [&](const json& obj, Node& tree, Errors& errs) { tls_option(obj, tree, errs); });
    each(in_.tls_stores, "TLSStore",
         [&](const json& obj, Node& tree, Errors& errs) { tls_store(obj, tree, errs); });
    each(in_.servers_transports, "ServersTransport",
         [&](const json& obj, Node& tree, Errors& errs) { servers_transport(obj, tree, errs); });
    each(in_.ingress_routes, "IngressRoute",
         [&](const json& obj, Node& tree, Errors& errs) { ingress_route(obj, tree, errs); });
    each(in_.ingress_route_tcps, "IngressRouteTCP", [&](const json& obj, Node& tree, Errors& errs) {
      ingress_route_l4(obj, tree, errs, false);
    });
    each(in_.ingress_route_udps, "IngressRouteUDP", [&](const json& obj, Node& tree, Errors& errs) {
      ingress_route_l4(obj, tree, errs, true);
    });
  }

private:
  using Errors = std::vector<std::string>;

  // Builds each object into its own tree: an error drops that object's contribution only.
  template <class Fn> void each(const ObjectMap& objects, const char* kind, Fn fn) {
    for (const auto& [key, obj] : objects) {
      Node tree = Node::map();
      Errors errs;
      std::string who = std::string(kind) + " " + key;
      fn(obj, tree, errs);
      if (!errs.empty()) {
        for (auto& e : errs)
          out_.errors.push_back(who + ": " + e + "; ignored");
        continue;
      }
      for (auto& e : drop_invalid_objects(tree, "kubernetescrd", who))
        out_.errors.push_back(std::move(e));
      merge_first_wins(out_.tree, tree);
    }
  }

  static std::string ns_of(const json& obj) { return str(field(obj, "metadata"), "namespace"); }
  static std::string name_of(const json& obj) { return str(field(obj, "metadata"), "name"); }
  static std::string id(const std::string& ns, const std::string& name) {
    return normalize(ns + "-" + name);
  }

  // A reference to another object: its namespace (default: the referrer's) must be allowed.
  std::string ref(const json& r, const std::string& ns, Errors& errs) const {
    std::string name = str(r, "name");
    if (name.find('@') != std::string::npos)
      return name; // another provider's object
    std::string rns = str(r, "namespace");
    if (rns.empty())
      rns = ns;
    if (rns != ns && !o_.allow_cross_namespace)
      errs.push_back("reference to " + rns + "/" + name +
                     " in another namespace (allowCrossNamespace is false)");
    return id(rns, name);
  }

  std::string cert_from_secret(const std::string& ns, const std::string& secret, Errors& errs,
                               const char* key = "tls.crt") const {
    auto it = in_.secrets.find(ns + "/" + secret);
    if (it == in_.secrets.end()) {
      errs.push_back("secret " + ns + "/" + secret + " not found");
      return {};
    }
    std::string v = base64_decode(str(field(it->second, "data"), key));
    if (v.empty())
      errs.push_back("secret " + ns + "/" + secret + " has no " + key);
    return v;
  }

  // A CA bundle from a secret: `tls.ca`, else `ca.crt` (Traefik reads both).
  std::string ca_from_secret(const std::string& ns, const std::string& secret, Errors& errs) const {
    Errors ignored;
    std::string pem = cert_from_secret(ns, secret, ignored, "tls.ca");
    if (pem.empty())
      pem = cert_from_secret(ns, secret, errs, "ca.crt");
    return pem;
  }

  void add_certificate(Node& tree, const std::string& ns, const std::string& secret, Errors& errs) {
    std::string crt = cert_from_secret(ns, secret, errs, "tls.crt");
    std::string key = cert_from_secret(ns, secret, errs, "tls.key");
    if (crt.empty() || key.empty())
      return;
    Node c = Node::map();
    c.child("certFile") = Node::scalar(crt);
    c.child("keyFile") = Node::scalar(key);
    Node& l = tree.child("tls").child("certificates");
    if (!l.is_list())
      l = Node::list();
    l.items().push_back(std::move(c));
  }

  // A Kubernetes Service as a load-balancer service (http: URLs, l4: addresses).
  std::string k8s_service(const json& s, const std::string& ns, Node& tree, Errors& errs,
                          const char* proto) {
    std::string sns = str(s, "namespace");
    if (sns.empty())
      sns = ns;
    if (sns != ns && !o_.allow_cross_namespace) {
      errs.push_back("service " + sns + "/" + str(s, "name") +
                     " in another namespace (allowCrossNamespace is false)");
      return {};
    }
    const json& port = field(s, "port");
    const json& native = field(s, "nativeLB");
    auto sp =
        resolve_service_port(in_.services, in_.endpoint_slices, sns, str(s, "name"), port,
                             o_.allow_external_name_services,
                             native.is_boolean() ? native.get<bool>() : o_.native_lb_by_default);
    if (!sp) {
      errs.push_back(sp.error().message);
      return {};
    }
    if (sp->addresses.empty() && !o_.allow_empty_services) {
      errs.push_back("service " + sns + "/" + str(s, "name") + " has no ready endpoints");
      return {};
    }
    std::string port_text = port.is_string() ? port.get<std::string>() : port.dump();
    std::string name = id(sns, str(s, "name") + "-" + port_text);
    Node lb = Node::map();
    Node servers = Node::list();
    bool http = std::string_view(proto) == "http";
    std::string scheme = str(s, "scheme");
    if (scheme.empty())
      scheme = sp->scheme;
    for (const auto& a : sp->addresses) {
      Node srv = Node::map();
      srv.child(http ? "url" : "address") = Node::scalar(http ? scheme + "://" + a : a);
      servers.items().push_back(std::move(srv));
    }
    lb.child("servers") = std::move(servers);
    if (http) {
      for (const char* k :
           {"passHostHeader", "sticky", "strategy", "healthCheck", "responseForwarding"})
        if (const json& v = field(s, k); !v.is_null())
          lb.child(k) = node_from_json(v);
      if (auto st = str(s, "serversTransport"); !st.empty())
        lb.child("serversTransport") =
            Node::scalar(st.find('@') == std::string::npos ? id(ns, st) : st);
    }
    Node svc = Node::map();
    svc.child("loadBalancer") = std::move(lb);
    Node& sec = section(tree, proto, "services");
    if (!sec.find(name))
      sec.entries().emplace_back(name, std::move(svc));
    return name;
  }

  // A TraefikService reference or a Kubernetes Service (HTTP); "" with an error when it fails.
  std::string http_child(const json& s, const std::string& ns, Node& tree, Errors& errs) {
    return str(s, "kind") == "TraefikService" ? ref(s, ns, errs)
                                              : k8s_service(s, ns, tree, errs, "http");
  }

  // {name: <name>, <key>: <value>} (a weighted or mirroring child).
  static Node named_child(const std::string& name, const char* key, const json& value) {
    Node c = Node::map();
    c.child("name") = Node::scalar(name);
    if (!value.is_null())
      c.child(key) = Node::scalar(value.dump());
    return c;
  }

  // The service of a route: one Service or TraefikService, or a weighted service over several.
  std::string route_service(const json& services, const std::string& ns, const std::string& key,
                            Node& tree, Errors& errs, const char* proto) {
    std::vector<std::pair<std::string, json>> parts;
    for (const auto& s : services) {
      std::string name = str(s, "kind") == "TraefikService" ? ref(s, ns, errs)
                                                            : k8s_service(s, ns, tree, errs, proto);
      if (name.empty())
        return {};
      parts.emplace_back(name, field(s, "weight"));
    }
    if (parts.empty()) {
      errs.push_back("a route without services");
      return {};
    }
    if (parts.size() == 1)
      return parts[0].first;
    Node list = Node::list();
    for (const auto& [n, w] : parts)
      list.items().push_back(named_child(n, "weight", w));
    Node svc = Node::map();
    svc.child("weighted").child("services") = std::move(list);
    section(tree, proto, "services").entries().emplace_back(key, std::move(svc));
    return key;
  }

  void ingress_route(const json& obj, Node& tree, Errors& errs) {
    std::string ns = ns_of(obj), name = name_of(obj);
    const json& spec = field(obj, "spec");
    const json& tls = field(spec, "tls");
    if (tls.is_object())
      if (auto secret = str(tls, "secretName"); !secret.empty())
        add_certificate(tree, ns, secret, errs);
    for (const auto& route : field(spec, "routes")) {
      std::string match = str(route, "match");
      std::string key = id(ns, name) + "-" + rule_hash(match);
      Node r = Node::map();
      r.child("rule") = Node::scalar(match);
      if (const json& p = field(route, "priority"); p.is_number_integer())
        r.child("priority") = Node::scalar(p.dump());
      if (auto syntax = str(route, "syntax"); !syntax.empty())
        r.child("ruleSyntax") = Node::scalar(syntax);
      if (const json& eps = field(spec, "entryPoints"); eps.is_array())
        r.child("entryPoints") = node_from_json(eps);
      Node mws = Node::list();
      for (const auto& m : field(route, "middlewares"))
        mws.items().push_back(Node::scalar(ref(m, ns, errs)));
      if (!mws.items().empty())
        r.child("middlewares") = std::move(mws);
      std::string svc = route_service(field(route, "services"), ns, key, tree, errs, "http");
      if (svc.empty())
        return;
      r.child("service") = Node::scalar(svc);
      if (tls.is_object()) {
        Node t = Node::map();
        if (const json& opt = field(tls, "options"); opt.is_object())
          t.child("options") = Node::scalar(ref(opt, ns, errs));
        if (auto cr = str(tls, "certResolver"); !cr.empty())
          t.child("certResolver") = Node::scalar(cr);
        if (const json& d = field(tls, "domains"); d.is_array())
          t.child("domains") = node_from_json(d);
        r.child("tls") = std::move(t);
      }
      section(tree, "http", "routers").entries().emplace_back(key, std::move(r));
    }
  }

  void ingress_route_l4(const json& obj, Node& tree, Errors& errs, bool udp) {
    std::string ns = ns_of(obj), name = name_of(obj);
    const char* proto = udp ? "udp" : "tcp";
    const json& spec = field(obj, "spec");
    const json& tls = field(spec, "tls");
    if (!udp && tls.is_object())
      if (auto secret = str(tls, "secretName"); !secret.empty())
        add_certificate(tree, ns, secret, errs);
    size_t i = 0;
    for (const auto& route : field(spec, "routes")) {
      std::string match = str(route, "match");
      std::string key = id(ns, name) + "-" + (udp ? std::to_string(i++) : rule_hash(match));
      Node r = Node::map();
      if (!udp)
        r.child("rule") = Node::scalar(match);
      if (const json& p = field(route, "priority"); !udp && p.is_number_integer())
        r.child("priority") = Node::scalar(p.dump());
      if (const json& eps = field(spec, "entryPoints"); eps.is_array())
        r.child("entryPoints") = node_from_json(eps);
      Node mws = Node::list();
      for (const auto& m : field(route, "middlewares"))
        mws.items().push_back(Node::scalar(ref(m, ns, errs)));
      if (!udp && !mws.items().empty())
        r.child("middlewares") = std::move(mws);
      std::string svc = route_service(field(route, "services"), ns, key, tree, errs, proto);
      if (svc.empty())
        return;
      r.child("service") = Node::scalar(svc);
      if (!udp && tls.is_object()) {
        Node t = Node::map();
        if (const json& pt = field(tls, "passthrough"); pt.is_boolean() && pt.get<bool>())
          t.child("passthrough") = Node::scalar("true");
        if (const json& opt = field(tls, "options"); opt.is_object())
          t.child("options") = Node::scalar(ref(opt, ns, errs));
        if (auto cr = str(tls, "certResolver"); !cr.empty())
          t.child("certResolver") = Node::scalar(cr);
        r.child("tls") = std::move(t);
      }
      section(tree, proto, "routers").entries().emplace_back(key, std::move(r));
    }
  }

  void middleware(const json& obj, Node& tree, Errors& errs, const char* proto) {
    std::string ns = ns_of(obj);
    Node spec = node_from_json(field(obj, "spec"));
    if (!spec.is_map() || spec.entries().size() != 1) {
      errs.push_back("spec must hold exactly one middleware type");
      return;
    }
    // chain.middlewares refer to CRD middlewares by name in the same namespace.
    if (iequals(spec.entries()[0].first, "chain"))
      if (Node* l = spec.entries()[0].second.find("middlewares"); l && l->is_list())
        for (auto& m : l->items())
          if (m.is_scalar() && m.text().find('@') == std::string::npos)
            m = Node::scalar(id(ns, m.text()));
    section(tree, proto, "middlewares")
        .entries()
        .emplace_back(id(ns, name_of(obj)), std::move(spec));
  }

  void traefik_service(const json& obj, Node& tree, Errors& errs) {
    std::string ns = ns_of(obj), name = id(ns, name_of(obj));
    const json& spec = field(obj, "spec");
    Node svc = Node::map();
    if (const json& w = field(spec, "weighted"); w.is_object()) {
      Node list = Node::list();
      for (const auto& s : field(w, "services")) {
        std::string child = http_child(s, ns, tree, errs);
        if (child.empty())
          return;
        list.items().push_back(named_child(child, "weight", field(s, "weight")));
      }
      svc.child("weighted").child("services") = std::move(list);
      if (const json& st = field(w, "sticky"); !st.is_null())
        svc.child("weighted").child("sticky") = node_from_json(st);
    } else if (const json& m = field(spec, "mirroring"); m.is_object()) {
      std::string main = http_child(m, ns, tree, errs);
      if (main.empty())
        return;
      Node mirrors = Node::list();
      for (const auto& s : field(m, "mirrors")) {
        std::string child = http_child(s, ns, tree, errs);
        if (child.empty())
          return;
        mirrors.items().push_back(named_child(child, "percent", field(s, "percent")));
      }
      Node& mn = svc.child("mirroring");
      mn.child("service") = Node::scalar(main);
      mn.child("mirrors") = std::move(mirrors);
    } else {
      errs.push_back("spec needs weighted or mirroring");
      return;
    }
    section(tree, "http", "services").entries().emplace_back(name, std::move(svc));
  }

  void tls_option(const json& obj, Node& tree, Errors& errs) {
    std::string ns = ns_of(obj);
    json spec = field(obj, "spec");
    if (spec.is_object() && spec.contains("clientAuth")) {
      json& ca = spec["clientAuth"];
      json files = json::array();
      for (const auto& s : field(ca, "secretNames"))
        if (s.is_string())
          files.push_back(ca_from_secret(ns, s.get<std::string>(), errs));
      ca.erase("secretNames");
      if (!files.empty())
        ca["caFiles"] = files;
    }
    std::string key =
        name_of(obj) == "default" && ns == "default" ? "default" : id(ns, name_of(obj));
    section(tree, "tls", "options").entries().emplace_back(key, node_from_json(spec));
  }

  void tls_store(const json& obj, Node& tree, Errors& errs) {
    std::string ns = ns_of(obj);
    if (name_of(obj) != "default") {
      errs.push_back("only the TLSStore named default is used (Traefik)");
      return;
    }
    Node store = Node::map();
    const json& spec = field(obj, "spec");
    if (auto secret = str(field(spec, "defaultCertificate"), "secretName"); !secret.empty()) {
      std::string crt = cert_from_secret(ns, secret, errs, "tls.crt");
      std::string key = cert_from_secret(ns, secret, errs, "tls.key");
      Node& dc = store.child("defaultCertificate");
      dc.child("certFile") = Node::scalar(crt);
      dc.child("keyFile") = Node::scalar(key);
    }
    if (const json& g = field(spec, "defaultGeneratedCert"); !g.is_null())
      store.child("defaultGeneratedCert") = node_from_json(g);
    section(tree, "tls", "stores").entries().emplace_back("default", std::move(store));
  }

  void servers_transport(const json& obj, Node& tree, Errors& errs) {
    std::string ns = ns_of(obj);
    json spec = field(obj, "spec");
    if (!spec.is_object())
      spec = json::object();
    if (spec.contains("rootCAsSecrets")) {
      json cas = json::array();
      for (const auto& s : spec["rootCAsSecrets"])
        if (s.is_string())
          cas.push_back(ca_from_secret(ns, s.get<std::string>(), errs));
      spec.erase("rootCAsSecrets");
      spec["rootCAs"] = cas;
    }
    if (spec.contains("certificatesSecrets")) {
      json certs = json::array();
      for (const auto& s : spec["certificatesSecrets"])
        if (s.is_string())
          certs.push_back(
              {{"certFile", cert_from_secret(ns, s.get<std::string>(), errs, "tls.crt")},
               {"keyFile", cert_from_secret(ns, s.get<std::string>(), errs, "tls.key")}});
      spec.erase("certificatesSecrets");
      spec["certificates"] = certs;
    }
    section(tree, "http", "serversTransports")
        .entries()
        .emplace_back(id(ns, name_of(obj)), node_from_json(spec));
  }

  const CrdInputs& in_;
  const config::KubernetesProviderConfig& o_;
  BuiltConfig& out_;
};

} // namespace

BuiltConfig build_crd_configuration(const CrdInputs& in,
                                    const config::KubernetesProviderConfig& options) {
  BuiltConfig out;
  CrdBuilder(in, options, out).build();
  return out;
}

} // namespace turnpike::provider::kubernetes
