#include "provider/kubernetes/ingress.h"

#include <set>

#include "common/strings.h"
#include "provider/kubernetes/objects.h"
#include "provider/validate.h"

namespace turnpike::provider::kubernetes {

using config::Node;
using json = nlohmann::json;

namespace {

constexpr std::string_view kController = "traefik.io/ingress-controller";
constexpr std::string_view kAnnotation = "traefik.ingress.kubernetes.io/";

std::string annotation(const json& obj, const std::string& name) {
  return str(field(field(obj, "metadata"), "annotations"),
             (std::string(kAnnotation) + name).c_str());
}

Node scalar(std::string v) {
  return Node::scalar(std::move(v));
}

Node list_of(const std::vector<std::string>& items) {
  Node l = Node::list();
  for (const auto& i : items)
    l.items().push_back(scalar(i));
  return l;
}

std::vector<std::string> comma_list(const std::string& v) {
  std::vector<std::string> out;
  for (auto p : split(v, ','))
    if (!trim(p).empty())
      out.emplace_back(trim(p));
  return out;
}

} // namespace

Result<ServicePort> resolve_service_port(const ObjectMap& services, const ObjectMap& slices,
                                         const std::string& ns, const std::string& name,
                                         const json& port, bool allow_external_name,
                                         bool native_lb) {
  auto it = services.find(ns + "/" + name);
  if (it == services.end())
    return make_error("service " + ns + "/" + name + " not found");
  const json& spec = field(it->second, "spec");
  ServicePort out;
  const json* sp = nullptr;
  for (const auto& p : field(spec, "ports")) {
    bool match = port.is_number_integer()
                     ? field(p, "port") == port
                     : (port.is_string() && str(p, "name") == port.get<std::string>());
    if (match)
      sp = &p;
  }
  if (str(spec, "type") == "ExternalName") {
    if (!allow_external_name)
      return make_error("service " + ns + "/" + name +
                        " is an ExternalName service, not allowed (allowExternalNameServices)");
    out.external_name = true;
    int p = port.is_number_integer() ? port.get<int>() : (sp ? field(*sp, "port").get<int>() : 0);
    if (p == 0)
      return make_error("service " + ns + "/" + name + ": port " + port.dump() + " not found");
    out.port = p;
    out.scheme = p == 443 ? "https" : "http";
    out.addresses.push_back(str(spec, "externalName") + ":" + std::to_string(p));
    return out;
  }
  if (!sp)
    return make_error("service " + ns + "/" + name + ": port " + port.dump() + " not found");
  out.port_name = str(*sp, "name");
  out.app_protocol = str(*sp, "appProtocol");
  out.port = field(*sp, "port").is_number_integer() ? field(*sp, "port").get<int>() : 0;
  out.scheme = (out.port == 443 || out.port_name.starts_with("https")) ? "https" : "http";
  if (native_lb) {
    std::string ip = str(spec, "clusterIP");
    if (ip.empty() || ip == "None")
      return make_error("service " + ns + "/" + name + ": no clusterIP (nativeLB needs one)");
    out.addresses.push_back((ip.find(':') != std::string::npos ? "[" + ip + "]" : ip) + ":" +
                            std::to_string(out.port));
    return out;
  }
  std::set<std::string> seen;
  for (const auto& [key, slice] : slices) {
    if (!key.starts_with(ns + "/"))
      continue;
    if (str(field(field(slice, "metadata"), "labels"), "kubernetes.io/service-name") != name)
      continue;
    // The slice's port for the Service port (by name; unnamed ports match the only one).
    int target = 0;
    for (const auto& p : field(slice, "ports"))
      if (str(p, "name") == out.port_name && field(p, "port").is_number_integer())
        target = field(p, "port").get<int>();
    if (target == 0)
      continue;
    for (const auto& ep : field(slice, "endpoints")) {
      const json& ready = field(field(ep, "conditions"), "ready");
      if (ready.is_boolean() && !ready.get<bool>())
        continue;
      for (const auto& addr : field(ep, "addresses")) {
        if (!addr.is_string())
          continue;
        std::string a = addr.get<std::string>();
        std::string hp =
            (a.find(':') != std::string::npos ? "[" + a + "]" : a) + ":" + std::to_string(target);
        if (seen.insert(hp).second)
          out.addresses.push_back(hp);
      }
    }
  }
  return out;
}

namespace {

class IngressBuilder {
public:
  IngressBuilder(const IngressInputs& in, const config::KubernetesProviderConfig& o,
                 BuiltConfig& out)
      : in_(in), o_(o), out_(out) {
    out_.tree = Node::map();
  }

  void build() {
    for (const auto& [key, ing] : in_.ingresses) {
      if (!accepted(ing))
        continue;
      // Each Ingress is built into its own tree first, so that its errors drop only its objects.
      Node tree = Node::map();
      std::vector<std::string> errors;
      build_one(key, ing, tree, errors);
      for (auto& e : drop_invalid_objects(tree, "kubernetes", "ingress " + key))
        errors.push_back(std::move(e));
      for (auto& e : errors)
        out_.errors.push_back(std::move(e));
      merge_first_wins(out_.tree, tree);
    }
  }

private:
  bool accepted(const json& ing) const {
    std::string cls = str(field(ing, "spec"), "ingressClassName");
    if (cls.empty())
      cls = str(field(field(ing, "metadata"), "annotations"), "kubernetes.io/ingress.class");
    if (!o_.ingress_class.empty())
      return cls == o_.ingress_class;
    if (cls.empty())
      return true;
    auto it = in_.ingress_classes.find(cls);
    return it != in_.ingress_classes.end() &&
           str(field(it->second, "spec"), "controller") == kController;
  }

  void build_one(const std::string& key, const json& ing, Node& tree,
                 std::vector<std::string>& errors) {
    const json& md = field(ing, "metadata");
    const std::string ns = str(md, "namespace");
    const std::string name = str(md, "name");
    const json& spec = field(ing, "spec");
    auto fail = [&](const std::string& what) { errors.push_back("ingress " + key + ": " + what); };

    // TLS: certificates from the secrets; the Ingress's routers serve TLS.
    bool tls = annotation(ing, "router.tls") == "true";
    for (const auto& t : field(spec, "tls")) {
      tls = true;
      std::string secret = str(t, "secretName");
      if (secret.empty())
        continue;
      auto s = in_.secrets.find(ns + "/" + secret);
      if (s == in_.secrets.end()) {
        fail("secret " + ns + "/" + secret + " not found; its certificate is not served");
        continue;
      }
      const json& data = field(s->second, "data");
      std::string crt = base64_decode(str(data, "tls.crt"));
      std::string k = base64_decode(str(data, "tls.key"));
      if (crt.empty() || k.empty()) {
        fail("secret " + ns + "/" + secret + " has no tls.crt/tls.key");
        continue;
      }
      std::string id = ns + "/" + secret;
      if (!certs_.insert(id).second)
        continue;
      Node c = Node::map();
      c.child("certFile") = scalar(crt);
      c.child("keyFile") = scalar(k);
      Node& list = tree.child("tls").child("certificates");
      if (!list.is_list())
        list = Node::list();
      list.items().push_back(std::move(c));
    }

    auto router_common = [&](Node& r) {
      if (auto v = annotation(ing, "router.entrypoints"); !v.empty())
        r.child("entryPoints") = list_of(comma_list(v));
      if (auto v = annotation(ing, "router.middlewares"); !v.empty())
        r.child("middlewares") = list_of(comma_list(v));
      if (auto v = annotation(ing, "router.priority"); !v.empty())
        r.child("priority") = scalar(v);
      if (auto v = annotation(ing, "router.rulesyntax"); !v.empty())
        r.child("ruleSyntax") = scalar(v);
      if (tls) {
        Node& t = r.child("tls");
        if (!t.is_map())
          t = Node::map();
        if (auto v = annotation(ing, "router.tls.certresolver"); !v.empty())
          t.child("certResolver") = scalar(v);
        if (auto v = annotation(ing, "router.tls.options"); !v.empty())
          t.child("options") = scalar(v);
      }
    };

    if (const json& db = field(spec, "defaultBackend"); db.is_object()) {
      auto svc = service(ing, ns, field(db, "service"), tree);
      if (!svc) {
        fail("default backend: " + svc.error().message);
      } else {
        Node r = Node::map();
        r.child("rule") = scalar("PathPrefix(`/`)");
        r.child("priority") = scalar("1"); // below every other router
        r.child("service") = scalar(*svc);
        router_common(r);
        Node& routers = tree.child("http").child("routers");
        if (!routers.is_map())
          routers = Node::map();
        routers.entries().emplace_back(normalize(ns + "-" + name + "-default-backend"),
                                       std::move(r));
      }
    }
    for (const auto& rule : field(spec, "rules")) {
      std::string host = str(rule, "host");
      for (const auto& path : field(field(rule, "http"), "paths")) {
        std::string p = str(path, "path");
        std::string id = normalize(ns + "-" + name + "-" + host + p);
        auto svc = service(ing, ns, field(field(path, "backend"), "service"), tree);
        if (!svc) {
          fail("path " + host + p + ": " + svc.error().message + "; the path is not routed");
          continue;
        }
        std::vector<std::string> matchers;
        if (!host.empty()) {
          if (host.starts_with("*.")) {
            std::string domain = host.substr(2);
            std::string escaped;
            for (char c : domain) {
              if (c == '.')
                escaped += "\\.";
              else
                escaped += c;
            }
            matchers.push_back("HostRegexp(`^[a-z0-9-\\.]+\\." + escaped + "$`)");
          } else {
            matchers.push_back("Host(`" + host + "`)");
          }
        }
        if (!p.empty()) {
          std::string type = str(path, "pathType");
          std::string matcher = type == "Exact" ? "Path" : "PathPrefix";
          if (type != "Exact" && type != "Prefix")
            if (auto m = annotation(ing, "router.pathmatcher"); !m.empty())
              matcher = m;
          matchers.push_back(matcher + "(`" + p + "`)");
        }
        std::string expr = matchers.empty() ? "PathPrefix(`/`)" : matchers[0];
        for (size_t i = 1; i < matchers.size(); ++i)
          expr += " && " + matchers[i];
        Node r = Node::map();
        r.child("rule") = scalar(expr);
        r.child("service") = scalar(*svc);
        router_common(r);
        Node& routers = tree.child("http").child("routers");
        if (!routers.is_map())
          routers = Node::map();
        if (!routers.find(id))
          routers.entries().emplace_back(id, std::move(r));
      }
    }
  }

  // The service for a backend (adds it to `tree`); returns its name.
  Result<std::string> service(const json& ing, const std::string& ns, const json& backend,
                              Node& tree) {
    std::string svc_name = str(backend, "name");
    const json& port = field(backend, "port");
    json port_ref =
        field(port, "number").is_number_integer() ? field(port, "number") : field(port, "name");
    if (svc_name.empty() || port_ref.is_null())
      return make_error("backend without service name or port");
    // The service.* annotations are the Service's (Traefik), not the Ingress's.
    auto svc_it = in_.services.find(ns + "/" + svc_name);
    static const json kNone = json::object();
    const json& svc_obj = svc_it == in_.services.end() ? kNone : svc_it->second;
    const std::string native = annotation(svc_obj, "service.nativelb");
    auto sp = resolve_service_port(in_.services, in_.endpoint_slices, ns, svc_name, port_ref,
                                   o_.allow_external_name_services,
                                   native.empty() ? o_.native_lb_by_default : native == "true");
    if (!sp)
      return sp.error();
    std::string port_text = port_ref.is_string() ? port_ref.get<std::string>() : port_ref.dump();
    std::string id = normalize(ns + "-" + svc_name + "-" + port_text);
    std::string scheme = annotation(svc_obj, "service.serversscheme");
    if (scheme.empty())
      scheme = sp->scheme;
    Node lb = Node::map();
    Node servers = Node::list();
    for (const auto& a : sp->addresses) {
      Node s = Node::map();
      s.child("url") = scalar(scheme + "://" + a);
      servers.items().push_back(std::move(s));
    }
    if (sp->addresses.empty() && !o_.allow_empty_services)
      return make_error("service " + ns + "/" + svc_name + " has no ready endpoints");
    lb.child("servers") = std::move(servers);
    if (auto v = annotation(svc_obj, "service.passhostheader"); !v.empty())
      lb.child("passHostHeader") = scalar(v);
    if (auto v = annotation(svc_obj, "service.serverstransport"); !v.empty())
      lb.child("serversTransport") = scalar(v);
    if (annotation(svc_obj, "service.sticky.cookie") == "true") {
      Node cookie = Node::map();
      for (auto [a, k] : {std::pair{"name", "name"},
                          {"secure", "secure"},
                          {"httponly", "httpOnly"},
                          {"samesite", "sameSite"},
                          {"maxage", "maxAge"},
                          {"path", "path"}})
        if (auto v = annotation(svc_obj, std::string("service.sticky.cookie.") + a); !v.empty())
          cookie.child(k) = scalar(v);
      lb.child("sticky").child("cookie") = std::move(cookie);
    }
    Node svc = Node::map();
    svc.child("loadBalancer") = std::move(lb);
    Node& services = tree.child("http").child("services");
    if (!services.is_map())
      services = Node::map();
    if (!services.find(id))
      services.entries().emplace_back(id, std::move(svc));
    return Result<std::string>(boost::system::in_place_value, std::move(id));
  }

  const IngressInputs& in_;
  const config::KubernetesProviderConfig& o_;
  BuiltConfig& out_;
  std::set<std::string> certs_;
};

} // namespace

BuiltConfig build_ingress_configuration(const IngressInputs& in,
                                        const config::KubernetesProviderConfig& options) {
  BuiltConfig out;
  IngressBuilder(in, options, out).build();
  return out;
}

} // namespace turnpike::provider::kubernetes
