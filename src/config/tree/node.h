#pragma once
// The configuration tree every source is turned into before decoding: YAML, TOML and JSON files,
// CLI flags (--a.b.c=v), environment variables (TURNPIKE_A_B_C=v), provider payloads. Scalars keep
// their text ("10s", "true", "42"); typed decoding happens in config::Decoder, which knows the
// schema and produces path-qualified errors. Immutable once built; safe to share.

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace turnpike::config {

struct Location {
  std::shared_ptr<const std::string> file;  // may be null (CLI, env, API)
  int line = 0;                              // 1-based; 0 = unknown

  // "file.yml:12" / "file.yml" / "" for messages.
  std::string describe() const;
};

class Node {
 public:
  enum class Kind { kNull, kScalar, kList, kMap };

  Node() = default;
  static Node scalar(std::string text, Location loc = {});
  static Node list(Location loc = {});
  static Node map(Location loc = {});

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_scalar() const { return kind_ == Kind::kScalar; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_map() const { return kind_ == Kind::kMap; }
  const Location& location() const { return loc_; }
  void set_location(Location loc) { loc_ = std::move(loc); }

  // Scalar text (empty for non-scalars). A YAML/TOML string, number or bool all land here.
  const std::string& text() const { return text_; }
  // True when the scalar was a quoted string in the source (YAML "x"), so "true" stays a string.
  bool quoted() const { return quoted_; }
  void set_quoted(bool q) { quoted_ = q; }

  // List items.
  const std::vector<Node>& items() const { return items_; }
  std::vector<Node>& items() { return items_; }

  // Map entries in source order; keys as written.
  const std::vector<std::pair<std::string, Node>>& entries() const { return entries_; }
  std::vector<std::pair<std::string, Node>>& entries() { return entries_; }

  // Case-insensitive lookup (Traefik option names are case-insensitive); null when absent.
  const Node* find(std::string_view key) const;
  Node* find(std::string_view key);
  // Adds or returns the child map entry `key` (case-insensitive), converting null to map.
  Node& child(std::string_view key);

  // Deep merge of `other` into this node: maps merge recursively, anything else replaces.
  void merge_from(const Node& other);

  // Compact JSON-ish rendering for logs, tests and the API.
  std::string debug_string() const;

  bool operator==(const Node& other) const;

 private:
  Kind kind_ = Kind::kNull;
  bool quoted_ = false;
  std::string text_;
  std::vector<Node> items_;
  std::vector<std::pair<std::string, Node>> entries_;
  Location loc_;
};

// Parsers. `file` names the source in errors ("dynamic.yml:7: ..."). An empty document is a null
// node. Errors carry the parser's line where it gives one.
Result<Node> parse_yaml(std::string_view text, const std::string& file);
Result<Node> parse_toml(std::string_view text, const std::string& file);
Result<Node> parse_json(std::string_view text, const std::string& file);
// Picks the parser from the file extension (.yml/.yaml, .toml, .json); error for others.
Result<Node> parse_by_extension(std::string_view text, const std::string& file);
// Reads and parses a file; the error names the file.
Result<Node> load_file(const std::string& path);

// Builds a tree from dotted flag paths: {"entryPoints.web.address", ":80"}. A path segment that is
// a number under a list-typed parent is left as a map key; decoders accept maps with numeric keys
// where they expect lists ("servers.0.url").
Node from_flat(const std::vector<std::pair<std::string, std::string>>& pairs, Location loc = {});

}  // namespace turnpike::config
