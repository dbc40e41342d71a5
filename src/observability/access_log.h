#pragma once
// Access log in Traefik's formats: `common` (Traefik's CLF with request count, router, server URL
// and duration), `genericCLF`, and `json` with Traefik's field names. Shared by all workers:
// record() formats on the calling worker and appends to a buffer under a short lock; the buffer
// is written out when it passes `bufferingSize` lines (0 = every line) and by flush().

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>

#include "common/deadline.h"
#include "common/duration.h"
#include "common/result.h"
#include "http/exchange.h"

namespace turnpike::observability {

struct AccessLogOptions {
  std::string file_path;          // empty = stdout
  std::string format = "common";  // common | genericCLF | json
  size_t buffering_size = 0;
  std::vector<std::pair<int, int>> status_filter;  // inclusive ranges; empty = all
  Duration min_duration = Duration::zero();
};

class AccessLog {
 public:
  static Result<std::unique_ptr<AccessLog>> open(const AccessLogOptions& opts);
  ~AccessLog();

  // Called by the worker when an exchange ends. Thread-safe.
  // `target` is the request target as the client sent it (after normalisation, before
  // middlewares rewrote the path), which is what Traefik logs as RequestPath.
  void record(const http::Exchange& ex, Clock::time_point started, std::string_view target);
  void flush();

 private:
  explicit AccessLog(AccessLogOptions opts, std::FILE* out, bool owned)
      : opts_(std::move(opts)), out_(out), owned_(owned) {}

  AccessLogOptions opts_;
  std::FILE* out_;
  bool owned_;
  std::mutex mu_;
  std::string pending_;
  size_t pending_lines_ = 0;
  std::atomic<uint64_t> count_{0};
};

}  // namespace turnpike::observability
