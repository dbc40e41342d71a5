#pragma once
// Hex digits for the router's percent-escapes and Go string escapes. Pure; any thread.

#include "http/parser.h"

namespace turnpike::router {

// The value of hex digit `c` (either case), or -1 (the HTTP parser's definition).
constexpr int hex_digit(char c) { return http::hex_digit_value(c); }

inline constexpr char kUpperHex[] = "0123456789ABCDEF";

} // namespace turnpike::router
