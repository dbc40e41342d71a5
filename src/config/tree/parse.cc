// YAML, TOML and JSON front ends for config::Node. Each keeps the source line of every node and
// whether a scalar was a quoted string. Input is untrusted (provider payloads, user files): every
// parser is bounded in nesting depth, and YAML aliases are bounded in how much they may expand.

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>
#include <toml++/toml.h>
#include <yaml.h>

#include "common/strings.h"
#include "config/tree/node.h"

namespace turnpike::config {
namespace {

// Deeper than any real configuration (Traefik's deepest paths are ~8 levels).
constexpr size_t kMaxDepth = 64;
// Nodes that YAML aliases may add in total. A "billion laughs" document reaches this after a few
// levels and is rejected instead of exhausting memory.
constexpr size_t kMaxAliasNodes = 100000;
// Files larger than this are not configuration.
constexpr std::streamsize kMaxFileBytes = 64 << 20;

Error error_at(const std::string& file, int line, std::string_view problem) {
  Location loc{std::make_shared<const std::string>(file), line};
  return Error{loc.describe() + ": " + std::string(problem)};
}

// Offset of the first byte that is not part of well-formed UTF-8 (no overlongs, no surrogates,
// nothing above U+10FFFF), or npos. YAML, TOML and JSON all require UTF-8.
size_t invalid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    unsigned lo = 0x80, hi = 0xBF; // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0)
        lo = 0xA0;
      if (c == 0xED)
        hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0)
        lo = 0x90;
      if (c == 0xF4)
        hi = 0x8F;
    } else {
      return i;
    }
    if (i + len > s.size())
      return i;
    for (size_t k = 1; k < len; ++k) {
      auto b = static_cast<unsigned char>(s[i + k]);
      if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF))
        return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

// Offset of the first control character YAML does not allow (all C0 but tab, LF and CR; DEL),
// or npos. Rejecting NUL also keeps the parser from guessing UTF-16/32 from zero bytes.
size_t yaml_control_char(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
      return i;
  }
  return std::string_view::npos;
}

int line_at(std::string_view s, size_t offset) {
  return 1 + static_cast<int>(std::count(s.begin(), s.begin() + offset, '\n'));
}

size_t count_nodes(const Node& n) {
  size_t total = 1;
  for (const auto& item : n.items())
    total += count_nodes(item);
  for (const auto& [k, v] : n.entries())
    total += count_nodes(v);
  return total;
}

// ---------------------------------------------------------------------------------------------
// YAML: built from libyaml's event stream (yaml-cpp's regex-based scanner took most of a reload's
// time on large files), so that aliases are copied under a budget (walking a shared alias graph
// is the "billion laughs" bomb), the quoting of each scalar is known, and merge keys
// (`<<: *defaults`, which Traefik's Go YAML honours) can be applied.

struct YamlFailure {
  int line;
  std::string message;
};

class YamlBuilder {
public:
  explicit YamlBuilder(std::shared_ptr<const std::string> file) : file_(std::move(file)) {}

  bool has_root() const { return has_root_; }
  Node take_root() { return std::move(root_); }

  // One scalar event. `anchor` is null unless the scalar defines one.
  void scalar(int line, std::string_view value, bool plain, const char* tag, const char* anchor) {
    bool is_null = plain && !tag &&
                   (value.empty() || value == "~" || value == "null" || value == "Null" ||
                    value == "NULL");
    // libyaml gives "!" for a non-specific tag on a quoted scalar; an explicit !!str also quotes.
    bool quoted = tag ? (std::strcmp(tag, "!") == 0 || std::strcmp(tag, "tag:yaml.org,2002:str") == 0)
                      : !plain;
    // The common case, a map key, is stored straight into the frame: no Node is built for it.
    if (!anchor && !stack_.empty() && stack_.back().node.is_map() && !stack_.back().has_key) {
      Frame& f = stack_.back();
      f.has_key = true;
      if (is_null)
        f.key.clear();
      else
        f.key.assign(value);
      f.key_line = line;
      f.key_plain = !quoted;
      return;
    }
    Node n = is_null ? Node() : Node::scalar(std::string(value), loc(line));
    if (is_null)
      n.set_location(loc(line));
    n.set_quoted(quoted && !is_null);
    complete(std::move(n), anchor);
  }

  void alias(int line, const char* anchor) {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end())
      throw YamlFailure{line, "unknown alias"};
    alias_nodes_ += it->second.size;
    if (alias_nodes_ > kMaxAliasNodes)
      throw YamlFailure{line, "aliases expand to too many nodes (limit " +
                                  std::to_string(kMaxAliasNodes) + ")"};
    Node copy = it->second.node;
    complete(std::move(copy), nullptr, /*from_alias=*/true);
  }

  void open(Node n, const char* anchor, int line) {
    if (stack_.size() >= kMaxDepth)
      throw YamlFailure{line, "nesting deeper than " + std::to_string(kMaxDepth) + " levels"};
    Frame& f = stack_.emplace_back();
    f.node = std::move(n);
    if (anchor)
      f.anchor = anchor;
  }
  void open_list(int line, const char* anchor) { open(Node::list(loc(line)), anchor, line); }
  void open_map(int line, const char* anchor) { open(Node::map(loc(line)), anchor, line); }

  void close() {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    complete(std::move(f.node), f.anchor.empty() ? nullptr : f.anchor.c_str());
  }

private:
  // Maps up to this size find duplicate keys by scanning; larger ones (the routers section of a
  // big file) keep a hash index so that building stays linear in the map's size.
  static constexpr size_t kIndexFrom = 16;

  struct Frame {
    Node node;
    std::string anchor;
    bool has_key = false;
    std::string key;
    int key_line = 0;
    bool key_plain = false;
    std::vector<std::string> merged; // keys that came from `<<` and may be overridden
    std::unordered_map<std::string, size_t> index; // key -> position; only from kIndexFrom keys
  };
  struct Anchored {
    Node node;
    size_t size;
  };

  Location loc(int line) const { return Location{file_, line}; }

  void complete(Node n, const char* anchor, bool from_alias = false) {
    if (anchor)
      anchors_[anchor] = Anchored{n, count_nodes(n)}; // a redefinition shadows the old one
    if (stack_.empty()) {
      root_ = std::move(n);
      has_root_ = true;
      return;
    }
    Frame& parent = stack_.back();
    if (parent.node.is_list()) {
      parent.node.items().push_back(std::move(n));
      return;
    }
    if (!parent.has_key) {
      if (n.is_list() || n.is_map())
        throw YamlFailure{n.location().line, "a map key must be a scalar"};
      parent.has_key = true;
      parent.key = n.text();
      parent.key_line = n.location().line;
      parent.key_plain = !n.quoted() && !from_alias;
      return;
    }
    parent.has_key = false;
    if (parent.key_plain && parent.key == "<<") {
      merge_key(parent, n);
      return;
    }
    add_entry(parent, std::move(parent.key), parent.key_line, std::move(n), /*merged=*/false);
  }

  // YAML merge key: the entries of a map (or of each map in a list) are added unless the map
  // being built defines them itself.
  void merge_key(Frame& parent, const Node& value) {
    auto merge_one = [&](const Node& m) {
      if (!m.is_map())
        throw YamlFailure{parent.key_line, "'<<' must merge a map"};
      for (const auto& [k, v] : m.entries())
        if (!find_exact(parent, k))
          add_entry(parent, k, parent.key_line, v, /*merged=*/true);
    };
    if (value.is_list()) {
      for (const auto& item : value.items())
        merge_one(item);
    } else {
      merge_one(value);
    }
  }

  static Node* find_exact(Frame& frame, const std::string& key) {
    auto& entries = frame.node.entries();
    if (entries.size() < kIndexFrom) {
      for (auto& [k, v] : entries)
        if (k == key)
          return &v;
      return nullptr;
    }
    auto it = frame.index.find(key);
    return it == frame.index.end() ? nullptr : &entries[it->second].second;
  }

  void add_entry(Frame& parent, std::string key, int key_line, Node value, bool merged) {
    // A section's location is its key's line, which is where a reader looks for it.
    value.set_location(loc(key_line));
    if (Node* existing = find_exact(parent, key)) {
      auto it = std::find(parent.merged.begin(), parent.merged.end(), key);
      if (it == parent.merged.end() || merged)
        throw YamlFailure{key_line, "duplicate key \"" + key + "\""};
      parent.merged.erase(it);
      *existing = std::move(value);
      return;
    }
    if (merged)
      parent.merged.push_back(key);
    auto& entries = parent.node.entries();
    if (entries.size() + 1 == kIndexFrom) {
      for (size_t i = 0; i < entries.size(); ++i)
        parent.index.emplace(entries[i].first, i);
    }
    if (entries.size() + 1 >= kIndexFrom)
      parent.index.emplace(key, entries.size());
    entries.emplace_back(std::move(key), std::move(value));
  }

  std::shared_ptr<const std::string> file_;
  std::vector<Frame> stack_;
  std::map<std::string, Anchored, std::less<>> anchors_;
  size_t alias_nodes_ = 0;
  Node root_;
  bool has_root_ = false;
};

// ---------------------------------------------------------------------------------------------
// TOML

Node from_toml(const toml::node& tn, const std::shared_ptr<const std::string>& file, size_t depth);

Location toml_loc(const toml::node& tn, const std::shared_ptr<const std::string>& file) {
  return Location{file, static_cast<int>(tn.source().begin.line)};
}

std::string toml_scalar_text(const toml::node& tn) {
  if (auto v = tn.as_integer())
    return std::to_string(v->get());
  if (auto v = tn.as_boolean())
    return v->get() ? "true" : "false";
  if (auto v = tn.as_floating_point()) {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v->get());
    return ec == std::errc() ? std::string(buf, end) : std::string();
  }
  std::ostringstream os;
  if (auto v = tn.as_date())
    os << v->get();
  else if (auto v = tn.as_time())
    os << v->get();
  else if (auto v = tn.as_date_time())
    os << v->get();
  return os.str();
}

Node from_toml(const toml::node& tn, const std::shared_ptr<const std::string>& file, size_t depth) {
  Location loc = toml_loc(tn, file);
  if (depth > kMaxDepth)
    throw YamlFailure{loc.line, "nesting deeper than " + std::to_string(kMaxDepth) + " levels"};
  if (auto t = tn.as_table()) {
    Node m = Node::map(loc);
    // toml::table is ordered by key; restore source order so messages follow the file.
    std::vector<std::pair<std::string, const toml::node*>> kids;
    for (const auto& [k, v] : *t)
      kids.emplace_back(std::string(k.str()), &v);
    std::stable_sort(kids.begin(), kids.end(), [](const auto& a, const auto& b) {
      auto pa = a.second->source().begin, pb = b.second->source().begin;
      return pa.line != pb.line ? pa.line < pb.line : pa.column < pb.column;
    });
    for (const auto& [k, v] : kids)
      m.entries().emplace_back(k, from_toml(*v, file, depth + 1));
    return m;
  }
  if (auto a = tn.as_array()) {
    Node l = Node::list(loc);
    for (const auto& item : *a)
      l.items().push_back(from_toml(item, file, depth + 1));
    return l;
  }
  if (auto s = tn.as_string()) {
    Node n = Node::scalar(s->get(), loc);
    n.set_quoted(true);
    return n;
  }
  return Node::scalar(toml_scalar_text(tn), loc);
}

// ---------------------------------------------------------------------------------------------
// JSON: nlohmann's SAX interface gives no positions, so the input iterator counts lines as the
// lexer consumes characters. An event fires right after its token is read; the line of the last
// character read is the token's line (a number's one-character lookahead may be the newline that
// ends its line, which is why that newline still counts for the line it ends).

struct LineCounter {
  int line = 1;      // line of the next character
  int last_line = 1; // line of the last character read
};

class CountingIterator {
public:
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  CountingIterator() = default;
  CountingIterator(const char* p, LineCounter* counter) : p_(p), counter_(counter) {}
  reference operator*() const { return *p_; }
  CountingIterator& operator++() {
    counter_->last_line = counter_->line;
    if (*p_ == '\n')
      ++counter_->line;
    ++p_;
    return *this;
  }
  CountingIterator operator++(int) {
    CountingIterator old = *this;
    ++*this;
    return old;
  }
  bool operator==(const CountingIterator& o) const { return p_ == o.p_; }
  bool operator!=(const CountingIterator& o) const { return p_ != o.p_; }

private:
  const char* p_ = nullptr;
  LineCounter* counter_ = nullptr;
};

class JsonBuilder : public nlohmann::json_sax<nlohmann::json> {
public:
  JsonBuilder(std::shared_ptr<const std::string> file, const LineCounter& lines)
      : file_(std::move(file)), lines_(lines) {}

  Node take_root() { return std::move(root_); }
  const std::optional<YamlFailure>& failure() const { return failure_; }

  bool null() override { return value(Node()); }
  bool boolean(bool v) override { return value(Node::scalar(v ? "true" : "false")); }
  bool number_integer(number_integer_t v) override {
    return value(Node::scalar(std::to_string(v)));
  }
  bool number_unsigned(number_unsigned_t v) override {
    return value(Node::scalar(std::to_string(v)));
  }
  bool number_float(number_float_t, const string_t& raw) override {
    return value(Node::scalar(raw));
  }
  bool string(string_t& s) override {
    Node n = Node::scalar(s);
    n.set_quoted(true);
    return value(std::move(n));
  }
  bool binary(binary_t&) override { return fail("binary values are not supported"); }
  bool start_object(std::size_t) override { return open(Node::map()); }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(Node::list()); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    if (!stack_.back().keys.insert(k).second)
      return fail("duplicate key \"" + k + "\"");
    stack_.back().key = k;
    stack_.back().key_loc = here();
    return true;
  }
  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    std::string what = ex.what();
    // "[json.exception.parse_error.101] parse error at line 3, column 5: syntax error ..." ->
    // keep the part after the position, which we report ourselves.
    auto pos = what.find("syntax error");
    return fail(pos == std::string::npos ? what : what.substr(pos));
  }

private:
  struct Frame {
    Node node;
    std::string key;
    Location key_loc;
    std::unordered_set<std::string> keys;  // duplicate detection without a quadratic scan
  };

  Location here() const { return Location{file_, lines_.last_line}; }

  bool fail(std::string message) {
    if (!failure_)
      failure_ = YamlFailure{lines_.last_line, std::move(message)};
    return false;
  }

  bool open(Node n) {
    if (stack_.size() >= kMaxDepth)
      return fail("nesting deeper than " + std::to_string(kMaxDepth) + " levels");
    n.set_location(here());
    stack_.push_back(Frame{std::move(n), {}, {}});
    return true;
  }

  bool close() {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    return attach(std::move(f.node));
  }

  bool value(Node n) {
    n.set_location(here());
    return attach(std::move(n));
  }

  bool attach(Node n) {
    if (stack_.empty()) {
      root_ = std::move(n);
      return true;
    }
    Frame& parent = stack_.back();
    if (parent.node.is_list()) {
      parent.node.items().push_back(std::move(n));
    } else {
      n.set_location(parent.key_loc);
      parent.node.entries().emplace_back(std::move(parent.key), std::move(n));
    }
    return true;
  }

  std::shared_ptr<const std::string> file_;
  const LineCounter& lines_;
  std::vector<Frame> stack_;
  Node root_;
  std::optional<YamlFailure> failure_;
};


// Drives YamlBuilder from libyaml's event parser.
void parse_with_libyaml(std::string_view text, YamlBuilder& builder) {
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) throw YamlFailure{0, "out of memory"};
  struct ParserGuard {
    yaml_parser_t* p;
    ~ParserGuard() { yaml_parser_delete(p); }
  } guard{&parser};
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()),
                               text.size());
  auto str = [](const yaml_char_t* s) { return reinterpret_cast<const char*>(s); };
  for (;;) {
    yaml_event_t ev;
    if (!yaml_parser_parse(&parser, &ev)) {
      throw YamlFailure{static_cast<int>(parser.problem_mark.line) + 1,
                        parser.problem ? parser.problem : "syntax error"};
    }
    struct EventGuard {
      yaml_event_t* e;
      ~EventGuard() { yaml_event_delete(e); }
    } event_guard{&ev};
    int line = static_cast<int>(ev.start_mark.line) + 1;
    switch (ev.type) {
      case YAML_STREAM_END_EVENT:
      case YAML_DOCUMENT_END_EVENT:
        return;  // like Go's yaml.Unmarshal, only the first document is read
      case YAML_ALIAS_EVENT:
        builder.alias(line, str(ev.data.alias.anchor));
        break;
      case YAML_SCALAR_EVENT: {
        const auto& sc = ev.data.scalar;
        // libyaml decodes escapes to UTF-8; an escaped surrogate would still be invalid.
        std::string_view value(str(sc.value), sc.length);
        if (invalid_utf8(value) != std::string_view::npos)
          throw YamlFailure{line, "escape sequence is not valid UTF-8"};
        builder.scalar(line, value, sc.style == YAML_PLAIN_SCALAR_STYLE,
                       sc.tag ? str(sc.tag) : nullptr, sc.anchor ? str(sc.anchor) : nullptr);
        break;
      }
      case YAML_SEQUENCE_START_EVENT:
        builder.open_list(line, ev.data.sequence_start.anchor ? str(ev.data.sequence_start.anchor)
                                                              : nullptr);
        break;
      case YAML_MAPPING_START_EVENT:
        builder.open_map(line, ev.data.mapping_start.anchor ? str(ev.data.mapping_start.anchor)
                                                            : nullptr);
        break;
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT:
        builder.close();
        break;
      default:
        break;
    }
  }
}

} // namespace

Result<Node> parse_yaml(std::string_view text, const std::string& file) {
  auto file_ptr = std::make_shared<const std::string>(file);
  if (size_t bad = invalid_utf8(text); bad != std::string_view::npos)
    return error_at(file, line_at(text, bad), "invalid YAML: not valid UTF-8");
  if (size_t bad = yaml_control_char(text); bad != std::string_view::npos)
    return error_at(file, line_at(text, bad), "invalid YAML: control character");
  YamlBuilder builder(file_ptr);
  try {
    parse_with_libyaml(text, builder);
  } catch (const YamlFailure& f) {
    return error_at(file, f.line, "invalid YAML: " + f.message);
  } catch (const std::exception& e) {
    return error_at(file, 0, std::string("invalid YAML: ") + e.what());
  }
  if (!builder.has_root())
    return Node();
  return builder.take_root();
}

Result<Node> parse_toml(std::string_view text, const std::string& file) {
  auto file_ptr = std::make_shared<const std::string>(file);
  try {
    toml::table table = toml::parse(text, file);
    Node root = from_toml(table, file_ptr, 0);
    root.set_location(Location{file_ptr, 1});
    if (root.entries().empty())
      return Node();
    return root;
  } catch (const toml::parse_error& e) {
    return error_at(file, static_cast<int>(e.source().begin.line),
                    "invalid TOML: " + std::string(e.description()));
  } catch (const YamlFailure& f) {
    return error_at(file, f.line, "invalid TOML: " + f.message);
  }
}

Result<Node> parse_json(std::string_view text, const std::string& file) {
  auto file_ptr = std::make_shared<const std::string>(file);
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return Node();
  LineCounter lines;
  JsonBuilder builder(file_ptr, lines);
  CountingIterator first(text.data(), &lines), last(text.data() + text.size(), &lines);
  bool ok = nlohmann::json::sax_parse(first, last, &builder);
  if (!ok) {
    const auto& f = builder.failure();
    return error_at(file, f ? f->line : lines.last_line,
                    "invalid JSON: " + (f ? f->message : std::string("parse error")));
  }
  return builder.take_root();
}

Result<Node> parse_by_extension(std::string_view text, const std::string& file) {
  auto dot = file.find_last_of('.');
  auto slash = file.find_last_of('/');
  std::string ext = (dot == std::string::npos || (slash != std::string::npos && dot < slash))
                        ? std::string()
                        : to_lower(std::string_view(file).substr(dot + 1));
  if (ext == "yml" || ext == "yaml")
    return parse_yaml(text, file);
  if (ext == "toml")
    return parse_toml(text, file);
  if (ext == "json")
    return parse_json(text, file);
  return Error{file + ": unsupported file extension (use .yml, .yaml, .toml or .json)"};
}

Result<Node> load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Error{path + ": cannot open: " + std::strerror(errno)};
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (static_cast<std::streamsize>(text.size()) > kMaxFileBytes)
      return Error{path + ": larger than " + std::to_string(kMaxFileBytes >> 20) + " MiB"};
  }
  if (in.bad())
    return Error{path + ": read error: " + std::strerror(errno)};
  return parse_by_extension(text, path);
}

} // namespace turnpike::config
