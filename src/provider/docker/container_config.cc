#include "provider/docker/container_config.h"

#include <algorithm>
#include <cctype>
#include <set>

#include <nlohmann/json.hpp>

#include "common/strings.h"
#include "config/tree/decoder.h"
#include "provider/validate.h"

namespace turnpike::provider::docker {

using config::Node;

namespace {

std::string str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int num(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int>() : 0;
}

} // namespace

Result<std::vector<Container>> parse_container_list(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_array())
    return make_error("container list: not a JSON array");
  std::vector<Container> out;
  for (const auto& c : j) {
    if (!c.is_object())
      continue;
    Container k;
    k.id = str(c, "Id");
    if (auto n = c.find("Names");
        n != c.end() && n->is_array() && !n->empty() && (*n)[0].is_string()) {
      k.name = (*n)[0].get<std::string>();
      if (k.name.starts_with('/'))
        k.name.erase(0, 1);
    }
    if (auto l = c.find("Labels"); l != c.end() && l->is_object())
      for (const auto& [key, v] : l->items())
        if (v.is_string())
          k.labels[key] = v.get<std::string>();
    k.state = str(c, "State");
    k.status = str(c, "Status");
    if (auto hc = c.find("HostConfig"); hc != c.end() && hc->is_object())
      k.network_mode = str(*hc, "NetworkMode");
    if (auto ns = c.find("NetworkSettings"); ns != c.end() && ns->is_object())
      if (auto nets = ns->find("Networks"); nets != ns->end() && nets->is_object())
        for (const auto& [name, net] : nets->items())
          if (net.is_object())
            k.networks[name] = str(net, "IPAddress");
    if (auto ps = c.find("Ports"); ps != c.end() && ps->is_array())
      for (const auto& p : *ps)
        if (p.is_object())
          k.ports.push_back(
              Port{num(p, "PrivatePort"), num(p, "PublicPort"), str(p, "IP"), str(p, "Type")});
    out.push_back(std::move(k));
  }
  return out;
}

bool apply_inspect(Container& c, std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return false;
  if (auto hc = j.find("HostConfig"); hc != j.end() && hc->is_object())
    c.network_mode = str(*hc, "NetworkMode");
  if (auto ns = j.find("NetworkSettings"); ns != j.end() && ns->is_object()) {
    if (auto nets = ns->find("Networks"); nets != ns->end() && nets->is_object())
      for (const auto& [name, net] : nets->items())
        if (net.is_object())
          c.networks[name] = str(net, "IPAddress");
    if (c.networks.empty() && !str(*ns, "IPAddress").empty())
      c.networks["default"] = str(*ns, "IPAddress");
  }
  return true;
}

Result<std::string> render_rule(std::string_view tpl, const std::string& name,
                                const std::string& container_name,
                                const std::map<std::string, std::string>& labels) {
  std::string out;
  size_t pos = 0;
  while (pos < tpl.size()) {
    size_t open = tpl.find("{{", pos);
    if (open == std::string_view::npos) {
      out += tpl.substr(pos);
      break;
    }
    out += tpl.substr(pos, open - pos);
    size_t close = tpl.find("}}", open);
    if (close == std::string_view::npos)
      return make_error("defaultRule: unterminated \"{{\"");
    std::string_view action = trim(tpl.substr(open + 2, close - open - 2));
    if (action.starts_with('-'))
      action = trim(action.substr(1));
    if (action.ends_with('-'))
      action = trim(action.substr(0, action.size() - 1));
    bool norm = false;
    if (action.starts_with("normalize ")) {
      norm = true;
      action = trim(action.substr(10));
    }
    std::string value;
    if (action == ".Name") {
      value = name;
    } else if (action == ".ContainerName") {
      value = container_name;
    } else if (action.starts_with("index .Labels ")) {
      std::string_view key = trim(action.substr(14));
      if (key.size() < 2 || key.front() != '"' || key.back() != '"')
        return make_error("defaultRule: index .Labels needs a quoted key");
      auto it = labels.find(std::string(key.substr(1, key.size() - 2)));
      value = it == labels.end() ? std::string() : it->second;
    } else {
      return make_error("defaultRule: unsupported template action \"{{ " + std::string(action) +
                        " }}\"");
    }
    out += norm ? normalize(value) : value;
    pos = close + 2;
  }
  return Result<std::string>(boost::system::in_place_value, std::move(out));
}

namespace {

// Case-insensitive erase of a map entry.
void erase_key(Node& map, std::string_view key) {
  auto& e = map.entries();
  e.erase(
      std::remove_if(e.begin(), e.end(), [&](const auto& kv) { return iequals(kv.first, key); }),
      e.end());
}

bool has_entries(const Node* n) {
  return n && n->is_map() && !n->entries().empty();
}

// A scalar child's text, or "".
std::string text_of(const Node* parent, std::string_view key) {
  if (!parent || !parent->is_map())
    return {};
  const Node* n = parent->find(key);
  return n && n->is_scalar() ? n->text() : std::string();
}

bool truthy(const std::map<std::string, std::string>& labels, const std::string& key, bool dflt) {
  for (const auto& [k, v] : labels)
    if (iequals(k, key)) {
      auto b = config::parse_bool(v);
      return b ? *b : dflt;
    }
  return dflt;
}

std::string label(const std::map<std::string, std::string>& labels, const std::string& key) {
  for (const auto& [k, v] : labels)
    if (iequals(k, key))
      return v;
  return {};
}

std::string host_port(const std::string& ip, int port) {
  return (ip.find(':') != std::string::npos ? "[" + ip + "]" : ip) + ":" + std::to_string(port);
}

// Works out one container's configuration; an error means the container is skipped.
class ContainerBuilder {
public:
  ContainerBuilder(const Container& c, const config::DockerProviderConfig& o) : c_(c), o_(o) {}

  Result<Node> build() {
    Node tree = Node::map(loc());
    std::string prefix = o_.label_prefix + ".";
    std::vector<std::pair<std::string, std::string>> flat;
    for (const auto& [k, v] : c_.labels) {
      if (!istarts_with(k, prefix))
        continue;
      std::string rest = k.substr(prefix.size());
      auto dot = rest.find('.');
      std::string_view root = std::string_view(rest).substr(0, dot);
      if (!(iequals(root, "http") || iequals(root, "tcp") || iequals(root, "udp") ||
            iequals(root, "tls")))
        continue; // traefik.enable, traefik.docker.*: read elsewhere
      flat.emplace_back(rest, v);
    }
    tree = config::from_flat(flat, loc());
    auto ip = address();
    if (!ip)
      return ip.error();
    ip_ = *ip;
    std::string service_name = normalize(service_name_raw());

    Node* tcp = tree.find("tcp");
    Node* udp = tree.find("udp");
    bool tcp_any = tcp && (has_entries(tcp->find("routers")) || has_entries(tcp->find("services")));
    bool udp_any = udp && (has_entries(udp->find("routers")) || has_entries(udp->find("services")));
    if (tcp_any) {
      auto r = wire_l4(*tcp, service_name, /*udp=*/false);
      if (!r)
        return r.error();
    }
    if (udp_any) {
      auto r = wire_l4(*udp, service_name, /*udp=*/true);
      if (!r)
        return r.error();
    }
    Node* http = tree.find("http");
    bool http_any =
        http && (has_entries(http->find("routers")) || has_entries(http->find("services")) ||
                 has_entries(http->find("middlewares")));
    if (!(tcp_any || udp_any) || http_any) {
      auto r = wire_http(tree.child("http"), service_name);
      if (!r)
        return r.error();
    }
    return tree;
  }

private:
  config::Location loc() const {
    return config::Location{std::make_shared<const std::string>("container " + c_.name), 0};
  }

  std::string service_name_raw() const {
    // Compose: "<service>_<project>", as Traefik.
    auto svc = label(c_.labels, "com.docker.compose.service");
    auto project = label(c_.labels, "com.docker.compose.project");
    if (!svc.empty() && !project.empty())
      return svc + "_" + project;
    return c_.name;
  }

  Result<std::string> address() const {
    auto ok = [](std::string ip) {
      return Result<std::string>(boost::system::in_place_value, std::move(ip));
    };
    if (c_.network_mode == "host")
      return ok("127.0.0.1");
    if (c_.network_mode.starts_with("container:"))
      return make_error("network mode " + c_.network_mode + " is not supported");
    std::string net = label(c_.labels, o_.label_prefix + ".docker.network");
    if (net.empty())
      net = o_.network;
    if (!net.empty()) {
      auto it = c_.networks.find(net);
      if (it != c_.networks.end() && !it->second.empty())
        return ok(it->second);
      // Traefik falls back to any network, with a warning; so do we.
    }
    for (const auto& [name, ip] : c_.networks)
      if (!ip.empty())
        return ok(ip);
    return make_error("no IP address (network mode \"" + c_.network_mode +
                      "\"); use the host network or a network with an address");
  }

  // The port a server uses when no label gives one: the lowest exposed port.
  int default_port(std::string_view type) const {
    int best = 0;
    for (const auto& p : c_.ports)
      if (p.private_port > 0 && (p.type.empty() || p.type == type) &&
          (best == 0 || p.private_port < best))
        best = p.private_port;
    return best;
  }

  // ip:port for a server, honouring useBindPortIP.
  std::string server_address(int port, std::string_view type) const {
    std::string ip = ip_;
    if (o_.use_bind_port_ip) {
      for (const auto& p : c_.ports)
        if (p.private_port == port && p.public_port > 0 && p.type == type && !p.host_ip.empty() &&
            p.host_ip != "0.0.0.0" && p.host_ip != "::") {
          ip = p.host_ip;
          port = p.public_port;
          break;
        }
    }
    return host_port(ip, port);
  }

  // The label form `loadbalancer.server.*` -> `loadBalancer.servers: [...]` (one server).
  Result<void> add_server(Node& lb, const std::string& svc, bool http, bool udp) {
    Node* server = lb.find("server");
    Node copy = server ? *server : Node::map(loc());
    erase_key(lb, "server");
    if (has_entries(lb.find("servers")))
      return {};
    std::string port_text = text_of(&copy, "port");
    int port = 0;
    if (!port_text.empty()) {
      auto p = parse_uint(port_text);
      if (!p || *p == 0 || *p > 65535)
        return make_error("service " + svc + ": invalid port \"" + port_text + "\"");
      port = int(*p);
    }
    Node entry = Node::map(loc());
    if (http) {
      std::string url = text_of(&copy, "url");
      if (url.empty()) {
        if (port == 0)
          port = default_port("tcp");
        if (port == 0)
          return make_error("service " + svc + ": port is missing");
        std::string scheme = text_of(&copy, "scheme");
        url = (scheme.empty() ? "http" : scheme) + "://" + server_address(port, "tcp");
      }
      entry.child("url") = Node::scalar(url, loc());
      for (auto key : {"weight", "preservePath"})
        if (const Node* v = copy.find(key))
          entry.child(key) = *v;
    } else {
      if (port == 0)
        port = default_port(udp ? "udp" : "tcp");
      if (port == 0)
        return make_error("service " + svc + ": port is missing");
      entry.child("address") = Node::scalar(server_address(port, udp ? "udp" : "tcp"), loc());
      if (!udp)
        if (const Node* v = copy.find("tls"))
          entry.child("tls") = *v;
      if (const Node* v = copy.find("weight"))
        entry.child("weight") = *v;
    }
    Node list = Node::list(loc());
    list.items().push_back(std::move(entry));
    lb.child("servers") = std::move(list);
    return {};
  }

  Result<void> wire_services(Node& section, const std::string& default_name, bool http, bool udp) {
    Node& services = section.child("services");
    if (!services.is_map())
      services = Node::map(loc());
    if (services.entries().empty()) {
      Node svc = Node::map(loc());
      svc.child("loadBalancer");
      services.entries().emplace_back(default_name, std::move(svc));
    }
    for (auto& [name, svc] : services.entries()) {
      if (svc.is_null())
        svc = Node::map(loc());
      if (!svc.is_map())
        continue; // the decoder reports it
      Node* lb = svc.find("loadBalancer");
      if (!lb)
        continue; // weighted, mirroring...: no servers to add
      if (lb->is_null() || (lb->is_scalar() && iequals(lb->text(), "true")))
        *lb = Node::map(loc());
      if (!lb->is_map())
        continue;
      auto r = add_server(*lb, name, http, udp);
      if (!r)
        return r;
    }
    return {};
  }

  // Routers without a service get the only one.
  Result<void> assign_services(Node& section) {
    Node* routers = section.find("routers");
    const Node* services = section.find("services");
    if (!routers || !routers->is_map())
      return {};
    for (auto& [name, router] : routers->entries()) {
      if (router.is_null())
        router = Node::map(loc());
      if (!router.is_map() || router.find("service"))
        continue;
      if (!services || services->entries().size() != 1)
        return make_error("router " + name +
                          ": could not define the service name for the router: too many services");
      router.child("service") = Node::scalar(services->entries()[0].first, loc());
    }
    return {};
  }

  Result<void> wire_http(Node& http, const std::string& service_name) {
    if (auto r = wire_services(http, service_name, true, false); !r)
      return r;
    Node& routers = http.child("routers");
    if (!routers.is_map())
      routers = Node::map(loc());
    std::string rule;
    if (!o_.default_rule.empty()) {
      auto rendered = render_rule(o_.default_rule, service_name_raw(), c_.name, c_.labels);
      if (!rendered)
        return rendered.error();
      rule = *rendered;
    }
    if (routers.entries().empty()) {
      if (rule.empty()) {
        erase_key(http, "routers");
        return {};
      }
      Node r = Node::map(loc());
      routers.entries().emplace_back(service_name, std::move(r));
    }
    for (auto& [name, router] : routers.entries()) {
      if (router.is_null())
        router = Node::map(loc());
      if (!router.is_map() || router.find("rule"))
        continue;
      if (rule.empty())
        return make_error("router " + name + ": no rule and no defaultRule");
      router.child("rule") = Node::scalar(rule, loc());
    }
    return assign_services(http);
  }

  Result<void> wire_l4(Node& section, const std::string& service_name, bool udp) {
    const Node* routers = section.find("routers");
    if (has_entries(routers) || has_entries(section.find("services"))) {
      if (auto r = wire_services(section, service_name, false, udp); !r)
        return r;
    }
    return assign_services(section);
  }

  const Container& c_;
  const config::DockerProviderConfig& o_;
  std::string ip_;
};

bool running(const Container& c) {
  if (c.state != "running")
    return false;
  // A container with a health check serves once healthy (Traefik).
  return c.status.find("(unhealthy)") == std::string::npos &&
         c.status.find("(health: starting)") == std::string::npos;
}

// A copy of a service node without its servers (to compare the rest).
Node without_servers(const Node& svc) {
  Node copy = svc;
  if (Node* lb = copy.find("loadBalancer"); lb && lb->is_map())
    erase_key(*lb, "servers");
  return copy;
}

// Merges one container's tree into the provider's tree; conflicts are collected by path.
void merge_into(Node& into, const Node& conf, const std::string& container,
                std::map<std::string, std::vector<std::string>>& owners,
                std::set<std::string>& conflicts) {
  for (const auto& [root, kinds] : conf.entries()) {
    if (!kinds.is_map())
      continue;
    Node& dst_root = into.child(root);
    for (const auto& [kind, objects] : kinds.entries()) {
      Node& dst_kind = dst_root.child(kind);
      if (dst_kind.is_null())
        dst_kind = objects.is_list() ? Node::list() : Node::map();
      if (!objects.is_map()) { // tls.certificates: a list, concatenated
        if (objects.is_list()) {
          if (!dst_kind.is_list())
            dst_kind = Node::list(objects.location());
          for (const auto& item : objects.items())
            dst_kind.items().push_back(item);
        }
        continue;
      }
      for (const auto& [name, obj] : objects.entries()) {
        std::string path = root + "." + kind + "." + name;
        owners[path].push_back(container);
        Node* existing = dst_kind.find(name);
        if (!existing) {
          dst_kind.entries().emplace_back(name, obj);
          continue;
        }
        if (*existing == obj)
          continue;
        bool service = iequals(kind, "services");
        if (service && without_servers(*existing) == without_servers(obj)) {
          Node* a = existing->find("loadBalancer");
          const Node* b = obj.find("loadBalancer");
          Node* as = a ? a->find("servers") : nullptr;
          const Node* bs = b ? b->find("servers") : nullptr;
          if (as && bs && as->is_list() && bs->is_list()) {
            for (const auto& s : bs->items())
              if (std::find(as->items().begin(), as->items().end(), s) == as->items().end())
                as->items().push_back(s);
            continue;
          }
        }
        conflicts.insert(path);
      }
    }
  }
}

} // namespace

Built build_configuration(const std::vector<Container>& containers,
                          const config::DockerProviderConfig& options,
                          const Constraints& constraints) {
  Built out;
  out.tree = Node::map();
  std::map<std::string, std::vector<std::string>> owners;
  std::set<std::string> conflicts;
  // Name order: the merge (and its error messages) do not depend on the daemon's list order.
  std::vector<const Container*> sorted;
  for (const auto& c : containers)
    sorted.push_back(&c);
  std::sort(sorted.begin(), sorted.end(),
            [](const Container* a, const Container* b) { return a->name < b->name; });
  for (const Container* c : sorted) {
    if (!running(*c))
      continue;
    if (!truthy(c->labels, options.label_prefix + ".enable", options.exposed_by_default))
      continue;
    if (!constraints.matches(c->labels))
      continue;
    auto tree = ContainerBuilder(*c, options).build();
    if (!tree) {
      out.errors.push_back("container " + c->name + ": " + tree.error().message +
                           "; the container is ignored");
      continue;
    }
    for (auto& e : drop_invalid_objects(*tree, "docker", "container " + c->name))
      out.errors.push_back(std::move(e));
    merge_into(out.tree, *tree, c->name, owners, conflicts);
    ++out.exposed;
  }
  for (const auto& path : conflicts) {
    auto parts = split(path, '.');
    std::string who;
    for (const auto& o : owners[path])
      who += (who.empty() ? "" : ", ") + o;
    out.errors.push_back(path + "@docker: defined differently by containers " + who + "; disabled");
    if (parts.size() >= 3) {
      Node* kind = out.tree.find(parts[0]) ? out.tree.find(parts[0])->find(parts[1]) : nullptr;
      // The name itself may contain dots: everything after root.kind.
      std::string name = path.substr(parts[0].size() + parts[1].size() + 2);
      if (kind)
        erase_key(*kind, name);
    }
  }
  return out;
}

} // namespace turnpike::provider::docker
