#pragma once
// Logging: one spdlog logger per component, created once, bound by name ("router", "file").
// Thread-safe (spdlog's mt sinks). configure_logging() is called once by main before workers start.

#include <memory>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace turnpike::log {

struct Options {
  std::string level = "ERROR";   // TRACE|DEBUG|INFO|WARN|ERROR|FATAL|PANIC (Traefik's names)
  std::string format = "common";  // common|json
  std::string file_path;          // empty = stderr
};

// Returns an error message for a bad level/format, empty on success.
std::string configure(const Options& opts);

// The logger for a component; cheap to call repeatedly (cache it in a static or member).
std::shared_ptr<spdlog::logger> get(std::string_view component);

}  // namespace turnpike::log
