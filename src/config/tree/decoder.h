#pragma once
// Typed, schema-driven decoding of a config::Node map with Traefik's rules:
// - option names are case-insensitive;
// - presence semantics: a present-but-empty section (`api: {}` / null) enables a feature with its
//   defaults, so `section()` reports presence separately from content;
// - every key of a map must be consumed: unknown keys are errors naming the full key path;
// - errors are collected (not thrown) as "file:line: key.path: problem" strings.
// Used on the control thread only.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/duration.h"
#include "common/ipnet.h"
#include "config/tree/node.h"

namespace turnpike::config {

class Errors {
public:
  void add(const Location& loc, std::string_view path, std::string_view problem);
  bool empty() const { return list_.empty(); }
  const std::vector<std::string>& list() const { return list_; }
  // All messages joined by "; ".
  std::string joined() const;
  void append(const Errors& other) {
    list_.insert(list_.end(), other.list_.begin(), other.list_.end());
  }

private:
  std::vector<std::string> list_;
};

class Decoder {
public:
  // `node` must outlive the decoder. `path` is the key path of `node` ("http.routers.api@file").
  // A null node, or a scalar `true`, decodes as an empty map (presence semantics).
  Decoder(const Node& node, std::string path, Errors& errors);

  const std::string& path() const { return path_; }
  const Node& node() const { return node_; }
  Errors& errors() { return errors_; }
  bool ok() const { return errors_.empty(); }

  // Each getter marks the key used; absent keys leave `out` unchanged (so defaults set beforehand
  // stay). Returns true when the key was present and valid.
  bool get(std::string_view key, std::string& out);
  bool get(std::string_view key, bool& out);
  bool get(std::string_view key, int64_t& out);
  bool get(std::string_view key, int& out);
  bool get(std::string_view key, double& out);
  bool get(std::string_view key, Duration& out);
  // A list of scalars, or a single comma-separated scalar (CLI/env form).
  bool get(std::string_view key, std::vector<std::string>& out);
  // A map of scalar values (custom headers).
  bool get(std::string_view key, std::map<std::string, std::string>& out);

  // Like get(), and a negative value is an error ("must not be negative") that leaves `out`
  // unchanged.
  bool get_non_negative(std::string_view key, int64_t& out);
  bool get_non_negative(std::string_view key, int& out);
  bool get_non_negative(std::string_view key, Duration& out);

  // A required, non-empty list of IPs and CIDR ranges (ipAllowList's sourceRange). Reports a
  // missing, empty or invalid list at `key`; returns true when `out` was set.
  bool get_required(std::string_view key, IpNetSet& out);

  // A sub-section: nullptr when absent. Present-but-null returns a pointer to a null node. A
  // scalar `true` (`--api`, `TRAEFIK_API=true`) counts as present and empty: the scalar node is
  // returned, and a Decoder built on it reads it as an empty map; `false` counts as absent.
  const Node* section(std::string_view key);
  // Items of a list-valued key; a map with numeric keys ("0", "1") is accepted as a list
  // (CLI/env/KV form). Empty when absent. Reports an error when the value is a scalar.
  std::vector<const Node*> list(std::string_view key);

  // Marks a key as consumed without decoding (handled elsewhere).
  void skip(std::string_view key);
  // Reports every key not consumed so far as "unknown key". Call once after all getters.
  void finish();

  // Adds an error at `key` (or at this node when key is empty).
  void fail(std::string_view key, std::string_view problem);
  std::string child_path(std::string_view key) const;

private:
  const Node* lookup(std::string_view key);

  const Node& node_;
  std::string path_;
  Errors& errors_;
  // used_[i]: entry i of node_ was consumed. A case variant of a consumed key is reported by
  // finish() as a duplicate, so only the first match needs marking.
  std::vector<bool> used_;
};

// Scalar conversions shared with callers that walk nodes themselves.
std::optional<bool> parse_bool(std::string_view s);

} // namespace turnpike::config
