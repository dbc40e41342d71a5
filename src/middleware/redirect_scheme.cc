#include "middleware/redirect_scheme.h"

#include "common/strings.h"
#include "middleware/decode_support.h"
#include "middleware/local_reply.h"

namespace turnpike::middleware {
namespace {

// Splits an authority into host and ":port" ("[::1]:80" -> "[::1]", ":80").
std::pair<std::string_view, std::string_view> split_authority(std::string_view authority) {
  size_t colon = std::string_view::npos;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close != std::string_view::npos && close + 1 < authority.size() &&
        authority[close + 1] == ':')
      colon = close + 1;
  } else if (authority.find(':') == authority.rfind(':')) {
    colon = authority.find(':');  // at most one colon: host[:port]
  }
  if (colon == std::string_view::npos) return {authority, {}};
  return {authority.substr(0, colon), authority.substr(colon)};
}

bool is_default_port(std::string_view scheme, std::string_view port_suffix) {
  return (scheme == "http" && port_suffix == ":80") || (scheme == "https" && port_suffix == ":443");
}

bool is_scheme(std::string_view s) {
  if (s.empty() || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '+' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

RedirectScheme::RedirectScheme(std::string scheme, std::string port_suffix, bool permanent,
                               HandlerPtr next)
    : scheme_(std::move(scheme)),
      port_suffix_(std::move(port_suffix)),
      permanent_(permanent),
      next_(std::move(next)) {}

http::Task<void> RedirectScheme::handle(http::Exchange& ex) const {
  const http::Request& req = ex.request;
  std::string_view scheme = req.scheme;
  if (auto proto = req.headers.get("X-Forwarded-Proto")) {
    if (iequals(*proto, "http") || iequals(*proto, "ws"))
      scheme = "http";
    else if (iequals(*proto, "https") || iequals(*proto, "wss"))
      scheme = "https";
  }
  auto [host, port] = split_authority(req.authority);
  if (is_default_port(scheme, port)) port = {};
  const std::string target = req.target();

  std::string current;
  current.reserve(scheme.size() + 3 + req.authority.size() + target.size());
  current.append(scheme).append("://").append(host).append(port).append(target);
  std::string wanted;
  wanted.reserve(scheme_.size() + 3 + host.size() + port_suffix_.size() + target.size());
  wanted.append(scheme_).append("://").append(host).append(port_suffix_).append(target);

  if (current == wanted) {
    co_await next_->handle(ex);
    co_return;
  }
  co_await send_redirect(ex, wanted, permanent_);
}

Wrap build_redirect_scheme(config::Decoder& dec, BuildContext&) {
  ErrorMark mark(dec);
  std::string scheme, port;
  bool permanent = false;
  dec.get("scheme", scheme);
  dec.get("port", port);
  dec.get("permanent", permanent);
  dec.finish();
  if (scheme.empty())
    dec.fail("scheme", "is required (the target scheme, e.g. https)");
  else if (!is_scheme(scheme))
    dec.fail("scheme", "invalid URL scheme \"" + scheme + "\"");
  std::string port_suffix;
  if (!port.empty()) {
    auto n = parse_uint(port);
    if (!n || *n == 0 || *n > 65535)
      dec.fail("port", "must be a port number (1-65535), got \"" + port + "\"");
    else
      port_suffix = ":" + port;
  }
  if (is_default_port(scheme, port_suffix)) port_suffix.clear();
  if (!mark.clean()) return {};
  return [scheme = std::move(scheme), port_suffix = std::move(port_suffix),
          permanent](HandlerPtr next) -> HandlerPtr {
    return std::make_shared<const RedirectScheme>(scheme, port_suffix, permanent, std::move(next));
  };
}

}  // namespace turnpike::middleware
