#include "config/tree/node.h"

#include "common/strings.h"

namespace turnpike::config {

std::string Location::describe() const {
  if (!file)
    return line > 0 ? "line " + std::to_string(line) : std::string();
  if (line <= 0)
    return *file;
  return *file + ":" + std::to_string(line);
}

Node Node::scalar(std::string text, Location loc) {
  Node n;
  n.kind_ = Kind::kScalar;
  n.text_ = std::move(text);
  n.loc_ = std::move(loc);
  return n;
}

Node Node::list(Location loc) {
  Node n;
  n.kind_ = Kind::kList;
  n.loc_ = std::move(loc);
  return n;
}

Node Node::map(Location loc) {
  Node n;
  n.kind_ = Kind::kMap;
  n.loc_ = std::move(loc);
  return n;
}

const Node* Node::find(std::string_view key) const {
  for (const auto& [k, v] : entries_)
    if (iequals(k, key))
      return &v;
  return nullptr;
}

Node* Node::find(std::string_view key) {
  for (auto& [k, v] : entries_)
    if (iequals(k, key))
      return &v;
  return nullptr;
}

Node& Node::child(std::string_view key) {
  if (kind_ != Kind::kMap) {
    // A scalar or list in the way is replaced: the caller is building a section here (from_flat
    // turns `--providers.file` followed by `--providers.file.watch=false` into one section).
    kind_ = Kind::kMap;
    text_.clear();
    quoted_ = false;
    items_.clear();
  }
  if (Node* existing = find(key))
    return *existing;
  entries_.emplace_back(std::string(key), Node());
  entries_.back().second.loc_ = loc_;
  return entries_.back().second;
}

void Node::merge_from(const Node& other) {
  if (kind_ == Kind::kMap && other.kind_ == Kind::kMap) {
    for (const auto& [k, v] : other.entries_) {
      if (Node* mine = find(k)) {
        mine->merge_from(v);
      } else {
        entries_.emplace_back(k, v);
      }
    }
    return;
  }
  // A null carries no content: merging it into a section keeps the section (presence semantics).
  if (other.kind_ == Kind::kNull && kind_ == Kind::kMap)
    return;
  *this = other;
}

namespace {

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (static_cast<unsigned char>(c) < 0x20) {
        static const char* kHex = "0123456789abcdef";
        out += "\\u00";
        out += kHex[(c >> 4) & 0xf];
        out += kHex[c & 0xf];
      } else {
        out += c;
      }
    }
  }
  out += '"';
}

// An unquoted scalar that reads the same as a JSON literal (bool or number) is rendered bare.
bool looks_like_json_literal(std::string_view s) {
  if (s == "true" || s == "false")
    return true;
  if (s == "-0") // JSON reads it back as the integer 0
    return false;
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (!s.empty() && s[0] == '-')
    s.remove_prefix(1);
  if (s.empty() || !digit(s[0]))
    return false;
  if (s[0] == '0' && s.size() > 1 && s[1] != '.')
    return false;
  size_t i = 0;
  while (i < s.size() && digit(s[i]))
    ++i;
  if (i == s.size())
    return true;
  if (s[i] != '.' || ++i == s.size())
    return false;
  for (; i < s.size(); ++i)
    if (!digit(s[i]))
      return false;
  return true;
}

void render(const Node& n, std::string& out) {
  switch (n.kind()) {
  case Node::Kind::kNull:
    out += "null";
    break;
  case Node::Kind::kScalar:
    if (!n.quoted() && looks_like_json_literal(n.text())) {
      out += n.text();
    } else {
      append_json_string(out, n.text());
    }
    break;
  case Node::Kind::kList: {
    out += '[';
    bool first = true;
    for (const auto& item : n.items()) {
      if (!first)
        out += ',';
      first = false;
      render(item, out);
    }
    out += ']';
    break;
  }
  case Node::Kind::kMap: {
    out += '{';
    bool first = true;
    for (const auto& [k, v] : n.entries()) {
      if (!first)
        out += ',';
      first = false;
      append_json_string(out, k);
      out += ':';
      render(v, out);
    }
    out += '}';
    break;
  }
  }
}

} // namespace

std::string Node::debug_string() const {
  std::string out;
  render(*this, out);
  return out;
}

// Structural equality: kind, text, quoting, items and entries (keys compared exactly, in order).
// Locations are deliberately ignored, so a file edit that only moves lines compares equal.
bool Node::operator==(const Node& other) const {
  return kind_ == other.kind_ && quoted_ == other.quoted_ && text_ == other.text_ &&
         items_ == other.items_ && entries_ == other.entries_;
}

Node from_flat(const std::vector<std::pair<std::string, std::string>>& pairs, Location loc) {
  Node root = Node::map(loc);
  for (const auto& [path, value] : pairs) {
    Node* cur = &root;
    for (std::string_view seg : split(path, '.'))
      cur = &cur->child(seg);
    // `--api` then `--api.dashboard=false`, in either order: a bare "true" never erases the
    // section that other flags build.
    if (cur->is_map() && !cur->entries().empty() && iequals(value, "true"))
      continue;
    *cur = Node::scalar(value, loc);
  }
  return root;
}

} // namespace turnpike::config
