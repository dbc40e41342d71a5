#include "provider/kubernetes/objects.h"

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

} // namespace turnpike::provider::kubernetes
