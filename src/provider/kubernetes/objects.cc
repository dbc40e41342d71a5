#include "provider/kubernetes/objects.h"

#include <cstdio>

namespace turnpike::provider::kubernetes {

const nlohmann::json& field(const nlohmann::json& j, const char* key) {
  static const nlohmann::json kNull;
  if (!j.is_object())
    return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string str(const nlohmann::json& j, const char* key) {
  const nlohmann::json& v = field(j, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

config::Node& section(config::Node& tree, std::string_view root, std::string_view kind) {
  config::Node& k = tree.child(root).child(kind);
  if (!k.is_map())
    k = config::Node::map();
  return k;
}

std::string short_hash(std::string_view s, uint64_t basis) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(fnv1a64(s, basis)));
  return std::string(buf, 10);
}

} // namespace turnpike::provider::kubernetes
