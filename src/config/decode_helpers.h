#pragma once
// Decoding steps shared by the dynamic configuration's sections (http in dynamic_config.cc,
// tcp and udp in tcp_udp_config.cc): references qualified with the provider, per-object error
// collection, the router fields every router kind has, the "exactly one kind" rule of services
// and middlewares, and merging across providers. Control thread only.

#include <array>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/tree/decoder.h"

namespace turnpike::config::decode {

// A raw sub-tree kept for a later decoder; `section` turns `x: true` into an empty section.
void keep_raw(Decoder& dec, std::string_view key, std::optional<Node>& out);
// References to other objects, qualified with the referencing provider (see qualify()).
void get_refs(Decoder& dec, std::string_view key, std::string_view provider,
              std::vector<std::string>& out);
void get_ref(Decoder& dec, std::string_view key, std::string_view provider, std::string& out,
             bool required);
// Checks an object's name; the object is kept under its qualified name either way.
void check_name(const std::string& name, Decoder& dec);
// "services[2]": the path of one list item.
std::string index_path(const Decoder& dec, std::string_view key, size_t i);

// The fields of HTTP and TCP routers: entryPoints, rule, ruleSyntax, priority, middlewares and
// service (required). The caller decodes the rest, calls finish(), then checks the rule.
template <class Router>
void decode_router_fields(Decoder& dec, std::string_view provider, Router& r);

// A `services: [{name, weight}]` list (weighted services).
template <class Child>
void decode_children(Decoder& dec, std::string_view provider, std::vector<Child>& out);

// A load balancer's `servers` list: each item's `address_key` (required) into `address`, its
// `weight` (default 1, not negative), then extra(Decoder&, Server&) for the other keys.
template <class Server, class Extra>
void decode_servers(Decoder& dec, std::string_view address_key, std::string Server::*address,
                    std::vector<Server>& out, Extra extra);

// Finds the one kind key (`loadBalancer`, `weighted`...) an object must define among `keys`.
// Returns its index and section, or nullopt after reporting why (none, several, not a map); the
// keys are marked consumed either way.
template <size_t N>
std::optional<std::pair<size_t, const Node*>>
single_kind(Decoder& dec, const std::array<std::string_view, N>& keys);

// A middleware's single type key and its options (HTTP and TCP middlewares). `examples` names a
// few types for the error message.
template <class Middleware>
void decode_middleware(Decoder& dec, Middleware& m, std::string_view examples);

// Decodes every object of one `<section>` map under `parent` into `out`, keyed by qualified
// name (and its `provider` member, when it has one, set): decode(Decoder&, Object&) fills one
// object; its errors stay on the object. `qualified` names an object from its name and provider
// (default: name@provider).
template <class Object, class DecodeFn>
void decode_objects(Decoder& parent, std::string_view section, std::string_view provider,
                    std::map<std::string, Object>& out, DecodeFn decode,
                    std::string (*qualified)(std::string_view, std::string_view) = nullptr);

// Moves `from`'s objects into `into`; a name present in both keeps the first and records an
// error in `errors`.
template <class Object>
void merge_objects(std::map<std::string, Object>& into, std::map<std::string, Object>& from,
                   std::string_view section, std::vector<std::string>& errors);

// ---- implementation ---------------------------------------------------------------------------

void check_rule_syntax(Decoder& dec, std::string& rule_syntax);
void check_priority(Decoder& dec, int64_t priority);

template <class Router>
void decode_router_fields(Decoder& dec, std::string_view provider, Router& r) {
  dec.get("entryPoints", r.entry_points);
  dec.get("rule", r.rule);
  if (dec.get("ruleSyntax", r.rule_syntax))
    check_rule_syntax(dec, r.rule_syntax);
  if (dec.get("priority", r.priority))
    check_priority(dec, r.priority);
  get_refs(dec, "middlewares", provider, r.middlewares);
  get_ref(dec, "service", provider, r.service, /*required=*/true);
}

template <class Child>
void decode_children(Decoder& dec, std::string_view provider, std::vector<Child>& out) {
  auto services = dec.list("services");
  for (size_t i = 0; i < services.size(); ++i) {
    Child c;
    Decoder cd(*services[i], index_path(dec, "services", i), dec.errors());
    get_ref(cd, "name", provider, c.name, /*required=*/true);
    cd.get_non_negative("weight", c.weight);
    cd.finish();
    out.push_back(std::move(c));
  }
}

template <class Server, class Extra>
void decode_servers(Decoder& dec, std::string_view address_key, std::string Server::*address,
                    std::vector<Server>& out, Extra extra) {
  auto servers = dec.list("servers");
  for (size_t i = 0; i < servers.size(); ++i) {
    Server s;
    s.location = servers[i]->location();
    Decoder sd(*servers[i], index_path(dec, "servers", i), dec.errors());
    sd.get(address_key, s.*address);
    if ((s.*address).empty())
      sd.fail(address_key, "is required");
    sd.get_non_negative("weight", s.weight);
    extra(sd, s);
    sd.finish();
    out.push_back(std::move(s));
  }
}

std::optional<std::pair<size_t, const Node*>>
single_kind(Decoder& dec, const std::string_view* keys, size_t count);

template <size_t N>
std::optional<std::pair<size_t, const Node*>>
single_kind(Decoder& dec, const std::array<std::string_view, N>& keys) {
  return single_kind(dec, keys.data(), N);
}

// The single type key of a middleware node, or nullopt after reporting.
std::optional<std::pair<std::string, Node>> middleware_type(Decoder& dec,
                                                            std::string_view examples);

template <class Middleware>
void decode_middleware(Decoder& dec, Middleware& m, std::string_view examples) {
  if (auto t = middleware_type(dec, examples)) {
    m.type = std::move(t->first);
    m.options = std::move(t->second);
  }
  dec.finish();
}

template <class Object, class DecodeFn>
void decode_objects(Decoder& parent, std::string_view section, std::string_view provider,
                    std::map<std::string, Object>& out, DecodeFn decode,
                    std::string (*qualified)(std::string_view, std::string_view)) {
  // section() has already reported a list or scalar here.
  const Node* sec = parent.section(section);
  if (!sec || !sec->is_map())
    return;
  for (const auto& [name, node] : sec->entries()) {
    Object obj;
    obj.name = qualified ? qualified(name, provider) : name + "@" + std::string(provider);
    obj.location = node.location();
    if constexpr (requires { obj.provider; })
      obj.provider = std::string(provider);
    Errors errors;
    Decoder dec(node, parent.child_path(section) + "." + obj.name, errors);
    check_name(name, dec);
    // A value that is not a map has been reported by the Decoder; nothing more to say about it.
    if (node.is_map() || node.is_null())
      decode(dec, obj);
    obj.errors = errors.list();
    if (out.count(obj.name)) {
      parent.fail(section, "\"" + name + "\" is defined more than once");
      continue;
    }
    out.emplace(obj.name, std::move(obj));
  }
}

template <class Object>
void merge_objects(std::map<std::string, Object>& into, std::map<std::string, Object>& from,
                   std::string_view section, std::vector<std::string>& errors) {
  for (auto& [name, obj] : from) {
    if (into.count(name)) {
      errors.push_back(std::string(section) + "." + name + ": defined by more than one source");
      continue;
    }
    into.emplace(name, std::move(obj));
  }
}

} // namespace turnpike::config::decode
