#include "service/proxy_http2.h"

#include <variant>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/asio_types.h"
#include "common/log.h"
#include "common/strings.h"
#include "http/forwarded.h"
#include "http/serialize.h"
#include "service/h2_client.h"
#include "service/proxy_http1.h"
#include "service/upstream_dial.h"
#include "service/worker_context.h"

namespace turnpike::service {
namespace {

namespace asio = boost::asio;
using http::ProxyError;
using K = ProxyError::Kind;
constexpr auto kNoThrow = asio::as_tuple(turnpike::use_task);
// Request body handed to nghttp2 ahead of what it has framed.
constexpr size_t kBodyHighWater = 64 * 1024;

// The request as HTTP/2 fields. Names are lower-cased copies; values point into the request
// (nghttp2 copies both when the request is submitted).
class RequestFields {
 public:
  RequestFields(const http::Request& req, const Server& server, bool pass_host) {
    const auto& headers = req.headers;
    names_.reserve(headers.size() + 2);
    nva_.reserve(headers.size() + 8);
    add(":method", req.method);
    add(":scheme", server.scheme == Scheme::kHttps ? "https" : "http");
    std::string_view authority = server.authority;
    if (pass_host && !req.authority.empty()) {
      auto host = headers.get("Host");
      authority = host ? *host : std::string_view(req.authority);
    }
    add(":authority", authority);
    std::string target = server.preserved_target(req);
    if (target.empty()) {
      http::append_request_target(path_, req.path);
      if (req.has_query) {
        path_.push_back('?');
        http::append_request_target(path_, req.query);
      }
    } else {
      http::append_request_target(path_, target);
    }
    add(":path", path_);

    bool xff_done = false;
    for (const auto& h : headers) {
      // Host became :authority; HTTP/2 forbids connection-specific fields; the framing is ours.
      if (iequals(h.name, "host") || http::is_hop_by_hop(h.name) || iequals(h.name, "te") ||
          iequals(h.name, "content-length"))
        continue;
      if (req.append_x_forwarded_for && iequals(h.name, "x-forwarded-for")) {
        if (!xff_done) add_forwarded_for(req);
        xff_done = true;
        continue;
      }
      add_lowered(h.name, h.value);
    }
    if (req.append_x_forwarded_for && !xff_done) add_forwarded_for(req);
    if (!req.chunked && req.content_length >= 0) {
      content_length_ = std::to_string(req.content_length);
    } else if (!req.has_body() &&
               (req.method == "POST" || req.method == "PUT" || req.method == "PATCH")) {
      content_length_.push_back('0');  // as the HTTP/1.1 proxy (and Go) send
    }
    if (!content_length_.empty()) add("content-length", content_length_);
    // gRPC servers require "te: trailers" (security.md 4: only for gRPC-style requests).
    auto type = headers.get("Content-Type");
    if (type && istarts_with(*type, "application/grpc")) add("te", "trailers");
  }

  const std::vector<nghttp2_nv>& nva() const { return nva_; }

 private:
  void add(std::string_view name, std::string_view value) {
    nva_.push_back(nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                              reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())),
                              name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
  }
  void add_lowered(std::string_view name, std::string_view value) {
    names_.push_back(to_lower(name));  // reserved: the strings do not move
    add(names_.back(), value);
  }
  void add_forwarded_for(const http::Request& req) {
    http::append_forwarded_for(forwarded_for_, req);
    add("x-forwarded-for", forwarded_for_);
  }

  std::vector<std::string> names_;
  std::vector<nghttp2_nv> nva_;
  std::string path_;
  std::string content_length_;
  std::string forwarded_for_;
};

ProxyError stream_error(const H2Stream& s) {
  if (s.refused) return ProxyError{K::kUpstreamClosed, "request refused by the upstream", true};
  if (!s.failure.empty()) return ProxyError{K::kUpstreamClosed, "HTTP/2 connection: " + s.failure};
  return ProxyError{K::kUpstreamClosed, std::string("stream reset by the upstream: ") +
                                            nghttp2_http2_strerror(s.error_code)};
}

// gRPC's "Trailers-Only" answer (an error without messages) puts grpc-status in the response
// head, ended by END_STREAM. Not every client writer can end a stream with its head (HTTP/2
// writers may follow it with an empty DATA frame, which gRPC clients reject, and HTTP/1.1
// clients read the status from trailers), so the status moves to trailers: head, no message,
// trailers is the other form the gRPC protocol defines.
void move_grpc_status_to_trailers(http::HeaderMap& head, http::HeaderMap& trailers) {
  auto type = head.get("content-type");
  if (!type || !istarts_with(*type, "application/grpc") || !head.has("grpc-status")) return;
  for (std::string_view name : {"grpc-status", "grpc-message", "grpc-status-details-bin"}) {
    for (const auto& h : head)
      if (iequals(h.name, name)) trailers.add(h.name, h.value);
    head.remove(name);
  }
}

// What an exchange whose coroutine was cancelled (its client went away) reports.
ProxyError cancelled() { return ProxyError{K::kDownstreamClosed, "exchange cancelled"}; }

// Keeps a stream attached to its connection for the lifetime of one attempt.
class Attachment {
 public:
  Attachment(std::shared_ptr<H2ClientConnection> conn, H2Stream& s)
      : conn_(std::move(conn)), stream_(s) {
    conn_->attach(stream_);
  }
  ~Attachment() { conn_->detach(stream_); }
  Attachment(const Attachment&) = delete;
  Attachment& operator=(const Attachment&) = delete;
  H2ClientConnection& conn() { return *conn_; }

 private:
  std::shared_ptr<H2ClientConnection> conn_;
  H2Stream& stream_;
};

class Attempt {
 public:
  Attempt(http::Exchange& ex, const Server& server, const TransportOptions& transport,
          bool pass_host)
      : ex_(ex), server_(server), transport_(transport), pass_host_(pass_host),
        ctx_(*ex.worker), stream_(*ex.executor),
        header_deadline_(ctx_.deadlines, [this] {
          stream_.timed_out = true;
          stream_.response_event.notify();
        }) {}

  // Runs the exchange on a pooled HTTP/2 connection or a new one. `retry` is set when the
  // request did not reach the upstream application and may be sent again.
  http::Task<ProxyError> run(bool& retry);

 private:
  http::Task<ProxyError> exchange(H2ClientConnection& conn, bool reused, bool& retry);
  http::Task<ProxyError> send_body(H2ClientConnection& conn);
  http::Task<ProxyError> receive_response(H2ClientConnection& conn);
  void arm_header_timeout() {
    if (transport_.response_header_timeout.count() > 0)
      header_deadline_.expire_after(
          std::chrono::duration_cast<Clock::duration>(transport_.response_header_timeout));
  }

  http::Exchange& ex_;
  const Server& server_;
  const TransportOptions& transport_;
  bool pass_host_;
  WorkerContext& ctx_;
  H2Stream stream_;
  Deadline header_deadline_;  // responseHeaderTimeout
};

http::Task<ProxyError> Attempt::run(bool& retry) {
  for (;;) {
    auto conn = ctx_.h2_pools.find(server_.pool_key);
    if (!conn && server_.scheme == Scheme::kHttps && ctx_.pools.has_idle(server_.pool_key)) {
      // This server chose HTTP/1.1 in ALPN before: use the pooled HTTP/1.1 connection.
      co_return co_await forward_http1(ex_, server_, transport_, pass_host_);
    }
    if (!conn) break;
    Attachment attached(conn, stream_);
    bool ready = co_await conn->wait_ready();
    if (!ready) co_return cancelled();
    if (conn->state() == H2ClientConnection::State::kFallbackHttp1)
      co_return co_await forward_http1(ex_, server_, transport_, pass_host_);
    if (conn->state() != H2ClientConnection::State::kReady) {
      auto err = conn->connect_error();
      if (!err) err = ProxyError{K::kUpstreamConnect, "connection closed", true};
      co_return err;
    }
    // Attached while the server's stream limit was unknown and beyond it: look again.
    if (!conn->admits(stream_)) continue;
    co_return co_await exchange(*conn, true, retry);
  }

  // Dial: the connection is in the pool while it connects, so concurrent exchanges wait for it
  // rather than each dialling their own.
  auto conn = std::make_shared<H2ClientConnection>(ctx_, server_.pool_key, transport_);
  ctx_.h2_pools.add(conn);
  Attachment attached(conn, stream_);
  std::unique_ptr<UpstreamConnection> io;
  Alpn alpn = server_.scheme == Scheme::kHttps ? Alpn::kH2Http11 : Alpn::kNone;
  auto err = co_await dial_upstream(ctx_, server_, transport_, alpn, io);
  if (err) {
    conn->abandon(H2ClientConnection::State::kClosed, err);
    co_return err;
  }
  if (server_.scheme == Scheme::kHttps && negotiated_protocol(*io) != "h2") {
    conn->abandon(H2ClientConnection::State::kFallbackHttp1, ProxyError::none());
    co_return co_await forward_http1(ex_, server_, transport_, pass_host_, std::move(io));
  }
  conn->start(std::move(io));
  co_return co_await exchange(*conn, false, retry);
}

http::Task<ProxyError> Attempt::exchange(H2ClientConnection& conn, bool reused, bool& retry) {
  const auto& req = ex_.request;
  stream_.canonical_names = req.version != http::Version::kHttp2;
  bool with_body = req.has_body();
  RequestFields fields(req, server_, pass_host_);
  if (!conn.submit(stream_, fields.nva(), with_body)) {
    retry = stream_.refused;
    co_return stream_error(stream_);
  }
  ProxyError err;
  if (with_body) {
    using namespace asio::experimental::awaitable_operators;
    // Both directions at once; send_body only returns early on a client failure, so the race
    // ends when the response is complete (or failed), and then cancels the body pump.
    try {
      auto r = co_await (send_body(conn) || receive_response(conn));
      err = std::visit([](ProxyError& e) { return std::move(e); }, r);
    } catch (const boost::system::system_error& e) {
      // The exchange itself was cancelled (the client reset its HTTP/2 stream): the race
      // reports that as the winner's exception. Errors are values on the request path.
      err = ProxyError{K::kDownstreamClosed, std::string("exchange cancelled: ") + e.what()};
      conn.reset(stream_, NGHTTP2_CANCEL);
    }
  } else {
    arm_header_timeout();
    err = co_await receive_response(conn);
  }
  header_deadline_.clear();
  if (err && !ex_.writer->head_written() && ex_.body.consumed() == 0 &&
      !stream_.head_complete) {
    // Not processed (refused) or lost with a reused connection before any answer: the request
    // may go again on another connection (as a stale HTTP/1.1 connection is retried).
    retry = stream_.refused || (reused && !stream_.failure.empty());
  }
  co_return err;
}

http::Task<ProxyError> Attempt::send_body(H2ClientConnection& conn) {
  for (;;) {
    while (!stream_.closed && stream_.body.size() - stream_.body_sent >= kBodyHighWater) {
      bool woken = co_await stream_.send_event.wait();
      if (!woken) {
        conn.reset(stream_, NGHTTP2_CANCEL);
        co_return cancelled();
      }
    }
    if (stream_.closed) break;
    auto [err, data] = co_await ex_.body.read();
    if (err) {
      conn.reset(stream_, NGHTTP2_CANCEL);
      co_return err;
    }
    if (data.empty()) {
      stream_.body_end = true;
      stream_.body_trailers = ex_.body.trailers();
      conn.resume_body(stream_);
      arm_header_timeout();  // Go's responseHeaderTimeout starts once the request is written
      break;
    }
    stream_.body.append(data.data(), data.size());
    conn.resume_body(stream_);
  }
  // The response decides when the exchange ends: wait to be cancelled by it.
  turnpike::SteadyTimer forever(*ex_.executor, turnpike::SteadyTimer::time_point::max());
  co_await forever.async_wait(kNoThrow);
  co_return ProxyError::none();
}

http::Task<ProxyError> Attempt::receive_response(H2ClientConnection& conn) {
  auto& s = stream_;
  while (!s.head_complete && !s.closed && !s.timed_out) {
    bool woken = co_await s.response_event.wait();
    if (!woken) {
      conn.reset(s, NGHTTP2_CANCEL);
      co_return cancelled();
    }
  }
  if (!s.head_complete) {
    if (s.timed_out) {
      conn.reset(s, NGHTTP2_CANCEL);
      co_return ProxyError{K::kUpstreamTimeout, "timeout awaiting response headers"};
    }
    co_return stream_error(s);
  }
  header_deadline_.clear();
  http::Response& resp = s.response;
  http::strip_hop_by_hop(resp.headers);
  if (s.end_stream && s.data.empty()) move_grpc_status_to_trailers(resp.headers, s.trailers);
  ex_.status = resp.status;
  if (auto err = co_await ex_.writer->write_head(resp)) co_return err;
  if (ex_.request.method == "HEAD" || resp.status == 204 || resp.status == 304) {
    // No body can follow (whatever the upstream does next): the response is complete.
    auto finished = co_await ex_.writer->finish();
    if (finished) ex_.close_connection = true;
    co_return ProxyError::none();
  }

  std::string piece;
  for (;;) {
    if (!s.data.empty()) {
      piece.swap(s.data);
      auto err = co_await ex_.writer->write_body(piece);
      conn.consume(s, piece.size());  // the window reopens as the client takes the data
      piece.clear();
      if (err) {
        ex_.close_connection = true;
        co_return ProxyError::none();
      }
      continue;
    }
    if (s.end_stream) break;
    if (s.closed) {
      // Reset or lost after the head: the client sees a truncated response.
      log::get("upstream")->debug("{}: response truncated: {}", server_.url,
                                  stream_error(s).detail);
      ex_.close_connection = true;
      co_return ProxyError::none();
    }
    bool woken = co_await s.response_event.wait();
    if (!woken) {
      conn.reset(s, NGHTTP2_CANCEL);
      ex_.close_connection = true;
      co_return ProxyError::none();  // the head went out; the client is gone anyway
    }
  }
  ProxyError finished;
  if (!s.trailers.empty())
    finished = co_await ex_.writer->finish_with_trailers(s.trailers);
  else
    finished = co_await ex_.writer->finish();
  if (finished) ex_.close_connection = true;
  co_return ProxyError::none();
}

}  // namespace

bool use_http2(const http::Exchange& ex, const Server& server, const TransportOptions& transport) {
  if (ex.request.upgrade_websocket) return false;
  if (server.scheme == Scheme::kH2c) return true;
  return server.scheme == Scheme::kHttps && !transport.disable_http2;
}

http::Task<ProxyError> forward_http2(http::Exchange& ex, const Server& server,
                                     const TransportOptions& transport, bool pass_host_header) {
  bool retry = false;
  {
    Attempt first(ex, server, transport, pass_host_header);
    auto err = co_await first.run(retry);
    if (!err || !retry) co_return err;
  }
  Attempt second(ex, server, transport, pass_host_header);
  bool ignored = false;
  co_return co_await second.run(ignored);
}

}  // namespace turnpike::service
