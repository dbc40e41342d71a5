#include "middleware/go_regex.h"

#include <re2/re2.h>

namespace turnpike::middleware {
namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Go's regexp.extract: parses the reference after a '$' ("1", "{1}", "name", "{name}").
// Returns false for a malformed reference (the '$' is then literal).
bool extract_reference(std::string_view s, std::string_view& name, int& number, size_t& consumed) {
  bool brace = false;
  size_t i = 0;
  if (!s.empty() && s[0] == '{') {
    brace = true;
    i = 1;
  }
  const size_t start = i;
  while (i < s.size() && is_name_char(s[i])) ++i;
  if (i == start) return false;
  name = s.substr(start, i - start);
  if (brace) {
    if (i >= s.size() || s[i] != '}') return false;
    ++i;
  }
  number = 0;
  for (char c : name) {
    if (c < '0' || c > '9' || number >= 100000000) {
      number = -1;
      break;
    }
    number = number * 10 + (c - '0');
  }
  if (name.size() > 1 && name[0] == '0') number = -1;  // no leading zeros
  consumed = i;
  return true;
}

size_t utf8_width(std::string_view text, size_t pos) {
  const unsigned char c = static_cast<unsigned char>(text[pos]);
  size_t w = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
  return std::min(w, text.size() - pos);
}

}  // namespace

GoRegex::GoRegex(GoRegex&&) noexcept = default;
GoRegex& GoRegex::operator=(GoRegex&&) noexcept = default;
GoRegex::~GoRegex() = default;

Result<GoRegex> GoRegex::compile(std::string_view pattern) {
  RE2::Options opts;
  opts.set_log_errors(false);
  auto re = std::make_unique<RE2>(re2::StringPiece(pattern.data(), pattern.size()), opts);
  if (!re->ok()) return make_error("invalid regular expression \"" + std::string(pattern) + "\": " +
                                   re->error());
  GoRegex out;
  out.pattern_ = std::string(pattern);
  out.re_ = std::move(re);
  return out;
}

bool GoRegex::matches(std::string_view text) const {
  return re_->Match(re2::StringPiece(text.data(), text.size()), 0, text.size(), RE2::UNANCHORED,
                    nullptr, 0);
}

std::optional<std::string_view> GoRegex::find(std::string_view text) const {
  re2::StringPiece m;
  if (!re_->Match(re2::StringPiece(text.data(), text.size()), 0, text.size(), RE2::UNANCHORED, &m,
                  1))
    return std::nullopt;
  return std::string_view(m.data(), m.size());
}

GoRegex::Template GoRegex::compile_template(std::string_view replacement) const {
  Template t;
  t.text_ = std::string(replacement);
  const auto& names = re_->NamedCapturingGroups();
  const int groups = re_->NumberOfCapturingGroups();
  Template::Piece piece;
  std::string_view rest = replacement;
  while (!rest.empty()) {
    const size_t dollar = rest.find('$');
    if (dollar == std::string_view::npos) break;
    piece.literal.append(rest.substr(0, dollar));
    rest.remove_prefix(dollar + 1);
    if (!rest.empty() && rest[0] == '$') {
      piece.literal.push_back('$');
      rest.remove_prefix(1);
      continue;
    }
    std::string_view name;
    int number = -1;
    size_t consumed = 0;
    if (!extract_reference(rest, name, number, consumed)) {
      piece.literal.push_back('$');
      continue;
    }
    rest.remove_prefix(consumed);
    int group = -1;
    if (number >= 0) {
      if (number <= groups) group = number;
    } else if (auto it = names.find(std::string(name)); it != names.end()) {
      group = it->second;
    }
    if (group < 0) continue;  // expands to nothing
    piece.group = group;
    t.pieces_.push_back(std::move(piece));
    piece = Template::Piece{};
  }
  piece.literal.append(rest);
  if (!piece.literal.empty()) t.pieces_.push_back(std::move(piece));
  return t;
}

std::string GoRegex::replace_all(std::string_view text, const Template& tmpl) const {
  const int ngroups = re_->NumberOfCapturingGroups() + 1;
  std::vector<re2::StringPiece> groups(static_cast<size_t>(ngroups));
  const re2::StringPiece input(text.data(), text.size());
  std::string out;
  size_t last_match_end = 0;
  size_t search = 0;
  while (search <= text.size()) {
    if (!re_->Match(input, search, text.size(), RE2::UNANCHORED, groups.data(), ngroups)) break;
    const size_t start = static_cast<size_t>(groups[0].data() - text.data());
    const size_t end = start + groups[0].size();
    out.append(text.substr(last_match_end, start - last_match_end));
    // Like Go, skip an empty match right after the previous match.
    if (end > last_match_end || start == 0) {
      for (const auto& p : tmpl.pieces_) {
        out.append(p.literal);
        if (p.group >= 0 && groups[static_cast<size_t>(p.group)].data() != nullptr)
          out.append(groups[static_cast<size_t>(p.group)].data(),
                     groups[static_cast<size_t>(p.group)].size());
      }
    }
    last_match_end = end;
    // Advance past the match, by at least one character.
    const size_t width = search < text.size() ? utf8_width(text, search) : 1;
    if (search + width > end) {
      search += width;
    } else if (search + 1 > end) {
      ++search;
    } else {
      search = end;
    }
  }
  out.append(text.substr(std::min(last_match_end, text.size())));
  return out;
}

}  // namespace turnpike::middleware
