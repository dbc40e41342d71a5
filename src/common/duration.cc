#include "common/duration.h"

#include <cmath>
#include <cstdlib>

namespace turnpike {

std::optional<Duration> parse_duration(std::string_view s) {
  if (s.empty()) return std::nullopt;
  bool neg = false;
  if (s.front() == '-' || s.front() == '+') {
    neg = s.front() == '-';
    s.remove_prefix(1);
    if (s.empty()) return std::nullopt;
  }
  // Bare integer = seconds (Traefik/paerser accepts this, signed: terminationDelay: -1).
  bool all_digits = true;
  for (char c : s) all_digits &= (c >= '0' && c <= '9');
  if (all_digits) {
    if (s.size() > 12) return std::nullopt;
    auto secs = std::chrono::seconds(std::stoll(std::string(s)));
    return neg ? -secs : secs;
  }
  if (s == "0") return Duration::zero();
  long double total = 0;
  bool any = false;
  while (!s.empty()) {
    size_t i = 0;
    while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
    if (i == 0) return std::nullopt;
    std::string num(s.substr(0, i));
    char* end = nullptr;
    long double v = std::strtold(num.c_str(), &end);
    if (end != num.c_str() + num.size()) return std::nullopt;
    s.remove_prefix(i);
    size_t j = 0;
    while (j < s.size() && !((s[j] >= '0' && s[j] <= '9') || s[j] == '.')) ++j;
    std::string_view unit = s.substr(0, j);
    s.remove_prefix(j);
    long double mul;
    if (unit == "ns") mul = 1;
    else if (unit == "us" || unit == "\xc2\xb5s" || unit == "\xce\xbcs") mul = 1e3;
    else if (unit == "ms") mul = 1e6;
    else if (unit == "s") mul = 1e9;
    else if (unit == "m") mul = 60e9;
    else if (unit == "h") mul = 3600e9;
    else return std::nullopt;
    total += v * mul;
    any = true;
  }
  if (!any || total > 9.2e18L) return std::nullopt;
  auto ns = static_cast<long long>(std::llround(total));
  return Duration(neg ? -ns : ns);
}

std::string format_duration(Duration d) {
  using namespace std::chrono;
  auto ns = d.count();
  if (ns == 0) return "0s";
  if (ns % 1000000000 == 0) return std::to_string(ns / 1000000000) + "s";
  if (ns % 1000000 == 0) return std::to_string(ns / 1000000) + "ms";
  if (ns % 1000 == 0) return std::to_string(ns / 1000) + "us";
  return std::to_string(ns) + "ns";
}

}  // namespace turnpike
