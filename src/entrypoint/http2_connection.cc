#include "entrypoint/http2_connection.h"

#include <nghttp2/nghttp2.h>

#include <array>
#include <cassert>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <type_traits>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/asio_types.h"
#include "common/drained_read.h"
#include "common/log.h"
#include "common/strings.h"
#include "entrypoint/dispatch.h"
#include "entrypoint/drainable.h"
#include "http/forwarded.h"
#include "http/http2_request.h"
#include "http/serialize.h"
#include "tls/tls_stream.h"

namespace turnpike::entrypoint {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using http::ProxyError;
using K = ProxyError::Kind;
constexpr auto kNoThrow = asio::as_tuple(turnpike::use_task);

constexpr size_t kReadBuffer = 16 * 1024;
// Output is gathered from nghttp2 into one buffer per write, up to about this much.
constexpr size_t kWriteGather = 64 * 1024;
// write_body copies up to this much per stream and returns at once (a small response leaves in
// one write with its HEADERS); larger pieces are copied straight into the output buffer while
// write_body waits, so a stream never holds more than this of its own.
constexpr size_t kBodyCopy = 16 * 1024;
// Flow control (security.md section 5, zero-window row): the client may send a stream 64 KiB
// ahead of what its handler has read. The connection window is returned as data arrives, so a
// stream whose handler is slow never blocks the others; a stream buffers at most two windows
// (the piece its handler is working on and what arrived since), a connection at most
// maxConcurrentStreams x 128 KiB.
constexpr int32_t kStreamWindow = 64 * 1024;
constexpr int32_t kConnectionWindow = 1 << 20;

// Flood limits (security.md section 5). Frames that cost work but carry no request (PING,
// SETTINGS, PRIORITY, WINDOW_UPDATE, empty DATA) spend from a token bucket: kControlBurst
// tokens, refilled at kControlRate per second, plus credits for work the client legitimately
// causes them (a stream opened, a DATA frame we sent). An empty bucket ends the connection with
// GOAWAY ENHANCE_YOUR_CALM.
constexpr int64_t kControlBurst = 1000;
constexpr int64_t kControlRate = 100;
constexpr int64_t kControlCreditPerStream = 10;
constexpr int64_t kControlCreditPerDataFrame = 2;
// Rapid Reset: a stream reset (by the client, or by us because it was malformed) less than
// kPrematureAge after it opened and before its response ended is premature. Once at least
// kPrematureMin of them make up half of the streams opened, the connection is ended.
constexpr uint64_t kPrematureMin = 100;
constexpr auto kPrematureAge = std::chrono::seconds(1);
// nghttp2's own guards: CONTINUATION frames per header block, RST_STREAM token bucket, queued
// SETTINGS/PING acknowledgements (a client that sends them without reading).
constexpr size_t kMaxContinuations = 8;
constexpr uint64_t kResetBurst = 1000;
constexpr uint64_t kResetRate = 33;
constexpr size_t kMaxOutboundAck = 1000;
// After the last GOAWAY: how long to wait for the client to close before closing ourselves
// (closing with unread input would reset the connection and could destroy the GOAWAY).
constexpr auto kLinger = std::chrono::seconds(2);
constexpr size_t kDiscardGraceful = 1 << 20;
constexpr size_t kDiscardAbusive = 64 * 1024;
constexpr size_t kSpareStreams = 16;
constexpr uint8_t kDrainPing[8] = {'t', 'p', '-', 'd', 'r', 'a', 'i', 'n'};

const std::shared_ptr<spdlog::logger>& logger() {
  static auto l = log::get("http2");
  return l;
}

nghttp2_nv make_nv(std::string_view name, std::string_view value) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                    value.size(), NGHTTP2_NV_FLAG_NONE};
}

bool is_clean_value(std::string_view v) {
  for (char c : v)
    if (c == '\r' || c == '\n' || c == '\0')
      return false;
  return true;
}

class H2Core;
struct H2Handler;

// One request/response exchange on the connection. Owned by H2Core; lives from the request's
// HEADERS until both its handler has returned and nghttp2 has closed the stream (then it is
// recycled, keeping its strings' capacity).
class H2Stream final : public http::BodyReader, public http::ResponseWriter {
public:
  H2Stream(H2Core& conn, const turnpike::Executor& ex, DeadlineScanner& scanner);
  void reset(int32_t stream_id);

  // BodyReader
  http::Task<std::pair<ProxyError, std::span<const char>>> read() override;
  int64_t content_length() const override { return req.content_length; }
  uint64_t consumed() const override { return consumed_; }
  const http::HeaderMap* trailers() const override { return has_trailers ? &trailers_in : nullptr; }

  // ResponseWriter
  http::Task<ProxyError> write_head(http::Response& head) override;
  http::Task<ProxyError> write_body(std::string_view data) override;
  http::Task<ProxyError> finish() override;
  http::Task<ProxyError> finish_with_trailers(const http::HeaderMap& trailers) override;
  bool head_written() const override { return head_written_; }

  static void notify(turnpike::SteadyTimer& t) { t.cancel(); }
  auto wait(turnpike::SteadyTimer& t) {
    t.expires_at(Clock::time_point::max());
    return t.async_wait(kNoThrow);
  }
  ProxyError closed_error() const;
  void on_deadline();
  bool gone() const;

  H2Core& conn;
  int32_t id = 0;
  size_t slot = 0; // index in H2Core::streams_
  http::Request req;
  http::Http2RequestBuilder builder;
  Clock::time_point start{};
  std::string logged_target;
  Deadline deadline;
  turnpike::SteadyTimer in_event;  // request data arrived, body ended, stream closed
  turnpike::SteadyTimer out_event; // write_body's data was taken, stream closed
  H2Handler* handler = nullptr;    // serving it, while coroutine_live

  // Life cycle.
  bool headers_done = false;
  bool queued = false;          // waiting for a handler slot
  bool handler_running = false; // from start_handler until handler_done
  bool coroutine_live = false;  // a handler is serving it: cancel_handler reaches its operation
  bool h2_closed = false;       // nghttp2 closed the stream
  bool reset_by_us = false;     // we reset it (timeout, truncated response): not premature
  bool malformed = false;       // reset for a framing error of the client's (counts as premature)
  int local_status = 0;         // answer this locally instead of routing (400, 405, 431...)
  std::string_view local_reason;

  // Request body.
  std::string in;               // received, not yet handed out
  int64_t declared_length = -1; // the request's content-length, -1 when none
  uint64_t data_received = 0;   // request DATA payload received
  int64_t trailer_length = -1;  // a content-length field in the trailers, -1 when none
  std::string reading;          // handed out by the last read()
  bool in_done = false;
  bool timed_out = false;
  bool continue_sent = false;
  uint64_t consumed_ = 0;
  http::HeaderMap trailers_in;
  bool has_trailers = false;
  uint64_t trailer_bytes = 0;

  // Response.
  bool head_written_ = false;
  bool bodyless = false;          // HEAD, 204, 304, empty: END_STREAM on the HEADERS
  bool finished = false;          // finish() called (or bodyless head written)
  bool response_complete = false; // END_STREAM sent
  bool deferred = false;          // the data provider returned NGHTTP2_ERR_DEFERRED
  int status = 0;
  uint64_t body_bytes = 0;
  std::string owned; // small writes, copied
  size_t owned_pos = 0;
  std::string_view ext; // a large write, taken while write_body waits
  http::HeaderMap out_trailers;
  bool has_out_trailers = false;
};

// A coroutine that serves the connection's streams one after another: spawned when no idle one
// is left, then kept until the connection ends. Compared with a coroutine spawned per stream
// this saves, per stream, co_spawn's thread of execution and entry frame, the cancellation
// handler and state it installs (two allocations), the dispatch that starts it and the post that
// ran the bookkeeping after it; an idle handler is resumed inline by calling its wake handler.
struct H2Handler {
  using Wake = asio::async_result<std::decay_t<decltype(turnpike::use_task)>, void()>::handler_type;
  asio::cancellation_signal cancel; // bound to the coroutine: reaches its pending operation
  H2Stream* stream = nullptr;       // the stream to serve (null when woken to exit)
  std::optional<Wake> wake;         // set while the coroutine waits for a stream
};

// The transport-independent part of a connection: the nghttp2 session, the streams and their
// handlers. The I/O loops live in H2Connection<Stream>. Everything here runs on the worker; the
// class is internal to this file, so its members are open to H2Stream.
class H2Core : public Drainable {
public:
  H2Core(turnpike::Executor ex, WorkerState& worker, const EntryPointOptions& ep,
         const tcp::endpoint& remote, bool tls);
  virtual ~H2Core();
  H2Core(const H2Core&) = delete;
  H2Core& operator=(const H2Core&) = delete;

  bool start_session();
  // Feeds received bytes to nghttp2. Returns false once input is no longer wanted.
  bool on_input(const uint8_t* data, size_t n);
  // Appends what nghttp2 has to send to out_, up to about kWriteGather.
  void gather_output();
  bool session_done() const {
    return nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0;
  }
  void schedule_write() {
    if (writer_waiting_) {
      writer_waiting_ = false;
      write_event_.cancel();
    }
  }
  // Connection over: fail every stream's pending and future I/O, cancel their handlers.
  void abort_streams();
  void drain() override;

  // Stream-facing helpers.
  nghttp2_session* session() { return session_; }
  void resume(H2Stream& s);
  void reset_stream(H2Stream& s, uint32_t code);
  void build_response_nva(const http::Response& head, int status);
  void build_trailer_nva(const http::HeaderMap& trailers);
  bool append_fields_nva(const http::HeaderMap& fields, bool drop_content_length);
  std::vector<nghttp2_nv>& nva() { return nva_; }
  bool dead() const { return dead_ || aborted_; }
  void consume(H2Stream& s, size_t n);

  virtual void close_transport() = 0;
  void on_conn_deadline();
  void on_stream_deadline(H2Stream& s);

  void body_done(H2Stream& s);
  void end_of_request(H2Stream& s);
  void reject_malformed(H2Stream& s, std::string_view why);

  // nghttp2 callbacks (user_data = this).
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame*, void*);
  static int on_header(nghttp2_session*, const nghttp2_frame*, const uint8_t*, size_t,
                       const uint8_t*, size_t, uint8_t, void*);
  static int on_invalid_header(nghttp2_session*, const nghttp2_frame*, const uint8_t*, size_t,
                               const uint8_t*, size_t, uint8_t, void*);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame*, void*);
  static int on_data_chunk_recv(nghttp2_session*, uint8_t, int32_t, const uint8_t*, size_t, void*);
  static int on_stream_close(nghttp2_session*, int32_t, uint32_t, void*);
  static int on_frame_send(nghttp2_session*, const nghttp2_frame*, void*);
  static int send_data(nghttp2_session*, nghttp2_frame*, const uint8_t*, size_t,
                       nghttp2_data_source*, void*);
  static int on_error(nghttp2_session*, int, const char*, size_t, void*);
  static const nghttp2_session_callbacks* callbacks();
  static ssize_t read_data(nghttp2_session*, int32_t, uint8_t*, size_t, uint32_t*,
                           nghttp2_data_source*, void*);

  // The stream the callbacks of the frame being processed are about is nearly always the one
  // the previous callback was about (a request's HEADERS: begin, one call per field, end), so
  // the last one found is checked before nghttp2's stream map. Stream ids are never reused on
  // a connection, and nghttp2 forgets a stream when it closes it (no_closed_streams).
  H2Stream* stream_of(int32_t id) {
    if (last_ != nullptr && last_->id == id && !last_->h2_closed)
      return last_;
    auto* s = static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(session_, id));
    if (s != nullptr)
      last_ = s;
    return s;
  }
  int frame_recv(const nghttp2_frame* frame);
  void request_headers_done(H2Stream& s, bool end_stream);
  bool spend_control();
  void credit_control(int64_t n) { control_tokens_ = std::min(kControlBurst, control_tokens_ + n); }
  void calm(std::string_view why);
  void terminate(uint32_t code);
  void begin_goaway();
  void spawn_ready();
  void start_handler(H2Stream& s);
  http::Task<void> handler_loop(H2Handler& h);
  // Before and after routing a stream's exchange (handler_loop).
  http::Exchange begin_exchange(H2Stream& s);
  void end_exchange(H2Stream& s, http::Exchange& ex);
  void handler_done(H2Stream& s);
  void cancel_handler(H2Stream& s);
  // Resumes an idle handler inline with `s` to serve (null: to exit).
  static void wake(H2Handler& h, H2Stream* s);
  // The connection is over: idle handlers exit, busy ones after their stream.
  void release_handlers();
  H2Stream& acquire(int32_t id);
  void maybe_release(H2Stream& s);
  void arm_idle();

  turnpike::Executor ex_;
  WorkerState& worker_;
  const EntryPointOptions& ep_;
  tcp::endpoint remote_;
  bool tls_;
  const http::TlsInfo* tls_info_ = nullptr; // the TLS connection's facts (Exchange::tls)
  nghttp2_session* session_ = nullptr;
  Deadline deadline_;

  std::string out_;
  turnpike::SteadyTimer write_event_;
  bool writer_waiting_ = false;
  turnpike::SteadyTimer done_event_; // the last handler coroutine completed

  std::vector<std::unique_ptr<H2Stream>> streams_; // alive streams
  std::vector<std::unique_ptr<H2Stream>> spare_;
  std::vector<H2Stream*> ready_; // complete requests waiting for a handler
  H2Stream* last_ = nullptr;     // stream_of's last answer; reset before a stream is released
  size_t running_ = 0;
  size_t max_handlers_;
  std::vector<std::unique_ptr<H2Handler>> handlers_;
  std::vector<H2Handler*> idle_handlers_;
  size_t live_handlers_ = 0; // handler coroutines not completed
  bool closing_ = false;     // handlers exit instead of waiting for another stream
  bool spawning_ = false;    // in spawn_ready
  bool respawn_ = false;     // spawn_ready was called again meanwhile
  uint64_t header_bomb_bytes_;
  uint64_t connection_header_budget_;
  uint64_t live_header_bytes_ = 0; // decoded fields (RFC 7541 4.1 size) of alive streams
  size_t header_bomb_fields_;

  std::vector<nghttp2_nv> nva_;
  // Sanitised values referenced by nva_; a deque so that growing it moves no string (nva_ points
  // into them, short strings included).
  std::deque<std::string> scratch_;
  size_t scratch_used_ = 0;
  std::array<char, 4> status_text_{};

  uint64_t streams_opened_ = 0;
  uint64_t premature_resets_ = 0;
  int64_t control_tokens_ = kControlBurst;
  Clock::time_point control_refill_ = Clock::now();
  Clock::time_point opened_ = Clock::now();
  uint32_t pending_goaway_ = 0; // a callback asked to end the connection with this code (+1)
  std::string_view goaway_reason_;

  // Input read after the session stopped taking it (after GOAWAY) is dropped, up to this much;
  // then the connection is closed without waiting for the client any longer.
  size_t discard_budget_ = 0;
  bool dead_ = false;       // transport failed or the client closed it
  bool aborted_ = false;    // streams aborted (connection ending)
  bool input_done_ = false; // no more input is processed (terminated, or lingering)
  bool linger_ = false;
  bool terminating_ = false; // the final GOAWAY is queued; the connection ends after it
  bool goaway_started_ = false;
};

// ------------------------------------------------------------------------------------------
// H2Stream

H2Stream::H2Stream(H2Core& c, const turnpike::Executor& ex, DeadlineScanner& scanner)
    : conn(c), deadline(scanner, [this] { on_deadline(); }), in_event(ex, Clock::time_point::max()),
      out_event(ex, Clock::time_point::max()) {}

void H2Stream::reset(int32_t stream_id) {
  id = stream_id;
  start = Clock::now();
  logged_target.clear();
  handler = nullptr;
  headers_done = queued = handler_running = coroutine_live = h2_closed = reset_by_us = false;
  malformed = false;
  declared_length = trailer_length = -1;
  data_received = 0;
  local_status = 0;
  local_reason = {};
  in.clear();
  reading.clear();
  in_done = timed_out = continue_sent = false;
  consumed_ = 0;
  trailers_in.clear();
  has_trailers = false;
  trailer_bytes = 0;
  head_written_ = bodyless = finished = response_complete = deferred = false;
  status = 0;
  body_bytes = 0;
  owned.clear();
  owned_pos = 0;
  ext = {};
  out_trailers.clear();
  has_out_trailers = false;
}

// Once we reset a stream its I/O fails at once, without waiting for the RST_STREAM to be
// written (the client may not be reading at all: that is what writeTimeout is for).
bool H2Stream::gone() const {
  return h2_closed || reset_by_us || malformed || conn.dead();
}

ProxyError H2Stream::closed_error() const {
  return ProxyError{K::kDownstreamClosed, "HTTP/2 stream closed", false};
}

http::Task<std::pair<ProxyError, std::span<const char>>> H2Stream::read() {
  using Out = std::pair<ProxyError, std::span<const char>>;
  reading.clear();
  for (;;) {
    if (!in.empty()) {
      reading.swap(in);
      consumed_ += reading.size();
      // The window goes back to the client as the handler takes the data (backpressure).
      conn.consume(*this, reading.size());
      co_return Out{ProxyError::none(), std::span<const char>(reading.data(), reading.size())};
    }
    if (in_done)
      co_return Out{ProxyError::none(), {}};
    if (timed_out)
      co_return Out{ProxyError{K::kDownstreamTimeout, "request body read timeout", false}, {}};
    if (gone())
      co_return Out{closed_error(), {}};
    if (req.expect_continue && !continue_sent) {
      continue_sent = true;
      nghttp2_nv nv = make_nv(":status", "100");
      nghttp2_submit_headers(conn.session(), NGHTTP2_FLAG_NONE, id, nullptr, &nv, 1, nullptr);
      conn.schedule_write();
    }
    co_await wait(in_event);
  }
}

http::Task<ProxyError> H2Stream::write_head(http::Response& head) {
  if (gone())
    co_return closed_error();
  if (head.status >= 100 && head.status < 200) {
    // Interim responses (103 Early Hints...); 100 is ours to send, 101 has no HTTP/2 form.
    if (head.status == 101)
      co_return ProxyError{K::kInternal, "101 Switching Protocols over HTTP/2", false};
    if (head.status == 100)
      co_return ProxyError::none();
    conn.build_response_nva(head, head.status);
    auto& nva = conn.nva();
    nghttp2_submit_headers(conn.session(), NGHTTP2_FLAG_NONE, id, nullptr, nva.data(), nva.size(),
                           nullptr);
    conn.schedule_write();
    co_return ProxyError::none();
  }
  head_written_ = true;
  status = head.status;
  // A response known to be empty ends on its HEADERS frame rather than with an empty DATA frame
  // (some clients, grpc among them, treat the two differently).
  bool empty = head.no_body || head.content_length == 0;
  bodyless = empty || req.method == "HEAD" || status == 204 || status == 304;
  conn.build_response_nva(head, status);
  auto& nva = conn.nva();
  nghttp2_data_provider prd;
  prd.source.ptr = this;
  prd.read_callback = &H2Core::read_data;
  int rv = nghttp2_submit_response(conn.session(), id, nva.data(), nva.size(),
                                   bodyless ? nullptr : &prd);
  if (rv != 0)
    co_return ProxyError{K::kDownstreamClosed, nghttp2_strerror(rv), false};
  if (bodyless)
    finished = true;
  conn.schedule_write();
  co_return ProxyError::none();
}

http::Task<ProxyError> H2Stream::write_body(std::string_view data) {
  if (bodyless || data.empty())
    co_return ProxyError::none();
  if (gone())
    co_return closed_error();
  body_bytes += data.size();
  if (ext.empty() && owned.size() - owned_pos + data.size() <= kBodyCopy) {
    if (owned_pos > 0) {
      owned.erase(0, owned_pos);
      owned_pos = 0;
    }
    owned.append(data);
    conn.resume(*this);
    co_return ProxyError::none();
  }
  // Too much to copy aside: the output buffer takes it as the client's window allows, and the
  // caller's buffer is released only then (the backpressure that reaches the upstream).
  ext = data;
  conn.resume(*this);
  while (!ext.empty()) {
    if (gone()) {
      ext = {};
      co_return closed_error();
    }
    co_await wait(out_event);
  }
  co_return ProxyError::none();
}

http::Task<ProxyError> H2Stream::finish() {
  if (finished)
    co_return ProxyError::none();
  if (gone())
    co_return closed_error();
  finished = true;
  conn.resume(*this);
  co_return ProxyError::none();
}

http::Task<ProxyError> H2Stream::finish_with_trailers(const http::HeaderMap& trailers) {
  if (!bodyless && !finished && !trailers.empty()) {
    for (const auto& h : trailers)
      out_trailers.add(h.name, h.value);
    has_out_trailers = true;
  }
  co_return co_await finish();
}

void H2Stream::on_deadline() {
  conn.on_stream_deadline(*this);
}

// ------------------------------------------------------------------------------------------
// H2Core: session set-up and nghttp2 callbacks

H2Core::H2Core(turnpike::Executor ex, WorkerState& worker, const EntryPointOptions& ep,
               const tcp::endpoint& remote, bool tls)
    : ex_(ex), worker_(worker), ep_(ep), remote_(remote), tls_(tls),
      deadline_(worker.ctx.deadlines, [this] { on_conn_deadline(); }),
      write_event_(ex, Clock::time_point::max()), done_event_(ex, Clock::time_point::max()) {
  deadline_.owner = static_cast<Drainable*>(this);
  max_handlers_ = ep.http2.max_concurrent_streams;
  // A header block this much larger than the limits is an attack (HPACK bomb), not a big
  // request: the connection ends instead of the stream getting a 431.
  header_bomb_bytes_ = std::max<uint64_t>(2 * ep.limits.max_header_bytes, 64 * 1024);
  connection_header_budget_ = std::max<uint64_t>(2 * ep.limits.max_header_bytes, 4 << 20);
  header_bomb_fields_ = std::max<size_t>(10 * ep.limits.max_header_fields, 1000);
}

H2Core::~H2Core() {
  if (session_)
    nghttp2_session_del(session_);
}

const nghttp2_session_callbacks* H2Core::callbacks() {
  static nghttp2_session_callbacks* cbs = [] {
    nghttp2_session_callbacks* c = nullptr;
    nghttp2_session_callbacks_new(&c);
    nghttp2_session_callbacks_set_on_begin_headers_callback(c, &H2Core::on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(c, &H2Core::on_header);
    nghttp2_session_callbacks_set_on_invalid_header_callback(c, &H2Core::on_invalid_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(c, &H2Core::on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, &H2Core::on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(c, &H2Core::on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(c, &H2Core::on_frame_send);
    nghttp2_session_callbacks_set_send_data_callback(c, &H2Core::send_data);
    nghttp2_session_callbacks_set_error_callback2(c, &H2Core::on_error);
    return c;
  }();
  return cbs;
}

bool H2Core::start_session() {
  nghttp2_option* opt = nullptr;
  if (nghttp2_option_new(&opt) != 0)
    return false;
  // Stream windows go back to the client only as handlers read (H2Stream::read).
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_no_closed_streams(opt, 1);
  // nghttp2's own HTTP messaging checks (field names and values, pseudo-headers, content-length
  // against DATA) would repeat what Http2RequestBuilder and check_http2_trailer check anyway
  // (about 1.2 k instructions per request); the framing rules it enforced beyond the fields are
  // enforced here instead (on_data_chunk_recv, end_of_request, trailers in frame_recv).
  nghttp2_option_set_no_http_messaging(opt, 1);
  nghttp2_option_set_max_deflate_dynamic_table_size(opt, ep_.http2.max_encoder_header_table_size);
  nghttp2_option_set_max_continuations(opt, kMaxContinuations);
  nghttp2_option_set_stream_reset_rate_limit(opt, kResetBurst, kResetRate);
  nghttp2_option_set_max_outbound_ack(opt, kMaxOutboundAck);
  int rv = nghttp2_session_server_new2(&session_, callbacks(), this, opt);
  nghttp2_option_del(opt);
  if (rv != 0)
    return false;
  std::array<nghttp2_settings_entry, 4> iv{{
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, ep_.http2.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, uint32_t(kStreamWindow)},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
       uint32_t(std::min<size_t>(ep_.limits.max_header_bytes, UINT32_MAX))},
      {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, ep_.http2.max_decoder_header_table_size},
  }};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv.data(), iv.size());
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
  arm_idle();
  return true;
}

bool H2Core::spend_control() {
  auto now = Clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - control_refill_).count();
  if (ms >= 10) {
    credit_control(ms * kControlRate / 1000);
    control_refill_ = now;
  }
  if (--control_tokens_ >= 0)
    return true;
  calm("control frame flood");
  return false;
}

void H2Core::calm(std::string_view why) {
  if (pending_goaway_ == 0) {
    pending_goaway_ = NGHTTP2_ENHANCE_YOUR_CALM + 1;
    goaway_reason_ = why;
  }
}

void H2Core::terminate(uint32_t code) {
  if (code != NGHTTP2_NO_ERROR) {
    logger()->info(
        "{}: closing HTTP/2 connection from {}: {}", ep_.name, remote_.address().to_string(),
        goaway_reason_.empty() ? std::string_view(nghttp2_http2_strerror(code)) : goaway_reason_);
  }
  nghttp2_session_terminate_session(session_, code);
  // The client gets kLinger to take the GOAWAY and close; a client that reads nothing (its
  // window and our socket buffer full) cannot hold the connection open.
  terminating_ = true;
  deadline_.expire_after(kLinger);
  if (code != NGHTTP2_NO_ERROR && !input_done_) {
    // An abusive or broken client: what it sends from now on is not even parsed.
    input_done_ = true;
    discard_budget_ = kDiscardAbusive;
  }
  schedule_write();
}

int H2Core::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* c = static_cast<H2Core*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;
  H2Stream& s = c->acquire(frame->hd.stream_id);
  s.req.client_addr = canonical_ip(c->remote_.address());
  s.req.client_port = c->remote_.port();
  s.req.entrypoint = c->ep_.name;
  s.req.scheme = c->tls_ ? "https" : "http";
  s.builder.start(s.req, c->ep_.limits);
  ++c->streams_opened_;
  c->credit_control(kControlCreditPerStream);
  const auto& ep = c->ep_;
  if ((ep.keep_alive_max_requests > 0 && c->streams_opened_ >= ep.keep_alive_max_requests) ||
      (ep.keep_alive_max_time.count() > 0 && Clock::now() - c->opened_ >= ep.keep_alive_max_time))
    c->begin_goaway();
  return 0;
}

int H2Core::on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* user) {
  auto* c = static_cast<H2Core*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS)
    return 0;
  H2Stream* s = c->stream_of(frame->hd.stream_id);
  if (!s)
    return 0;
  std::string_view n(reinterpret_cast<const char*>(name), namelen);
  std::string_view v(reinterpret_cast<const char*>(value), valuelen);
  // Decoded header data held by the connection's live streams: HPACK lets a few bytes on the
  // wire stand for a large field, so many streams of allowed size could otherwise hold
  // maxConcurrentStreams x maxHeaderBytes.
  c->live_header_bytes_ += namelen + valuelen + 32;
  if (c->live_header_bytes_ > c->connection_header_budget_) {
    c->calm("header data of open streams too large (HPACK amplification)");
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    s->builder.add(n, v);
    if (s->builder.decoded_bytes() > c->header_bomb_bytes_ ||
        s->builder.field_count() > c->header_bomb_fields_) {
      c->calm("header block too large (HPACK bomb)");
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
  }
  // Trailers.
  s->trailer_bytes += namelen + valuelen + 32;
  if (s->trailer_bytes > c->header_bomb_bytes_) {
    c->calm("trailer block too large (HPACK bomb)");
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  if (s->trailer_bytes > c->ep_.limits.max_header_bytes ||
      s->trailers_in.size() >= c->ep_.limits.max_header_fields)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  if (s->malformed)
    return 0;
  switch (http::check_http2_trailer(n, v)) {
  case http::TrailerField::kKeep:
    s->trailers_in.add(n, v);
    break;
  case http::TrailerField::kDrop:
    if (n == "content-length") {
      // Dropped, but it still describes the body (RFC 9113 8.1.1, as nghttp2 checks it): a
      // second length, or one the DATA does not match (end_of_request), is malformed.
      uint64_t cl = 0;
      if (s->declared_length >= 0 || s->trailer_length >= 0 ||
          !http::parse_http2_content_length(v, cl)) {
        c->reject_malformed(*s, "content-length in trailers");
        return 0;
      }
      s->trailer_length = static_cast<int64_t>(cl);
    }
    break;
  case http::TrailerField::kMalformed:
    // RST_STREAM PROTOCOL_ERROR (a callback failure would send INTERNAL_ERROR).
    c->reject_malformed(*s, "malformed trailer field");
    return 0;
  }
  return 0;
}

// nghttp2 ignores fields it finds invalid unless told otherwise; the strict profile resets the
// stream with PROTOCOL_ERROR (security.md rows 41, 42, 48).
int H2Core::on_invalid_header(nghttp2_session*, const nghttp2_frame*, const uint8_t*, size_t,
                              const uint8_t*, size_t, uint8_t, void*) {
  return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

int H2Core::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  return static_cast<H2Core*>(user)->frame_recv(frame);
}

int H2Core::frame_recv(const nghttp2_frame* frame) {
  const bool end_stream = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
  switch (frame->hd.type) {
  case NGHTTP2_HEADERS: {
    H2Stream* s = stream_of(frame->hd.stream_id);
    if (!s)
      return 0;
    if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      request_headers_done(*s, end_stream);
    } else if (!end_stream) {
      // RFC 9113 8.1: a header block after the request's must end the stream (trailers).
      reject_malformed(*s, "trailers without END_STREAM");
    } else {
      s->has_trailers = !s->trailers_in.empty();
      end_of_request(*s);
    }
    return 0;
  }
  case NGHTTP2_DATA: {
    H2Stream* s = stream_of(frame->hd.stream_id);
    if (frame->hd.length == 0 && !end_stream && !spend_control())
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    if (s && end_stream)
      end_of_request(*s);
    return 0;
  }
  case NGHTTP2_PING:
    if (frame->hd.flags & NGHTTP2_FLAG_ACK) {
      // Second step of a graceful GOAWAY: the client has seen the shutdown notice, so every
      // stream it opened before is known; the final GOAWAY names the last one.
      if (goaway_started_ && std::memcmp(frame->ping.opaque_data, kDrainPing, 8) == 0)
        nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                              nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                              nullptr, 0);
      return 0;
    }
    return spend_control() ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
  case NGHTTP2_SETTINGS:
    if (frame->hd.flags & NGHTTP2_FLAG_ACK)
      return 0;
    return spend_control() ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
  case NGHTTP2_PRIORITY:
  case NGHTTP2_WINDOW_UPDATE:
    return spend_control() ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
  default:
    return 0;
  }
}

void H2Core::request_headers_done(H2Stream& s, bool end_stream) {
  s.headers_done = true;
  auto verdict = s.builder.finish(end_stream, ep_.path);
  switch (verdict.action) {
  case http::Http2Verdict::Action::kReset:
    logger()->debug("{}: malformed HTTP/2 request from {} on stream {}: {}", ep_.name,
                    remote_.address().to_string(), s.id, verdict.reason);
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_PROTOCOL_ERROR);
    return;
  case http::Http2Verdict::Action::kRespond:
    logger()->debug("{}: rejected HTTP/2 request from {} on stream {}: {} {}", ep_.name,
                    remote_.address().to_string(), s.id, verdict.status, verdict.reason);
    s.local_status = verdict.status;
    s.local_reason = verdict.reason;
    break;
  case http::Http2Verdict::Action::kServe:
    break;
  }
  s.declared_length = s.req.content_length;
  if (end_stream)
    body_done(s);
  s.queued = true;
  ready_.push_back(&s);
}

// The client ended the stream: the DATA must match the content-length it announced
// (RFC 9113 8.1.1, security.md row 44).
void H2Core::end_of_request(H2Stream& s) {
  if (s.malformed)
    return; // the handler must see the stream fail, not a complete body
  int64_t expected = s.declared_length >= 0 ? s.declared_length : s.trailer_length;
  if (expected >= 0 && s.data_received != static_cast<uint64_t>(expected)) {
    reject_malformed(s, "DATA does not match content-length");
    return;
  }
  body_done(s);
}

// A stream error of the client's making: RST_STREAM PROTOCOL_ERROR, and its handler (which may
// already be streaming the body upstream) sees the stream gone, so the upstream request is
// aborted rather than completed. Counted like the builder's resets (premature when early).
void H2Core::reject_malformed(H2Stream& s, std::string_view why) {
  if (s.malformed || s.h2_closed || s.reset_by_us || dead())
    return;
  logger()->debug("{}: malformed HTTP/2 request from {} on stream {}: {}", ep_.name,
                  remote_.address().to_string(), s.id, why);
  s.malformed = true;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_PROTOCOL_ERROR);
  H2Stream::notify(s.in_event);
  H2Stream::notify(s.out_event);
  cancel_handler(s);
  schedule_write();
}

void H2Core::body_done(H2Stream& s) {
  if (s.in_done)
    return;
  s.in_done = true;
  H2Stream::notify(s.in_event);
  // The request is in: from here the stream runs under writeTimeout (0 = none), counted from its
  // start as for HTTP/1.1.
  if (ep_.write_timeout.count() > 0)
    s.deadline.expire_at(s.start + std::chrono::duration_cast<Clock::duration>(ep_.write_timeout));
  else
    s.deadline.clear();
}

int H2Core::on_data_chunk_recv(nghttp2_session* session, uint8_t, int32_t stream_id,
                               const uint8_t* data, size_t len, void* user) {
  auto* c = static_cast<H2Core*>(user);
  // The connection window is returned at once: a stream's backlog is bounded by its own window.
  nghttp2_session_consume_connection(session, len);
  H2Stream* s = c->stream_of(stream_id);
  if (s) {
    s->data_received += len;
    int64_t limit = s->declared_length;
    if (limit >= 0 && s->data_received > static_cast<uint64_t>(limit)) {
      c->reject_malformed(*s, "DATA beyond content-length");
      return 0;
    }
  }
  if (s && !s->finished && !s->h2_closed && !s->malformed) {
    s->in.append(reinterpret_cast<const char*>(data), len);
    H2Stream::notify(s->in_event);
  } else {
    // Nobody will read it (the response is already out): let the client go on.
    nghttp2_session_consume_stream(session, stream_id, len);
  }
  return 0;
}

void H2Core::consume(H2Stream& s, size_t n) {
  if (n == 0 || s.h2_closed || dead())
    return;
  nghttp2_session_consume_stream(session_, s.id, n);
  schedule_write();
}

int H2Core::on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t code, void* user) {
  auto* c = static_cast<H2Core*>(user);
  H2Stream* s = c->stream_of(stream_id);
  if (!s)
    return 0;
  s->h2_closed = true;
  if (code != NGHTTP2_NO_ERROR && !s->response_complete && !s->reset_by_us &&
      Clock::now() - s->start < kPrematureAge) {
    ++c->premature_resets_;
    if (c->premature_resets_ >= kPrematureMin && 2 * c->premature_resets_ >= c->streams_opened_)
      c->calm("too many streams reset early (Rapid Reset)");
  }
  H2Stream::notify(s->in_event);
  H2Stream::notify(s->out_event);
  if (!s->response_complete)
    c->cancel_handler(*s);
  c->maybe_release(*s);
  c->schedule_write();
  return 0;
}

int H2Core::on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* c = static_cast<H2Core*>(user);
  if (frame->hd.type == NGHTTP2_DATA)
    c->credit_control(kControlCreditPerDataFrame);
  if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    H2Stream* s = c->stream_of(frame->hd.stream_id);
    if (s) {
      s->response_complete = true;
      // RFC 9113 8.1: a complete response before the complete request; stop the upload.
      if (!s->in_done) {
        s->reset_by_us = true;
        nghttp2_submit_rst_stream(c->session_, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
      }
    }
  }
  return 0;
}

int H2Core::on_error(nghttp2_session*, int code, const char* msg, size_t len, void* user) {
  auto* c = static_cast<H2Core*>(user);
  logger()->debug("{}: HTTP/2 from {}: {} ({})", c->ep_.name, c->remote_.address().to_string(),
                  std::string_view(msg, len), code);
  return 0;
}

// ------------------------------------------------------------------------------------------
// Response data: nghttp2 asks for the next DATA frame (read_data) and we write it straight into
// the output buffer (send_data, NGHTTP2_DATA_FLAG_NO_COPY): each body byte is copied once.

ssize_t H2Core::read_data(nghttp2_session* session, int32_t, uint8_t*, size_t length,
                          uint32_t* flags, nghttp2_data_source* source, void* user) {
  auto* s = static_cast<H2Stream*>(source->ptr);
  size_t owned = s->owned.size() - s->owned_pos;
  size_t n = owned > 0 ? std::min(length, owned) : std::min(length, s->ext.size());
  bool last = s->finished && n == owned + s->ext.size();
  if (n == 0 && !last) {
    s->deferred = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  if (n > 0)
    *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  if (last) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (s->has_out_trailers) {
      auto* c = static_cast<H2Core*>(user);
      c->build_trailer_nva(s->out_trailers);
      if (nghttp2_submit_trailer(session, s->id, c->nva_.data(), c->nva_.size()) == 0)
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    }
  }
  return static_cast<ssize_t>(n);
}

int H2Core::send_data(nghttp2_session*, nghttp2_frame* frame, const uint8_t* framehd, size_t length,
                      nghttp2_data_source* source, void* user) {
  auto* c = static_cast<H2Core*>(user);
  auto* s = static_cast<H2Stream*>(source->ptr);
  c->out_.append(reinterpret_cast<const char*>(framehd), 9);
  // No padding is ever requested (no select_padding callback), so padlen is 0.
  (void)frame;
  if (s->owned.size() > s->owned_pos) {
    c->out_.append(s->owned.data() + s->owned_pos, length);
    s->owned_pos += length;
    if (s->owned_pos == s->owned.size()) {
      s->owned.clear();
      s->owned_pos = 0;
    }
  } else {
    c->out_.append(s->ext.data(), length);
    s->ext.remove_prefix(length);
    if (s->ext.empty())
      H2Stream::notify(s->out_event);
  }
  return 0;
}

void H2Core::resume(H2Stream& s) {
  if (s.deferred && !s.h2_closed && !dead()) {
    s.deferred = false;
    nghttp2_session_resume_data(session_, s.id);
  }
  schedule_write();
}

void H2Core::reset_stream(H2Stream& s, uint32_t code) {
  if (s.h2_closed || s.reset_by_us || s.malformed || dead())
    return;
  s.reset_by_us = true;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, code);
  H2Stream::notify(s.in_event);
  H2Stream::notify(s.out_event);
  schedule_write();
}

// Response fields: hop-by-hop and connection-specific fields dropped (they have no meaning in
// HTTP/2 and make the message malformed), names that are not tokens dropped and values with
// CR, LF or NUL repaired, as the HTTP/1.1 serialiser does; nghttp2 lower-cases the names.
// Fields a parser has already validated (Header::wire_safe, e.g. an HTTP/1.1 upstream's
// response) skip the re-check, as in the HTTP/1.1 serialiser. Returns whether a Date field was
// seen; with `drop_content_length`, Content-Length fields are left out (204 and 1xx).
bool H2Core::append_fields_nva(const http::HeaderMap& fields, bool drop_content_length) {
  bool date = false;
  for (const auto& h : fields) {
    std::string_view name = h.name;
    if (http::is_hop_by_hop(name) || (!h.wire_safe && !http::is_token(name)))
      continue;
    if (name.size() == 4 && iequals(name, "date")) {
      date = true;
    } else if (drop_content_length && name.size() == 14 && iequals(name, "content-length")) {
      continue;
    }
    std::string_view value = h.value;
    if (!h.wire_safe && !is_clean_value(value)) {
      if (scratch_used_ == scratch_.size())
        scratch_.emplace_back();
      std::string& fixed = scratch_[scratch_used_++];
      fixed.assign(value);
      for (auto& ch : fixed)
        if (ch == '\r' || ch == '\n' || ch == '\0')
          ch = ' ';
      value = trim(fixed);
    }
    nva_.push_back(make_nv(name, value));
  }
  return date;
}

void H2Core::build_trailer_nva(const http::HeaderMap& fields) {
  nva_.clear();
  scratch_used_ = 0;
  append_fields_nva(fields, false);
}

void H2Core::build_response_nva(const http::Response& head, int status) {
  nva_.clear();
  scratch_used_ = 0;
  // Three digits (the parser and send_response only produce 100-999).
  status_text_[0] = char('0' + status / 100 % 10);
  status_text_[1] = char('0' + status / 10 % 10);
  status_text_[2] = char('0' + status % 10);
  nva_.push_back(make_nv(":status", std::string_view(status_text_.data(), 3)));
  bool date = append_fields_nva(head.headers, status == 204 || (status >= 100 && status < 200));
  if (status >= 200 && !date)
    nva_.push_back(make_nv("date", http::http_date()));
}

// ------------------------------------------------------------------------------------------
// H2Core: streams and handlers

H2Stream& H2Core::acquire(int32_t id) {
  std::unique_ptr<H2Stream> s;
  if (!spare_.empty()) {
    s = std::move(spare_.back());
    spare_.pop_back();
  } else {
    s = std::make_unique<H2Stream>(*this, ex_, worker_.ctx.deadlines);
  }
  s->reset(id);
  // The request must be in (headers and body) within readTimeout of its first frame; a header
  // block left unfinished blocks the whole connection and ends it (on_stream_deadline).
  if (ep_.read_timeout.count() > 0)
    s->deadline.expire_at(s->start + std::chrono::duration_cast<Clock::duration>(ep_.read_timeout));
  else
    s->deadline.clear();
  s->slot = streams_.size();
  H2Stream& ref = *s;
  streams_.push_back(std::move(s));
  nghttp2_session_set_stream_user_data(session_, id, &ref);
  last_ = &ref;
  if (!terminating_)
    deadline_.clear(); // not idle any more
  return ref;
}

void H2Core::maybe_release(H2Stream& s) {
  if (!s.h2_closed || s.handler_running || s.queued)
    return;
  s.deadline.clear();
  live_header_bytes_ -= s.builder.decoded_bytes() + s.trailer_bytes;
  if (last_ == &s)
    last_ = nullptr;
  size_t slot = s.slot;
  std::unique_ptr<H2Stream> freed = std::move(streams_[slot]);
  if (slot + 1 != streams_.size()) {
    streams_[slot] = std::move(streams_.back());
    streams_[slot]->slot = slot;
  }
  streams_.pop_back();
  if (spare_.size() < kSpareStreams) {
    // Kept for the next stream, but not with a large upload's buffers.
    for (std::string* b : {&freed->in, &freed->reading, &freed->owned})
      if (b->capacity() > kBodyCopy)
        std::string().swap(*b);
    spare_.push_back(std::move(freed));
  }
  if (streams_.empty()) {
    if (goaway_started_ && !dead())
      terminate(NGHTTP2_NO_ERROR);
    arm_idle();
  }
}

void H2Core::arm_idle() {
  if (!streams_.empty() || linger_ || terminating_)
    return;
  // An idle connection does not keep a large download's output buffer.
  if (out_.empty() && out_.capacity() > kWriteGather)
    std::string().swap(out_);
  deadline_.expire_after(std::chrono::duration_cast<Clock::duration>(ep_.idle_timeout));
}

void H2Core::on_conn_deadline() {
  if (linger_ || dead_ || terminating_) {
    close_transport();
    return;
  }
  if (streams_.empty())
    terminate(NGHTTP2_NO_ERROR); // idleTimeout
}

void H2Core::on_stream_deadline(H2Stream& s) {
  if (!s.headers_done) {
    // An unfinished header block stalls every stream of the connection (no other frame may
    // come in between): end the connection.
    goaway_reason_ = "request headers not completed within readTimeout";
    terminate(NGHTTP2_PROTOCOL_ERROR);
    return;
  }
  if (!s.in_done) {
    // readTimeout: the handler's next read() fails with kDownstreamTimeout (408 when nothing was
    // answered yet); the stream is reset once the handler is done.
    s.timed_out = true;
    H2Stream::notify(s.in_event);
    return;
  }
  // writeTimeout.
  reset_stream(s, NGHTTP2_CANCEL);
  cancel_handler(s);
}

void H2Core::spawn_ready() {
  // A handler resumed here may finish its stream at once (a local 400) and call handler_done,
  // which comes back here: the outer call does the work, again until nothing changes.
  if (spawning_) {
    respawn_ = true;
    return;
  }
  spawning_ = true;
  do {
    respawn_ = false;
    size_t kept = 0;
    for (size_t i = 0; i < ready_.size(); ++i) {
      H2Stream* s = ready_[i];
      if (s->h2_closed || dead()) {
        s->queued = false;
        maybe_release(*s);
        continue;
      }
      // Streams whose handler is still running count even after a reset (their upstream request
      // may still be being torn down): handlers never outnumber maxConcurrentStreams.
      if (running_ >= max_handlers_) {
        ready_[kept++] = s;
        continue;
      }
      s->queued = false;
      start_handler(*s);
    }
    ready_.resize(kept);
  } while (respawn_ && !ready_.empty());
  spawning_ = false;
}

void H2Core::start_handler(H2Stream& s) {
  s.handler_running = s.coroutine_live = true;
  ++running_;
  if (!idle_handlers_.empty()) {
    H2Handler* h = idle_handlers_.back();
    idle_handlers_.pop_back();
    s.handler = h;
    wake(*h, &s);
    return;
  }
  handlers_.push_back(std::make_unique<H2Handler>());
  H2Handler& h = *handlers_.back();
  h.stream = &s;
  s.handler = &h;
  ++live_handlers_;
  asio::co_spawn(ex_, handler_loop(h),
                 asio::bind_cancellation_slot(h.cancel.slot(), [this](std::exception_ptr e) {
                   if (e) {
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& ex) {
                       logger()->error("HTTP/2 stream handler failed: {}", ex.what());
                     }
                   }
                   if (--live_handlers_ == 0)
                     done_event_.cancel();
                 }));
}

void H2Core::wake(H2Handler& h, H2Stream* s) {
  assert(h.wake); // an idle handler waits
  h.stream = s;
  // Moved out first: the resumed coroutine may wait again (and set h.wake) before this returns.
  H2Handler::Wake w = std::move(*h.wake);
  h.wake.reset();
  w();
}

http::Task<void> H2Core::handler_loop(H2Handler& h) {
  // A reset stream cancels its handler's pending operation (an upstream read, a wait on the
  // client's window); the handler then sees an error value, never an exception.
  co_await asio::this_coro::throw_if_cancelled(false);
  while (h.stream != nullptr) {
    H2Stream& s = *h.stream;
    // A previous stream's cancellation must not be seen by this one.
    co_await asio::this_coro::reset_cancellation_state();
    // Served in this frame rather than in a coroutine of its own: one frame and one resumption
    // less per stream. A stream reset before its turn came costs no routing (Rapid Reset).
    if (!s.gone()) {
      try {
        http::Exchange ex = begin_exchange(s);
        if (s.local_status != 0) {
          auto err =
              co_await http::send_response(ex, s.local_status, http::reason_phrase(s.local_status));
          (void)err;
        } else {
          co_await route_and_serve(ex, worker_, ep_);
          end_exchange(s, ex);
        }
      } catch (const std::exception& e) {
        logger()->error("HTTP/2 stream handler failed: {}", e.what());
      }
    }
    s.coroutine_live = false;
    s.handler = nullptr;
    h.stream = nullptr;
    handler_done(s); // may recycle s, and start queued streams on other handlers
    if (closing_)
      break;
    idle_handlers_.push_back(&h);
    co_await asio::async_initiate<const asio::use_awaitable_t<turnpike::Executor>&, void()>(
        [&h](H2Handler::Wake w) { h.wake.emplace(std::move(w)); }, turnpike::use_task);
  }
}

void H2Core::cancel_handler(H2Stream& s) {
  if (s.coroutine_live && s.handler != nullptr)
    s.handler->cancel.emit(asio::cancellation_type::terminal);
}

void H2Core::release_handlers() {
  closing_ = true;
  while (!idle_handlers_.empty()) {
    H2Handler* h = idle_handlers_.back();
    idle_handlers_.pop_back();
    wake(*h, nullptr);
  }
}

http::Exchange H2Core::begin_exchange(H2Stream& s) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers" // the annotations start empty
  http::Exchange ex{.request = s.req,
                    .body = s,
                    .writer = &s,
                    .executor = ex_,
                    .worker_id = worker_.ctx.id,
                    .worker = &worker_.ctx,
                    .tls = tls_info_};
#pragma GCC diagnostic pop
  if (s.local_status == 0) {
    if (worker_.access_log)
      s.logged_target = s.req.target(); // before middlewares rewrite it
    http::strip_hop_by_hop(s.req.headers, false, ep_.forwarded.connection);
    http::apply_forwarded_headers(s.req, ep_.forwarded);
  }
  return ex;
}

void H2Core::end_exchange(H2Stream& s, http::Exchange& ex) {
  ex.status = s.status;
  ex.response_bytes = s.body_bytes;
  if (worker_.access_log)
    worker_.access_log->record(ex, s.start, s.logged_target);
}

void H2Core::handler_done(H2Stream& s) {
  s.handler_running = false;
  --running_;
  // A response that did not end (the upstream broke off mid-body, a timeout): the client must
  // see the stream fail rather than a clean but truncated body.
  if (!s.finished && !s.h2_closed && !dead())
    reset_stream(s, NGHTTP2_INTERNAL_ERROR);
  if (!s.in_done && s.response_complete && !s.h2_closed && !dead())
    reset_stream(s, NGHTTP2_NO_ERROR);
  maybe_release(s);
  if (!dead())
    spawn_ready();
  schedule_write();
}

void H2Core::abort_streams() {
  if (aborted_)
    return;
  aborted_ = true;
  for (auto& s : streams_) {
    H2Stream::notify(s->in_event);
    H2Stream::notify(s->out_event);
    cancel_handler(*s);
  }
  spawn_ready(); // drops the queued streams
}

void H2Core::begin_goaway() {
  if (goaway_started_ || dead())
    return;
  goaway_started_ = true;
  if (streams_.empty()) {
    terminate(NGHTTP2_NO_ERROR);
    return;
  }
  // RFC 9113 6.8: a GOAWAY with the largest stream id first, then after a round trip the real
  // one, so that requests already on the wire are not refused.
  nghttp2_submit_shutdown_notice(session_);
  nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, kDrainPing);
  schedule_write();
}

void H2Core::drain() {
  begin_goaway();
}

// ------------------------------------------------------------------------------------------
// H2Core: bytes in and out

bool H2Core::on_input(const uint8_t* data, size_t n) {
  if (input_done_ || dead_)
    return false;
  ssize_t rv = nghttp2_session_mem_recv(session_, data, n);
  if (rv < 0) {
    uint32_t code = NGHTTP2_PROTOCOL_ERROR;
    if (pending_goaway_ != 0)
      code = pending_goaway_ - 1;
    else if (rv == NGHTTP2_ERR_FLOODED || rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS)
      code = NGHTTP2_ENHANCE_YOUR_CALM;
    if (goaway_reason_.empty())
      goaway_reason_ = nghttp2_strerror(static_cast<int>(rv));
    terminate(code);
    return false;
  }
  if (pending_goaway_ != 0) {
    terminate(pending_goaway_ - 1);
    return false;
  }
  spawn_ready();
  schedule_write();
  return true;
}

void H2Core::gather_output() {
  while (out_.size() < kWriteGather) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) {
      logger()->debug("{}: HTTP/2 send: {}", ep_.name, nghttp2_strerror(static_cast<int>(n)));
      dead_ = true;
      return;
    }
    if (n == 0)
      break;
    out_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
  // A decision taken in a callback during sending (premature resets counted on close).
  if (pending_goaway_ != 0 && !input_done_) {
    terminate(pending_goaway_ - 1);
    gather_output();
  }
}

// ------------------------------------------------------------------------------------------
// The I/O loops over one stream type.

template <class Stream> class H2Connection final : public H2Core {
public:
  H2Connection(Stream stream, WorkerState& worker, const EntryPointOptions& ep,
               const tcp::endpoint& remote)
      : H2Core(stream.get_executor(), worker, ep, remote,
               !std::is_same_v<Stream, turnpike::TcpSocket>),
        stream_(std::move(stream)) {
    if constexpr (std::is_same_v<Stream, tls::TlsStream>)
      tls_info_ = stream_.info();
  }

  http::Task<void> run(std::string preread);

private:
  http::Task<void> read_loop(std::string preread);
  http::Task<void> write_loop();
  void close_transport() override {
    boost::system::error_code ec;
    stream_.lowest_layer().close(ec);
  }

  Stream stream_;
};

template <class Stream> http::Task<void> H2Connection<Stream>::read_loop(std::string preread) {
  if (!preread.empty())
    on_input(reinterpret_cast<const uint8_t*>(preread.data()), preread.size());
  std::vector<uint8_t> buf(kReadBuffer);
  for (;;) {
    auto [ec, n] = co_await turnpike::read_some(stream_, asio::buffer(buf), kNoThrow);
    if (n > 0) {
      if (!input_done_) {
        on_input(buf.data(), n);
      } else if (n > discard_budget_) {
        break;
      } else {
        discard_budget_ -= n;
      }
    }
    if (ec)
      break;
  }
  // The client closed (or the transport failed): nothing more can be sent either.
  dead_ = true;
  schedule_write();
}

template <class Stream> http::Task<void> H2Connection<Stream>::write_loop() {
  for (;;) {
    gather_output();
    if (out_.empty()) {
      if (dead_ || session_done())
        break;
      writer_waiting_ = true;
      write_event_.expires_at(Clock::time_point::max());
      co_await write_event_.async_wait(kNoThrow);
      continue;
    }
    if (dead_)
      break;
    auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(out_), kNoThrow);
    out_.clear();
    if (ec) {
      dead_ = true;
      break;
    }
  }
  abort_streams();
  boost::system::error_code ec;
  if (dead_) {
    close_transport();
    co_return;
  }
  // The session ended cleanly (GOAWAY sent, no stream left): half-close and let the client
  // close its side, reading (and dropping) what it still sends.
  linger_ = true;
  if (!input_done_) {
    input_done_ = true;
    discard_budget_ = kDiscardGraceful;
  }
  stream_.lowest_layer().shutdown(turnpike::TcpSocket::shutdown_send, ec);
  deadline_.expire_after(kLinger);
}

template <class Stream> http::Task<void> H2Connection<Stream>::run(std::string preread) {
  using namespace asio::experimental::awaitable_operators;
  if (!start_session()) {
    logger()->error("{}: cannot create an HTTP/2 session", ep_.name);
    co_return;
  }
  boost::system::error_code ec;
  stream_.lowest_layer().set_option(tcp::no_delay(true), ec);
  if (worker_.ctx.draining)
    drain();
  co_await (read_loop(std::move(preread)) && write_loop());
  dead_ = true;
  abort_streams();
  close_transport();
  release_handlers();
  while (live_handlers_ > 0) {
    done_event_.expires_at(Clock::time_point::max());
    co_await done_event_.async_wait(kNoThrow);
  }
}

} // namespace

bool starts_with_http2_preface(std::string_view bytes) {
  constexpr std::string_view kLine = "PRI * HTTP/2.0\r\n\r\n";
  return bytes.substr(0, kLine.size()) == kLine;
}

template <class Stream>
http::Task<void> serve_http2(Stream stream, WorkerState& worker, const EntryPointOptions& ep,
                             std::string preread, std::optional<tcp::endpoint> client) {
  boost::system::error_code ec;
  auto remote = client ? *client : stream.lowest_layer().remote_endpoint(ec);
  if (ec)
    co_return;
  OpenConnection counted(worker);
  H2Connection<Stream> conn(std::move(stream), worker, ep, remote);
  co_await conn.run(std::move(preread));
}

template http::Task<void> serve_http2<turnpike::TcpSocket>(turnpike::TcpSocket, WorkerState&,
                                                           const EntryPointOptions&, std::string,
                                                           std::optional<tcp::endpoint>);
template http::Task<void> serve_http2<tls::TlsStream>(tls::TlsStream, WorkerState&,
                                                      const EntryPointOptions&, std::string,
                                                      std::optional<tcp::endpoint>);

} // namespace turnpike::entrypoint
