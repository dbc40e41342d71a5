#pragma once
// Hex digits for the router's percent-escapes and Go string escapes. Pure; any thread.

namespace turnpike::router {

// The value of hex digit `c` (either case), or -1.
constexpr int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

inline constexpr char kUpperHex[] = "0123456789ABCDEF";

} // namespace turnpike::router
