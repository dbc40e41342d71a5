#include "config/service_options.h"

#include "common/strings.h"
#include "http/parser.h"

namespace turnpike::config {
namespace {

template <class T>
Result<T> finish(Decoder& dec, Errors& errors, T value) {
  dec.finish();
  if (!errors.empty()) return make_error(errors.joined());
  return value;
}

}  // namespace

Result<service::StickyCookieOptions> decode_sticky(const Node& node, const std::string& path) {
  Errors errors;
  Decoder dec(node, path, errors);
  service::StickyCookieOptions o;
  const Node* cookie = dec.section("cookie");
  if (!cookie) {
    dec.finish();
    if (!errors.empty()) return make_error(errors.joined());
    return make_error(path + ": only sticky.cookie is supported; it is missing");
  }
  Decoder cd(*cookie, dec.child_path("cookie"), errors);
  cd.get("name", o.name);
  cd.get("secure", o.secure);
  cd.get("httpOnly", o.http_only);
  if (cd.get("sameSite", o.same_site)) {
    std::string s = to_lower(o.same_site);
    if (!s.empty() && s != "none" && s != "lax" && s != "strict")
      cd.fail("sameSite", "must be none, lax or strict");
  }
  cd.get("maxAge", o.max_age);
  cd.get("path", o.path);
  cd.get("domain", o.domain);
  cd.finish();
  // Cookie names are tokens; Traefik replaces other characters with '_'.
  for (char& c : o.name)
    if (!http::is_token_char(c))
      c = '_';
  return finish(dec, errors, std::move(o));
}

Result<service::ActiveHealthOptions> decode_health_check(const Node& node,
                                                         const std::string& path) {
  Errors errors;
  Decoder dec(node, path, errors);
  service::ActiveHealthOptions o;
  dec.get("path", o.path);
  if (auto q = o.path.find('?'); q != std::string::npos) {
    o.query = o.path.substr(q + 1);
    o.path.resize(q);
  }
  std::string mode = "http";
  if (dec.get("mode", mode)) {
    mode = to_lower(mode);
    if (mode != "http" && mode != "grpc") dec.fail("mode", "must be http or grpc");
  }
  o.grpc = mode == "grpc";
  if (o.path.empty() && !o.grpc) dec.fail("path", "is required");
  if (!o.path.empty() && o.path.front() != '/') o.path.insert(0, "/");
  if (dec.get("scheme", o.scheme)) {
    o.scheme = to_lower(o.scheme);
    if (o.scheme != "http" && o.scheme != "https" && o.scheme != "h2c")
      dec.fail("scheme", "must be http, https or h2c");
  }
  dec.get("hostname", o.hostname);
  if (dec.get("port", o.port) && (o.port < 0 || o.port > 65535))
    dec.fail("port", "must be between 0 and 65535");
  dec.get_non_negative("interval", o.interval);
  if (o.interval.count() == 0) o.interval = std::chrono::seconds(30);
  dec.get_non_negative("unhealthyInterval", o.unhealthy_interval);
  dec.get_non_negative("timeout", o.timeout);
  if (o.timeout.count() == 0) o.timeout = std::chrono::seconds(5);
  std::map<std::string, std::string> headers;
  dec.get("headers", headers);
  for (auto& [k, v] : headers) o.headers.emplace_back(k, v);
  dec.get("followRedirects", o.follow_redirects);
  if (dec.get("method", o.method)) {
    for (char& c : o.method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (o.method.empty()) o.method = "GET";
  }
  if (dec.get("status", o.status) && o.status != 0 && (o.status < 100 || o.status > 599))
    dec.fail("status", "must be an HTTP status (100-599)");
  return finish(dec, errors, std::move(o));
}

Result<service::PassiveHealthOptions> decode_passive_health_check(const Node& node,
                                                                  const std::string& path) {
  Errors errors;
  Decoder dec(node, path, errors);
  service::PassiveHealthOptions o;
  dec.get_non_negative("failureWindow", o.failure_window);
  if (o.failure_window.count() == 0) o.failure_window = std::chrono::seconds(10);
  if (dec.get("maxFailedAttempts", o.max_failed_attempts) && o.max_failed_attempts < 1)
    dec.fail("maxFailedAttempts", "must be at least 1");
  return finish(dec, errors, o);
}

Result<Duration> decode_response_forwarding(const Node& node, const std::string& path) {
  Errors errors;
  Decoder dec(node, path, errors);
  Duration flush = std::chrono::milliseconds(100);
  dec.get("flushInterval", flush);  // negative: flush after every write (what Turnpike does)
  return finish(dec, errors, flush);
}

Result<service::RetryOptions> decode_retry(const Node& node, const std::string& path) {
  Errors errors;
  Decoder dec(node, path, errors);
  service::RetryOptions o;
  if (dec.get_non_negative("attempts", o.attempts) && o.attempts > 7)
    dec.fail("attempts", "must be at most 7");
  int64_t percent = static_cast<int64_t>(o.budget_ratio * 100);
  if (dec.get_non_negative("budgetPercent", percent)) o.budget_ratio = percent / 100.0;
  int64_t min = static_cast<int64_t>(o.min_retries_per_second);
  if (dec.get_non_negative("minRetriesPerSecond", min)) o.min_retries_per_second = double(min);
  return finish(dec, errors, o);
}

Result<void> decode_failover_errors(const Node& node, const std::string& path,
                                    service::FailoverOptions& out) {
  Errors errors;
  Decoder dec(node, path, errors);
  std::vector<std::string> status;
  dec.get("status", status);
  std::string why;
  if (!service::parse_status_ranges(status, out.error_statuses, why)) dec.fail("status", why);
  if (dec.get("maxRequestBodyBytes", out.max_request_body_bytes) &&
      out.max_request_body_bytes < -1)
    dec.fail("maxRequestBodyBytes", "must be -1 (no limit) or more");
  dec.finish();
  if (!errors.empty()) return make_error(errors.joined());
  return {};
}

}  // namespace turnpike::config
