#include "middleware/path_rewrite.h"

namespace turnpike::middleware {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// RFC 3986 pchar plus '/', without '%' (handled as escapes).
bool is_raw_path_char(unsigned char c) {
  if (is_unreserved(c)) return true;
  switch (c) {
    case '!': case '$': case '&': case '\'': case '(': case ')': case '*': case '+':
    case ',': case ';': case '=':  // sub-delims
    case ':': case '@': case '/':
      return true;
    default:
      return false;
  }
}

bool is_dot_segment(std::string_view seg) {
  // ".", "..", and the same with any dot written as %2E / %2e.
  int dots = 0;
  size_t i = 0;
  while (i < seg.size()) {
    if (seg[i] == '.') {
      ++i;
    } else if (seg.size() - i >= 3 && seg[i] == '%' && seg[i + 1] == '2' &&
               (seg[i + 2] == 'e' || seg[i + 2] == 'E')) {
      i += 3;
    } else {
      return false;
    }
    if (++dots > 2) return false;
  }
  return dots > 0;
}

}  // namespace

bool has_dot_segment(std::string_view path) {
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (is_dot_segment(path.substr(start, end - start))) return true;
    start = end + 1;
  }
  return false;
}

std::string ensure_leading_slash(std::string_view path) {
  if (path.empty() || path.front() == '/') return std::string(path);
  std::string out;
  out.reserve(path.size() + 1);
  out.push_back('/');
  out.append(path);
  return out;
}

PathProblem normalise_path_chars(std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() + 8);
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '%') {
      const int hi = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
      const int lo = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
      if (hi < 0 || lo < 0) return PathProblem::kInvalidEscape;
      const auto decoded = static_cast<unsigned char>(hi * 16 + lo);
      if (is_unreserved(decoded)) {
        out.push_back(static_cast<char>(decoded));
      } else {
        out.push_back('%');
        out.push_back(kHex[hi]);
        out.push_back(kHex[lo]);
      }
      i += 2;
    } else if (is_raw_path_char(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  text = std::move(out);
  return PathProblem::kNone;
}

PathProblem finish_rewritten_path(std::string& path) {
  if (path.empty() || path.front() != '/') path.insert(path.begin(), '/');
  if (auto p = normalise_path_chars(path); p != PathProblem::kNone) return p;
  if (has_dot_segment(path)) return PathProblem::kDotSegment;
  return PathProblem::kNone;
}

std::string_view describe(PathProblem problem) {
  switch (problem) {
    case PathProblem::kNone: return "ok";
    case PathProblem::kInvalidEscape: return "invalid percent-encoding";
    case PathProblem::kDotSegment: return "a \".\" or \"..\" segment";
  }
  return "invalid path";
}

}  // namespace turnpike::middleware
