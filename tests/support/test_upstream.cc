// test_upstream: a small, fast HTTP/1.1 upstream server for the integration tests
// (tests/integration). One binary whose behaviour is chosen by the request path, so a test needs
// no other server.
//
//   test_upstream --listen 127.0.0.1:PORT [--name NAME] [--record FILE]
//
// PORT 0 lets the kernel choose; the chosen port is printed as `listening <port>` (flushed).
// SIGTERM/SIGINT stop the server and the process exits 0.
//
// Behaviour (keywords are looked for in any path segment, so `/api/delay/100` works behind a
// PathPrefix router without stripPrefix; several may be combined: `/delay/100/status/201`):
//   default        200, JSON echo of the request (see write_echo_json)
//   /status/NNN    answer with status NNN (the body is still the JSON echo, except 1xx/204/304)
//   /delay/MS      wait MS milliseconds before answering
//   /bytes/N       N bytes of the pattern (byte i = i % 251), Content-Length
//   /chunked/N     the same N bytes, Transfer-Encoding: chunked (chunk size ?chunk=, default 16384)
//   /close         answer with `Connection: close`, then close the connection
//   /drop          read the request and its body, then close the connection without answering
//                  (an upstream that fails after the request reached it)
//   /ws            WebSocket handshake (101 + Sec-WebSocket-Accept), then echo every frame
//   /ws-refuse     answer 400 to the upgrade and stay in HTTP
//   /_stats        JSON {connections, requests, bytes_received, app_requests, posts,
//                  health_requests} for this process (app_requests: all but /_stats, /_health
//                  and /_set_health; posts: POST requests among them)
//   /_health       answer with the status set by /_set_health (200 at start): a health check
//                  endpoint a test can make fail and recover
//   /_set_health/NNN  set that status
//   /sse/N/MS      a server-sent event stream: the head at once, then N events MS apart (the
//                  first one after MS too), chunked
// Query `h=Name:Value` (repeatable) adds a response header (replacing the generated one of that
// name, e.g. Content-Type; `h=Name:` with no value removes it); `t=Name:Value` (repeatable) a
// trailer field after a /chunked/N body.
// Every response carries `X-Upstream-Name`, `X-Conn-Id` and `X-Conn-Request` (1-based index of the
// request on its connection), and for generated bodies `X-Body-Sha256`.
//
// Request bodies are always read fully (Content-Length or chunked) and hashed, never stored.
// `Expect: 100-continue` gets an interim `100 Continue` before the body is read.
// `--record FILE` appends every raw byte received on every connection to FILE (unbuffered write
// per read), for the "zero bytes reach the upstream" assertions.
//
// Requests on one connection are handled strictly in order (pipelining-safe).

#include <openssl/evp.h>

#include <boost/asio.hpp>

#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <strings.h>
#include <fcntl.h>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

namespace {

constexpr size_t kMaxHeaderBytes = 1 << 20;
constexpr size_t kPatternPeriod = 251;
constexpr size_t kMaxWrite = kPatternPeriod * 256;  // 64256 bytes, a multiple of the period

struct Globals {
  std::string name = "upstream";
  int record_fd = -1;
  uint64_t connections = 0;
  uint64_t requests = 0;
  uint64_t app_requests = 0;
  uint64_t posts = 0;
  uint64_t health_requests = 0;
  int health_status = 200;
  uint64_t bytes_received = 0;
  std::string pattern;  // kMaxWrite + kPatternPeriod bytes of the body pattern
};
Globals g;

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// True if the comma-separated list `value` contains `token` (case-insensitive).
bool list_has(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    size_t c = value.find(',');
    std::string_view item = trim(value.substr(0, c));
    if (iequals(item, token)) return true;
    if (c == std::string_view::npos) break;
    value.remove_prefix(c + 1);
  }
  return false;
}

std::optional<uint64_t> parse_u64(std::string_view s, int base = 10) {
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string hex(const unsigned char* d, size_t n) {
  static const char* k = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(k[d[i] >> 4]);
    out.push_back(k[d[i] & 15]);
  }
  return out;
}

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view s) { EVP_DigestUpdate(ctx_, s.data(), s.size()); }
  std::string hex_digest() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_, md, &n);
    return hex(md, n);
  }

 private:
  EVP_MD_CTX* ctx_;
};

std::string pattern_sha256(uint64_t n) {
  Sha256 h;
  uint64_t off = 0;
  while (off < n) {
    size_t len = static_cast<size_t>(std::min<uint64_t>(kMaxWrite, n - off));
    h.update(std::string_view(g.pattern).substr(off % kPatternPeriod, len));
    off += len;
  }
  return h.hex_digest();
}

std::string websocket_accept(std::string_view key) {
  std::string in(key);
  in += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(in.data(), in.size(), md, &n, EVP_sha1(), nullptr);
  unsigned char out[64];
  int len = EVP_EncodeBlock(out, md, static_cast<int>(n));
  return std::string(reinterpret_cast<char*>(out), static_cast<size_t>(len));
}

void json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          // Bytes are reported as code points U+0000..U+00FF (latin-1), so any input gives JSON.
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

const char* reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
  }
}

struct Request {
  std::string method;
  std::string target;
  std::string version;
  std::vector<std::pair<std::string, std::string>> headers;
  uint64_t body_length = 0;
  std::string body_sha256;

  const std::string* header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (iequals(k, name)) return &v;
    return nullptr;
  }
  bool has_token(std::string_view name, std::string_view token) const {
    for (const auto& [k, v] : headers)
      if (iequals(k, name) && list_has(v, token)) return true;
    return false;
  }
};

// What the path asks for.
struct Plan {
  int status = 200;
  uint64_t delay_ms = 0;
  std::optional<uint64_t> bytes;
  std::optional<uint64_t> chunked;
  size_t chunk_size = 16384;
  bool close = false;
  bool drop = false;
  bool ws = false;
  bool ws_refuse = false;
  bool stats = false;
  bool health = false;
  std::optional<uint64_t> set_health;
  std::optional<uint64_t> sse_events;
  uint64_t sse_interval_ms = 0;
  std::vector<std::pair<std::string, std::string>> extra_headers;
  std::vector<std::pair<std::string, std::string>> trailers;  // after a chunked body
};

std::string percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      if (auto v = parse_u64(s.substr(i + 1, 2), 16)) {
        out.push_back(static_cast<char>(*v));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i] == '+' ? ' ' : s[i]);
  }
  return out;
}

Plan make_plan(std::string_view target) {
  Plan p;
  std::string_view path = target, query;
  if (size_t q = target.find('?'); q != std::string_view::npos) {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
  std::vector<std::string_view> segs;
  while (!path.empty()) {
    size_t s = path.find('/');
    if (s == std::string_view::npos) {
      segs.push_back(path);
      break;
    }
    if (s > 0) segs.push_back(path.substr(0, s));
    path.remove_prefix(s + 1);
  }
  for (size_t i = 0; i < segs.size(); ++i) {
    std::string_view s = segs[i];
    std::optional<uint64_t> arg;
    if (i + 1 < segs.size()) arg = parse_u64(segs[i + 1]);
    if (s == "status" && arg && *arg >= 100 && *arg <= 999) {
      p.status = static_cast<int>(*arg);
      ++i;
    } else if (s == "delay" && arg) {
      p.delay_ms = *arg;
      ++i;
    } else if (s == "bytes" && arg) {
      p.bytes = *arg;
      ++i;
    } else if (s == "chunked" && arg) {
      p.chunked = *arg;
      ++i;
    } else if (s == "close") {
      p.close = true;
    } else if (s == "drop") {
      p.drop = true;
    } else if (s == "ws") {
      p.ws = true;
    } else if (s == "ws-refuse") {
      p.ws_refuse = true;
    } else if (s == "_stats") {
      p.stats = true;
    } else if (s == "_health") {
      p.health = true;
    } else if (s == "_set_health" && arg) {
      p.set_health = *arg;
      ++i;
    } else if (s == "sse" && arg) {
      p.sse_events = *arg;
      ++i;
      if (i + 1 < segs.size()) {
        if (auto ms = parse_u64(segs[i + 1])) {
          p.sse_interval_ms = *ms;
          ++i;
        }
      }
    }
  }
  while (!query.empty()) {
    size_t a = query.find('&');
    std::string_view kv = query.substr(0, a);
    size_t e = kv.find('=');
    if (e != std::string_view::npos) {
      std::string_view k = kv.substr(0, e), v = kv.substr(e + 1);
      if (k == "h" || k == "t") {
        std::string dv = percent_decode(v);
        auto& list = k == "h" ? p.extra_headers : p.trailers;
        if (size_t c = dv.find(':'); c != std::string::npos && c > 0)
          list.emplace_back(dv.substr(0, c), std::string(trim(dv.substr(c + 1))));
      } else if (k == "chunk") {
        if (auto n = parse_u64(v); n && *n > 0) p.chunk_size = static_cast<size_t>(*n);
      }
    }
    if (a == std::string_view::npos) break;
    query.remove_prefix(a + 1);
  }
  return p;
}

class Connection {
 public:
  Connection(tcp::socket sock, uint64_t id) : sock_(std::move(sock)), id_(id) {
    boost::system::error_code ec;
    auto ep = sock_.remote_endpoint(ec);
    if (!ec) {
      peer_ip_ = ep.address().to_string();
      peer_port_ = ep.port();
    }
    sock_.set_option(tcp::no_delay(true), ec);
  }

  awaitable<void> run() {
    for (;;) {
      Request req;
      int err = co_await read_head(req);
      if (err == -1) co_return;  // clean EOF between requests, or a read error
      if (err != 0) {
        co_await send_simple(err, "bad request head\n", true);
        co_return;
      }
      ++n_requests_;
      ++g.requests;
      Plan plan = make_plan(req.target);
      if (plan.health || plan.set_health) {
        ++g.health_requests;
      } else if (!plan.stats) {
        ++g.app_requests;
        if (req.method == "POST") ++g.posts;
      }

      if (plan.ws && req.has_token("Upgrade", "websocket")) {
        co_await websocket(req);
        co_return;
      }

      if (req.has_token("Expect", "100-continue") && request_has_body(req)) {
        std::string cont = "HTTP/1.1 100 Continue\r\n\r\n";
        auto [ec, n] = co_await asio::async_write(sock_, asio::buffer(cont), use_nothrow);
        if (ec) co_return;
      }
      int body_err = co_await read_body(req);
      if (body_err == -1) co_return;
      if (body_err != 0) {
        co_await send_simple(body_err, "bad request body\n", true);
        co_return;
      }

      if (plan.drop)
        co_return; // the socket closes with the connection's frame
      bool close = plan.close || wants_close(req);
      if (plan.delay_ms > 0) {
        asio::steady_timer t(sock_.get_executor());
        t.expires_after(std::chrono::milliseconds(plan.delay_ms));
        co_await t.async_wait(use_nothrow);
      }
      bool ok;
      if (plan.ws_refuse) {
        ok = co_await send_echo(req, 400, plan, close);
      } else if (plan.stats) {
        ok = co_await send_stats(req, close);
      } else if (plan.set_health) {
        g.health_status = static_cast<int>(*plan.set_health);
        ok = co_await send_echo(req, 200, plan, close);
      } else if (plan.health) {
        ok = co_await send_echo(req, g.health_status, plan, close);
      } else if (plan.sse_events) {
        ok = co_await send_sse(plan);
        close = true;
      } else if (plan.bytes || plan.chunked) {
        ok = co_await send_pattern(req, plan, close);
      } else {
        ok = co_await send_echo(req, plan.status, plan, close);
      }
      if (!ok || close) {
        boost::system::error_code ec;
        sock_.shutdown(tcp::socket::shutdown_send, ec);
        // Drain briefly so the peer reads our response before a reset can destroy it.
        co_await linger_close();
        co_return;
      }
    }
  }

 private:
  static bool request_has_body(const Request& r) {
    if (const auto* te = r.header("Transfer-Encoding"); te && !te->empty()) return true;
    if (const auto* cl = r.header("Content-Length")) {
      auto n = parse_u64(trim(*cl));
      return n && *n > 0;
    }
    return false;
  }

  static bool wants_close(const Request& r) {
    if (r.has_token("Connection", "close")) return true;
    if (r.version == "HTTP/1.0" && !r.has_token("Connection", "keep-alive")) return true;
    return false;
  }

  // Reads more bytes into buf_. False on EOF or error.
  awaitable<bool> fill() {
    if (pos_ > 0 && pos_ == buf_.size()) {
      buf_.clear();
      pos_ = 0;
    } else if (pos_ > (1 << 20)) {
      buf_.erase(0, pos_);
      pos_ = 0;
    }
    auto [ec, n] = co_await sock_.async_read_some(asio::buffer(rbuf_), use_nothrow);
    if (ec || n == 0) co_return false;
    if (g.record_fd >= 0) {
      size_t off = 0;
      while (off < n) {
        ssize_t w = ::write(g.record_fd, rbuf_.data() + off, n - off);
        if (w <= 0) break;
        off += static_cast<size_t>(w);
      }
    }
    g.bytes_received += n;
    buf_.append(rbuf_.data(), n);
    co_return true;
  }

  // Reads one line ending in CRLF (or LF). Returns nullopt on EOF/limit.
  awaitable<std::optional<std::string>> read_line(size_t limit) {
    for (;;) {
      size_t nl = buf_.find('\n', pos_);
      if (nl != std::string::npos) {
        std::string line = buf_.substr(pos_, nl - pos_);
        pos_ = nl + 1;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        co_return line;
      }
      if (buf_.size() - pos_ > limit) co_return std::nullopt;
      if (!co_await fill()) co_return std::nullopt;
    }
  }

  // 0 = ok, -1 = EOF/IO error (close silently), else an HTTP status to answer with.
  awaitable<int> read_head(Request& req) {
    size_t head_bytes = 0;
    std::optional<std::string> line;
    // Tolerate empty lines before a request (RFC 9112 §2.2).
    do {
      line = co_await read_line(kMaxHeaderBytes);
      if (!line) co_return -1;
    } while (line->empty());
    std::string_view l = *line;
    size_t s1 = l.find(' '), s2 = l.rfind(' ');
    if (s1 == std::string_view::npos || s2 == s1) co_return 400;
    req.method = std::string(l.substr(0, s1));
    req.target = std::string(l.substr(s1 + 1, s2 - s1 - 1));
    req.version = std::string(l.substr(s2 + 1));
    for (;;) {
      line = co_await read_line(kMaxHeaderBytes);
      if (!line) co_return -1;
      if (line->empty()) break;
      head_bytes += line->size() + 2;
      if (head_bytes > kMaxHeaderBytes) co_return 431;
      size_t c = line->find(':');
      if (c == std::string::npos || c == 0) co_return 400;
      req.headers.emplace_back(line->substr(0, c), std::string(trim(std::string_view(*line).substr(c + 1))));
    }
    co_return 0;
  }

  awaitable<int> read_body(Request& req) {
    if (!request_has_body(req)) {
      req.body_length = 0;
      req.body_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
      co_return 0;
    }
    Sha256 h;
    uint64_t total = 0;
    const std::string* te = req.header("Transfer-Encoding");
    if (te && list_has(*te, "chunked")) {
      for (;;) {
        auto line = co_await read_line(65536);
        if (!line) co_return -1;
        std::string_view sz = *line;
        if (size_t semi = sz.find(';'); semi != std::string_view::npos) sz = sz.substr(0, semi);
        auto n = parse_u64(trim(sz), 16);
        if (!n) co_return 400;
        if (*n == 0) {
          for (;;) {  // trailers
            auto t = co_await read_line(65536);
            if (!t) co_return -1;
            if (t->empty()) break;
          }
          break;
        }
        if (!co_await consume(*n, h)) co_return -1;
        total += *n;
        auto crlf = co_await read_line(2);
        if (!crlf) co_return -1;
        if (!crlf->empty()) co_return 400;
      }
    } else if (const std::string* cl = req.header("Content-Length")) {
      auto n = parse_u64(trim(*cl));
      if (!n) co_return 400;
      if (!co_await consume(*n, h)) co_return -1;
      total = *n;
    }
    req.body_length = total;
    req.body_sha256 = h.hex_digest();
    co_return 0;
  }

  awaitable<bool> consume(uint64_t n, Sha256& h) {
    while (n > 0) {
      if (pos_ == buf_.size()) {
        if (!co_await fill()) co_return false;
      }
      size_t take = static_cast<size_t>(std::min<uint64_t>(n, buf_.size() - pos_));
      h.update(std::string_view(buf_).substr(pos_, take));
      pos_ += take;
      n -= take;
    }
    co_return true;
  }

  std::string head(int status, const Plan* plan, bool close,
                   const std::vector<std::pair<std::string, std::string>>& hdrs) {
    std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\n";
    out += "X-Upstream-Name: " + g.name + "\r\n";
    out += "X-Conn-Id: " + std::to_string(id_) + "\r\n";
    out += "X-Conn-Request: " + std::to_string(n_requests_) + "\r\n";
    // An `h=` header replaces the generated field of the same name; an empty `h=` value removes it.
    auto overridden = [&](const std::string& name) {
      if (!plan) return false;
      for (const auto& e : plan->extra_headers)
        if (strcasecmp(e.first.c_str(), name.c_str()) == 0) return true;
      return false;
    };
    for (const auto& [k, v] : hdrs)
      if (!overridden(k)) out += k + ": " + v + "\r\n";
    if (plan)
      for (const auto& [k, v] : plan->extra_headers)
        if (!v.empty()) out += k + ": " + v + "\r\n";
    if (close) out += "Connection: close\r\n";
    return out;
  }

  std::string echo_json(const Request& req) {
    std::string j = "{\"name\":";
    json_string(j, g.name);
    j += ",\"method\":";
    json_string(j, req.method);
    j += ",\"path\":";
    json_string(j, req.target);
    j += ",\"version\":";
    json_string(j, req.version);
    j += ",\"headers\":[";
    for (size_t i = 0; i < req.headers.size(); ++i) {
      if (i) j += ",";
      j += "[";
      json_string(j, req.headers[i].first);
      j += ",";
      json_string(j, req.headers[i].second);
      j += "]";
    }
    j += "],\"body_length\":" + std::to_string(req.body_length);
    j += ",\"body_sha256\":";
    json_string(j, req.body_sha256);
    j += ",\"client\":";
    json_string(j, peer_ip_);
    j += ",\"client_port\":" + std::to_string(peer_port_);
    j += ",\"conn_id\":" + std::to_string(id_);
    j += ",\"conn_request\":" + std::to_string(n_requests_);
    j += "}\n";
    return j;
  }

  awaitable<bool> send_echo(const Request& req, int status, const Plan& plan, bool close) {
    bool no_body = status < 200 || status == 204 || status == 304;
    std::string body = no_body ? "" : echo_json(req);
    std::vector<std::pair<std::string, std::string>> h;
    if (!no_body) {
      h.emplace_back("Content-Type", "application/json");
      h.emplace_back("Content-Length", std::to_string(body.size()));
    }
    std::string out = head(status, &plan, close, h) + "\r\n";
    if (req.method != "HEAD") out += body;
    auto [ec, n] = co_await asio::async_write(sock_, asio::buffer(out), use_nothrow);
    co_return !ec;
  }

  // Server-sent events: the head goes out at once, each event when it is due.
  awaitable<bool> send_sse(const Plan& plan) {
    std::vector<std::pair<std::string, std::string>> h = {
        {"Content-Type", "text/event-stream"}, {"Cache-Control", "no-cache"},
        {"Transfer-Encoding", "chunked"}};
    std::string out = head(200, &plan, true, h) + "\r\n";
    auto [ec, n] = co_await asio::async_write(sock_, asio::buffer(out), use_nothrow);
    if (ec) co_return false;
    asio::steady_timer t(sock_.get_executor());
    for (uint64_t i = 0; i < *plan.sse_events; ++i) {
      t.expires_after(std::chrono::milliseconds(plan.sse_interval_ms));
      co_await t.async_wait(use_nothrow);
      std::string event = "data: event " + std::to_string(i) + "\n\n";
      char size[32];
      std::snprintf(size, sizeof(size), "%zx\r\n", event.size());
      out = size + event + "\r\n";
      std::tie(ec, n) = co_await asio::async_write(sock_, asio::buffer(out), use_nothrow);
      if (ec) co_return false;
    }
    out = "0\r\n\r\n";
    std::tie(ec, n) = co_await asio::async_write(sock_, asio::buffer(out), use_nothrow);
    co_return !ec;
  }

  awaitable<bool> send_stats(const Request& req, bool close) {
    std::string body = "{\"connections\":" + std::to_string(g.connections) +
                       ",\"requests\":" + std::to_string(g.requests) +
                       ",\"bytes_received\":" + std::to_string(g.bytes_received) +
                       ",\"app_requests\":" + std::to_string(g.app_requests) +
                       ",\"posts\":" + std::to_string(g.posts) +
                       ",\"health_requests\":" + std::to_string(g.health_requests) + "}\n";
    std::vector<std::pair<std::string, std::string>> h = {
        {"Content-Type", "application/json"}, {"Content-Length", std::to_string(body.size())}};
    std::string out = head(200, nullptr, close, h) + "\r\n";
    if (req.method != "HEAD") out += body;
    auto [ec, n] = co_await asio::async_write(sock_, asio::buffer(out), use_nothrow);
    co_return !ec;
  }

  awaitable<bool> send_pattern(const Request& req, const Plan& plan, bool close) {
    bool chunked = plan.chunked.has_value();
    uint64_t n = chunked ? *plan.chunked : *plan.bytes;
    std::vector<std::pair<std::string, std::string>> h = {
        {"Content-Type", "application/octet-stream"}, {"X-Body-Sha256", pattern_sha256(n)}};
    if (chunked)
      h.emplace_back("Transfer-Encoding", "chunked");
    else
      h.emplace_back("Content-Length", std::to_string(n));
    std::string out = head(plan.status, &plan, close, h) + "\r\n";
    auto [ec, w] = co_await asio::async_write(sock_, asio::buffer(out), use_nothrow);
    if (ec) co_return false;
    if (req.method == "HEAD") co_return true;
    size_t step = chunked ? std::min(plan.chunk_size, kMaxWrite) : kMaxWrite;
    uint64_t off = 0;
    while (off < n) {
      size_t len = static_cast<size_t>(std::min<uint64_t>(step, n - off));
      std::string_view data = std::string_view(g.pattern).substr(off % kPatternPeriod, len);
      if (chunked) {
        char sz[32];
        int k = std::snprintf(sz, sizeof sz, "%zx\r\n", len);
        std::array<asio::const_buffer, 3> bufs = {asio::buffer(sz, static_cast<size_t>(k)),
                                                  asio::buffer(data), asio::buffer("\r\n", 2)};
        auto [e2, w2] = co_await asio::async_write(sock_, bufs, use_nothrow);
        if (e2) co_return false;
      } else {
        auto [e2, w2] = co_await asio::async_write(sock_, asio::buffer(data), use_nothrow);
        if (e2) co_return false;
      }
      off += len;
    }
    if (chunked) {
      std::string last = "0\r\n";
      for (const auto& [k, v] : plan.trailers) last += k + ": " + v + "\r\n";
      last += "\r\n";
      auto [e3, w3] = co_await asio::async_write(sock_, asio::buffer(last), use_nothrow);
      if (e3) co_return false;
    }
    co_return true;
  }

  awaitable<void> send_simple(int status, std::string_view body, bool close) {
    std::string out = head(status, nullptr, close,
                           {{"Content-Type", "text/plain"},
                            {"Content-Length", std::to_string(body.size())}}) +
                      "\r\n" + std::string(body);
    co_await asio::async_write(sock_, asio::buffer(out), use_nothrow);
    boost::system::error_code ec;
    sock_.shutdown(tcp::socket::shutdown_send, ec);
    co_await linger_close();
  }

  awaitable<void> linger_close() {
    // Read (and record) until the peer closes or 2 s pass, then close.
    asio::steady_timer t(sock_.get_executor());
    t.expires_after(std::chrono::seconds(2));
    t.async_wait([this](boost::system::error_code ec) {
      if (!ec) {
        boost::system::error_code ignored;
        sock_.close(ignored);
      }
    });
    while (co_await fill()) {
      pos_ = buf_.size();
    }
    t.cancel();
    boost::system::error_code ec;
    sock_.close(ec);
  }

  // ---- WebSocket (RFC 6455), server side: echo each frame back unmasked. ----
  awaitable<void> websocket(const Request& req) {
    const std::string* key = req.header("Sec-WebSocket-Key");
    const std::string* ver = req.header("Sec-WebSocket-Version");
    if (!key || key->empty() || !ver || trim(*ver) != "13" || req.method != "GET") {
      co_await send_simple(400, "bad websocket handshake\n", true);
      co_return;
    }
    std::string out = "HTTP/1.1 101 Switching Protocols\r\n"
                      "Upgrade: websocket\r\n"
                      "Connection: Upgrade\r\n"
                      "X-Upstream-Name: " + g.name + "\r\n"
                      "Sec-WebSocket-Accept: " + websocket_accept(trim(*key)) + "\r\n\r\n";
    auto [ec, n] = co_await asio::async_write(sock_, asio::buffer(out), use_nothrow);
    if (ec) co_return;
    for (;;) {
      if (!co_await need(2)) co_return;
      auto b0 = static_cast<unsigned char>(buf_[pos_]);
      auto b1 = static_cast<unsigned char>(buf_[pos_ + 1]);
      bool masked = b1 & 0x80;
      uint64_t len = b1 & 0x7f;
      size_t hdr = 2;
      if (len == 126) hdr += 2;
      if (len == 127) hdr += 8;
      if (masked) hdr += 4;
      if (!co_await need(hdr)) co_return;
      const auto* p = reinterpret_cast<const unsigned char*>(buf_.data() + pos_);
      size_t at = 2;
      if (len == 126) {
        len = (uint64_t{p[2]} << 8) | p[3];
        at = 4;
      } else if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
        at = 10;
      }
      if (len > (64u << 20)) co_return;
      unsigned char mask[4] = {0, 0, 0, 0};
      if (masked) std::memcpy(mask, p + at, 4);
      if (!co_await need(hdr + len)) co_return;
      std::string payload = buf_.substr(pos_ + hdr, len);
      pos_ += hdr + len;
      if (masked)
        for (size_t i = 0; i < payload.size(); ++i) payload[i] ^= static_cast<char>(mask[i % 4]);
      unsigned opcode = b0 & 0x0f;
      unsigned char reply_op = static_cast<unsigned char>(b0);
      if (opcode == 0x9) reply_op = static_cast<unsigned char>((b0 & 0xf0) | 0xA);  // ping → pong
      if (opcode == 0xA) continue;                                                   // ignore pongs
      std::string frame;
      frame.push_back(static_cast<char>(reply_op));
      if (payload.size() < 126) {
        frame.push_back(static_cast<char>(payload.size()));
      } else if (payload.size() < 65536) {
        frame.push_back(static_cast<char>(126));
        frame.push_back(static_cast<char>(payload.size() >> 8));
        frame.push_back(static_cast<char>(payload.size() & 0xff));
      } else {
        frame.push_back(static_cast<char>(127));
        for (int i = 7; i >= 0; --i)
          frame.push_back(static_cast<char>((uint64_t{payload.size()} >> (8 * i)) & 0xff));
      }
      frame += payload;
      auto [e2, w2] = co_await asio::async_write(sock_, asio::buffer(frame), use_nothrow);
      if (e2) co_return;
      if (opcode == 0x8) {  // close: echoed, now close the TCP connection
        boost::system::error_code ignored;
        sock_.shutdown(tcp::socket::shutdown_send, ignored);
        co_await linger_close();
        co_return;
      }
    }
  }

  awaitable<bool> need(size_t n) {
    bool ok = true;
    while (ok && buf_.size() - pos_ < n) {
      ok = co_await fill();
    }
    co_return ok;
  }

  tcp::socket sock_;
  uint64_t id_;
  uint64_t n_requests_ = 0;
  std::string peer_ip_;
  uint16_t peer_port_ = 0;
  std::string buf_;
  size_t pos_ = 0;
  std::array<char, 65536> rbuf_{};
};

awaitable<void> accept_loop(tcp::acceptor& acceptor) {
  for (;;) {
    auto [ec, sock] = co_await acceptor.async_accept(use_nothrow);
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      continue;
    }
    uint64_t id = ++g.connections;
    auto conn = std::make_shared<Connection>(std::move(sock), id);
    asio::co_spawn(
        acceptor.get_executor(), [conn]() -> awaitable<void> { co_await conn->run(); },
        [](std::exception_ptr e) {
          if (e) {
            try {
              std::rethrow_exception(e);
            } catch (const std::exception& ex) {
              std::fprintf(stderr, "test_upstream: connection error: %s\n", ex.what());
            }
          }
        });
  }
}

void usage() {
  std::fprintf(stderr, "usage: test_upstream --listen HOST:PORT [--name NAME] [--record FILE]\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0";
  std::string record;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&](std::string_view flag) -> std::optional<std::string> {
      if (a == flag && i + 1 < argc) return std::string(argv[++i]);
      if (a.size() > flag.size() && a.substr(0, flag.size()) == flag && a[flag.size()] == '=')
        return std::string(a.substr(flag.size() + 1));
      return std::nullopt;
    };
    if (auto v = value("--listen")) {
      listen = *v;
    } else if (auto v2 = value("--name")) {
      g.name = *v2;
    } else if (auto v3 = value("--record")) {
      record = *v3;
    } else {
      usage();
      return 2;
    }
  }
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    usage();
    return 2;
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  auto port = parse_u64(listen.substr(colon + 1));
  if (!port || *port > 65535) {
    usage();
    return 2;
  }
  if (!record.empty()) {
    g.record_fd = ::open(record.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (g.record_fd < 0) {
      std::perror("test_upstream: --record");
      return 1;
    }
  }
  g.pattern.resize(kMaxWrite + kPatternPeriod);
  for (size_t i = 0; i < g.pattern.size(); ++i)
    g.pattern[i] = static_cast<char>(i % kPatternPeriod);

  std::signal(SIGPIPE, SIG_IGN);
  asio::io_context io(1);
  tcp::acceptor acceptor(io);
  try {
    tcp::endpoint ep(asio::ip::make_address(host.empty() ? "0.0.0.0" : host),
                     static_cast<uint16_t>(*port));
    acceptor.open(ep.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(ep);
    acceptor.listen(1024);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "test_upstream: cannot listen on %s: %s\n", listen.c_str(), e.what());
    return 1;
  }
  std::printf("listening %u\n", static_cast<unsigned>(acceptor.local_endpoint().port()));
  std::fflush(stdout);

  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](boost::system::error_code, int) { io.stop(); });
  asio::co_spawn(io, accept_loop(acceptor), asio::detached);
  io.run();
  if (g.record_fd >= 0) ::close(g.record_fd);
  return 0;
}
