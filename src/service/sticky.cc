#include "service/sticky.h"

#include <openssl/evp.h>

#include <cstdio>

#include "common/fnv.h"
#include "common/hex.h"
#include "common/strings.h"

namespace turnpike::service {
namespace {

std::string fnv_hex(std::string_view data) {
  const uint64_t h = fnv1a64(data);
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace

std::string default_cookie_name(std::string_view service) {
  // Traefik's cookie.GenerateName: "_%x" of SHA-1("_TRAEFIK_BACKEND_" + name), cut to 6 chars.
  return "_" + digest_hex(EVP_sha1(), "_TRAEFIK_BACKEND_" + std::string(service), 5);
}

std::string sticky_value(std::string_view key) { return digest_hex(EVP_sha256(), key, 16); }

StickyCookie::StickyCookie(StickyCookieOptions options, std::string_view service,
                           const std::vector<std::string>& keys)
    : options_(std::move(options)) {
  if (options_.name.empty()) options_.name = default_cookie_name(service);
  for (size_t i = 0; i < keys.size(); ++i) {
    // Legacy forms first, so the current one wins should two targets ever collide.
    by_value_[keys[i]] = i;
    by_value_[fnv_hex(keys[i])] = i;
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    std::string value = sticky_value(keys[i]);
    by_value_[value] = i;
    // Go's http.Cookie serialisation order.
    std::string c = options_.name + "=" + value;
    if (!options_.path.empty()) c += "; Path=" + options_.path;
    if (!options_.domain.empty()) c += "; Domain=" + options_.domain;
    if (options_.max_age > 0) c += "; Max-Age=" + std::to_string(options_.max_age);
    if (options_.max_age < 0) c += "; Max-Age=0";
    if (options_.http_only) c += "; HttpOnly";
    if (options_.secure) c += "; Secure";
    if (iequals(options_.same_site, "none")) c += "; SameSite=None";
    if (iequals(options_.same_site, "lax")) c += "; SameSite=Lax";
    if (iequals(options_.same_site, "strict")) c += "; SameSite=Strict";
    set_cookie_.push_back(std::move(c));
  }
}

std::optional<size_t> StickyCookie::find(const http::Request& req) const {
  for (std::string_view header : req.headers.values("Cookie")) {
    while (!header.empty()) {
      auto semi = header.find(';');
      std::string_view pair = header.substr(0, semi);
      header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
      while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t')) pair.remove_prefix(1);
      auto eq = pair.find('=');
      if (eq == std::string_view::npos || pair.substr(0, eq) != options_.name) continue;
      std::string_view value = pair.substr(eq + 1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
        value = value.substr(1, value.size() - 2);
      auto it = by_value_.find(std::string(value));
      if (it != by_value_.end()) return it->second;
    }
  }
  return std::nullopt;
}

}  // namespace turnpike::service
