#pragma once
// Sticky sessions by cookie (Traefik's `sticky.cookie`), for loadBalancer servers and for the
// children of a weighted service. The cookie's value names the target: the first 16 hex digits
// of SHA-256 of the server URL (or child service name), as Traefik 3 writes it; the values older
// Traefik versions wrote (64-bit FNV-1a in hex, and the raw URL) are still recognised, so
// sessions survive a migration.
//
// Threading: immutable after construction (control thread); shared by every worker.

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "http/message.h"

namespace turnpike::service {

struct StickyCookieOptions {
  std::string name;  // empty: derived from the service name (default_cookie_name)
  bool secure = false;
  bool http_only = false;
  std::string same_site;  // "", "none", "lax", "strict"
  int64_t max_age = 0;     // 0: a session cookie; < 0: delete at once (Max-Age=0)
  std::string path = "/";
  std::string domain;
};

// Traefik's default cookie name: "_" and 5 hex digits derived from the service name.
std::string default_cookie_name(std::string_view service);

// The cookie value Traefik 3 uses for a target key.
std::string sticky_value(std::string_view key);

class StickyCookie {
 public:
  // `keys`: the targets' identities (server URLs or child service names), by index.
  StickyCookie(StickyCookieOptions options, std::string_view service,
               const std::vector<std::string>& keys);

  // The target the request's cookie names, if any (whatever its health: the caller checks).
  std::optional<size_t> find(const http::Request& req) const;
  // The Set-Cookie value that pins a client to target i.
  const std::string& set_cookie(size_t i) const { return set_cookie_[i]; }
  const std::string& name() const { return options_.name; }

 private:
  StickyCookieOptions options_;
  std::unordered_map<std::string, size_t> by_value_;
  std::vector<std::string> set_cookie_;
};

}  // namespace turnpike::service
