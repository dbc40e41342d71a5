#include "http/path.h"

#include <array>
#include <cstdint>

#include "http/parser.h"

namespace turnpike::http {
namespace {

enum class Byte : uint8_t {
  kKeep,   // copied as is
  kEncode, // visible but not allowed raw in a path: percent-encoded
  kReject, // never valid in a path: 400
};

constexpr std::array<Byte, 256> make_classes() {
  std::array<Byte, 256> t{};
  for (int c = 0; c < 256; ++c) {
    if (c < 0x21 || c >= 0x7f || c == '\\' || c == '#' || c == '?')
      t[static_cast<size_t>(c)] = Byte::kReject;
    else if (std::string_view("\"<>^`{|}").find(static_cast<char>(c)) != std::string_view::npos)
      t[static_cast<size_t>(c)] = Byte::kEncode;
    else
      t[static_cast<size_t>(c)] = Byte::kKeep;
  }
  return t;
}
constexpr std::array<Byte, 256> kClasses = make_classes();

bool is_unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// The encoded characters Traefik's encodedCharacters options govern; empty when allowed.
std::string_view encoded_rejection(unsigned char c, const PathOptions& o) {
  switch (c) {
  case '/':
    return o.allow_encoded_slash ? "" : "encoded slash in path";
  case '\\':
    return o.allow_encoded_back_slash ? "" : "encoded backslash in path";
  case 0:
    return o.allow_encoded_null_character ? "" : "encoded NUL in path";
  case ';':
    return o.allow_encoded_semicolon ? "" : "encoded semicolon in path";
  case '%':
    return o.allow_encoded_percent ? "" : "encoded percent in path";
  case '?':
    return o.allow_encoded_question_mark ? "" : "encoded question mark in path";
  case '#':
    return o.allow_encoded_hash ? "" : "encoded hash in path";
  default:
    return "";
  }
}

} // namespace

std::string_view normalize_path(std::string_view raw, const PathOptions& o, std::string& out) {
  out.clear();
  if (raw == "*") {
    out.push_back('*');
    return {};
  }
  if (raw.empty() || raw.front() != '/')
    return "path does not start with '/'";
  out.reserve(raw.size() * 3); // worst case: every byte percent-encoded
  out.push_back('/');

  // One segment per iteration: decode it onto the end of `out`, then decide what it means.
  // Invariant at the top of the loop: `out` ends with '/'.
  size_t i = 1;
  for (;;) {
    const size_t seg_start = out.size();
    for (; i < raw.size() && raw[i] != '/'; ++i) {
      const char c = raw[i];
      if (c == '%') {
        int hi = i + 2 < raw.size() ? hex_digit_value(raw[i + 1]) : -1;
        int lo = hi >= 0 ? hex_digit_value(raw[i + 2]) : -1;
        if (lo < 0)
          return "malformed percent-encoding in path";
        auto v = static_cast<unsigned char>(hi * 16 + lo);
        if (is_unreserved(v)) {
          out.push_back(static_cast<char>(v));
        } else {
          if (auto why = encoded_rejection(v, o); !why.empty())
            return why;
          append_percent_escape(out, v);
        }
        i += 2;
        continue;
      }
      switch (kClasses[static_cast<unsigned char>(c)]) {
      case Byte::kKeep:
        out.push_back(c);
        break;
      case Byte::kEncode:
        append_percent_escape(out, static_cast<unsigned char>(c));
        break;
      case Byte::kReject:
        return "invalid character in path";
      }
    }
    const bool last = i >= raw.size();
    const std::string_view seg(out.data() + seg_start, out.size() - seg_start);
    if (o.sanitize_path && seg == ".") {
      out.resize(seg_start);
    } else if (o.sanitize_path && seg == "..") {
      if (seg_start == 1)
        return "path climbs above the root";
      out.resize(out.rfind('/', seg_start - 2) + 1);
    } else if (seg.empty() && o.sanitize_path && o.merge_slashes) {
      // "//": nothing to add, `out` already ends with '/'.
    } else if (!last) {
      out.push_back('/');
    }
    if (last)
      return {};
    ++i; // the '/'
  }
}

} // namespace turnpike::http
