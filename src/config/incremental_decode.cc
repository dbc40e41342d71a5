#include "config/incremental_decode.h"

#include <array>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/strings.h"

namespace turnpike::config {
namespace {

struct KindName {
  std::string_view root, kind;
};
// The named objects of a dynamic configuration; tls.certificates (a list) is handled apart.
constexpr std::array<KindName, 12> kKinds = {{
    {"http", "routers"},
    {"http", "services"},
    {"http", "middlewares"},
    {"http", "serversTransports"},
    {"tcp", "routers"},
    {"tcp", "services"},
    {"tcp", "middlewares"},
    {"tcp", "serversTransports"},
    {"udp", "routers"},
    {"udp", "services"},
    {"tls", "options"},
    {"tls", "stores"},
}};

using Qualify = std::string (*)(std::string_view, std::string_view);

// Calls fn(a's map, b's map, how names are qualified) for kKinds[i].
template <class Fn> void with_maps(DynamicConfig& a, DynamicConfig& b, size_t i, Fn fn) {
  switch (i) {
  case 0:
    return fn(a.http.routers, b.http.routers, nullptr);
  case 1:
    return fn(a.http.services, b.http.services, nullptr);
  case 2:
    return fn(a.http.middlewares, b.http.middlewares, nullptr);
  case 3:
    return fn(a.http.servers_transports, b.http.servers_transports, nullptr);
  case 4:
    return fn(a.tcp.routers, b.tcp.routers, nullptr);
  case 5:
    return fn(a.tcp.services, b.tcp.services, nullptr);
  case 6:
    return fn(a.tcp.middlewares, b.tcp.middlewares, nullptr);
  case 7:
    return fn(a.tcp.servers_transports, b.tcp.servers_transports, nullptr);
  case 8:
    return fn(a.udp.routers, b.udp.routers, nullptr);
  case 9:
    return fn(a.udp.services, b.udp.services, nullptr);
  case 10:
    return fn(a.tls.options, b.tls.options, &qualify_tls_name);
  default:
    return fn(a.tls.stores, b.tls.stores, &qualify_tls_name);
  }
}

bool is_certificates(std::string_view root, std::string_view kind) {
  return iequals(root, "tls") && iequals(kind, "certificates");
}

// Every section and kind of `t` is one decode_changes handles, and a map.
bool usual_shape(const Node& t) {
  if (t.is_null())
    return true;
  if (!t.is_map())
    return false;
  for (const auto& [root, kinds] : t.entries()) {
    bool known_root = false;
    for (std::string_view r : {"http", "tcp", "udp", "tls"})
      known_root |= iequals(r, root);
    if (!known_root || !kinds.is_map())
      return false;
    for (const auto& [kind, objects] : kinds.entries()) {
      if (is_certificates(root, kind))
        continue;
      bool known = false;
      for (const auto& k : kKinds)
        known |= iequals(k.root, root) && iequals(k.kind, kind);
      if (!known || !objects.is_map())
        return false;
    }
  }
  return true;
}

const Node* find_kind(const Node& t, std::string_view root, std::string_view kind) {
  const Node* r = t.is_map() ? t.find(root) : nullptr;
  return r && r->is_map() ? r->find(kind) : nullptr;
}

// The same object names in the same order.
bool same_names(const Node& a, const Node& b) {
  if (&a.entries() == &b.entries())
    return true;
  if (a.entries().size() != b.entries().size())
    return false;
  for (size_t i = 0; i < a.entries().size(); ++i)
    if (a.entries()[i].first != b.entries()[i].first)
      return false;
  return true;
}

} // namespace

bool decode_changes(const Node& previous, const Node& tree, std::string_view provider,
                    DynamicConfig& decoded, ChangeSet* changes_out) {
  if (!usual_shape(previous) || !usual_shape(tree))
    return false;
  const Node* old_certs = find_kind(previous, "tls", "certificates");
  const Node* new_certs = find_kind(tree, "tls", "certificates");
  if ((old_certs == nullptr) != (new_certs == nullptr) ||
      (old_certs && !(*old_certs == *new_certs)))
    return false;

  Node delta = Node::map();
  std::array<std::vector<std::string>, kKinds.size()> removed;
  size_t total = 0, changes = 0;
  for (size_t i = 0; i < kKinds.size(); ++i) {
    const Node* before = find_kind(previous, kKinds[i].root, kKinds[i].kind);
    const Node* now = find_kind(tree, kKinds[i].root, kKinds[i].kind);
    auto add_changed = [&](const std::string& name, const Node& obj) {
      ++changes;
      Node& kind = delta.child(kKinds[i].root).child(kKinds[i].kind);
      if (!kind.is_map())
        kind = Node::map();
      kind.entries().emplace_back(name, obj);
    };
    // The usual change (one object's keys edited) keeps every name in place: compared position
    // by position, without indexing 10,000 names. The same names in the same order as a tree
    // that was decoded cannot hold new duplicates.
    if (before && now && same_names(*before, *now)) {
      const auto& was = before->entries();
      const auto& is = now->entries();
      total += is.size();
      for (size_t j = 0; j < is.size(); ++j)
        if (!(was[j].second == is[j].second))
          add_changed(is[j].first, is[j].second);
      continue;
    }
    std::unordered_map<std::string_view, const Node*> old_objects;
    if (before)
      for (const auto& [name, obj] : before->entries())
        old_objects.emplace(name, &obj);
    if (now) {
      // Names that differ only in case (or repeat) are an error the full decoding reports.
      std::unordered_set<std::string> names;
      for (const auto& [name, obj] : now->entries()) {
        if (!names.insert(to_lower(name)).second)
          return false;
        ++total;
        auto it = old_objects.find(name);
        if (it != old_objects.end()) {
          bool same = *it->second == obj;
          old_objects.erase(it);
          if (same)
            continue;
        }
        add_changed(name, obj);
      }
    }
    for (const auto& [name, obj] : old_objects)
      removed[i].emplace_back(name);
    changes += removed[i].size();
  }
  // Past a quarter of the objects, comparing and patching saves little over decoding them all.
  if (changes > total / 4 + 8)
    return false;
  DynamicConfig changed = decode_dynamic(delta, provider);
  if (!changed.errors.empty() || !rejecting_errors(changed).empty())
    return false;
  for (size_t i = 0; i < kKinds.size(); ++i) {
    with_maps(decoded, changed, i, [&](auto& into, auto& from, Qualify qualified) {
      bool routers = i == 0; // http.routers
      if (changes_out && !routers && (!removed[i].empty() || !from.empty()))
        changes_out->only_http_routers = false;
      for (const auto& name : removed[i]) {
        std::string key =
            qualified ? qualified(name, provider) : name + "@" + std::string(provider);
        if (changes_out && routers)
          changes_out->http_routers.push_back(key);
        into.erase(key);
      }
      for (auto& [name, obj] : from) {
        if (changes_out && routers)
          changes_out->http_routers.push_back(name);
        into.insert_or_assign(name, std::move(obj));
      }
    });
  }
  return true;
}

} // namespace turnpike::config
