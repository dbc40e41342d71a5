#include "common/log.h"

#include <mutex>
#include <unordered_map>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "common/strings.h"

namespace turnpike::log {
namespace {

struct State {
  std::mutex mu;
  spdlog::sink_ptr sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  spdlog::level::level_enum level = spdlog::level::err;
  std::string pattern = "%Y-%m-%dT%H:%M:%S.%e%z %^%L%$ [%n] %v";
  std::unordered_map<std::string, std::shared_ptr<spdlog::logger>> loggers;
};

State& state() {
  static State s;
  return s;
}

}  // namespace

std::string configure(const Options& opts) {
  auto& s = state();
  std::lock_guard lock(s.mu);
  auto lvl = to_lower(opts.level);
  if (lvl == "trace") s.level = spdlog::level::trace;
  else if (lvl == "debug") s.level = spdlog::level::debug;
  else if (lvl == "info") s.level = spdlog::level::info;
  else if (lvl == "warn" || lvl == "warning") s.level = spdlog::level::warn;
  else if (lvl == "error") s.level = spdlog::level::err;
  else if (lvl == "fatal" || lvl == "panic") s.level = spdlog::level::critical;
  else return "unknown log level \"" + opts.level + "\" (TRACE, DEBUG, INFO, WARN, ERROR, FATAL, PANIC)";
  auto fmt = to_lower(opts.format);
  if (fmt == "json") {
    s.pattern = R"({"time":"%Y-%m-%dT%H:%M:%S%z","level":"%l","component":"%n","message":"%v"})";
  } else if (fmt == "common" || fmt.empty()) {
    s.pattern = "%Y-%m-%dT%H:%M:%S.%e%z %^%L%$ [%n] %v";
  } else {
    return "unknown log format \"" + opts.format + "\" (common, json)";
  }
  if (!opts.file_path.empty()) {
    try {
      s.sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(opts.file_path);
    } catch (const std::exception& e) {
      return "cannot open log file \"" + opts.file_path + "\": " + e.what();
    }
  }
  for (auto& [name, logger] : s.loggers) {
    logger->sinks().assign(1, s.sink);
    logger->set_level(s.level);
    logger->set_pattern(s.pattern);
  }
  return {};
}

std::shared_ptr<spdlog::logger> get(std::string_view component) {
  auto& s = state();
  std::lock_guard lock(s.mu);
  auto it = s.loggers.find(std::string(component));
  if (it != s.loggers.end()) return it->second;
  auto logger = std::make_shared<spdlog::logger>(std::string(component), s.sink);
  logger->set_level(s.level);
  logger->set_pattern(s.pattern);
  logger->flush_on(spdlog::level::warn);
  s.loggers.emplace(std::string(component), logger);
  return logger;
}

}  // namespace turnpike::log
