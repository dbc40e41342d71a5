#pragma once
// Durations as Traefik writes them: Go time.ParseDuration strings ("10s", "1m30s", "250ms",
// "1.5h") or a bare integer meaning seconds. Pure functions.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace turnpike {

using Duration = std::chrono::nanoseconds;

std::optional<Duration> parse_duration(std::string_view text);
std::string format_duration(Duration d);

}  // namespace turnpike
