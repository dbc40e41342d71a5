#include "service/h2_client.h"

#include <algorithm>
#include <cstring>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/asio_types.h"
#include "common/drained_read.h"
#include "common/log.h"
#include "common/strings.h"
#include "service/load_balancer.h"
#include "service/worker_context.h"

namespace turnpike::service {
namespace {

namespace asio = boost::asio;
constexpr auto kNoThrow = asio::as_tuple(turnpike::use_task);

// Flow-control windows we grant the upstream: per stream (SETTINGS_INITIAL_WINDOW_SIZE) and for
// the whole connection. A stream's undelivered data is bounded by its window.
constexpr uint32_t kStreamWindow = 256 * 1024;
constexpr int32_t kConnectionWindow = 4 * 1024 * 1024;
// Response field bytes per stream (as kMaxResponseHead for HTTP/1.1), advertised as
// SETTINGS_MAX_HEADER_LIST_SIZE and enforced while decoding.
constexpr size_t kMaxHeaderBytes = 1 << 20;
// How many exchanges may wait for a connection whose SETTINGS have not arrived yet (the server's
// SETTINGS_MAX_CONCURRENT_STREAMS is unknown until then; those it does not admit move on).
constexpr size_t kAssumedMaxStreams = 100;
// Frames gathered into one write.
constexpr size_t kWriteBatch = 64 * 1024;

const std::shared_ptr<spdlog::logger>& logger() {
  static auto l = log::get("upstream");
  return l;
}

H2ClientConnection& conn_of(void* user_data) {
  return *static_cast<H2ClientConnection*>(user_data);
}

std::string_view view(const uint8_t* p, size_t n) {
  return {reinterpret_cast<const char*>(p), n};
}

// The nghttp2 callback table, built once; nghttp2 copies it into every session.
struct Callbacks {
  nghttp2_session_callbacks* table = nullptr;
  nghttp2_option* options = nullptr;

  Callbacks() {
    nghttp2_session_callbacks_new(&table);
    nghttp2_session_callbacks_set_on_header_callback(
        table, [](nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                  size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                  void* user) -> int {
          return conn_of(user).on_header(frame, view(name, namelen), view(value, valuelen));
        });
    nghttp2_session_callbacks_set_on_frame_recv_callback(
        table, [](nghttp2_session*, const nghttp2_frame* frame, void* user) -> int {
          return conn_of(user).on_frame_recv(frame);
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        table, [](nghttp2_session*, uint8_t flags, int32_t stream_id, const uint8_t* data,
                  size_t len, void* user) -> int {
          return conn_of(user).on_data_chunk(flags, stream_id, data, len);
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        table, [](nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user) -> int {
          return conn_of(user).on_stream_close(stream_id, error_code);
        });
    nghttp2_session_callbacks_set_on_frame_not_send_callback(
        table, [](nghttp2_session*, const nghttp2_frame* frame, int lib_error, void* user) -> int {
          return conn_of(user).on_frame_not_sent(frame, lib_error);
        });

    nghttp2_option_new(&options);
    // Received DATA is acknowledged when the client took it (H2ClientConnection::consume).
    nghttp2_option_set_no_auto_window_update(options, 1);
    // Until the server's SETTINGS arrive only the dialling exchange's stream goes out: some
    // servers (python-h2) treat streams above their limit as a connection error.
    nghttp2_option_set_peer_max_concurrent_streams(options, 1);
  }
  ~Callbacks() {
    nghttp2_session_callbacks_del(table);
    nghttp2_option_del(options);
  }
};

const Callbacks& callbacks() {
  static const Callbacks c;
  return c;
}

ssize_t read_body_cb(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length,
                     uint32_t* flags, nghttp2_data_source*, void* user) {
  return conn_of(user).read_body(stream_id, buf, length, flags);
}

// Go's textproto.CanonicalMIMEHeaderKey ("content-type" -> "Content-Type"), which Traefik's
// HTTP/1.1 clients see for fields that came over HTTP/2.
void add_field(http::HeaderMap& headers, std::string_view name, std::string_view value,
               bool canonical) {
  if (!canonical) {
    headers.add(name, value);
    return;
  }
  std::string n(name);
  bool upper = true;
  for (auto& c : n) {
    if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
    upper = c == '-';
  }
  headers.add(n, value);
}

}  // namespace

H2ClientConnection::H2ClientConnection(WorkerContext& ctx, std::string key,
                                       const TransportOptions& transport)
    : ctx_(ctx),
      key_(std::move(key)),
      id_(++ctx.h2_connections_opened),
      idle_timeout_(std::chrono::duration_cast<Clock::duration>(transport.idle_conn_timeout)),
      read_idle_timeout_(std::chrono::duration_cast<Clock::duration>(transport.read_idle_timeout)),
      ping_timeout_(std::chrono::duration_cast<Clock::duration>(transport.ping_timeout)),
      max_idle_(transport.max_idle_conns_per_host),
      ready_timer_(ctx.io.get_executor(), turnpike::SteadyTimer::time_point::max()),
      write_event_(ctx.io.get_executor()),
      ping_deadline_(ctx.deadlines, [this] { on_ping_deadline(); }) {}

H2ClientConnection::~H2ClientConnection() {
  if (session_) nghttp2_session_del(session_);
}

void H2ClientConnection::start(std::unique_ptr<UpstreamConnection> io) {
  io_ = std::move(io);
  if (state_ != State::kConnecting || closed_) {  // shut down while dialling
    state_ = State::kClosed;
    ready_timer_.cancel();
    return;
  }
  nghttp2_session_client_new2(&session_, callbacks().table, this, callbacks().options);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<uint32_t>(kMaxHeaderBytes)},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
  state_ = State::kReady;
  ready_timer_.cancel();
  if (read_idle_timeout_.count() > 0) ping_deadline_.expire_after(read_idle_timeout_);
  logger()->debug("HTTP/2 connection {} to {} open", id_, key_);
  auto log_exception = [key = key_](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      logger()->error("HTTP/2 connection to {}: {}", key, ex.what());
    }
  };
  asio::co_spawn(ctx_.io, read_loop(), log_exception);
  asio::co_spawn(ctx_.io, write_loop(), log_exception);
}

void H2ClientConnection::abandon(State state, http::ProxyError error) {
  auto keep = shared_from_this();
  state_ = state;
  connect_error_ = std::move(error);
  closed_ = true;
  ready_timer_.cancel();
  ctx_.h2_pools.remove(this);
}

http::Task<bool> H2ClientConnection::wait_ready() {
  auto keep = shared_from_this();
  while (state_ == State::kConnecting || (state_ == State::kReady && !settings_received_)) {
    co_await ready_timer_.async_wait(kNoThrow);
    auto cancel = co_await asio::this_coro::cancellation_state;
    if (cancel.cancelled() != asio::cancellation_type::none) co_return false;
  }
  co_return true;
}

size_t H2ClientConnection::max_streams() const {
  if (!settings_received_) return kAssumedMaxStreams;
  return nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

bool H2ClientConnection::has_capacity() const {
  if (closed_ || goaway_) return false;
  if (state_ != State::kConnecting && state_ != State::kReady) return false;
  return streams_.size() < max_streams();
}

bool H2ClientConnection::admits(const H2Stream& s) const {
  auto it = std::find(streams_.begin(), streams_.end(), &s);
  return it != streams_.end() && static_cast<size_t>(it - streams_.begin()) < max_streams();
}

H2Stream* H2ClientConnection::stream(int32_t id) const {
  return session_ ? static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(session_, id))
                  : nullptr;
}

void H2ClientConnection::attach(H2Stream& s) {
  streams_.push_back(&s);
  if (io_) io_->deadline.clear();  // not idle any more
}

void H2ClientConnection::detach(H2Stream& s) {
  auto it = std::find(streams_.begin(), streams_.end(), &s);
  if (it == streams_.end()) return;
  streams_.erase(it);
  if (!closed_ && session_ && s.id > 0) {
    if (!s.closed) nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_CANCEL);
    nghttp2_session_set_stream_user_data(session_, s.id, nullptr);
    // Bytes received but never delivered still count against the connection window.
    if (!s.data.empty()) nghttp2_session_consume(session_, s.id, s.data.size());
    s.data.clear();
    wake_writer();
  }
  if (streams_.empty()) became_idle();
}

void H2ClientConnection::became_idle() {
  if (closed_ || state_ != State::kReady) return;
  if (goaway_) {
    send_goaway();
    wake_writer();  // the writer closes the connection once GOAWAY is flushed
  } else if (ctx_.h2_pools.idle_count(key_) > max_idle_) {
    shutdown();
  } else if (idle_timeout_.count() > 0) {
    io_->deadline.expire_after(idle_timeout_);
  }
}

bool H2ClientConnection::submit(H2Stream& s, const std::vector<nghttp2_nv>& nva, bool with_body) {
  if (closed_ || !session_) {
    s.closed = true;
    s.failure = "connection closed";
    return false;
  }
  nghttp2_data_provider provider{};
  provider.read_callback = read_body_cb;
  int32_t id = nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(),
                                      with_body ? &provider : nullptr, &s);
  if (id < 0) {
    s.closed = true;
    s.failure = nghttp2_strerror(id);
    if (id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE) {
      // Stream ids exhausted: this connection takes no more requests; the request never left.
      goaway_ = true;
      s.refused = true;
    }
    return false;
  }
  s.id = id;
  wake_writer();
  return true;
}

void H2ClientConnection::resume_body(H2Stream& s) {
  if (closed_ || !session_ || s.id < 0) return;
  if (s.body_deferred) {
    s.body_deferred = false;
    nghttp2_session_resume_data(session_, s.id);
  }
  wake_writer();
}

void H2ClientConnection::consume(H2Stream& s, size_t n) {
  if (closed_ || !session_ || s.id < 0 || n == 0) return;
  nghttp2_session_consume(session_, s.id, n);
  wake_writer();
}

void H2ClientConnection::reset(H2Stream& s, uint32_t error_code) {
  if (closed_ || !session_ || s.id < 0 || s.closed) return;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, error_code);
  wake_writer();
}

void H2ClientConnection::shutdown() {
  if (closed_) return;
  goaway_ = true;  // no new streams
  if (state_ == State::kReady && streams_.empty()) became_idle();
  // A busy connection says nothing yet: some servers (python-h2) stop answering the streams in
  // flight once they receive a GOAWAY. It goes out when the last stream detached.
}

void H2ClientConnection::send_goaway() {
  if (goaway_sent_ || closed_ || !session_) return;
  goaway_sent_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  wake_writer();
}

void H2ClientConnection::fail(const std::string& why) {
  if (closed_) return;
  auto keep = shared_from_this();  // the pool may hold the last reference
  closed_ = true;
  state_ = State::kClosed;
  logger()->debug("HTTP/2 connection {} to {} closed: {}", id_, key_, why);
  for (H2Stream* s : streams_) {
    if (!s->closed) {
      s->closed = true;
      s->failure = why;
    }
    s->response_event.notify();
    s->send_event.notify();
  }
  if (io_) {
    boost::system::error_code ignored;
    io_->socket.close(ignored);
  }
  ping_deadline_.clear();
  ready_timer_.cancel();
  write_event_.notify();
  ctx_.h2_pools.remove(this);
}

void H2ClientConnection::on_ping_deadline() {
  if (closed_ || state_ != State::kReady) return;
  if (!ping_outstanding_) {
    // readIdleTimeout of silence: ask the server whether it is still there.
    nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr);
    ping_outstanding_ = true;
    ping_deadline_.expire_after(ping_timeout_);
    wake_writer();
    return;
  }
  // Not from inside the scanner's callback: fail() may destroy this connection (and the
  // deadline running this callback).
  asio::post(ctx_.io, [self = shared_from_this()] { self->fail("ping timeout"); });
}

http::Task<void> H2ClientConnection::read_loop() {
  auto self = shared_from_this();
  auto& c = *io_;
  for (;;) {
    boost::system::error_code ec;
    size_t n = 0;
    auto room = asio::buffer(c.buffer.data(), c.buffer.size());
    if (c.tls)
      std::tie(ec, n) = co_await c.tls->async_read_some(room, kNoThrow);
    else
      std::tie(ec, n) = co_await turnpike::read_some(c.socket, room, kNoThrow);
    if (closed_) co_return;
    if (ec) {
      fail(c.timed_out                  ? std::string("idle timeout")
           : ec == asio::error::eof ||
                   ec == asio::ssl::error::stream_truncated
               ? std::string("closed by the upstream")
               : "read: " + ec.message());
      co_return;
    }
    if (read_idle_timeout_.count() > 0) {
      ping_outstanding_ = false;
      ping_deadline_.expire_after(read_idle_timeout_);
    }
    auto rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(c.buffer.data()),
                                       n);
    if (rv < 0) {
      fail(std::string("HTTP/2 protocol error: ") + nghttp2_strerror(static_cast<int>(rv)));
      co_return;
    }
    wake_writer();
  }
}

http::Task<void> H2ClientConnection::write_loop() {
  auto self = shared_from_this();
  for (;;) {
    if (closed_) co_return;
    out_.clear();
    for (;;) {
      const uint8_t* data = nullptr;
      auto n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) {
        fail(std::string("HTTP/2 session error: ") + nghttp2_strerror(static_cast<int>(n)));
        co_return;
      }
      if (n == 0) break;
      out_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
      if (out_.size() >= kWriteBatch) break;
    }
    if (out_.empty()) {
      if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) {
        fail("session ended");
        co_return;
      }
      if (goaway_ && streams_.empty()) {
        fail("closed after GOAWAY");
        co_return;
      }
      co_await write_event_.wait();
      continue;
    }
    boost::system::error_code ec;
    size_t written = 0;
    if (io_->tls)
      std::tie(ec, written) = co_await asio::async_write(*io_->tls, asio::buffer(out_), kNoThrow);
    else
      std::tie(ec, written) = co_await asio::async_write(io_->socket, asio::buffer(out_), kNoThrow);
    if (closed_) co_return;
    if (ec) {
      fail("write: " + ec.message());
      co_return;
    }
  }
}

int H2ClientConnection::on_header(const nghttp2_frame* frame, std::string_view name,
                                  std::string_view value) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  H2Stream* s = stream(frame->hd.stream_id);
  if (!s) return 0;
  s->header_bytes += name.size() + value.size() + 32;  // HPACK's per-field overhead
  if (s->header_bytes > kMaxHeaderBytes) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // RST
  if (name.empty()) return 0;
  if (!s->head_complete) {
    if (name == ":status") {
      auto status = parse_uint(value);
      s->response.status = status && *status >= 100 && *status <= 999 ? static_cast<int>(*status)
                                                                       : 502;
    } else if (name.front() != ':') {
      add_field(s->response.headers, name, value, s->canonical_names);
    }
  } else if (name.front() != ':') {
    add_field(s->trailers, name, value, s->canonical_names);
  }
  return 0;
}

int H2ClientConnection::on_frame_recv(const nghttp2_frame* frame) {
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS: {
      H2Stream* s = stream(frame->hd.stream_id);
      if (!s) break;
      if (!s->head_complete) {
        if (s->response.status >= 100 && s->response.status < 200) {
          // Interim responses are not forwarded (as for HTTP/1.1 upstreams).
          s->response.clear();
          s->header_bytes = 0;
          break;
        }
        s->head_complete = true;
        s->response.version = http::Version::kHttp2;
        if (auto cl = s->response.headers.get("content-length")) {
          if (auto n = parse_uint(*cl)) s->response.content_length = static_cast<int64_t>(*n);
        }
      }
      if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) s->end_stream = true;
      s->response_event.notify();
      break;
    }
    case NGHTTP2_DATA: {
      H2Stream* s = stream(frame->hd.stream_id);
      if (s && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        s->end_stream = true;
        s->response_event.notify();
      }
      break;
    }
    case NGHTTP2_GOAWAY:
      // No new streams here; nghttp2 closes the streams above last_stream_id as refused.
      goaway_ = true;
      logger()->debug("HTTP/2 connection {} to {}: GOAWAY (last stream {}, error {})", id_, key_,
                      frame->goaway.last_stream_id,
                      nghttp2_http2_strerror(frame->goaway.error_code));
      if (streams_.empty()) wake_writer();
      break;
    case NGHTTP2_PING:
      if (frame->hd.flags & NGHTTP2_FLAG_ACK) ping_outstanding_ = false;
      break;
    case NGHTTP2_SETTINGS:
      if (!(frame->hd.flags & NGHTTP2_FLAG_ACK) && !settings_received_) {
        settings_received_ = true;  // the server's limits are known: waiters may go on
        ready_timer_.cancel();
      }
      break;
    default:
      break;
  }
  return 0;
}

int H2ClientConnection::on_data_chunk(uint8_t, int32_t stream_id, const uint8_t* data,
                                      size_t len) {
  H2Stream* s = stream(stream_id);
  if (!s) {
    // Nobody will deliver it: give the window back at once.
    nghttp2_session_consume(session_, stream_id, len);
    return 0;
  }
  s->data.append(reinterpret_cast<const char*>(data), len);
  s->response_event.notify();
  return 0;
}

int H2ClientConnection::on_stream_close(int32_t stream_id, uint32_t error_code) {
  H2Stream* s = stream(stream_id);
  if (!s) return 0;
  s->closed = true;
  s->error_code = error_code;
  if (error_code == NGHTTP2_REFUSED_STREAM) s->refused = true;
  s->response_event.notify();
  s->send_event.notify();
  return 0;
}

int H2ClientConnection::on_frame_not_sent(const nghttp2_frame* frame, int lib_error) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  H2Stream* s = stream(frame->hd.stream_id);
  if (!s || s->head_complete) return 0;
  // The request HEADERS never left (GOAWAY received first, session closing): retry-safe.
  s->closed = true;
  s->refused = true;
  s->failure = nghttp2_strerror(lib_error);
  s->response_event.notify();
  s->send_event.notify();
  return 0;
}

ssize_t H2ClientConnection::read_body(int32_t stream_id, uint8_t* buf, size_t length,
                                      uint32_t* flags) {
  H2Stream* s = stream(stream_id);
  if (!s) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // the exchange is gone: reset
  size_t n = std::min(length, s->body.size() - s->body_sent);
  if (n > 0) std::memcpy(buf, s->body.data() + s->body_sent, n);
  s->body_sent += n;
  if (s->body_sent == s->body.size()) {
    s->body.clear();
    s->body_sent = 0;
    s->send_event.notify();  // the exchange may hand over the next piece
  }
  if (n == 0 && !s->body_end) {
    s->body_deferred = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  if (s->body_end && s->body.empty()) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (s->body_trailers && !s->body_trailers->empty()) {
      // Request trailers (gRPC clients send none, but HTTP/2 allows them): end the stream with a
      // HEADERS frame instead of the last DATA frame.
      std::vector<std::string> names;
      names.reserve(s->body_trailers->size());
      std::vector<nghttp2_nv> nva;
      nva.reserve(s->body_trailers->size());
      for (const auto& h : *s->body_trailers) {
        if (http::is_hop_by_hop(h.name) || iequals(h.name, "content-length")) continue;
        names.push_back(to_lower(h.name));
        nva.push_back(nghttp2_nv{
            reinterpret_cast<uint8_t*>(names.back().data()),
            reinterpret_cast<uint8_t*>(const_cast<char*>(h.value.data())), names.back().size(),
            h.value.size(), NGHTTP2_NV_FLAG_NONE});
      }
      if (!nva.empty()) {
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        nghttp2_submit_trailer(session_, stream_id, nva.data(), nva.size());
      }
    }
  }
  return static_cast<ssize_t>(n);
}

// ---- pool ------------------------------------------------------------------------------------

std::shared_ptr<H2ClientConnection> H2Pool::find(const std::string& key) const {
  auto it = conns_.find(key);
  if (it == conns_.end()) return nullptr;
  // The first one with room: streams pack onto few connections, as Go's transport does.
  for (const auto& c : it->second)
    if (c->has_capacity()) return c;
  return nullptr;
}

void H2Pool::add(std::shared_ptr<H2ClientConnection> conn) {
  conns_[conn->key()].push_back(std::move(conn));
}

void H2Pool::remove(const H2ClientConnection* conn) {
  auto it = conns_.find(conn->key());
  if (it == conns_.end()) return;
  std::erase_if(it->second, [conn](const auto& c) { return c.get() == conn; });
  if (it->second.empty()) conns_.erase(it);
}

size_t H2Pool::idle_count(const std::string& key) const {
  auto it = conns_.find(key);
  if (it == conns_.end()) return 0;
  return static_cast<size_t>(std::count_if(it->second.begin(), it->second.end(), [](const auto& c) {
    return c->state() == H2ClientConnection::State::kReady && c->idle();
  }));
}

void H2Pool::close_all() {
  std::vector<std::shared_ptr<H2ClientConnection>> all;
  for (const auto& [k, list] : conns_) all.insert(all.end(), list.begin(), list.end());
  for (const auto& c : all) c->shutdown();
}

size_t H2Pool::size() const {
  size_t n = 0;
  for (const auto& [k, list] : conns_) n += list.size();
  return n;
}

}  // namespace turnpike::service
