#include "config/decode_helpers.h"

#include <limits>

#include "common/strings.h"
#include "config/dynamic_config.h"

namespace turnpike::config::decode {

void keep_raw(Decoder& dec, std::string_view key, std::optional<Node>& out) {
  if (const Node* n = dec.section(key))
    out = *n;
}

void get_refs(Decoder& dec, std::string_view key, std::string_view provider,
              std::vector<std::string>& out) {
  if (dec.get(key, out))
    for (auto& ref : out)
      ref = qualify(ref, provider);
}

void get_ref(Decoder& dec, std::string_view key, std::string_view provider, std::string& out,
             bool required) {
  if (dec.get(key, out))
    out = qualify(out, provider);
  if (required && out.empty())
    dec.fail(key, "is required");
}

void check_name(const std::string& name, Decoder& dec) {
  if (name.empty())
    dec.fail("", "empty name");
  if (name.find('@') != std::string::npos)
    dec.fail("", "name must not contain '@' (the provider is added as name@provider)");
}

std::string index_path(const Decoder& dec, std::string_view key, size_t i) {
  return dec.child_path(key) + "[" + std::to_string(i) + "]";
}

void check_rule_syntax(Decoder& dec, std::string& rule_syntax) {
  rule_syntax = to_lower(rule_syntax);
  if (rule_syntax != "v2" && rule_syntax != "v3") {
    dec.fail("ruleSyntax", "must be v2 or v3");
    rule_syntax.clear();
  }
}

void check_priority(Decoder& dec, int64_t priority) {
  if (priority > kMaxUserPriority)
    dec.fail("priority", "must be at most " + std::to_string(kMaxUserPriority) +
                             " (higher priorities are reserved for internal routers)");
}

std::optional<std::pair<size_t, const Node*>>
single_kind(Decoder& dec, const std::string_view* keys, size_t count) {
  std::vector<size_t> present;
  for (size_t i = 0; i < count; ++i)
    if (dec.node().find(keys[i]))
      present.push_back(i);
  if (present.size() != 1) {
    std::string all, found;
    for (size_t i = 0; i < count; ++i)
      all += (i ? ", " : "") + std::string(keys[i]);
    for (size_t i : present)
      found += (found.empty() ? "" : ", ") + std::string(keys[i]);
    dec.fail("", present.empty() ? "must define one of " + all
                                 : "must define only one kind of service, found " + found);
    for (size_t i : present)
      dec.skip(keys[i]);
    return std::nullopt;
  }
  std::string_view key = keys[present.front()];
  const Node* sec = dec.section(key);
  if (!sec) { // a list or a scalar has been reported by section(); `false` has not
    if (const Node* n = dec.node().find(key); n->is_scalar() && parse_bool(n->text()) == false)
      dec.fail(key, "expected a section (a map), got false");
    return std::nullopt;
  }
  return std::pair{present.front(), sec};
}

std::optional<std::pair<std::string, Node>> middleware_type(Decoder& dec,
                                                            std::string_view examples) {
  const Node& node = dec.node();
  std::optional<std::pair<std::string, Node>> out;
  if (node.entries().size() != 1) {
    std::string types;
    for (const auto& [k, v] : node.entries())
      types += (types.empty() ? "" : ", ") + k;
    dec.fail("", node.entries().empty()
                     ? "must define a middleware type (" + std::string(examples) + ", ...)"
                     : "must define only one middleware type, found " + types);
  } else {
    out.emplace(node.entries().front().first, node.entries().front().second);
  }
  for (const auto& [k, v] : node.entries())
    dec.skip(k);
  return out;
}

} // namespace turnpike::config::decode
