#include "observability/access_log.h"

#include <ctime>

#include <nlohmann/json.hpp>

#include "common/strings.h"

namespace turnpike::observability {

Result<std::unique_ptr<AccessLog>> AccessLog::open(const AccessLogOptions& opts) {
  auto fmt = to_lower(opts.format);
  if (fmt != "common" && fmt != "genericclf" && fmt != "json")
    return make_error("accessLog.format: unknown format \"" + opts.format +
                      "\" (common, genericCLF, json)");
  AccessLogOptions o = opts;
  o.format = fmt;
  if (opts.file_path.empty()) return std::unique_ptr<AccessLog>(new AccessLog(o, stdout, false));
  std::FILE* f = std::fopen(opts.file_path.c_str(), "a");
  if (!f) return make_error("accessLog.filePath: cannot open \"" + opts.file_path + "\"");
  return std::unique_ptr<AccessLog>(new AccessLog(o, f, true));
}

AccessLog::~AccessLog() {
  flush();
  if (owned_) std::fclose(out_);
}

namespace {

std::string clf_time(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%d/%b/%Y:%H:%M:%S %z", &tm);
  return buf;
}

std::string rfc3339(std::chrono::system_clock::time_point t, bool utc) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  if (utc) gmtime_r(&tt, &tm);
  else localtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), utc ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%dT%H:%M:%S%z", &tm);
  return buf;
}

std::string or_dash(std::string_view s) { return s.empty() ? "-" : std::string(s); }

}  // namespace

void AccessLog::record(const http::Exchange& ex, Clock::time_point started,
                       std::string_view logged_target) {
  auto elapsed = Clock::now() - started;
  if (!opts_.status_filter.empty()) {
    bool keep = false;
    for (auto [lo, hi] : opts_.status_filter) keep |= ex.status >= lo && ex.status <= hi;
    if (!keep) return;
  }
  if (opts_.min_duration.count() > 0 && elapsed < opts_.min_duration) return;
  uint64_t n = ++count_;
  const auto& req = ex.request;
  auto wall_start = std::chrono::system_clock::now() -
                    std::chrono::duration_cast<std::chrono::system_clock::duration>(elapsed);
  std::string line;
  std::string target(logged_target);
  std::string proto(http::to_string(req.version));
  if (opts_.format == "json") {
    nlohmann::json j;
    j["StartUTC"] = rfc3339(wall_start, true);
    j["StartLocal"] = rfc3339(wall_start, false);
    j["Duration"] = std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count();
    j["RouterName"] = std::string(ex.router_name);
    j["ServiceName"] = std::string(ex.service_name);
    j["ServiceURL"] = ex.service_url;
    j["ClientAddr"] = req.client_addr.to_string() + ":" + std::to_string(req.client_port);
    j["ClientHost"] = req.client_addr.to_string();
    j["ClientPort"] = std::to_string(req.client_port);
    j["ClientUsername"] = or_dash(ex.username);
    j["RequestAddr"] = req.authority;
    j["RequestHost"] = req.host;
    j["RequestMethod"] = req.method;
    j["RequestPath"] = target;
    j["RequestProtocol"] = proto;
    j["RequestScheme"] = req.scheme;
    j["RequestContentSize"] = req.content_length > 0 ? req.content_length : 0;
    j["DownstreamStatus"] = ex.status;
    j["DownstreamContentSize"] = ex.response_bytes;
    j["OriginStatus"] = ex.service_url.empty() ? 0 : ex.status;
    j["RequestCount"] = n;
    j["RetryAttempts"] = ex.retry_attempts;
    if (ex.tls) {  // Traefik's TLS fields: "1.3", "TLS_AES_128_GCM_SHA256"
      j["TLSVersion"] = std::string(ex.tls->version);
      j["TLSCipher"] = std::string(ex.tls->cipher);
    }
    j["entryPointName"] = req.entrypoint;
    j["level"] = "info";
    j["msg"] = "";
    j["time"] = rfc3339(std::chrono::system_clock::now(), false);
    line = j.dump();
  } else {
    auto referer = req.headers.get("Referer");
    auto ua = req.headers.get("User-Agent");
    line = req.client_addr.to_string() + " - " + or_dash(ex.username) + " [" +
           clf_time(wall_start) + "] \"" + req.method + " " + target + " " + proto + "\" " +
           std::to_string(ex.status) + " " + std::to_string(ex.response_bytes) + " \"" +
           or_dash(referer.value_or("")) + "\" \"" + or_dash(ua.value_or("")) + "\"";
    if (opts_.format == "common") {
      line += " " + std::to_string(n) + " \"" + or_dash(ex.router_name) + "\" \"" +
              or_dash(ex.service_url) + "\" " +
              std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()) +
              "ms";
    }
  }
  line.push_back('\n');
  std::lock_guard lock(mu_);
  pending_ += line;
  if (++pending_lines_ > opts_.buffering_size) {
    std::fwrite(pending_.data(), 1, pending_.size(), out_);
    std::fflush(out_);
    pending_.clear();
    pending_lines_ = 0;
  }
}

void AccessLog::flush() {
  std::lock_guard lock(mu_);
  if (!pending_.empty()) std::fwrite(pending_.data(), 1, pending_.size(), out_);
  std::fflush(out_);
  pending_.clear();
  pending_lines_ = 0;
}

}  // namespace turnpike::observability
