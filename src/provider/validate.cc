#include "provider/validate.h"

#include <array>

#include "common/strings.h"
#include "config/dynamic_config.h"

namespace turnpike::provider {
namespace {

struct Section {
  std::string_view root;
  std::array<std::string_view, 4> kinds; // named objects; "certificates" is a list
};
constexpr std::array<Section, 4> kSections = {{
    {"http", {"routers", "services", "middlewares", "serversTransports"}},
    {"tcp", {"routers", "services", "middlewares", "serversTransports"}},
    {"udp", {"routers", "services", "", ""}},
    {"tls", {"options", "stores", "certificates", ""}},
}};

const Section* find_section(std::string_view root) {
  for (const auto& s : kSections)
    if (iequals(s.root, root))
      return &s;
  return nullptr;
}

bool known_kind(const Section& s, std::string_view kind) {
  for (auto k : s.kinds)
    if (!k.empty() && iequals(k, kind))
      return true;
  return false;
}

std::string joined(const std::vector<std::string>& errs) {
  std::string out;
  for (const auto& e : errs)
    out += (out.empty() ? "" : "; ") + e;
  return out;
}

// Decodes a tree holding only root.kind.<entry> and returns its rejecting errors.
std::vector<std::string> check_one(std::string_view root, std::string_view kind,
                                   const std::string& key, const config::Node& obj,
                                   std::string_view provider) {
  config::Node t = config::Node::map();
  config::Node& k = t.child(root).child(kind);
  if (key.empty()) {
    k = obj; // a list (tls.certificates)
  } else {
    k = config::Node::map(); // child() leaves a null node: entries need a map
    k.entries().emplace_back(key, obj);
  }
  return config::rejecting_errors(config::decode_dynamic(t, provider));
}

} // namespace

std::vector<std::string> drop_invalid_objects(config::Node& tree, std::string_view provider,
                                              std::string_view source) {
  std::vector<std::string> errors;
  // Decoder messages already start with the node's location, which for these providers often
  // is the source itself ("container web: ..."): it is not repeated.
  auto report = [&](std::string msg) {
    bool prefixed = source.empty() || msg.starts_with(source);
    errors.push_back(prefixed ? std::move(msg) : std::string(source) + ": " + msg);
  };
  if (tree.is_null())
    return errors;
  if (!tree.is_map()) {
    report("expected a map at the top level");
    tree = config::Node();
    return errors;
  }
  auto& roots = tree.entries();
  for (auto r = roots.begin(); r != roots.end();) {
    const Section* section = find_section(r->first);
    if (!section || !(r->second.is_map() || r->second.is_null())) {
      report(r->first + ": " + (section ? "expected a map" : "unknown section") + ", ignored");
      r = roots.erase(r);
      continue;
    }
    auto& kinds = r->second.entries();
    for (auto k = kinds.begin(); k != kinds.end();) {
      if (!known_kind(*section, k->first)) {
        report(r->first + "." + k->first + ": unknown section, ignored");
        k = kinds.erase(k);
        continue;
      }
      if (iequals(k->first, "certificates")) {
        auto errs = check_one(r->first, k->first, "", k->second, provider);
        if (!errs.empty()) {
          report(joined(errs) + "; tls.certificates ignored");
          k = kinds.erase(k);
          continue;
        }
        ++k;
        continue;
      }
      if (!(k->second.is_map() || k->second.is_null())) {
        report(r->first + "." + k->first + ": expected a map, ignored");
        k = kinds.erase(k);
        continue;
      }
      auto& objects = k->second.entries();
      for (auto o = objects.begin(); o != objects.end();) {
        auto errs = check_one(r->first, k->first, o->first, o->second, provider);
        if (errs.empty()) {
          ++o;
          continue;
        }
        report(joined(errs) + "; " + r->first + "." + k->first + "." +
               config::qualify(o->first, provider) + " disabled");
        o = objects.erase(o);
      }
      ++k;
    }
    ++r;
  }
  return errors;
}

void merge_first_wins(config::Node& into, const config::Node& tree) {
  if (!into.is_map())
    into = config::Node::map();
  for (const auto& [root, kinds] : tree.entries()) {
    config::Node& dr = into.child(root);
    for (const auto& [kind, objs] : kinds.entries()) {
      config::Node& dk = dr.child(kind);
      if (objs.is_list()) {
        if (!dk.is_list())
          dk = config::Node::list();
        for (const auto& i : objs.items())
          dk.items().push_back(i);
        continue;
      }
      if (!dk.is_map())
        dk = config::Node::map();
      for (const auto& [n, o] : objs.entries())
        if (!dk.find(n))
          dk.entries().emplace_back(n, o);
    }
  }
}

} // namespace turnpike::provider
