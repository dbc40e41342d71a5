#include "provider/kv/kv_config.h"

#include <algorithm>
#include <memory>

#include "common/strings.h"
#include "provider/validate.h"

namespace turnpike::provider {
namespace {

// Path segments of a key relative to the root, without empty ones ("a//b/" is a/b).
std::vector<std::string> segments(std::string_view rel) {
  std::vector<std::string> out;
  for (auto s : split(rel, '/'))
    if (!s.empty())
      out.emplace_back(s);
  return out;
}

// How many leading segments name an object: root/kind/name, except `tls/certificates`, which is
// one list.
size_t object_depth(const std::vector<std::string>& segs) {
  if (segs.size() >= 2 && iequals(segs[0], "tls") && iequals(segs[1], "certificates"))
    return 2;
  return 3;
}

} // namespace

KvConfig::KvConfig(std::string root_key, std::string provider)
    : prefix_(std::move(root_key) + "/"), provider_(std::move(provider)) {}

std::string KvConfig::object_of(std::string_view key, std::vector<std::string>* path) const {
  if (!key.starts_with(prefix_))
    return {};
  auto segs = segments(key.substr(prefix_.size()));
  if (segs.empty())
    return {};
  size_t depth = std::min(object_depth(segs), segs.size());
  segs.resize(depth);
  // Section and kind names are case-insensitive (one object for `HTTP/Routers/x` and
  // `http/routers/x`); object names are not.
  std::string id;
  for (size_t i = 0; i < depth; ++i) {
    if (i < 2)
      segs[i] = to_lower(segs[i]);
    id += (i ? "/" : "") + segs[i];
  }
  if (path)
    *path = std::move(segs);
  return id;
}

bool KvConfig::put(std::string_view key, std::string_view value) {
  std::vector<std::string> path;
  std::string id = object_of(key, &path);
  if (id.empty())
    return false;
  auto [it, created] = objects_.try_emplace(id);
  Object& o = it->second;
  if (created)
    o.path = std::move(path);
  auto [k, added] = o.keys.try_emplace(std::string(key), value);
  if (!added) {
    if (k->second == value)
      return false;
    k->second = value;
  }
  o.dirty = true;
  return true;
}

bool KvConfig::erase(std::string_view key) {
  std::string id = object_of(key, nullptr);
  auto it = objects_.find(id);
  if (it == objects_.end())
    return false;
  if (it->second.keys.erase(std::string(key)) == 0)
    return false;
  if (it->second.keys.empty())
    objects_.erase(it);
  else
    it->second.dirty = true;
  return true;
}

bool KvConfig::reset(const std::vector<kv::Entry>& entries) {
  // Applied as a difference, so that after a reconnection only what changed meanwhile is decoded.
  std::map<std::string, std::string_view> now;
  for (const auto& e : entries)
    if (!object_of(e.key, nullptr).empty())
      now.emplace(e.key, e.value);
  std::vector<std::string> gone;
  for (const auto& [id, o] : objects_)
    for (const auto& [k, v] : o.keys)
      if (!now.count(k))
        gone.push_back(k);
  bool changed = false;
  for (const auto& k : gone)
    changed |= erase(k);
  for (const auto& [k, v] : now)
    changed |= put(k, v);
  return changed;
}

void KvConfig::rebuild(Object& o) const {
  std::string id;
  for (const auto& s : o.path)
    id += (id.empty() ? "" : "/") + s;
  config::Location object_loc{std::make_shared<const std::string>(prefix_ + id), 0};
  config::Node node;
  size_t depth = o.path.size();
  for (const auto& [key, value] : o.keys) {
    auto segs = segments(std::string_view(key).substr(prefix_.size()));
    config::Node* cur = &node;
    for (size_t i = depth; i < segs.size(); ++i) {
      if (!cur->is_map())
        *cur = config::Node::map(object_loc); // `.../tls` = true, then `.../tls/options`
      cur = &cur->child(segs[i]);
      if (cur->is_null())
        cur->set_location(object_loc);
    }
    // A section that has keys below it wins over a value set on the section itself.
    if (cur->is_map() && !cur->entries().empty())
      continue;
    *cur =
        config::Node::scalar(value, config::Location{std::make_shared<const std::string>(key), 0});
  }
  // Decoded alone, in a tree holding only this object.
  config::Node tree = config::Node::map();
  config::Node* at = &tree;
  for (size_t i = 0; i < o.path.size(); ++i) {
    if (!at->is_map())
      *at = config::Node::map();
    at = &at->child(o.path[i]);
  }
  *at = node;
  // Messages that do not start with a key (an unknown section) are prefixed with the object's.
  o.errors = drop_invalid_objects(tree, provider_, *object_loc.file);
  o.node = o.errors.empty() ? std::move(node) : config::Node();
  o.dirty = false;
}

KvConfig::Built KvConfig::build() {
  Built out;
  out.tree = config::Node::map();
  // Objects are sorted by id, so one kind's objects are adjacent: appended to one map without
  // a lookup each (a 10,000-router tree would otherwise cost a quadratic number of compares).
  config::Node* kind = nullptr;
  std::string kind_id;
  for (auto& [id, o] : objects_) {
    if (o.dirty) {
      rebuild(o);
      ++out.decoded;
    }
    for (const auto& e : o.errors)
      out.errors.push_back(e);
    if (!o.errors.empty())
      continue;
    if (o.path.size() < 2) {
      out.tree.child(o.path[0]) = o.node; // never valid in practice: a section with a value
      kind = nullptr;
      continue;
    }
    std::string this_kind = o.path[0] + "/" + o.path[1];
    if (!kind || kind_id != this_kind) {
      kind = &out.tree.child(o.path[0]).child(o.path[1]);
      kind_id = this_kind;
    }
    if (o.path.size() == 2) {
      *kind = o.node; // tls/certificates
      kind = nullptr;
      continue;
    }
    if (!kind->is_map())
      *kind = config::Node::map();
    kind->entries().emplace_back(o.path[2], o.node);
  }
  if (out.tree.entries().empty())
    out.tree = config::Node();
  return out;
}

size_t KvConfig::key_count() const {
  size_t n = 0;
  for (const auto& [id, o] : objects_)
    n += o.keys.size();
  return n;
}

} // namespace turnpike::provider
