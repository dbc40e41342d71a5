#pragma once
// HTTP/2 client connections to upstream servers (h2c:// with prior knowledge, https:// when ALPN
// chose h2), one nghttp2 client session each, multiplexing the requests of one worker that go to
// the same server through the same transport.
//
// Threading: worker-confined. A connection is owned by shared_ptr: the worker's H2Pool, its
// reader and writer coroutines, and every exchange with a stream on it hold a reference. nghttp2
// callbacks run inside the reader (mem_recv) and writer (mem_send); they only record state and
// wake the exchange waiting on the stream (H2Stream's events), never resume it inline.
//
// Flow control is end to end: received DATA is acknowledged (nghttp2_session_consume, hence
// WINDOW_UPDATE) only once the exchange has written it to the client, so a slow client holds at
// most one stream window of buffered data. The request body is read from the client only as
// nghttp2 frames what was given before (one chunk ahead).

#include <nghttp2/nghttp2.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/asio_types.h"
#include "common/deadline.h"
#include "http/exchange.h"
#include "service/event.h"
#include "service/upstream_pool.h"

namespace turnpike {
struct WorkerContext;
}

namespace turnpike::service {

struct TransportOptions;

// One request/response on an H2ClientConnection. Owned by the exchange that runs it
// (proxy_http2.cc), registered with the connection between attach() and detach(). The
// connection's callbacks fill the response side and wake `response_event`; nghttp2's data source
// drains `body` and wakes `send_event`.
struct H2Stream {
  explicit H2Stream(const turnpike::Executor& ex) : response_event(ex), send_event(ex) {}

  int32_t id = -1;                // -1 until submitted
  bool canonical_names = false;   // response field names in Go's canonical case (HTTP/1.x clients)

  // Response side.
  http::Response response;        // the final head (1xx heads are skipped)
  bool head_complete = false;
  http::HeaderMap trailers;
  size_t header_bytes = 0;        // received field bytes (bounded: kMaxHeaderBytes)
  std::string data;               // received body bytes not yet delivered
  bool end_stream = false;        // the upstream finished its side
  bool closed = false;            // the stream is over (reset, or the connection failed)
  uint32_t error_code = 0;        // the RST_STREAM code when reset
  bool refused = false;           // not processed by the upstream (REFUSED_STREAM, GOAWAY)
  std::string failure;            // why the connection failed, when it did
  bool timed_out = false;         // responseHeaderTimeout (set by the exchange's deadline)
  Event response_event;

  // Request body side.
  std::string body;               // bytes handed over, not yet framed from body_sent on
  size_t body_sent = 0;
  bool body_end = false;          // the whole body (and trailers) was handed over
  const http::HeaderMap* body_trailers = nullptr;
  bool body_deferred = false;     // nghttp2 is waiting for more (resume_body needed)
  Event send_event;
};

class H2ClientConnection : public std::enable_shared_from_this<H2ClientConnection> {
 public:
  enum class State {
    kConnecting,     // being dialled by one exchange; others may wait for it (wait_ready)
    kReady,          // session running
    kFallbackHttp1,  // https and ALPN chose HTTP/1.1: not usable as HTTP/2
    kClosed,         // failed, or finished after GOAWAY/idle timeout
  };

  H2ClientConnection(WorkerContext& ctx, std::string key, const TransportOptions& transport);
  ~H2ClientConnection();
  H2ClientConnection(const H2ClientConnection&) = delete;
  H2ClientConnection& operator=(const H2ClientConnection&) = delete;

  // The dialling exchange hands over the connected transport; the session starts (preface,
  // SETTINGS) and its reader/writer coroutines are spawned.
  void start(std::unique_ptr<UpstreamConnection> io);
  // The dial failed (kClosed, with `error`) or ALPN chose HTTP/1.1 (kFallbackHttp1): wakes the
  // exchanges in wait_ready and leaves the pool.
  void abandon(State state, http::ProxyError error);
  // Returns once the connection failed, fell back, or is running with the server's SETTINGS
  // received (so its stream limit is known): true; false when the waiting coroutine was
  // cancelled first.
  http::Task<bool> wait_ready();

  State state() const { return state_; }
  const http::ProxyError& connect_error() const { return connect_error_; }
  const std::string& key() const { return key_; }
  // A new stream may be attached: connecting or ready, no GOAWAY either way, and fewer attached
  // streams than the server's SETTINGS_MAX_CONCURRENT_STREAMS (100 assumed until it is known).
  bool has_capacity() const;
  // After wait_ready: whether `s` (attached) is within the server's limit. Exchanges that
  // attached while the limit was unknown and are beyond it detach and look elsewhere.
  bool admits(const H2Stream& s) const;
  bool idle() const { return streams_.empty(); }
  // Distinct upstream TCP connections the worker opened for HTTP/2 (tests, logs).
  uint64_t id() const { return id_; }

  // Streams. attach() reserves a slot before anything is sent; detach() resets the stream if it
  // is still open, returns its undelivered bytes to flow control and forgets it.
  void attach(H2Stream& s);
  void detach(H2Stream& s);
  // Sends the request HEADERS (END_STREAM unless `with_body`). Returns false (and sets
  // s.closed/failure) when the session refused it.
  bool submit(H2Stream& s, const std::vector<nghttp2_nv>& nva, bool with_body);
  // More request body (or its end) was put in s.body: let nghttp2 frame it.
  void resume_body(H2Stream& s);
  // `n` response body bytes of `s` were delivered to the client.
  void consume(H2Stream& s, size_t n);
  // Resets the stream (responseHeaderTimeout, client gone, bad response).
  void reset(H2Stream& s, uint32_t error_code);

  // Graceful close: no new streams; once the last stream detached (at once when idle) a GOAWAY
  // is sent and the socket closes.
  void shutdown();

  // nghttp2 callbacks (file-local trampolines call these).
  int on_header(const nghttp2_frame* frame, std::string_view name, std::string_view value);
  int on_frame_recv(const nghttp2_frame* frame);
  int on_data_chunk(uint8_t flags, int32_t stream_id, const uint8_t* data, size_t len);
  int on_stream_close(int32_t stream_id, uint32_t error_code);
  int on_frame_not_sent(const nghttp2_frame* frame, int lib_error);
  ssize_t read_body(int32_t stream_id, uint8_t* buf, size_t length, uint32_t* flags);

 private:
  http::Task<void> read_loop();
  http::Task<void> write_loop();
  // Closes the connection: every attached stream fails with `why`, the pool forgets it.
  void fail(const std::string& why);
  void wake_writer() { write_event_.notify(); }
  void on_ping_deadline();
  void became_idle();
  void send_goaway();
  size_t max_streams() const;
  H2Stream* stream(int32_t id) const;

  WorkerContext& ctx_;
  std::string key_;
  uint64_t id_;
  // Copied from the transport: the connection can outlive the snapshot that created it.
  Clock::duration idle_timeout_;
  Clock::duration read_idle_timeout_;
  Clock::duration ping_timeout_;
  size_t max_idle_;

  State state_ = State::kConnecting;
  http::ProxyError connect_error_;
  turnpike::SteadyTimer ready_timer_;  // waiters of wait_ready (cancel wakes them all)
  std::unique_ptr<UpstreamConnection> io_;  // socket (+TLS) and its deadline (idle timeout)
  nghttp2_session* session_ = nullptr;
  std::vector<H2Stream*> streams_;          // attached streams
  bool settings_received_ = false;          // the server's first SETTINGS frame arrived
  bool goaway_ = false;                     // received, or shutting down: no new streams
  bool goaway_sent_ = false;
  bool closed_ = false;
  std::string out_;                         // frames being written
  Event write_event_;
  Deadline ping_deadline_;                  // readIdleTimeout / pingTimeout
  bool ping_outstanding_ = false;
};

// The worker's HTTP/2 connections by pool key. Worker-confined.
class H2Pool {
 public:
  // A connection for `key` that can take a stream now (possibly still connecting), or null.
  std::shared_ptr<H2ClientConnection> find(const std::string& key) const;
  void add(std::shared_ptr<H2ClientConnection> conn);
  void remove(const H2ClientConnection* conn);
  // Connections for `key` with no stream.
  size_t idle_count(const std::string& key) const;
  // Graceful shutdown: no connection takes new streams; idle ones close now (with GOAWAY), busy
  // ones when their last stream ends.
  void close_all();
  size_t size() const;

 private:
  std::unordered_map<std::string, std::vector<std::shared_ptr<H2ClientConnection>>> conns_;
};

}  // namespace turnpike::service
