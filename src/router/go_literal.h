#pragma once
// Go string literals as Traefik's rule language uses them (the rule text is parsed as a Go
// expression): raw `...` strings (no escapes, carriage returns dropped) and interpreted "..."
// strings with Go's escapes (\a \b \f \n \r \t \v \\ \" \NNN \xHH \uHHHH \UHHHHHHHH).
// Single-quoted strings are rune literals in Go and therefore an error here. Pure functions.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace turnpike::router {

struct LiteralError {
  size_t pos; // 0-based byte offset in the text
  std::string message;
};

// Reads the literal starting at text[pos]. On success appends its value to `out`, moves `pos`
// past the closing quote and returns nullopt.
std::optional<LiteralError> read_go_literal(std::string_view text, size_t& pos, std::string& out);

// Appends a literal that reads back as exactly `value`: backticks when possible, otherwise an
// interpreted string with escapes.
void append_go_literal(std::string_view value, std::string& out);

} // namespace turnpike::router
