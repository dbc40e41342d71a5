#include "config/tree/decoder.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <unordered_set>

#include "common/strings.h"

namespace turnpike::config {
namespace {

std::string quote(std::string_view s) {
  std::string out = "\"";
  out += s;
  out += '"';
  return out;
}

std::optional<int64_t> parse_int64(std::string_view s) {
  s = trim(s);
  bool neg = false;
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
    neg = s.front() == '-';
    s.remove_prefix(1);
  }
  auto mag = parse_uint(s);
  if (!mag)
    return std::nullopt;
  constexpr auto kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (neg) {
    if (*mag > kMax + 1)
      return std::nullopt;
    return *mag == kMax + 1 ? std::numeric_limits<int64_t>::min() : -static_cast<int64_t>(*mag);
  }
  if (*mag > kMax)
    return std::nullopt;
  return static_cast<int64_t>(*mag);
}

// Items of a map whose keys are list indexes ("0", "1", ... as CLI/env/KV sources write lists),
// in index order; nullopt when a key is not an index.
std::optional<std::vector<const Node*>> indexed_items(const Node& map) {
  std::vector<std::pair<uint64_t, const Node*>> indexed;
  for (const auto& [k, v] : map.entries()) {
    auto idx = parse_uint(k);
    if (!idx)
      return std::nullopt;
    indexed.emplace_back(*idx, &v);
  }
  std::stable_sort(indexed.begin(), indexed.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<const Node*> out;
  for (const auto& [i, n] : indexed)
    out.push_back(n);
  return out;
}

const char* kind_name(Node::Kind k) {
  switch (k) {
  case Node::Kind::kNull:
    return "nothing";
  case Node::Kind::kScalar:
    return "a value";
  case Node::Kind::kList:
    return "a list";
  case Node::Kind::kMap:
    return "a map";
  }
  return "?";
}

// "invalid duration \"abc\"" for a bad scalar, "expected a duration, got a list" otherwise.
std::string invalid(const Node& n, std::string_view what) {
  if (n.is_scalar())
    return "invalid " + std::string(what) + " " + quote(n.text());
  bool vowel = !what.empty() && std::string_view("aeiou").find(what[0]) != std::string_view::npos;
  return std::string("expected ") + (vowel ? "an " : "a ") + std::string(what) + ", got " +
         kind_name(n.kind());
}

std::optional<double> parse_double(std::string_view s) {
  std::string text(trim(s));
  if (text.empty())
    return std::nullopt;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || errno != 0 || !std::isfinite(v))
    return std::nullopt;
  return v;
}

// The shared shape of the typed scalar getters: absent or null leaves `out` alone; a value that
// `parse` rejects is reported and leaves `out` alone.
template <class T, class Parse>
bool get_scalar(Decoder& dec, std::string_view key, const Node* n, std::string_view noun,
                Parse parse, T& out) {
  if (!n || n->is_null())
    return false;
  std::optional<T> v = n->is_scalar() ? parse(n->text()) : std::nullopt;
  if (!v) {
    dec.fail(key, invalid(*n, noun));
    return false;
  }
  out = *v;
  return true;
}

} // namespace

std::optional<bool> parse_bool(std::string_view s) {
  s = trim(s);
  if (iequals(s, "true"))
    return true;
  if (iequals(s, "false"))
    return false;
  return std::nullopt;
}

// Messages are one line each: control characters from keys and values (a YAML key may hold a
// newline) are escaped.
static void append_escaped(std::string& out, std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
}

void Errors::add(const Location& loc, std::string_view path, std::string_view problem) {
  std::string msg;
  append_escaped(msg, loc.describe());
  if (!msg.empty())
    msg += ": ";
  if (!path.empty()) {
    append_escaped(msg, path);
    msg += ": ";
  }
  append_escaped(msg, problem);
  list_.push_back(std::move(msg));
}

std::string Errors::joined() const {
  std::string out;
  for (const auto& e : list_) {
    if (!out.empty())
      out += "; ";
    out += e;
  }
  return out;
}

Decoder::Decoder(const Node& node, std::string path, Errors& errors)
    : node_(node), path_(std::move(path)), errors_(errors) {
  // A scalar `true` is a present, empty section (see section()).
  bool enabled = node_.is_scalar() && parse_bool(node_.text()) == true;
  if (!node_.is_map() && !node_.is_null() && !enabled)
    errors_.add(node_.location(), path_,
                std::string("expected a map, got ") + kind_name(node_.kind()));
}

std::string Decoder::child_path(std::string_view key) const {
  if (path_.empty())
    return std::string(key);
  std::string out = path_;
  out += '.';
  out += key;
  return out;
}

const Node* Decoder::lookup(std::string_view key) {
  if (!node_.is_map())
    return nullptr;
  const auto& entries = node_.entries();
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!iequals(entries[i].first, key))
      continue;
    if (used_.size() != entries.size())
      used_.resize(entries.size());
    used_[i] = true;
    return &entries[i].second;
  }
  return nullptr;
}

void Decoder::fail(std::string_view key, std::string_view problem) {
  if (key.empty()) {
    errors_.add(node_.location(), path_, problem);
    return;
  }
  const Node* n = node_.is_map() ? node_.find(key) : nullptr;
  errors_.add(n ? n->location() : node_.location(), child_path(key), problem);
}

bool Decoder::get(std::string_view key, std::string& out) {
  const Node* n = lookup(key);
  if (!n)
    return false;
  if (n->is_null()) {
    out.clear();
    return true;
  }
  if (!n->is_scalar()) {
    fail(key, std::string("expected a string, got ") + kind_name(n->kind()));
    return false;
  }
  out = n->text();
  return true;
}

bool Decoder::get(std::string_view key, bool& out) {
  const Node* n = lookup(key);
  if (!n)
    return false;
  // `insecure:` with no value, like the bare flag `--api.insecure`, means true.
  if (n->is_null()) {
    out = true;
    return true;
  }
  auto b = n->is_scalar() ? parse_bool(n->text()) : std::nullopt;
  if (!b) {
    fail(key, invalid(*n, "boolean") + (n->is_scalar() ? " (true or false)" : ""));
    return false;
  }
  out = *b;
  return true;
}

bool Decoder::get(std::string_view key, int64_t& out) {
  return get_scalar(*this, key, lookup(key), "integer", parse_int64, out);
}

bool Decoder::get(std::string_view key, int& out) {
  int64_t v = out;
  const Node* n = node_.is_map() ? node_.find(key) : nullptr;
  if (!get(key, v))
    return false;
  if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) {
    fail(key, "integer out of range " + quote(n ? n->text() : std::to_string(v)));
    return false;
  }
  out = static_cast<int>(v);
  return true;
}

bool Decoder::get(std::string_view key, double& out) {
  return get_scalar(*this, key, lookup(key), "number", parse_double, out);
}

bool Decoder::get(std::string_view key, Duration& out) {
  auto parse = [](std::string_view s) { return parse_duration(trim(s)); };
  return get_scalar(*this, key, lookup(key), "duration", parse, out);
}

bool Decoder::get(std::string_view key, std::vector<std::string>& out) {
  const Node* n = lookup(key);
  if (!n)
    return false;
  std::vector<std::string> result;
  if (n->is_scalar()) {
    // CLI/env form: "a,b,c".
    for (auto item : split(n->text(), ','))
      if (!item.empty())
        result.emplace_back(item);
  } else if (n->is_list() || n->is_map()) {
    std::vector<const Node*> items;
    if (n->is_list()) {
      for (const auto& item : n->items())
        items.push_back(&item);
    } else if (auto indexed = indexed_items(*n)) {
      items = std::move(*indexed);
    } else {
      fail(key, "expected a list, got a map");
      return false;
    }
    bool ok = true;
    for (size_t i = 0; i < items.size(); ++i) {
      if (items[i]->is_scalar()) {
        result.push_back(items[i]->text());
      } else if (items[i]->is_null()) {
        result.emplace_back();
      } else {
        errors_.add(items[i]->location(), child_path(key) + "[" + std::to_string(i) + "]",
                    std::string("expected a string, got ") + kind_name(items[i]->kind()));
        ok = false;
      }
    }
    if (!ok)
      return false;
  }
  out = std::move(result);
  return true;
}

bool Decoder::get(std::string_view key, std::map<std::string, std::string>& out) {
  const Node* n = lookup(key);
  if (!n)
    return false;
  if (n->is_null()) {
    out.clear();
    return true;
  }
  if (!n->is_map()) {
    fail(key, std::string("expected a map, got ") + kind_name(n->kind()));
    return false;
  }
  std::map<std::string, std::string> result;
  bool ok = true;
  for (const auto& [k, v] : n->entries()) {
    if (v.is_scalar()) {
      result[k] = v.text();
    } else if (v.is_null()) {
      result[k] = "";
    } else {
      errors_.add(v.location(), child_path(key) + "." + k,
                  std::string("expected a string, got ") + kind_name(v.kind()));
      ok = false;
    }
  }
  if (!ok)
    return false;
  out = std::move(result);
  return true;
}

namespace {
template <class T> bool get_checked(Decoder& dec, std::string_view key, T& out) {
  T v = out;
  if (!dec.get(key, v))
    return false;
  if (v < T{}) {
    dec.fail(key, "must not be negative");
    return false;
  }
  out = v;
  return true;
}
} // namespace

bool Decoder::get_non_negative(std::string_view key, int64_t& out) {
  return get_checked(*this, key, out);
}
bool Decoder::get_non_negative(std::string_view key, int& out) {
  return get_checked(*this, key, out);
}
bool Decoder::get_non_negative(std::string_view key, Duration& out) {
  return get_checked(*this, key, out);
}

bool Decoder::get_required(std::string_view key, IpNetSet& out) {
  std::vector<std::string> ranges;
  get(key, ranges);
  if (ranges.empty()) {
    fail(key, "is required and cannot be empty");
    return false;
  }
  auto set = IpNetSet::parse(ranges);
  if (!set) {
    fail(key, set.error().message);
    return false;
  }
  out = std::move(*set);
  return true;
}

const Node* Decoder::section(std::string_view key) {
  const Node* n = lookup(key);
  if (!n)
    return nullptr;
  if (n->is_map() || n->is_null())
    return n;
  // `api: true` / `--api` / `TRAEFIK_API=true`: present with no content. The scalar itself is
  // returned (it keeps its location for messages); a Decoder reads it as an empty map.
  if (n->is_scalar()) {
    auto b = parse_bool(n->text());
    if (b)
      return *b ? n : nullptr;
  }
  fail(key, std::string("expected a section (a map), got ") + kind_name(n->kind()));
  return nullptr;
}

std::vector<const Node*> Decoder::list(std::string_view key) {
  const Node* n = lookup(key);
  if (!n || n->is_null())
    return {};
  if (n->is_list()) {
    std::vector<const Node*> out;
    for (const auto& item : n->items())
      out.push_back(&item);
    return out;
  }
  if (n->is_map()) {
    if (auto indexed = indexed_items(*n))
      return std::move(*indexed);
  }
  fail(key, std::string("expected a list, got ") + kind_name(n->kind()));
  return {};
}

void Decoder::skip(std::string_view key) {
  lookup(key);
}

void Decoder::finish() {
  if (!node_.is_map())
    return;
  const auto& entries = node_.entries();
  // Duplicates differing only in case: a scan for the few keys of an object, a set for big maps.
  constexpr size_t kScanUpTo = 16;
  std::unordered_set<std::string> seen;
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& [k, v] = entries[i];
    bool duplicate = false;
    if (entries.size() <= kScanUpTo) {
      for (size_t j = 0; j < i && !duplicate; ++j)
        duplicate = iequals(entries[j].first, k);
    } else {
      duplicate = !seen.insert(to_lower(k)).second;
    }
    if (duplicate)
      errors_.add(v.location(), child_path(k), "duplicate key (option names are case-insensitive)");
    else if (i >= used_.size() || !used_[i])
      errors_.add(v.location(), child_path(k), "unknown key");
  }
}

} // namespace turnpike::config
