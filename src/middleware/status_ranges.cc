#include "middleware/status_ranges.h"

#include <charconv>

#include "common/strings.h"
#include "middleware/decode_support.h"

namespace turnpike::middleware {

std::optional<int> parse_status_code(std::string_view s) {
  s = trim(s);
  int v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 100 || v > 599)
    return std::nullopt;
  return v;
}

std::optional<StatusRanges> StatusRanges::parse(std::string_view item) {
  const size_t dash = item.find('-');
  auto lo = parse_status_code(item.substr(0, dash));
  auto hi = dash == std::string_view::npos ? lo : parse_status_code(item.substr(dash + 1));
  if (!lo || !hi || *lo > *hi)
    return std::nullopt;
  StatusRanges out;
  out.ranges_.emplace_back(*lo, *hi);
  return out;
}

StatusRanges StatusRanges::decode(config::Decoder& dec, std::string_view key) {
  StatusRanges out;
  std::vector<std::string> items;
  dec.get(key, items);
  for (size_t i = 0; i < items.size(); ++i) {
    auto one = parse(items[i]);
    if (!one) {
      dec.fail(item_key(key, i),
               "\"" + items[i] + "\" is not a status code or range (\"500\", \"501-599\")");
      continue;
    }
    out.ranges_.push_back(one->ranges_.front());
  }
  return out;
}

bool StatusRanges::contains(int status) const {
  for (const auto& [lo, hi] : ranges_)
    if (status >= lo && status <= hi)
      return true;
  return false;
}

} // namespace turnpike::middleware
