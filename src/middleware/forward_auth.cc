#include "middleware/forward_auth.h"

#include <algorithm>
#include <cctype>

#include "common/strings.h"
#include "http/head_editor.h"
#include "middleware/decode_support.h"
#include "middleware/http_client.h"
#include "middleware/local_reply.h"
#include "service/writers.h"

namespace turnpike::middleware {
namespace {

bool listed(const std::vector<std::string>& names, std::string_view name) {
  return std::any_of(names.begin(), names.end(), [&](const auto& n) { return iequals(n, name); });
}

// Sets `name` on `headers` from the trusted client value or `fallback`.
void forwarded(http::HeaderMap& out, const http::HeaderMap& in, bool trust, std::string_view name,
               std::string_view fallback) {
  auto client = in.get(name);
  if (trust && client && !client->empty())
    out.set(name, *client);
  else if (!fallback.empty())
    out.set(name, fallback);
  else
    out.remove(name);
}

// The name of a Set-Cookie field value ("a=b; Path=/" -> "a").
std::string_view cookie_name(std::string_view set_cookie) {
  return trim(set_cookie.substr(0, std::min(set_cookie.find('='), set_cookie.find(';'))));
}

} // namespace

std::string canonical_header_key(std::string_view name) {
  std::string out(name);
  bool upper = true;
  for (char& c : out) {
    c = upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c)))
              : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    upper = c == '-';
  }
  return out;
}

std::string ForwardAuthOptions::location(std::string_view value) const {
  if (preserve_location_header || value.empty())
    return std::string(value);
  const size_t colon = value.find(':');
  const size_t slash = value.find('/');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon < slash))
    return std::string(value); // absolute
  const std::string& scheme = client->scheme();
  if (value.substr(0, 2) == "//")
    return scheme + ":" + std::string(value);
  const std::string origin = scheme + "://" + client->authority();
  if (value.front() == '/')
    return origin + std::string(value);
  // Relative path: against the address's directory.
  const std::string& path = client->path();
  return origin + path.substr(0, path.rfind('/') + 1) + std::string(value);
}

ForwardAuth::ForwardAuth(std::shared_ptr<const ForwardAuthOptions> options, HandlerPtr next)
    : options_(std::move(options)), next_(std::move(next)) {}

http::Task<void> ForwardAuth::handle(http::Exchange& ex) const {
  const ForwardAuthOptions& o = *options_;
  http::Request& req = ex.request;

  // The body, when it goes to the auth server too, is read first and replayed afterwards.
  std::string body_copy;
  if (o.forward_body) {
    auto [err, whole] = co_await service::buffer_body(ex.body, body_copy, o.max_body_size);
    if (err) {
      co_await http::send_error(ex, err);
      co_return;
    }
    if (!whole) {
      ex.close_connection = true; // the rest of the body was not read
      co_await reply(ex, 401, status_text(401));
      co_return;
    }
  }

  http::Request auth;
  auth.method = o.preserve_request_method ? req.method : "GET";
  auth.client_addr = req.client_addr;
  auth.client_port = req.client_port;
  auth.entrypoint = req.entrypoint;
  for (const auto& h : req.headers) {
    if (iequals(h.name, "Host") || iequals(h.name, "Content-Length") ||
        iequals(h.name, "Transfer-Encoding"))
      continue;
    if (!o.auth_request_headers.empty() && !listed(o.auth_request_headers, h.name))
      continue;
    auth.headers.add(h.name, h.value);
  }
  const std::string client_ip = req.client_addr.to_string();
  std::string xff = client_ip;
  if (o.trust_forward_header) {
    auto prior = req.headers.values("X-Forwarded-For");
    if (!prior.empty()) {
      std::string joined;
      for (auto v : prior)
        joined += std::string(v) + ", ";
      xff = joined + client_ip;
    }
  }
  auth.headers.set("X-Forwarded-For", xff);
  forwarded(auth.headers, req.headers, o.trust_forward_header, "X-Forwarded-Method", req.method);
  forwarded(auth.headers, req.headers, o.trust_forward_header, "X-Forwarded-Proto", req.scheme);
  if (o.trust_forward_header) {
    if (auto port = req.headers.get("X-Forwarded-Port"))
      auth.headers.set("X-Forwarded-Port", *port);
  }
  forwarded(auth.headers, req.headers, o.trust_forward_header, "X-Forwarded-Host", req.authority);
  forwarded(auth.headers, req.headers, o.trust_forward_header, "X-Forwarded-Uri", req.target());

  auto answer = co_await o.client->call(ex, std::move(auth), body_copy);
  if (!answer) {
    co_await reply(ex, 500, status_text(500));
    co_return;
  }
  const http::Response& a = answer->head;
  if (a.status < 200 || a.status >= 300) {
    // Refused: the auth server's answer goes to the client.
    http::Response head;
    head.status = a.status;
    for (const auto& h : a.headers) {
      if (iequals(h.name, "Content-Length") || iequals(h.name, "Transfer-Encoding"))
        continue;
      head.headers.add(h.name, iequals(h.name, "Location") ? o.location(h.value) : h.value);
    }
    co_await reply(ex, a.status, answer->body, &head.headers);
    co_return;
  }

  // Granted: copy the chosen answer headers onto the request.
  for (const auto& name : o.auth_response_headers) {
    req.headers.remove(name);
    for (auto v : a.headers.values(name))
      req.headers.add(canonical_header_key(name), v);
  }
  if (o.auth_response_headers_regex) {
    const auto& re = *o.auth_response_headers_regex;
    req.headers.remove_if(
        [&](const http::Header& h) { return re.matches(canonical_header_key(h.name)); });
    for (const auto& h : a.headers)
      if (re.matches(canonical_header_key(h.name)))
        req.headers.add(canonical_header_key(h.name), h.value);
  }
  if (!o.header_field.empty()) {
    if (auto user = a.headers.get(o.header_field))
      ex.username = std::string(*user);
  }

  std::vector<std::string> cookies;
  for (auto v : a.headers.values("Set-Cookie"))
    if (listed(o.add_auth_cookies_to_response, cookie_name(v)))
      cookies.emplace_back(v);

  service::BufferBodyReader replay(body_copy, static_cast<int64_t>(body_copy.size()), nullptr,
                                   ex.body.trailers());
  std::optional<http::Exchange> replayed;
  http::Exchange* target = &ex;
  if (o.forward_body) {
    req.chunked = false;
    if (req.has_body() || !body_copy.empty())
      req.content_length = static_cast<int64_t>(body_copy.size());
    replayed.emplace(http::derive_exchange(ex, req, replay));
    target = &*replayed;
  }
  if (cookies.empty()) {
    co_await next_->handle(*target);
  } else {
    // The auth cookies replace the backend's cookies of the same names.
    auto add_cookies = [&cookies](http::Response& head) {
      head.headers.remove_if([&](const http::Header& h) {
        if (!iequals(h.name, "Set-Cookie"))
          return false;
        const auto name = cookie_name(h.value);
        return std::any_of(cookies.begin(), cookies.end(),
                           [&](const std::string& c) { return cookie_name(c) == name; });
      });
      for (const auto& c : cookies)
        head.headers.add("Set-Cookie", c);
    };
    http::HeadEditingWriter<decltype(add_cookies)> writer(*target->writer, add_cookies);
    http::WriterScope scope(*target, writer);
    co_await next_->handle(*target);
  }
  if (replayed)
    http::adopt_annotations(ex, *replayed);
}

Wrap build_forward_auth(config::Decoder& dec, BuildContext& ctx) {
  ErrorMark mark(dec);
  auto opts = std::make_shared<ForwardAuthOptions>();
  dec.get("address", opts->address);
  const auto tls = decode_client_tls(dec);
  dec.get("trustForwardHeader", opts->trust_forward_header);
  dec.get("authRequestHeaders", opts->auth_request_headers);
  dec.get("authResponseHeaders", opts->auth_response_headers);
  std::string regex;
  dec.get("authResponseHeadersRegex", regex);
  dec.get("addAuthCookiesToResponse", opts->add_auth_cookies_to_response);
  dec.get("forwardBody", opts->forward_body);
  dec.get("maxBodySize", opts->max_body_size);
  dec.get("preserveRequestMethod", opts->preserve_request_method);
  dec.get("preserveLocationHeader", opts->preserve_location_header);
  dec.get("headerField", opts->header_field);
  dec.finish();
  if (!regex.empty())
    opts->auth_response_headers_regex = compile_regex(dec, "authResponseHeadersRegex", regex);
  for (size_t i = 0; i < opts->auth_response_headers.size(); ++i)
    if (!is_header_name(opts->auth_response_headers[i]))
      dec.fail(item_key("authResponseHeaders", i), "not a header name");
  if (opts->address.empty()) {
    dec.fail("address", "is required");
  } else if (mark.clean()) {
    auto client =
        HttpClient::create(opts->address, tls ? &*tls : nullptr, dec.path(), ctx.workers());
    if (!client)
      dec.fail(tls ? "tls" : "address", client.error().message);
    else
      opts->client = std::move(*client);
  }
  if (!mark.clean())
    return {};
  return [opts = std::shared_ptr<const ForwardAuthOptions>(std::move(opts))](
             HandlerPtr next) -> HandlerPtr {
    return std::make_shared<const ForwardAuth>(opts, std::move(next));
  };
}

} // namespace turnpike::middleware
