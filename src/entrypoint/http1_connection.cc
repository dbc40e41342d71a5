#include "entrypoint/http1_connection.h"

#include <array>
#include <cstring>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/asio_types.h"
#include "common/log.h"
#include "common/read_buffer.h"
#include "common/strings.h"
#include "entrypoint/dispatch.h"
#include "entrypoint/drainable.h"
#include "entrypoint/http2_connection.h"
#include "entrypoint/plain_stream.h"
#include "http/chunked.h"
#include "http/serialize.h"
#include "tls/tls_stream.h"

namespace turnpike::entrypoint {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using http::ProxyError;
using K = ProxyError::Kind;
constexpr auto kNoThrow = asio::as_tuple(turnpike::use_task);
constexpr size_t kInitialBuffer = 16 * 1024;
constexpr size_t kMaxDrainBytes = 256 * 1024;

const std::shared_ptr<spdlog::logger>& logger() {
  static auto l = log::get("entrypoint");
  return l;
}

// Byte-level helpers for the WebSocket tunnel, which joins the client stream (plain or TLS) and
// the upstream (http::TunnelStream: plain or TLS, see service/).
auto read_some(http::TunnelStream& s, asio::mutable_buffer b) {
  return s.read_some(b);
}
template <class Stream> auto read_some(Stream& s, asio::mutable_buffer b) {
  return s.async_read_some(b);
}
http::Task<std::pair<boost::system::error_code, size_t>> write_all(http::TunnelStream& s,
                                                                   asio::const_buffer b) {
  auto ec = co_await s.write(b);
  co_return std::pair{ec, ec ? size_t{0} : b.size()};
}
template <class Stream> auto write_all(Stream& s, asio::const_buffer b) {
  return s.async_write(b);
}
template <class Stream> void shutdown_send(Stream& s) {
  s.shutdown_send();
}

// One HTTP/1.1 client connection over a plain socket (PlainStream) or a TLS connection
// (tls::TlsStream): the same code, instantiated twice; the TLS-only steps are `if constexpr`.
template <class Stream>
class Http1Connection final : public http::BodyReader,
                              public http::ResponseWriter,
                              public http::Upgradable,
                              public Drainable {
public:
  Http1Connection(Stream stream, WorkerState& worker, const EntryPointOptions& ep,
                  std::optional<tcp::endpoint> client)
      : stream_(std::move(stream)), client_(client), worker_(worker), ep_(ep),
        deadline_(worker.ctx.deadlines, [this] { on_deadline(); }), draining_(worker.ctx.draining) {
    deadline_.owner = static_cast<Drainable*>(this);
    buf_.resize(kInitialBuffer);
  }

  http::Task<void> run();
  // After run(): the client sent the HTTP/2 preface (with prior knowledge: h2c, or TLS without
  // ALPN). Hands over the stream and the bytes read so far.
  bool wants_http2() const { return http2_; }
  Stream release_stream(std::string& preread) {
    preread.assign(buf_.data() + begin_, end_ - begin_);
    if constexpr (!Stream::kTls) {
      // Back to what the HTTP/2 connection expects of a socket it was handed.
      boost::system::error_code ec;
      stream_.socket().non_blocking(false, ec);
    }
    return std::move(stream_);
  }
  void drain() override {
    draining_ = true;
    if (idle_)
      close_socket();
  }

  // BodyReader
  http::Task<std::pair<ProxyError, std::span<const char>>> read() override;
  int64_t content_length() const override { return req_.content_length; }
  uint64_t consumed() const override { return body_consumed_; }
  const http::HeaderMap* trailers() const override {
    return req_.chunked && body_done_ && !chunked_in_.trailers().empty() ? &chunked_in_.trailers()
                                                                         : nullptr;
  }

  // ResponseWriter
  http::Task<ProxyError> write_head(http::Response& head) override;
  http::Task<ProxyError> write_body(std::string_view data) override;
  http::Task<ProxyError> finish() override;
  http::Task<ProxyError> finish_with_trailers(const http::HeaderMap& trailers) override;
  bool head_written() const override { return head_written_; }
  http::Task<ProxyError> write_response(http::Response& head, std::string_view body) override;

  // Upgradable
  http::Task<ProxyError> tunnel(http::TunnelStream& upstream,
                                std::string_view upstream_pending) override;

private:
  enum class HeadState { kComplete, kClosed, kError };

  // Cancel rather than close: a timed-out request can still be answered 408 (under a short
  // deadline of its own), and the coroutine closes the socket when it unwinds.
  void on_deadline() {
    timed_out_ = true;
    stream_.cancel();
  }
  void close_socket() { stream_.close(); }
  http::Task<std::pair<boost::system::error_code, size_t>> read_more(size_t max_buffer);
  http::Task<HeadState> read_head(int& error_status, std::string& error_reason);
  http::Task<void> write_local_error(int status, std::string_view reason);
  // Serialises a final head into out_; true when it must be flushed at once (streaming).
  bool serialize_final_head(http::Response& head);
  http::Task<ProxyError> flush(std::string_view extra = {}, std::string_view extra2 = {});
  static http::Task<ProxyError> no_error() { co_return ProxyError::none(); }
  http::Task<bool> finish_request_body();
  void body_complete();
  ProxyError read_error(const boost::system::error_code& ec) const;

  Stream stream_;
  std::optional<tcp::endpoint> client_; // from a trusted PROXY header
  WorkerState& worker_;
  const EntryPointOptions& ep_;
  Deadline deadline_;

  std::string buf_;
  size_t begin_ = 0;
  size_t end_ = 0;
  std::string out_; // pending response head (and small trailers), flushed with the body
  http::Request req_;
  std::string raw_path_;
  std::string logged_target_; // the request target as received (normalised), for the access log

  // Per-request state.
  Clock::time_point request_start_{};
  bool head_written_ = false;
  bool chunked_out_ = false;
  bool close_after_ = false;
  bool head_request_ = false;
  bool body_done_ = true;
  uint64_t body_remaining_ = 0;
  uint64_t body_consumed_ = 0;
  bool continue_sent_ = false;
  http::ChunkedDecoder chunked_in_;
  int status_ = 0;                       // final status written
  http::Exchange* current_ex_ = nullptr; // the exchange being served
  uint64_t body_bytes_out_ = 0;          // response body bytes written

  uint64_t requests_ = 0;
  Clock::time_point opened_ = Clock::now();
  bool idle_ = true;
  bool draining_;
  bool timed_out_ = false;
  bool http2_ = false;
};

template <class Stream>
http::Task<std::pair<boost::system::error_code, size_t>>
Http1Connection<Stream>::read_more(size_t max_buffer) {
  auto room = prepare_read(buf_, begin_, end_, max_buffer);
  if (room.size() == 0)
    co_return std::pair{boost::system::error_code(asio::error::no_buffer_space), size_t{0}};
  auto [ec, n] = co_await stream_.async_read_some(room);
  end_ += n;
  co_return std::pair{ec, n};
}

template <class Stream>
http::Task<typename Http1Connection<Stream>::HeadState>
Http1Connection<Stream>::read_head(int& error_status, std::string& error_reason) {
  size_t hint = 0;
  bool started = end_ > begin_;
  if (started) {
    request_start_ = Clock::now();
    deadline_.expire_at(request_start_ + ep_.read_timeout);
  } else {
    idle_ = true;
    if (draining_)
      co_return HeadState::kClosed;
    deadline_.expire_after(ep_.idle_timeout);
  }
  // Room for the request line + header block, whichever limit is larger, plus slack.
  size_t max_buffer = std::max(ep_.limits.max_header_bytes, ep_.limits.max_request_line) + 4096;
  for (;;) {
    if (end_ > begin_) {
      auto r = http::parse_request_head(std::string_view(buf_.data() + begin_, end_ - begin_),
                                        ep_.limits, req_, hint);
      if (r.state == http::ParseResult::State::kComplete) {
        begin_ += r.consumed;
        co_return HeadState::kComplete;
      }
      if (r.state == http::ParseResult::State::kError) {
        error_status = r.status;
        error_reason = std::string(r.reason);
        co_return HeadState::kError;
      }
    }
    // read_more(), inlined: one coroutine frame less for every request.
    auto room = prepare_read(buf_, begin_, end_, max_buffer);
    if (room.size() == 0) {
      error_status = 431;
      error_reason = "request header fields too large";
      co_return HeadState::kError;
    }
    auto [ec, n] = co_await stream_.async_read_some(room);
    end_ += n;
    if (n > 0 && !started) {
      started = true;
      idle_ = false;
      request_start_ = Clock::now();
      deadline_.expire_at(request_start_ + ep_.read_timeout);
    }
    if (ec) {
      if (started && timed_out_) {
        error_status = 408;
        error_reason = "request timeout";
        co_return HeadState::kError;
      }
      co_return HeadState::kClosed;
    }
  }
}

template <class Stream>
http::Task<ProxyError> Http1Connection<Stream>::flush(std::string_view extra,
                                                      std::string_view extra2) {
  std::array<asio::const_buffer, 3> bufs{asio::buffer(out_), asio::buffer(extra),
                                         asio::buffer(extra2)};
  size_t total = out_.size() + extra.size() + extra2.size();
  if (total == 0)
    co_return ProxyError::none();
  if constexpr (!Stream::kTls) {
    // One non-blocking send first: a response that fits in the socket buffer (nearly all) needs
    // no reactor operation and no posted completion. Only what it left goes through
    // async_write (a slow reader, a large body).
    if (stream_.socket().non_blocking()) {
      boost::system::error_code wec;
      size_t sent = stream_.socket().write_some(bufs, wec);
      if (!wec && sent == total) {
        out_.clear();
        co_return ProxyError::none();
      }
      if (wec && wec != asio::error::would_block) {
        out_.clear();
        co_return ProxyError{timed_out_ ? K::kDownstreamTimeout : K::kDownstreamClosed,
                             "write response: " + wec.message(), false};
      }
      for (auto& b : bufs) {
        size_t skip = std::min(sent, b.size());
        b += skip;
        sent -= skip;
      }
    }
  }
  auto [ec, n] = co_await stream_.async_write(bufs);
  out_.clear();
  if (ec) {
    co_return ProxyError{timed_out_ ? K::kDownstreamTimeout : K::kDownstreamClosed,
                         "write response: " + ec.message(), false};
  }
  co_return ProxyError::none();
}

template <class Stream>
http::Task<void> Http1Connection<Stream>::write_local_error(int status, std::string_view reason) {
  // Malformed requests: answer and close; nothing was sent upstream.
  std::string body(http::reason_phrase(status));
  out_.clear();
  out_.append("HTTP/1.1 ").append(std::to_string(status)).push_back(' ');
  out_.append(http::reason_phrase(status));
  out_.append(
      "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: ");
  out_.append(std::to_string(body.size())).append("\r\n\r\n").append(body);
  deadline_.expire_after(std::chrono::seconds(5));
  co_await flush();
  logger()->debug("{}: rejected request from {}: {} {}", ep_.name, req_.client_addr.to_string(),
                  status, reason);
}

template <class Stream>
ProxyError Http1Connection<Stream>::read_error(const boost::system::error_code& ec) const {
  if (timed_out_)
    return ProxyError{K::kDownstreamTimeout, "request body read timeout", false};
  return ProxyError{K::kDownstreamClosed, "read request body: " + ec.message(), false};
}

template <class Stream> void Http1Connection<Stream>::body_complete() {
  body_done_ = true;
  // The request is in: from here the response phase runs under writeTimeout (0 = none).
  if (ep_.write_timeout.count() > 0)
    deadline_.expire_at(request_start_ +
                        std::chrono::duration_cast<Clock::duration>(ep_.write_timeout));
  else
    deadline_.clear();
}

template <class Stream>
http::Task<std::pair<ProxyError, std::span<const char>>> Http1Connection<Stream>::read() {
  using Out = std::pair<ProxyError, std::span<const char>>;
  if (body_done_)
    co_return Out{ProxyError::none(), {}};
  if (req_.expect_continue && !continue_sent_) {
    continue_sent_ = true;
    static constexpr std::string_view k100 = "HTTP/1.1 100 Continue\r\n\r\n";
    auto [ec, n] = co_await stream_.async_write(asio::const_buffer(k100.data(), k100.size()));
    if (ec)
      co_return Out{ProxyError{K::kDownstreamClosed, "write 100-continue", false}, {}};
  }
  if (!req_.chunked) {
    if (end_ == begin_) {
      auto [ec, n] = co_await read_more(buf_.size());
      if (ec)
        co_return Out{read_error(ec), {}};
    }
    size_t take = std::min<uint64_t>(body_remaining_, end_ - begin_);
    std::span<const char> piece(buf_.data() + begin_, take);
    begin_ += take;
    body_remaining_ -= take;
    body_consumed_ += take;
    if (body_remaining_ == 0)
      body_complete();
    co_return Out{ProxyError::none(), piece};
  }
  for (;;) {
    if (end_ > begin_) {
      auto step = chunked_in_.decode(std::string_view(buf_.data() + begin_, end_ - begin_));
      begin_ += step.consumed;
      if (step.error)
        co_return Out{ProxyError{K::kDownstreamProtocol, std::string(step.error_reason), false},
                      {}};
      if (step.done) {
        body_complete();
        co_return Out{ProxyError::none(), {}};
      }
      if (!step.data.empty()) {
        body_consumed_ += step.data.size();
        co_return Out{ProxyError::none(),
                      std::span<const char>(step.data.data(), step.data.size())};
      }
      if (step.consumed > 0)
        continue;
    }
    auto [ec, n] = co_await read_more(buf_.size());
    if (ec)
      co_return Out{read_error(ec), {}};
  }
}

template <class Stream>
http::Task<ProxyError> Http1Connection<Stream>::write_head(http::Response& head) {
  if (head.status >= 100 && head.status < 200 && head.status != 101) {
    out_.clear();
    out_.append("HTTP/1.1 ").append(std::to_string(head.status)).push_back(' ');
    out_.append(head.reason.empty() ? http::reason_phrase(head.status) : head.reason);
    out_.append("\r\n");
    for (const auto& h : head.headers)
      out_.append(h.name).append(": ").append(h.value).append("\r\n");
    out_.append("\r\n");
    co_return co_await flush();
  }
  // Streaming responses (unknown length: server-sent events, long polls, chunked streams) get
  // their head at once, as Go's reverse proxy (hence Traefik) flushes them immediately; the
  // others are flushed together with the first body bytes or at finish().
  if (serialize_final_head(head))
    co_return co_await flush();
  co_return ProxyError::none();
}

template <class Stream>
http::Task<ProxyError> Http1Connection<Stream>::write_response(http::Response& head,
                                                               std::string_view body) {
  // Only a Content-Length response is sent in one piece; the others (chunked, until close) go
  // the general way.
  if (head.content_length < 0 || head.status < 200)
    co_return co_await ResponseWriter::write_response(head, body);
  serialize_final_head(head);
  if (head_request_ || head.status == 204 || head.status == 304)
    body = {};
  body_bytes_out_ += body.size();
  co_return co_await flush(body);
}

template <class Stream> bool Http1Connection<Stream>::serialize_final_head(http::Response& head) {
  head_written_ = true;
  int status = head.status;
  status_ = status;
  // Whoever decided to close (a middleware, the error path, graceful draining) is honoured in
  // this very response's Connection field.
  if (current_ex_ && current_ex_->close_connection)
    close_after_ = true;
  if (draining_)
    close_after_ = true;
  bool bodyless = head_request_ || status == 204 || status == 304 || status == 101;
  http::ResponseHeadOptions o;
  o.version =
      req_.version == http::Version::kHttp10 ? http::Version::kHttp10 : http::Version::kHttp11;
  chunked_out_ = false;
  if (status == 101) {
    o.framing = http::BodyFraming::kNone; // Connection/Upgrade fields were set by the proxy
  } else if (head.content_length >= 0 && status != 204 && status != 304) {
    o.framing = http::BodyFraming::kContentLength;
    o.content_length = static_cast<uint64_t>(head.content_length);
  } else if (bodyless) {
    o.framing = http::BodyFraming::kNone;
  } else if (req_.version == http::Version::kHttp11) {
    chunked_out_ = true;
    o.framing = http::BodyFraming::kChunked;
  } else {
    o.framing = http::BodyFraming::kUntilClose; // HTTP/1.0, unknown length
    close_after_ = true;
  }
  o.connection_close = close_after_ && status != 101;
  out_.clear();
  http::serialize_response_head(head, o, out_);
  return status == 101 || chunked_out_ || o.framing == http::BodyFraming::kUntilClose;
}

template <class Stream>
http::Task<ProxyError> Http1Connection<Stream>::write_body(std::string_view data) {
  // Not a coroutine: it hands back flush()'s awaitable (the caller awaits it at once, while
  // `data` is valid), so a body piece costs one coroutine frame instead of two.
  if (head_request_ || data.empty())
    return no_error();
  body_bytes_out_ += data.size();
  if (!chunked_out_)
    return flush(data);
  http::append_chunk_header(out_, data.size());
  return flush(data, "\r\n");
}

template <class Stream> http::Task<ProxyError> Http1Connection<Stream>::finish() {
  if (chunked_out_ && !head_request_)
    out_.append("0\r\n\r\n");
  // A Content-Length body has usually gone out with the head already: no flush frame then.
  if (out_.empty())
    co_return ProxyError::none();
  co_return co_await flush();
}

// Trailers travel in the last chunk; a response framed by Content-Length (or HTTP/1.0) cannot
// carry them and they are dropped, as Go's server does.
template <class Stream>
http::Task<ProxyError>
Http1Connection<Stream>::finish_with_trailers(const http::HeaderMap& trailers) {
  if (!chunked_out_ || head_request_)
    co_return co_await finish();
  http::append_last_chunk(out_, &trailers);
  co_return co_await flush();
}

template <class Stream>
http::Task<ProxyError> Http1Connection<Stream>::tunnel(http::TunnelStream& upstream,
                                                       std::string_view upstream_pending) {
  using namespace asio::experimental::awaitable_operators;
  if (!upstream_pending.empty()) {
    auto [ec, n] = co_await write_all(stream_, asio::buffer(upstream_pending));
    if (ec)
      co_return ProxyError{K::kDownstreamClosed, "tunnel write", false};
  }
  if (end_ > begin_) {
    auto ec = co_await upstream.write(asio::buffer(buf_.data() + begin_, end_ - begin_));
    begin_ = end_ = 0;
    if (ec)
      co_return ProxyError{K::kUpstreamClosed, "tunnel write", false};
  }
  auto idle = std::chrono::duration_cast<Clock::duration>(ep_.idle_timeout);
  deadline_.expire_after(idle);
  auto pump = [this, idle](auto& from, auto& to) -> http::Task<void> {
    std::array<char, 16384> chunk;
    for (;;) {
      auto [ec, n] = co_await read_some(from, asio::buffer(chunk));
      if (n > 0) {
        deadline_.expire_after(idle);
        auto [wec, wn] = co_await write_all(to, asio::buffer(chunk.data(), n));
        if (wec)
          break;
      }
      if (ec)
        break;
    }
    shutdown_send(to);
  };
  co_await (pump(stream_, upstream) && pump(upstream, stream_));
  co_return ProxyError::none();
}

// Consumes what is left of the request body so the next request can be parsed. Returns false
// when the connection must close instead (too much left, or an error).
template <class Stream> http::Task<bool> Http1Connection<Stream>::finish_request_body() {
  if (body_done_)
    co_return true;
  uint64_t drained = 0;
  while (!body_done_) {
    auto [err, data] = co_await read();
    if (err)
      co_return false;
    if (data.empty())
      break;
    drained += data.size();
    if (drained > kMaxDrainBytes)
      co_return false;
  }
  co_return true;
}

template <class Stream> http::Task<void> Http1Connection<Stream>::run() {
  boost::system::error_code ec;
  auto remote = client_ ? *client_ : stream_.socket().remote_endpoint(ec);
  if (ec)
    co_return;
  stream_.socket().set_option(tcp::no_delay(true), ec);
  // Writes try a non-blocking send before the reactor (flush()); set before the first
  // asynchronous operation, this replaces the ioctl Asio would make for its own use.
  if constexpr (!Stream::kTls)
    stream_.socket().non_blocking(true, ec);
  OpenConnection counted(worker_);

  for (;;) {
    req_.clear();
    req_.client_addr = canonical_ip(remote.address());
    req_.client_port = remote.port();
    req_.entrypoint = ep_.name;
    if constexpr (Stream::kTls)
      req_.scheme = "https";
    int err_status = 0;
    std::string err_reason;
    auto state = co_await read_head(err_status, err_reason);
    if (state == HeadState::kClosed)
      co_return;
    idle_ = false;
    if (state == HeadState::kError) {
      // h2c with prior knowledge, as Traefik serves on every plain entrypoint: the preface's
      // first line is no valid HTTP/1.1 request, so the check costs HTTP/1.1 nothing.
      if (requests_ == 0 &&
          starts_with_http2_preface(std::string_view(buf_.data() + begin_, end_ - begin_))) {
        http2_ = true;
        co_return;
      }
      co_await write_local_error(err_status, err_reason);
      co_return;
    }
    ++requests_;

    // Per-request state.
    head_written_ = false;
    chunked_out_ = false;
    status_ = 0;
    body_bytes_out_ = 0;
    head_request_ = req_.method == "HEAD";
    continue_sent_ = false;
    body_consumed_ = 0;
    body_done_ = !req_.has_body();
    body_remaining_ =
        req_.chunked ? 0 : static_cast<uint64_t>(std::max<int64_t>(0, req_.content_length));
    if (req_.chunked) {
      chunked_in_ = http::ChunkedDecoder();
      // Framing errors in the part of a chunked body that arrived with the head are rejected
      // before anything is sent upstream (a smuggling payload comes in one packet). Errors further
      // in the stream abort the upstream request instead.
      if (end_ > begin_) {
        http::ChunkedDecoder probe;
        std::string_view rest(buf_.data() + begin_, end_ - begin_);
        while (!rest.empty()) {
          auto step = probe.decode(rest);
          if (step.error) {
            co_await write_local_error(400, step.error_reason);
            co_return;
          }
          if (step.done || step.consumed == 0)
            break;
          rest.remove_prefix(step.consumed);
        }
      }
    }
    if (body_done_)
      body_complete();

    // Keep-alive decision (the parser read Connection before it is stripped).
    bool client_close = !req_.keep_alive;
    close_after_ =
        client_close || draining_ ||
        (ep_.keep_alive_max_requests > 0 && requests_ >= ep_.keep_alive_max_requests) ||
        (ep_.keep_alive_max_time.count() > 0 && Clock::now() - opened_ >= ep_.keep_alive_max_time);

    // One view of the path: normalise once; route, run middlewares and forward the same path.
    raw_path_.swap(req_.path);
    if (auto perr = http::normalize_path(raw_path_, ep_.path, req_.path); !perr.empty()) {
      co_await write_local_error(400, perr);
      co_return;
    }
    if (worker_.access_log)
      logged_target_ = req_.target(); // before middlewares rewrite it
    http::strip_hop_by_hop(req_.headers, req_.upgrade_websocket, ep_.forwarded.connection);
    http::apply_forwarded_headers(req_, ep_.forwarded);

    http::Exchange ex{req_, *this};
    ex.writer = this;
    ex.executor = stream_.socket().get_executor();
    ex.tls = stream_.info();
    ex.worker_id = worker_.ctx.id;
    ex.worker = &worker_.ctx;
    ex.upgradable = this;
    ex.close_connection = close_after_;
    current_ex_ = &ex;
    co_await route_and_serve(ex, worker_, ep_);
    current_ex_ = nullptr;
    ex.status = status_;
    ex.response_bytes = body_bytes_out_;
    if (worker_.access_log)
      worker_.access_log->record(ex, request_start_, logged_target_);
    if (ex.status == 101 || ex.close_connection || close_after_ || draining_)
      co_return;
    // Most requests have no body left to drain: no coroutine frame for them.
    if (body_done_)
      continue;
    // GCC 12 miscompiles `if (co_await ...)` whose branch writes through a reference
    // parameter; await into a local first.
    auto awaited = co_await finish_request_body();
    if (!awaited)
      co_return;
  }
}

template <class Stream>
http::Task<void> serve(Stream stream, WorkerState& worker, const EntryPointOptions& ep,
                       std::optional<tcp::endpoint> client) {
  std::string preread;
  std::optional<Stream> handoff;
  {
    Http1Connection<Stream> conn(std::move(stream), worker, ep, client);
    co_await conn.run();
    if (!conn.wants_http2())
      co_return;
    handoff.emplace(conn.release_stream(preread));
  }
  if constexpr (Stream::kTls)
    co_await serve_http2(std::move(*handoff), worker, ep, std::move(preread), client);
  else
    co_await serve_http2(std::move(handoff->socket()), worker, ep, std::move(preread), client);
}

} // namespace

http::Task<void> serve_http1(turnpike::TcpSocket socket, WorkerState& worker,
                             const EntryPointOptions& ep, std::optional<tcp::endpoint> client) {
  co_await serve(PlainStream(std::move(socket)), worker, ep, client);
}

http::Task<void> serve_http1(tls::TlsStream stream, WorkerState& worker,
                             const EntryPointOptions& ep, std::optional<tcp::endpoint> client) {
  co_await serve(std::move(stream), worker, ep, client);
}

void drain_connections(WorkerState& worker) {
  worker.ctx.draining = true;
  worker.ctx.deadlines.for_each([](Deadline& d) {
    // Only client connections (HTTP/1.1 and HTTP/2) tag their deadline with an owner;
    // upstream connections and HTTP/2 streams leave it null.
    if (d.owner)
      static_cast<Drainable*>(d.owner)->drain();
  });
}

} // namespace turnpike::entrypoint
