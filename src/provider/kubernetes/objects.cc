#include "provider/kubernetes/objects.h"

#include "common/hex.h"

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

std::string rule_hash(std::string_view s) {
  return digest_hex(EVP_sha256(), s, 20);
}

} // namespace turnpike::provider::kubernetes
