#include "middleware/local_reply.h"

#include <cctype>

#include <string>

namespace turnpike::middleware {

std::string_view status_text(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";
    case 208: return "Already Reported";
    case 226: return "IM Used";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 305: return "Use Proxy";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Request Entity Too Large";
    case 414: return "Request URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Requested Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 418: return "I'm a teapot";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Entity";
    case 423: return "Locked";
    case 424: return "Failed Dependency";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 506: return "Variant Also Negotiates";
    case 507: return "Insufficient Storage";
    case 508: return "Loop Detected";
    case 510: return "Not Extended";
    case 511: return "Network Authentication Required";
    default: return {};
  }
}

http::Task<void> reply(http::Exchange& ex, int status, std::string_view body,
                       const http::HeaderMap* headers) {
  // Not `if (co_await ...) ex.close_connection = true;`: GCC 12.2 miscompiles a co_await in an
  // if-condition whose branch writes through a reference parameter (the frame is corrupted and the
  // coroutine crashes before the awaited call runs).
  const http::ProxyError err = co_await http::send_response(ex, status, body, headers);
  if (err) ex.close_connection = true;
}

int redirect_status(std::string_view method, bool permanent) {
  const bool safe = method == "GET" || method == "HEAD";
  if (permanent) return safe ? 301 : 308;
  return safe ? 302 : 307;
}

http::Task<void> send_redirect(http::Exchange& ex, std::string_view location, bool permanent) {
  const int status = redirect_status(ex.request.method, permanent);
  http::HeaderMap headers;
  headers.set("Location", encode_location(location));
  co_await reply(ex, status, status_text(status), &headers);
}

std::string encode_location(std::string_view location) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(location.size());
  for (unsigned char c : location) {
    const bool bad = c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == '\\' ||
                     c == '^' || c == '`' || c == '{' || c == '|' || c == '}';
    if (!bad) {
      out.push_back(static_cast<char>(c));
      continue;
    }
    out.push_back('%');
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  return out;
}

bool is_header_name(std::string_view name) {
  if (name.empty()) return false;
  for (unsigned char c : name) {
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (alnum) continue;
    switch (c) {
      case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
      case '.': case '^': case '_': case '`': case '|': case '~':
        continue;
      default:
        return false;
    }
  }
  return true;
}

bool is_header_value(std::string_view value) {
  for (unsigned char c : value) {
    if (c == '\t') continue;
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

std::string query_escape(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else if (c == ' ') {
      out.push_back('+');
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

http::Task<void> reply_unauthorized(http::Exchange& ex, std::string_view challenge) {
  http::HeaderMap headers;
  headers.set("WWW-Authenticate", challenge);
  headers.set("Content-Type", "text/plain");
  co_await reply(ex, 401, "401 Unauthorized\n", &headers);
}

}  // namespace turnpike::middleware
