#include "service/proxy_http1.h"

#include <limits>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/asio_types.h"
#include "common/drained_read.h"
#include "common/log.h"
#include "common/read_buffer.h"
#include "common/strings.h"
#include "http/chunked.h"
#include "http/forwarded.h"
#include "http/parser.h"
#include "http/serialize.h"
#include "service/upstream_dial.h"
#include "service/worker_context.h"

namespace turnpike::service {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using http::ProxyError;
using K = ProxyError::Kind;
constexpr auto kNoThrow = asio::as_tuple(turnpike::use_task);
constexpr size_t kMaxResponseHead = 1 << 20;

ProxyError upstream_error(K kind, std::string detail, bool retry_safe = false) {
  return ProxyError{kind, std::move(detail), retry_safe};
}

void serialize_request_head(const http::Request& req, const Server& s, bool pass_host,
                            std::string& out) {
  out.clear();
  http::RequestHeadOptions o;
  std::string target = s.preserved_target(req);
  o.target = target;
  if (!pass_host || req.authority.empty())
    o.host = s.authority;
  if (req.chunked) {
    o.framing = http::BodyFraming::kChunked;
  } else if (req.content_length >= 0) {
    o.framing = http::BodyFraming::kContentLength;
    o.content_length = static_cast<uint64_t>(req.content_length);
  }
  http::serialize_request_head(req, o, out);
}

// The bytes of an upgraded connection, over the upstream's socket or its TLS stream.
template <class Stream> class StreamTunnel final : public http::TunnelStream {
public:
  StreamTunnel(Stream& stream, turnpike::TcpSocket& socket) : stream_(stream), socket_(socket) {}
  http::Task<std::pair<boost::system::error_code, size_t>>
  read_some(asio::mutable_buffer buffer) override {
    auto [ec, n] = co_await turnpike::read_some(stream_, buffer, kNoThrow);
    co_return std::pair{ec, n};
  }
  http::Task<boost::system::error_code> write(asio::const_buffer data) override {
    auto [ec, n] = co_await asio::async_write(stream_, data, kNoThrow);
    co_return ec;
  }
  void shutdown_send() override {
    boost::system::error_code ignored;
    socket_.shutdown(turnpike::TcpSocket::shutdown_send, ignored);
  }

private:
  Stream& stream_;
  turnpike::TcpSocket& socket_;
};

// One attempt over `Stream`: turnpike::TcpSocket for http:// servers, TlsStream for https:// ones.
// The template keeps the plain path free of any per-I/O indirection.
template <class Stream> class Attempt {
public:
  Attempt(http::Exchange& ex, const Server& server, const TransportOptions& transport,
          bool pass_host)
      : ex_(ex), server_(server), transport_(transport), pass_host_(pass_host), ctx_(*ex.worker) {}

  // Runs one attempt on `fresh`, else on a pooled connection (when `allow_pooled`), else on a
  // new one. `stale` is set when a pooled connection turned out to be closed before any response
  // byte arrived and nothing of the request body was consumed (safe to retry).
  http::Task<ProxyError> run(std::unique_ptr<UpstreamConnection> fresh, bool allow_pooled,
                             bool& stale);

private:
  Stream& stream() {
    if constexpr (std::is_same_v<Stream, turnpike::TcpSocket>)
      return conn_->socket;
    else
      return *conn_->tls;
  }
  // The request body, after run() has written the head.
  http::Task<ProxyError> send_request_body();
  http::Task<ProxyError> read_response_head(http::Response& resp, bool& stale);
  http::Task<ProxyError> stream_response_body(const http::Response& resp, bool& reusable);
  http::Task<std::pair<boost::system::error_code, size_t>> read_more();

  http::Exchange& ex_;
  const Server& server_;
  const TransportOptions& transport_;
  bool pass_host_;
  WorkerContext& ctx_;
  std::unique_ptr<UpstreamConnection> conn_;
  bool pooled_ = false;
  http::ChunkedDecoder decoder_; // a chunked response body; keeps its trailer fields
};

template <class Stream> http::Task<ProxyError> Attempt<Stream>::send_request_body() {
  const auto& req = ex_.request;
  boost::system::error_code ec;
  size_t n = 0;
  std::string chunk_head;
  for (;;) {
    auto [err, data] = co_await ex_.body.read();
    if (err)
      co_return err;
    if (data.empty())
      break;
    if (req.chunked) {
      chunk_head.clear();
      http::append_chunk_header(chunk_head, data.size());
      std::array<asio::const_buffer, 3> bufs{asio::buffer(chunk_head), asio::buffer(data),
                                             asio::buffer("\r\n", 2)};
      std::tie(ec, n) = co_await asio::async_write(stream(), bufs, kNoThrow);
    } else {
      std::tie(ec, n) = co_await asio::async_write(stream(), asio::buffer(data), kNoThrow);
    }
    if (ec)
      co_return upstream_error(K::kUpstreamClosed, "write request body: " + ec.message());
  }
  if (req.chunked) {
    // The last chunk, with the client's trailer fields when it sent some.
    conn_->out.clear();
    http::append_last_chunk(conn_->out, ex_.body.trailers());
    std::tie(ec, n) = co_await asio::async_write(stream(), asio::buffer(conn_->out), kNoThrow);
    if (ec)
      co_return upstream_error(K::kUpstreamClosed, "write request body: " + ec.message());
  }
  co_return ProxyError::none();
}

// Reads more bytes into the connection buffer, compacting or growing it as needed.
template <class Stream>
http::Task<std::pair<boost::system::error_code, size_t>> Attempt<Stream>::read_more() {
  auto& c = *conn_;
  // No size cap here: response heads are bounded by kMaxResponseHead before reading more.
  auto room = prepare_read(c.buffer, c.begin, c.end, std::numeric_limits<size_t>::max());
  auto [ec, n] = co_await turnpike::read_some(stream(), room, kNoThrow);
  c.end += n;
  co_return std::pair{ec, n};
}

template <class Stream>
http::Task<ProxyError> Attempt<Stream>::read_response_head(http::Response& resp, bool& stale) {
  auto& c = *conn_;
  http::ParseLimits limits;
  limits.max_header_bytes = kMaxResponseHead;
  bool is_head = ex_.request.method == "HEAD";
  uint64_t received = 0;
  size_t hint = 0;
  if (transport_.response_header_timeout.count() > 0)
    c.deadline.expire_after(transport_.response_header_timeout);
  for (;;) {
    if (c.end > c.begin) {
      auto r =
          http::parse_response_head(std::string_view(c.buffer.data() + c.begin, c.end - c.begin),
                                    limits, is_head, resp, hint);
      if (r.state == http::ParseResult::State::kError) {
        co_return upstream_error(K::kUpstreamProtocol,
                                 "malformed response: " + std::string(r.reason));
      }
      if (r.state == http::ParseResult::State::kComplete) {
        c.begin += r.consumed;
        hint = 0;
        // Interim responses: 100/102/103 are not forwarded (101 is the upgrade answer).
        if (resp.status >= 100 && resp.status < 200 && resp.status != 101) {
          resp.clear();
          continue;
        }
        c.deadline.clear();
        co_return ProxyError::none();
      }
      if (c.end - c.begin > kMaxResponseHead)
        co_return upstream_error(K::kUpstreamProtocol, "response head too large");
    }
    // read_more(), inlined: one coroutine frame less for every response.
    auto room = prepare_read(c.buffer, c.begin, c.end, std::numeric_limits<size_t>::max());
    auto [ec, n] = co_await turnpike::read_some(stream(), room, kNoThrow);
    c.end += n;
    received += n;
    if (ec) {
      if (c.timed_out)
        co_return upstream_error(K::kUpstreamTimeout, "timeout awaiting response headers");
      if (pooled_ && received == 0 && ex_.body.consumed() == 0)
        stale = true;
      co_return upstream_error(K::kUpstreamClosed, "read response: " + ec.message());
    }
  }
}

template <class Stream>
http::Task<ProxyError> Attempt<Stream>::stream_response_body(const http::Response& resp,
                                                             bool& reusable) {
  auto& c = *conn_;
  auto* w = ex_.writer;
  bool is_head = ex_.request.method == "HEAD";
  bool no_body = is_head || resp.status == 204 || resp.status == 304;
  if (no_body)
    co_return ProxyError::none();
  if (resp.chunked) {
    http::ChunkedDecoder& decoder = decoder_;
    for (;;) {
      while (c.end > c.begin) {
        std::string_view in(c.buffer.data() + c.begin, c.end - c.begin);
        auto step = decoder.decode(in);
        c.begin += step.consumed;
        if (step.error)
          co_return upstream_error(K::kUpstreamProtocol,
                                   "bad chunked body: " + std::string(step.error_reason));
        if (!step.data.empty()) {
          if (auto err = co_await w->write_body(step.data))
            co_return err;
        }
        if (step.done)
          co_return ProxyError::none();
        if (step.consumed == 0 && step.data.empty())
          break;
      }
      auto [ec, n] = co_await read_more();
      if (ec)
        co_return upstream_error(K::kUpstreamClosed, "read response body: " + ec.message());
    }
  }
  if (resp.content_length >= 0) {
    uint64_t remaining = static_cast<uint64_t>(resp.content_length);
    while (remaining > 0) {
      if (c.end == c.begin) {
        auto [ec, n] = co_await read_more();
        if (ec)
          co_return upstream_error(K::kUpstreamClosed, "read response body: " + ec.message());
      }
      size_t take = std::min<uint64_t>(remaining, c.end - c.begin);
      std::string_view piece(c.buffer.data() + c.begin, take);
      c.begin += take;
      remaining -= take;
      if (auto err = co_await w->write_body(piece))
        co_return err;
    }
    co_return ProxyError::none();
  }
  // Delimited by close: forward until EOF; the connection cannot be reused.
  reusable = false;
  for (;;) {
    if (c.end > c.begin) {
      std::string_view piece(c.buffer.data() + c.begin, c.end - c.begin);
      c.begin = c.end;
      if (auto err = co_await w->write_body(piece))
        co_return err;
    }
    auto [ec, n] = co_await read_more();
    // Over TLS a close without close_notify is how many servers end such a body.
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated)
      co_return ProxyError::none();
    if (ec)
      co_return upstream_error(K::kUpstreamClosed, "read response body: " + ec.message());
  }
}

template <class Stream>
http::Task<ProxyError> Attempt<Stream>::run(std::unique_ptr<UpstreamConnection> fresh,
                                            bool allow_pooled, bool& stale) {
  conn_ = std::move(fresh);
  if (!conn_ && allow_pooled) {
    conn_ = ctx_.pools.take(server_.pool_key);
    pooled_ = conn_ != nullptr;
  }
  if (!conn_) {
    // On this path an https server speaks HTTP/1.1 (HTTP/2 was disabled, or this is an upgrade).
    auto err = co_await dial_upstream(ctx_, server_, transport_, Alpn::kHttp11, conn_);
    if (err)
      co_return err;
  }
  // The head is written here and the body, when there is one, by send_request_body(): most
  // requests have none and take no coroutine frame for it.
  serialize_request_head(ex_.request, server_, pass_host_, conn_->out);
  ProxyError sent;
  size_t head_sent = 0;
  if constexpr (std::is_same_v<Stream, turnpike::TcpSocket>) {
    // One non-blocking send first: a request head fits in the socket buffer, and then no reactor
    // operation or posted completion is needed. What it leaves goes through async_write.
    auto& s = conn_->socket;
    boost::system::error_code ec;
    if (!s.non_blocking())
      s.non_blocking(true, ec);
    if (!ec && s.non_blocking()) {
      head_sent = s.write_some(asio::buffer(conn_->out), ec);
      if (ec && ec != asio::error::would_block)
        sent = upstream_error(K::kUpstreamClosed, "write request: " + ec.message(), true);
    }
  }
  if (!sent && head_sent < conn_->out.size()) {
    auto [ec, n] = co_await asio::async_write(
        stream(), asio::buffer(conn_->out.data() + head_sent, conn_->out.size() - head_sent),
        kNoThrow);
    if (ec)
      sent = upstream_error(K::kUpstreamClosed, "write request: " + ec.message(), true);
  }
  if (!sent && ex_.request.has_body()) {
    auto body_sent = co_await send_request_body();
    sent = std::move(body_sent);
  }
  if (sent) {
    if (pooled_ && sent.kind == K::kUpstreamClosed && ex_.body.consumed() == 0)
      stale = true;
    co_return sent;
  }
  http::Response& resp = conn_->response;
  if (auto err = co_await read_response_head(resp, stale))
    co_return err;
  ++conn_->requests;

  bool upstream_close = !resp.keep_alive;
  http::strip_hop_by_hop(resp.headers, resp.status == 101);
  if (resp.status == 101) {
    if (!ex_.request.upgrade_websocket || !ex_.upgradable)
      co_return upstream_error(K::kUpstreamProtocol, "unexpected 101 Switching Protocols");
    resp.headers.set("Connection", "Upgrade");
    resp.headers.set("Upgrade", "websocket");
    resp.content_length = -1;
    if (auto err = co_await ex_.writer->write_head(resp))
      co_return err;
    ex_.status = 101;
    std::string_view pending(conn_->buffer.data() + conn_->begin, conn_->end - conn_->begin);
    StreamTunnel<Stream> upstream(stream(), conn_->socket);
    auto err = co_await ex_.upgradable->tunnel(upstream, pending);
    ex_.close_connection = true;
    co_return ProxyError::none(); // tunnel errors are logged by the tunnel; nothing to answer
  }
  ex_.status = resp.status;
  bool reusable = !upstream_close && resp.version != http::Version::kHttp10;
  // The whole body arrived with the head (small responses): head, body and end in one call,
  // which a client connection sends in one write.
  bool no_body = ex_.request.method == "HEAD" || resp.status == 204 || resp.status == 304;
  if (!resp.chunked && resp.content_length >= 0 &&
      (no_body || conn_->end - conn_->begin >= static_cast<uint64_t>(resp.content_length))) {
    std::string_view body;
    if (!no_body) {
      body = std::string_view(conn_->buffer.data() + conn_->begin,
                              static_cast<size_t>(resp.content_length));
      conn_->begin += body.size();
    }
    // The body stays in the connection's buffer until the write is done; the connection is
    // pooled only after.
    auto written = co_await ex_.writer->write_response(resp, body);
    if (written) {
      if (!ex_.writer->head_written())
        co_return written;
      ex_.close_connection = true;
    }
  } else {
    if (auto err = co_await ex_.writer->write_head(resp))
      co_return err;
    if (auto err = co_await stream_response_body(resp, reusable)) {
      ex_.close_connection = true; // head already sent: the client sees a truncated body
      co_return ProxyError::none();
    }
    // Trailer fields of a chunked response go on to clients that can carry them (HTTP/2, and
    // HTTP/1.1 in a chunked response).
    ProxyError finished;
    if (resp.chunked && !decoder_.trailers().empty())
      finished = co_await ex_.writer->finish_with_trailers(decoder_.trailers());
    else
      finished = co_await ex_.writer->finish();
    if (finished)
      ex_.close_connection = true;
  }
  // The upstream exchange ended cleanly: the connection is reusable whatever happens to the
  // client connection (a client "Connection: close" must not cost an upstream dial).
  if (reusable && conn_->begin == conn_->end) {
    conn_->begin = conn_->end = 0;
    ctx_.pools.put(std::move(conn_),
                   std::chrono::duration_cast<Clock::duration>(transport_.idle_conn_timeout),
                   transport_.max_idle_conns_per_host);
  }
  co_return ProxyError::none();
}

template <class Stream>
http::Task<ProxyError> forward_over(http::Exchange& ex, const Server& server,
                                    const TransportOptions& transport, bool pass_host_header,
                                    std::unique_ptr<UpstreamConnection> fresh) {
  bool stale = false;
  {
    Attempt<Stream> first(ex, server, transport, pass_host_header);
    auto err = co_await first.run(std::move(fresh), true, stale);
    if (!err || !stale)
      co_return err;
  }
  // A pooled connection the upstream had already closed: retry once on a fresh connection
  // (nothing of the request reached the upstream application).
  Attempt<Stream> second(ex, server, transport, pass_host_header);
  bool ignored = false;
  co_return co_await second.run(nullptr, false, ignored);
}

} // namespace

http::Task<ProxyError> forward_http1(http::Exchange& ex, const Server& server,
                                     const TransportOptions& transport, bool pass_host_header,
                                     std::unique_ptr<UpstreamConnection> fresh) {
  // Not a coroutine itself: it returns the chosen coroutine, so no frame is added per request.
  if (server.scheme == Scheme::kHttps)
    return forward_over<TlsStream>(ex, server, transport, pass_host_header, std::move(fresh));
  return forward_over<turnpike::TcpSocket>(ex, server, transport, pass_host_header,
                                           std::move(fresh));
}

} // namespace turnpike::service
