#pragma once
// headers (Traefik's Headers): custom request/response headers, CORS, and security headers.
//
//   http.middlewares.<name>.headers:
//     customRequestHeaders:  {X-Script-Name: test, X-Drop-Me: ""}   # "" removes the header
//     customResponseHeaders: {X-Custom: value, Server: ""}
//     # CORS
//     accessControlAllowCredentials, accessControlAllowHeaders[], accessControlAllowMethods[],
//     accessControlAllowOriginList[] ("*" allowed), accessControlAllowOriginListRegex[],
//     accessControlExposeHeaders[], accessControlMaxAge (seconds), addVaryHeader
//     # security
//     allowedHosts[], hostsProxyHeaders[], sslProxyHeaders{}, stsSeconds, stsIncludeSubdomains,
//     stsPreload, forceSTSHeader, frameDeny, customFrameOptionsValue, contentTypeNosniff,
//     browserXssFilter, customBrowserXSSValue, contentSecurityPolicy,
//     contentSecurityPolicyReportOnly, publicKey, referrerPolicy, permissionsPolicy, isDevelopment
//
// Behaviour (Traefik's, which layers its custom/CORS handler over unrolled/secure):
// 1. CORS preflight (OPTIONS with Origin and Access-Control-Request-Method, when any CORS option is
//    set) is answered 200 here, with Access-Control-Allow-{Credentials,Headers,Methods,Origin} and
//    Access-Control-Max-Age; it never reaches the service.
// 2. customRequestHeaders are applied ("Host" changes the request's authority).
// 3. allowedHosts (unless isDevelopment): the Host, or the first non-empty hostsProxyHeaders
//    header, must equal one entry (case-insensitive), else 500 "Bad Host".
// 4. On the response head: the security headers (STS only over HTTPS, i.e. https scheme or a
//    matching sslProxyHeaders entry, or with forceSTSHeader; not in isDevelopment), then the
//    customResponseHeaders (so they can override or remove them), Access-Control-Allow-Origin for
//    an allowed Origin, -Allow-Credentials, -Expose-Headers, and Vary: Origin (addVaryHeader).
// A configuration that sets none of these options is an error, as in Traefik. Options Traefik v3
// removed (sslRedirect, sslTemporaryRedirect, sslHost, sslForceHost, featurePolicy,
// accessControlAllowOrigin) are reported with their replacement.
// Immutable; shared by every worker. Response edits go through a HeadEditingWriter.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "middleware/go_regex.h"
#include "middleware/middleware.h"

namespace turnpike::middleware {

struct HeadersOptions {
  using Fields = std::vector<std::pair<std::string, std::string>>;  // name, value ("" = remove)

  Fields custom_request_headers;
  Fields custom_response_headers;

  bool access_control_allow_credentials = false;
  std::vector<std::string> access_control_allow_headers;
  std::vector<std::string> access_control_allow_methods;
  std::vector<std::string> access_control_allow_origin_list;
  std::vector<std::shared_ptr<const GoRegex>> access_control_allow_origin_list_regex;
  std::vector<std::string> access_control_expose_headers;
  int64_t access_control_max_age = 0;
  bool add_vary_header = false;

  std::vector<std::string> allowed_hosts;
  std::vector<std::string> hosts_proxy_headers;
  Fields ssl_proxy_headers;
  int64_t sts_seconds = 0;
  bool sts_include_subdomains = false;
  bool sts_preload = false;
  bool force_sts_header = false;
  bool frame_deny = false;
  std::string custom_frame_options_value;
  bool content_type_nosniff = false;
  bool browser_xss_filter = false;
  std::string custom_browser_xss_value;
  std::string content_security_policy;
  std::string content_security_policy_report_only;
  std::string public_key;
  std::string referrer_policy;
  std::string permissions_policy;
  bool is_development = false;

  bool has_custom_headers() const;
  bool has_cors_headers() const;
  bool has_secure_headers() const;
};

class Headers final : public http::Handler {
 public:
  explicit Headers(std::shared_ptr<const HeadersOptions> options, HandlerPtr next);
  http::Task<void> handle(http::Exchange& ex) const override;

 private:
  bool is_preflight(const http::Request& req) const;
  // The allowed Origin value to echo ("*" or the origin), or nullopt.
  std::optional<std::string_view> allowed_origin(std::string_view origin) const;
  void apply_custom_request_headers(http::Request& req) const;
  bool host_allowed(const http::Request& req) const;
  bool is_ssl(const http::Request& req) const;
  void edit_secure(http::Response& head, bool ssl) const;
  void edit_custom(http::Response& head, std::string_view origin) const;

  std::shared_ptr<const HeadersOptions> opts_;
  HandlerPtr next_;
  bool has_custom_ = false;
  bool has_cors_ = false;
  bool has_secure_ = false;
  // Precomputed values.
  std::string allow_headers_, allow_methods_, expose_headers_, max_age_, sts_value_;
  HeadersOptions::Fields static_secure_;  // security headers that do not depend on the request
};

// Factory registered as "headers".
Wrap build_headers(config::Decoder& dec, BuildContext& ctx);

}  // namespace turnpike::middleware
