#pragma once
// A small blocking HTTPS client on libcurl for the ACME thread pool (never the control thread or
// a worker): the ACME directory and its resources, and the httpreq DNS provider.
//
// Trust follows Traefik's resolver options: `ca_certificates` (PEM files or inline PEM) replace
// the system roots unless `ca_system_cert_pool` adds them back; `ca_server_name` is the name the
// server certificate must carry instead of the URL's host. Connections are kept open in a pool of
// curl handles, so the ACME flow keeps warm connections to the CA.
//
// Thread-safe: request() may be called from several threads at once. stop() aborts transfers in
// progress (they fail with "stopped") and makes later ones fail at once.

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/duration.h"
#include "common/result.h"

namespace turnpike::acme {

struct HttpClientOptions {
  std::vector<std::string> ca_certificates;  // file paths or PEM content
  bool ca_system_cert_pool = false;
  std::string ca_server_name;
  Duration timeout = std::chrono::minutes(2);                 // whole exchange (clientTimeout)
  Duration response_header_timeout = std::chrono::seconds(30);  // clientResponseHeaderTimeout
  std::string user_agent = "turnpike-acme";
  std::string basic_auth;  // "user:password", empty = none
};

struct HttpResponse {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, in order
  std::string body;

  // The first value of a header, or "".
  std::string header(std::string_view name) const;
  std::vector<std::string> header_all(std::string_view name) const;
  // Link header targets with rel=`rel` (RFC 8288), resolved against nothing (ACME sends absolute
  // URLs).
  std::vector<std::string> links(std::string_view rel) const;
};

class HttpClient {
 public:
  // Errors: a CA file that cannot be read.
  static Result<std::shared_ptr<HttpClient>> create(HttpClientOptions options);
  ~HttpClient();

  // `method` GET, HEAD or POST; `body` and `content_type` for POST. A transport failure (DNS,
  // connect, TLS, timeout, stop) is an error; any HTTP status is a response.
  Result<HttpResponse> request(std::string_view method, const std::string& url,
                               std::string_view body = {}, std::string_view content_type = {});

  void stop() { stopped_ = true; }
  bool stopped() const { return stopped_; }

 private:
  struct Shared;
  HttpClient(HttpClientOptions options, std::string ca_pem);

  HttpClientOptions options_;
  std::string ca_pem_;  // the configured roots, concatenated (empty = the system roots)
  std::unique_ptr<Shared> shared_;
  std::atomic<bool> stopped_{false};
};

}  // namespace turnpike::acme
