#include "router/go_literal.h"

#include <cstdint>
#include <cstdio>

#include "router/hex.h"

namespace turnpike::router {

namespace {

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not valid (overlong forms,
// surrogates and code points above U+10FFFF are invalid, as for Go).
size_t utf8_length(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  if (c < 0x80)
    return 1;
  size_t len;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2, cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3, cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4, cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size())
    return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
      (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
    return 0;
  return len;
}

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t len = utf8_length(s, i);
    if (len == 0)
      return false;
    i += len;
  }
  return true;
}

// One escape sequence of an interpreted string, text[pos] being the backslash.
std::optional<LiteralError> read_escape(std::string_view text, size_t& pos, std::string& out) {
  size_t start = pos++;
  if (pos >= text.size())
    return LiteralError{start, "unterminated string"};
  char c = text[pos++];
  switch (c) {
  case 'a':
    out.push_back('\a');
    return std::nullopt;
  case 'b':
    out.push_back('\b');
    return std::nullopt;
  case 'f':
    out.push_back('\f');
    return std::nullopt;
  case 'n':
    out.push_back('\n');
    return std::nullopt;
  case 'r':
    out.push_back('\r');
    return std::nullopt;
  case 't':
    out.push_back('\t');
    return std::nullopt;
  case 'v':
    out.push_back('\v');
    return std::nullopt;
  case '\\':
    out.push_back('\\');
    return std::nullopt;
  case '"':
    out.push_back('"');
    return std::nullopt;
  default:
    break;
  }
  int digits, base = 16;
  uint32_t max = 0x10FFFF;
  if (c >= '0' && c <= '7') {
    digits = 3, base = 8, max = 0xFF, --pos;
  } else if (c == 'x') {
    digits = 2, max = 0xFF;
  } else if (c == 'u') {
    digits = 4;
  } else if (c == 'U') {
    digits = 8;
  } else {
    return LiteralError{start, "unknown escape sequence \\" + std::string(1, c)};
  }
  uint32_t value = 0;
  for (int i = 0; i < digits; ++i, ++pos) {
    int d = pos < text.size() ? hex_digit(text[pos]) : -1;
    if (d < 0 || d >= base)
      return LiteralError{start, "invalid escape sequence"};
    value = value * static_cast<uint32_t>(base) + static_cast<uint32_t>(d);
  }
  bool unicode = c == 'u' || c == 'U';
  if (value > max || (unicode && value >= 0xD800 && value <= 0xDFFF))
    return LiteralError{start, "escape sequence is not a valid code point"};
  if (unicode)
    append_utf8(out, value);
  else
    out.push_back(static_cast<char>(value)); // \xHH and octal escapes are single bytes
  return std::nullopt;
}

} // namespace

std::optional<LiteralError> read_go_literal(std::string_view text, size_t& pos, std::string& out) {
  char quote = pos < text.size() ? text[pos] : '\0';
  if (quote == '\'')
    return LiteralError{pos, "single-quoted strings are not allowed, use `...` or \"...\""};
  if (quote != '`' && quote != '"')
    return LiteralError{pos, "expected a quoted string argument (`...` or \"...\")"};
  size_t start = pos++;
  while (true) {
    if (pos >= text.size())
      return LiteralError{start, "unterminated string"};
    char c = text[pos];
    if (c == quote) {
      ++pos;
      return std::nullopt;
    }
    if (c == '\0')
      return LiteralError{pos, "NUL byte in string"};
    if (static_cast<unsigned char>(c) >= 0x80) {
      size_t len = utf8_length(text, pos);
      if (len == 0)
        return LiteralError{pos, "invalid UTF-8 in string"};
      out.append(text.substr(pos, len));
      pos += len;
    } else if (quote == '`') {
      if (c != '\r')
        out.push_back(c); // Go drops carriage returns from raw strings
      ++pos;
    } else if (c == '\n') {
      return LiteralError{pos, "newline in string"};
    } else if (c == '\\') {
      if (auto err = read_escape(text, pos, out))
        return err;
    } else {
      out.push_back(c);
      ++pos;
    }
  }
}

void append_go_literal(std::string_view value, std::string& out) {
  bool raw = value.find_first_of(std::string_view("`\r\0", 3)) == std::string_view::npos &&
             valid_utf8(value);
  if (raw) {
    out.push_back('`');
    out.append(value);
    out.push_back('`');
    return;
  }
  out.push_back('"');
  for (char ch : value) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c >= 0x20 && c < 0x7F) {
      out.push_back(ch);
    } else {
      // Control and non-ASCII bytes as \xHH: the exact bytes, whatever their UTF-8 validity.
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out.append(buf);
    }
  }
  out.push_back('"');
}

} // namespace turnpike::router
