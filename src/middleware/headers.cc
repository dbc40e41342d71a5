#include "middleware/headers.h"

#include <map>

#include "common/strings.h"
#include "middleware/decode_support.h"
#include "middleware/head_editor.h"
#include "middleware/local_reply.h"

namespace turnpike::middleware {
namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out.push_back(',');
    out.append(s);
  }
  return out;
}

// Host without port, lower-cased, without a trailing dot (as the entrypoint derives request.host).
std::string routing_host(std::string_view authority) {
  std::string_view h = authority;
  if (!h.empty() && h.front() == '[') {
    const size_t close = h.find(']');
    if (close != std::string_view::npos) h = h.substr(0, close + 1);
  } else if (h.find(':') == h.rfind(':') && h.find(':') != std::string_view::npos) {
    h = h.substr(0, h.find(':'));
  }
  if (!h.empty() && h.back() == '.') h.remove_suffix(1);
  return to_lower(h);
}

void check_values(config::Decoder& dec, std::string_view key,
                  const std::vector<std::string>& values) {
  for (size_t i = 0; i < values.size(); ++i)
    if (!is_header_value(values[i]))
      dec.fail(item_key(key, i), "invalid header value (control characters)");
}

void check_value(config::Decoder& dec, std::string_view key, const std::string& value) {
  if (!is_header_value(value)) dec.fail(key, "invalid header value (control characters)");
}

}  // namespace

bool HeadersOptions::has_custom_headers() const {
  return !custom_request_headers.empty() || !custom_response_headers.empty();
}

bool HeadersOptions::has_cors_headers() const {
  return access_control_allow_credentials || !access_control_allow_headers.empty() ||
         !access_control_allow_methods.empty() || !access_control_allow_origin_list.empty() ||
         !access_control_allow_origin_list_regex.empty() ||
         !access_control_expose_headers.empty() || access_control_max_age != 0 ||
         add_vary_header;
}

bool HeadersOptions::has_secure_headers() const {
  return !allowed_hosts.empty() || !hosts_proxy_headers.empty() || !ssl_proxy_headers.empty() ||
         sts_seconds != 0 || sts_include_subdomains || sts_preload || force_sts_header ||
         frame_deny || !custom_frame_options_value.empty() || content_type_nosniff ||
         browser_xss_filter || !custom_browser_xss_value.empty() ||
         !content_security_policy.empty() || !content_security_policy_report_only.empty() ||
         !public_key.empty() || !referrer_policy.empty() || !permissions_policy.empty() ||
         is_development;
}

Headers::Headers(std::shared_ptr<const HeadersOptions> options, HandlerPtr next)
    : opts_(std::move(options)), next_(std::move(next)) {
  const HeadersOptions& o = *opts_;
  has_custom_ = o.has_custom_headers();
  has_cors_ = o.has_cors_headers();
  has_secure_ = o.has_secure_headers();
  allow_headers_ = join(o.access_control_allow_headers);
  allow_methods_ = join(o.access_control_allow_methods);
  expose_headers_ = join(o.access_control_expose_headers);
  max_age_ = std::to_string(o.access_control_max_age);
  sts_value_ = "max-age=" + std::to_string(o.sts_seconds);
  if (o.sts_include_subdomains) sts_value_ += "; includeSubDomains";
  if (o.sts_preload) sts_value_ += "; preload";

  if (!o.custom_frame_options_value.empty())
    static_secure_.emplace_back("X-Frame-Options", o.custom_frame_options_value);
  else if (o.frame_deny)
    static_secure_.emplace_back("X-Frame-Options", "DENY");
  if (o.content_type_nosniff) static_secure_.emplace_back("X-Content-Type-Options", "nosniff");
  if (!o.custom_browser_xss_value.empty())
    static_secure_.emplace_back("X-XSS-Protection", o.custom_browser_xss_value);
  else if (o.browser_xss_filter)
    static_secure_.emplace_back("X-XSS-Protection", "1; mode=block");
  if (!o.content_security_policy.empty())
    static_secure_.emplace_back("Content-Security-Policy", o.content_security_policy);
  if (!o.content_security_policy_report_only.empty())
    static_secure_.emplace_back("Content-Security-Policy-Report-Only",
                                o.content_security_policy_report_only);
  if (!o.referrer_policy.empty()) static_secure_.emplace_back("Referrer-Policy", o.referrer_policy);
  if (!o.permissions_policy.empty())
    static_secure_.emplace_back("Permissions-Policy", o.permissions_policy);
}

bool Headers::is_preflight(const http::Request& req) const {
  if (!has_cors_ || req.method != "OPTIONS") return false;
  auto method = req.headers.get("Access-Control-Request-Method");
  auto origin = req.headers.get("Origin");
  return method && !method->empty() && origin && !origin->empty();
}

std::optional<std::string_view> Headers::allowed_origin(std::string_view origin) const {
  for (const auto& item : opts_->access_control_allow_origin_list)
    if (item == "*" || item == origin) return std::string_view(item);
  for (const auto& re : opts_->access_control_allow_origin_list_regex)
    if (re->matches(origin)) return origin;
  return std::nullopt;
}

void Headers::apply_custom_request_headers(http::Request& req) const {
  for (const auto& [name, value] : opts_->custom_request_headers) {
    if (value.empty()) {
      req.headers.remove(name);
    } else if (iequals(name, "Host")) {
      req.authority = value;
      req.host = routing_host(value);
      if (req.headers.has("Host")) req.headers.set("Host", value);
    } else {
      req.headers.set(name, value);
    }
  }
}

bool Headers::host_allowed(const http::Request& req) const {
  if (opts_->allowed_hosts.empty() || opts_->is_development) return true;
  std::string_view host = req.authority;
  for (const auto& name : opts_->hosts_proxy_headers) {
    if (auto v = req.headers.get(name); v && !v->empty()) {
      host = *v;
      break;
    }
  }
  for (const auto& allowed : opts_->allowed_hosts)
    if (iequals(allowed, host)) return true;
  return false;
}

bool Headers::is_ssl(const http::Request& req) const {
  if (iequals(req.scheme, "https")) return true;
  for (const auto& [name, value] : opts_->ssl_proxy_headers)
    if (req.headers.get(name).value_or(std::string_view{}) == value) return true;
  return false;
}

void Headers::edit_secure(http::Response& head, bool ssl) const {
  const HeadersOptions& o = *opts_;
  if (o.sts_seconds != 0 && (ssl || o.force_sts_header) && !o.is_development)
    head.headers.set("Strict-Transport-Security", sts_value_);
  for (const auto& [name, value] : static_secure_) head.headers.set(name, value);
  if (!o.public_key.empty() && ssl && !o.is_development)
    head.headers.set("Public-Key-Pins", o.public_key);
}

void Headers::edit_custom(http::Response& head, std::string_view origin) const {
  const HeadersOptions& o = *opts_;
  for (const auto& [name, value] : o.custom_response_headers) {
    if (value.empty())
      head.headers.remove(name);
    else
      head.headers.set(name, value);
  }
  if (auto allowed = allowed_origin(origin))
    head.headers.set("Access-Control-Allow-Origin", *allowed);
  if (o.access_control_allow_credentials)
    head.headers.set("Access-Control-Allow-Credentials", "true");
  if (!expose_headers_.empty()) head.headers.set("Access-Control-Expose-Headers", expose_headers_);
  if (o.add_vary_header) {
    const std::string_view vary = head.headers.get("Vary").value_or(std::string_view{});
    if (vary != "Origin") {
      std::string value(vary);
      if (!value.empty()) value.push_back(',');
      value.append("Origin");
      head.headers.set("Vary", value);
    }
  }
}

http::Task<void> Headers::handle(http::Exchange& ex) const {
  http::Request& req = ex.request;
  if (is_preflight(req)) {
    http::HeaderMap headers;
    if (opts_->access_control_allow_credentials)
      headers.set("Access-Control-Allow-Credentials", "true");
    if (!allow_headers_.empty()) headers.set("Access-Control-Allow-Headers", allow_headers_);
    if (!allow_methods_.empty()) headers.set("Access-Control-Allow-Methods", allow_methods_);
    if (auto allowed = allowed_origin(*req.headers.get("Origin")))
      headers.set("Access-Control-Allow-Origin", *allowed);
    headers.set("Access-Control-Max-Age", max_age_);
    co_await reply(ex, 200, {}, &headers);
    co_return;
  }
  if (has_custom_) apply_custom_request_headers(req);

  // Captured now: later middlewares may change the request before the response comes back.
  const std::string origin(req.headers.get("Origin").value_or(std::string_view{}));
  bool secure = false;
  bool ssl = false;
  auto edit = [&](http::Response& head) {
    if (secure) edit_secure(head, ssl);
    edit_custom(head, origin);
  };
  HeadEditingWriter<decltype(edit)> writer(*ex.writer, edit);
  WriterScope scope(ex, writer);

  if (has_secure_) {
    if (!host_allowed(req)) {
      // Traefik's secure handler answers through the custom/CORS layer only.
      http::HeaderMap headers;
      headers.set("X-Content-Type-Options", "nosniff");
      co_await reply(ex, 500, "Bad Host\n", &headers);
      co_return;
    }
    secure = true;
    ssl = is_ssl(req);
  }
  co_await next_->handle(ex);
}

Wrap build_headers(config::Decoder& dec, BuildContext&) {
  ErrorMark mark(dec);
  auto o = std::make_shared<HeadersOptions>();
  o->custom_request_headers = decode_header_fields(dec, "customRequestHeaders", true);
  o->custom_response_headers = decode_header_fields(dec, "customResponseHeaders", true);

  dec.get("accessControlAllowCredentials", o->access_control_allow_credentials);
  dec.get("accessControlAllowHeaders", o->access_control_allow_headers);
  dec.get("accessControlAllowMethods", o->access_control_allow_methods);
  dec.get("accessControlAllowOriginList", o->access_control_allow_origin_list);
  std::vector<std::string> origin_regexes;
  dec.get("accessControlAllowOriginListRegex", origin_regexes);
  dec.get("accessControlExposeHeaders", o->access_control_expose_headers);
  dec.get("accessControlMaxAge", o->access_control_max_age);
  dec.get("addVaryHeader", o->add_vary_header);

  dec.get("allowedHosts", o->allowed_hosts);
  dec.get("hostsProxyHeaders", o->hosts_proxy_headers);
  o->ssl_proxy_headers = decode_header_fields(dec, "sslProxyHeaders", false);
  dec.get("stsSeconds", o->sts_seconds);
  dec.get("stsIncludeSubdomains", o->sts_include_subdomains);
  dec.get("stsPreload", o->sts_preload);
  dec.get("forceSTSHeader", o->force_sts_header);
  dec.get("frameDeny", o->frame_deny);
  dec.get("customFrameOptionsValue", o->custom_frame_options_value);
  dec.get("contentTypeNosniff", o->content_type_nosniff);
  dec.get("browserXssFilter", o->browser_xss_filter);
  dec.get("customBrowserXSSValue", o->custom_browser_xss_value);
  dec.get("contentSecurityPolicy", o->content_security_policy);
  dec.get("contentSecurityPolicyReportOnly", o->content_security_policy_report_only);
  dec.get("publicKey", o->public_key);
  dec.get("referrerPolicy", o->referrer_policy);
  dec.get("permissionsPolicy", o->permissions_policy);
  dec.get("isDevelopment", o->is_development);

  // Options Traefik v3 removed: say what replaces them rather than "unknown key".
  static constexpr std::pair<std::string_view, std::string_view> kRemoved[] = {
      {"sslRedirect", "use the redirectScheme middleware"},
      {"sslTemporaryRedirect", "use the redirectScheme middleware"},
      {"sslHost", "use the redirectRegex middleware"},
      {"sslForceHost", "use the redirectRegex middleware"},
      {"featurePolicy", "use permissionsPolicy"},
      {"accessControlAllowOrigin", "use accessControlAllowOriginList"},
  };
  for (const auto& [key, replacement] : kRemoved) {
    if (dec.node().find(key)) {
      dec.skip(key);
      dec.fail(key, "removed in Traefik v3: " + std::string(replacement));
    }
  }
  dec.finish();

  for (size_t i = 0; i < origin_regexes.size(); ++i) {
    if (auto re = compile_regex(dec, item_key("accessControlAllowOriginListRegex", i),
                                origin_regexes[i]))
      o->access_control_allow_origin_list_regex.push_back(re);
  }
  check_values(dec, "accessControlAllowHeaders", o->access_control_allow_headers);
  check_values(dec, "accessControlAllowMethods", o->access_control_allow_methods);
  check_values(dec, "accessControlAllowOriginList", o->access_control_allow_origin_list);
  check_values(dec, "accessControlExposeHeaders", o->access_control_expose_headers);
  check_header_names(dec, "hostsProxyHeaders", o->hosts_proxy_headers);
  if (o->access_control_max_age < 0) dec.fail("accessControlMaxAge", "must be >= 0");
  if (o->sts_seconds < 0) dec.fail("stsSeconds", "must be >= 0");
  check_value(dec, "customFrameOptionsValue", o->custom_frame_options_value);
  check_value(dec, "customBrowserXSSValue", o->custom_browser_xss_value);
  check_value(dec, "contentSecurityPolicy", o->content_security_policy);
  check_value(dec, "contentSecurityPolicyReportOnly", o->content_security_policy_report_only);
  check_value(dec, "publicKey", o->public_key);
  check_value(dec, "referrerPolicy", o->referrer_policy);
  check_value(dec, "permissionsPolicy", o->permissions_policy);
  if (mark.clean() && !o->has_custom_headers() && !o->has_cors_headers() &&
      !o->has_secure_headers())
    dec.fail("", "headers configuration not valid: no option is set");
  if (!mark.clean()) return {};
  return [o = std::shared_ptr<const HeadersOptions>(std::move(o))](HandlerPtr next) -> HandlerPtr {
    return std::make_shared<const Headers>(o, std::move(next));
  };
}

}  // namespace turnpike::middleware
