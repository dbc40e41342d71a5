#pragma once
// The blocking HTTP client providers use to read their sources (an HTTP endpoint, the Docker
// Engine API over its unix socket or TCP+TLS), on the provider's own thread (never the control
// thread or a worker). libcurl, driven through a multi handle so that stop() from another thread
// interrupts a transfer at once (curl_multi_wakeup) instead of at curl's next progress tick:
// stopping a provider whose events stream is idle must not hold up the gateway's shutdown.
//
// Threads: fetch() and stream() are called from one thread at a time (the provider's thread);
// stop() may be called from any thread, any number of times. After stop() every transfer fails
// with "stopped".

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <nlohmann/json.hpp>

#include "common/duration.h"
#include "common/result.h"
#include "config/static_config.h"

namespace turnpike::provider {

struct SourceRequest {
  std::string method = "GET";
  std::string url;         // http(s)://host/path; with unix_socket the host is ignored
  std::string unix_socket; // path of an AF_UNIX socket to connect to instead of TCP
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  Duration timeout = Duration::zero(); // whole transfer; 0 = none (event streams)
  Duration connect_timeout = std::chrono::seconds(5);
  const config::ProviderClientTls* tls = nullptr; // https only; null = system roots
  int64_t max_body = -1;                          // bytes, -1 = unlimited
};

struct SourceResponse {
  long status = 0;
  std::string content_type;
  std::string body;
};

class SourceClient {
public:
  SourceClient();
  ~SourceClient();
  SourceClient(const SourceClient&) = delete;
  SourceClient& operator=(const SourceClient&) = delete;

  // One request, whole body. Transport failures (connect, TLS, timeout, body too large, stop)
  // are errors naming the URL; any HTTP status is a response.
  Result<SourceResponse> fetch(const SourceRequest& request);

  // A long-lived streamed response (Docker /events, Kubernetes watches): `on_data` gets the body
  // as it arrives and returns false to end the transfer. Returns the status once the stream ends
  // (the server closed it, or on_data returned false); a non-2xx status's body is not streamed.
  Result<long> stream(const SourceRequest& request,
                      const std::function<bool(std::string_view)>& on_data);

  void stop();
  bool stopped() const { return stopped_; }

private:
  Result<void> perform(const SourceRequest& request, SourceResponse& response,
                       const std::function<bool(std::string_view)>* on_data, int64_t max_body);

  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> stopped_{false};
};

// For streams of JSON objects, one per line (Docker /events, Kubernetes watches): appends
// `data` to `pending` and calls `fn` for each complete line that is a JSON object (other lines
// are skipped); an incomplete last line stays in `pending`.
void for_each_json_line(std::string& pending, std::string_view data,
                        const std::function<void(const nlohmann::json&)>& fn);

} // namespace turnpike::provider
