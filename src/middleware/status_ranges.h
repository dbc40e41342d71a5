#pragma once
// HTTP status lists as Traefik writes them: "500", "501-599" (inclusive ranges), used by `errors`'
// `status` and `retry`'s `status`. Immutable once decoded.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/tree/decoder.h"

namespace turnpike::middleware {

// "404" (surrounding spaces allowed) as a status in 100..599.
std::optional<int> parse_status_code(std::string_view s);

class StatusRanges {
public:
  // Reads the list under `key`; each item is "NNN" or "NNN-MMM" with 100 <= NNN <= MMM <= 599.
  // A bad item is reported at "key[i]"; returns nothing useful then (check the ErrorMark).
  static StatusRanges decode(config::Decoder& dec, std::string_view key);

  // One item ("404", "500-599") on its own; nullopt when invalid.
  static std::optional<StatusRanges> parse(std::string_view item);

  bool contains(int status) const;
  bool empty() const { return ranges_.empty(); }

private:
  std::vector<std::pair<int, int>> ranges_; // inclusive
};

} // namespace turnpike::middleware
