#include "middleware/credential_source.h"

#include <optional>
#include <vector>

#include "common/strings.h"

namespace turnpike::middleware {
namespace {

// The value after `name=` in `items` separated by `sep` (query pairs, cookie pairs).
std::optional<std::string_view> pair_value(std::string_view items, char sep,
                                           std::string_view name) {
  for (auto part : split(items, sep)) {
    part = trim(part);
    const size_t eq = part.find('=');
    if (part.substr(0, eq) == name)
      return eq == std::string_view::npos ? "" : part.substr(eq + 1);
  }
  return std::nullopt;
}

// `items` without the `name=...` pairs, joined with `glue`.
std::string without(std::string_view items, char sep, std::string_view glue,
                    std::string_view name) {
  std::string kept;
  for (auto part : split(items, sep)) {
    part = trim(part);
    if (part.empty() || part.substr(0, part.find('=')) == name)
      continue;
    if (!kept.empty())
      kept.append(glue);
    kept.append(part);
  }
  return kept;
}

} // namespace

CredentialSource CredentialSource::decode(config::Decoder& dec) {
  CredentialSource s;
  dec.get("header", s.header);
  dec.get("headerAuthScheme", s.header_auth_scheme);
  dec.get("query", s.query);
  dec.get("cookie", s.cookie);
  dec.finish();
  if (!s.header_auth_scheme.empty() && s.header.empty())
    dec.fail("headerAuthScheme", "needs `header`");
  return s;
}

std::string CredentialSource::find(const http::Request& req) const {
  if (!header.empty()) {
    if (auto v = req.headers.get(header)) {
      std::string_view value = trim(*v);
      if (header_auth_scheme.empty())
        return std::string(value);
      const size_t n = header_auth_scheme.size();
      if (value.size() > n && iequals(value.substr(0, n), header_auth_scheme) && value[n] == ' ')
        return std::string(trim(value.substr(n + 1)));
    }
  }
  if (!query.empty() && req.has_query) {
    if (auto v = pair_value(req.query, '&', query); v && !v->empty())
      return std::string(*v);
  }
  if (!cookie.empty()) {
    for (auto h : req.headers.values("Cookie"))
      if (auto v = pair_value(h, ';', cookie); v && !v->empty())
        return std::string(*v);
  }
  return {};
}

void CredentialSource::strip(http::Request& req) const {
  if (!header.empty())
    req.headers.remove(header);
  if (!query.empty() && req.has_query) {
    req.query = without(req.query, '&', "&", query);
    req.has_query = !req.query.empty();
  }
  if (!cookie.empty()) {
    std::vector<std::string> cookies;
    for (auto h : req.headers.values("Cookie")) {
      std::string kept = without(h, ';', "; ", cookie);
      if (!kept.empty())
        cookies.push_back(std::move(kept));
    }
    req.headers.remove("Cookie");
    for (const auto& c : cookies)
      req.headers.add("Cookie", c);
  }
}

} // namespace turnpike::middleware
