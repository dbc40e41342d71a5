#include "provider/text.h"

#include <cctype>

namespace turnpike::provider {

std::string normalize(std::string_view name) {
  std::string out;
  bool sep = false;
  for (unsigned char c : name) {
    if (std::isalnum(c)) {
      if (sep && !out.empty())
        out += '-';
      sep = false;
      out += char(c);
    } else {
      sep = true;
    }
  }
  return out;
}

std::string url_encode(std::string_view s) {
  static constexpr std::string_view kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += char(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string base64_decode(std::string_view in) {
  static constexpr std::string_view kChars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    auto pos = kChars.find(c);
    if (pos == std::string_view::npos)
      continue;
    val = (val << 6) + int(pos);
    bits += 6;
    if (bits >= 0) {
      out.push_back(char((val >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

} // namespace turnpike::provider
