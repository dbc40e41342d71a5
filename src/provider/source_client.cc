#include "provider/source_client.h"

#include <mutex>

#include <curl/curl.h>

#include "common/strings.h"

namespace turnpike::provider {
namespace {

std::once_flag g_curl_init;

struct Transfer {
  SourceResponse* response = nullptr;
  const std::function<bool(std::string_view)>* on_data = nullptr;
  int64_t max_body = -1;
  bool too_large = false;
  bool aborted = false; // on_data asked to stop
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  if (t->on_data) {
    // A streamed error response is collected whole (it is small and explains the failure).
    if (t->response->status >= 200 && t->response->status < 300) {
      if (!(*t->on_data)(std::string_view(data, len))) {
        t->aborted = true;
        return 0;
      }
      return len;
    }
  }
  if (t->max_body >= 0 && int64_t(t->response->body.size() + len) > t->max_body) {
    t->too_large = true;
    return 0;
  }
  t->response->body.append(data, len);
  return len;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n'))
    line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {
    // The status is needed before the body arrives (streaming decides on it).
    auto parts = split(line, ' ');
    if (parts.size() >= 2) {
      auto code = parse_uint(parts[1]);
      t->response->status = code ? long(*code) : 0;
    }
    t->response->content_type.clear();
    return size * n;
  }
  auto colon = line.find(':');
  if (colon != std::string_view::npos && iequals(trim(line.substr(0, colon)), "content-type"))
    t->response->content_type = std::string(trim(line.substr(colon + 1)));
  return size * n;
}

} // namespace

struct SourceClient::Impl {
  CURLM* multi = nullptr;
  CURL* easy = nullptr;
  std::mutex mu; // guards `multi` against stop() racing with destruction
};

SourceClient::SourceClient() : impl_(std::make_unique<Impl>()) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  impl_->multi = curl_multi_init();
  impl_->easy = curl_easy_init();
}

SourceClient::~SourceClient() {
  std::lock_guard lock(impl_->mu);
  if (impl_->easy)
    curl_easy_cleanup(impl_->easy);
  if (impl_->multi)
    curl_multi_cleanup(impl_->multi);
  impl_->multi = nullptr;
}

void SourceClient::stop() {
  stopped_ = true;
  std::lock_guard lock(impl_->mu);
  if (impl_->multi)
    curl_multi_wakeup(impl_->multi);
}

namespace {

Result<void> run(CURLM* multi, CURL* easy, const std::atomic<bool>& stopped, Transfer& t,
                 const std::string& url) {
  curl_multi_add_handle(multi, easy);
  CURLcode result = CURLE_OK;
  bool done = false;
  while (!done) {
    if (stopped) {
      curl_multi_remove_handle(multi, easy);
      return make_error(url + ": stopped");
    }
    int running = 0;
    CURLMcode mc = curl_multi_perform(multi, &running);
    if (mc != CURLM_OK) {
      curl_multi_remove_handle(multi, easy);
      return make_error(url + ": " + curl_multi_strerror(mc));
    }
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg == CURLMSG_DONE) {
        result = msg->data.result;
        done = true;
      }
    }
    if (done || running == 0)
      break;
    curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
  }
  curl_multi_remove_handle(multi, easy);
  if (t.too_large)
    return make_error(url + ": response body larger than maxResponseBodySize");
  if (t.aborted)
    return {};
  if (result != CURLE_OK)
    return make_error(url + ": " + curl_easy_strerror(result));
  return {};
}

void setup(CURL* easy, const SourceRequest& r, curl_slist*& headers, Transfer& t) {
  curl_easy_reset(easy);
  curl_easy_setopt(easy, CURLOPT_URL, r.url.c_str());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, r.method.c_str());
  if (r.method == "HEAD")
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
  if (!r.body.empty() || r.method == "POST" || r.method == "PUT") {
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, r.body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(r.body.size()));
  }
  if (!r.unix_socket.empty())
    curl_easy_setopt(easy, CURLOPT_UNIX_SOCKET_PATH, r.unix_socket.c_str());
  for (const auto& [k, v] : r.headers)
    headers = curl_slist_append(headers, (k + ": " + v).c_str());
  if (headers)
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  if (r.timeout.count() > 0)
    curl_easy_setopt(
        easy, CURLOPT_TIMEOUT_MS,
        long(std::chrono::duration_cast<std::chrono::milliseconds>(r.timeout).count()));
  curl_easy_setopt(
      easy, CURLOPT_CONNECTTIMEOUT_MS,
      long(std::chrono::duration_cast<std::chrono::milliseconds>(r.connect_timeout).count()));
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "turnpike");
  curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
  if (r.tls) {
    // Each of ca, cert and key is a file path or, inline, the PEM itself (kubeconfig's *-data).
    auto pem_or_file = [&](const std::string& v, CURLoption file_opt, CURLoption blob_opt) {
      if (v.empty())
        return;
      if (v.find("-----BEGIN") == std::string::npos) {
        curl_easy_setopt(easy, file_opt, v.c_str());
        return;
      }
      curl_blob blob{const_cast<char*>(v.data()), v.size(), CURL_BLOB_COPY};
      curl_easy_setopt(easy, blob_opt, &blob);
    };
    pem_or_file(r.tls->ca, CURLOPT_CAINFO, CURLOPT_CAINFO_BLOB);
    pem_or_file(r.tls->cert, CURLOPT_SSLCERT, CURLOPT_SSLCERT_BLOB);
    pem_or_file(r.tls->key, CURLOPT_SSLKEY, CURLOPT_SSLKEY_BLOB);
    if (r.tls->insecure_skip_verify) {
      curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
    }
  }
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &t);
}

} // namespace

Result<void> SourceClient::perform(const SourceRequest& request, SourceResponse& response,
                                   const std::function<bool(std::string_view)>* on_data,
                                   int64_t max_body) {
  Transfer t;
  t.response = &response;
  t.on_data = on_data;
  t.max_body = max_body;
  curl_slist* headers = nullptr;
  setup(impl_->easy, request, headers, t);
  auto r = run(impl_->multi, impl_->easy, stopped_, t, request.url);
  curl_slist_free_all(headers);
  return r;
}

Result<SourceResponse> SourceClient::fetch(const SourceRequest& request) {
  SourceResponse response;
  auto r = perform(request, response, nullptr, request.max_body);
  if (!r)
    return r.error();
  return response;
}

Result<long> SourceClient::stream(const SourceRequest& request,
                                  const std::function<bool(std::string_view)>& on_data) {
  SourceResponse response;
  // A non-2xx response is not streamed: its (small) body explains the failure.
  auto r = perform(request, response, &on_data, 64 * 1024);
  if (!r)
    return r.error();
  if (response.status < 200 || response.status >= 300)
    return make_error(request.url + ": status " + std::to_string(response.status) + ": " +
                      std::string(trim(response.body.substr(0, 300))));
  return response.status;
}

void for_each_json_line(std::string& pending, std::string_view data,
                        const std::function<void(const nlohmann::json&)>& fn) {
  pending.append(data);
  size_t nl;
  while ((nl = pending.find('\n')) != std::string::npos) {
    auto j = nlohmann::json::parse(pending.substr(0, nl), nullptr, false);
    pending.erase(0, nl + 1);
    if (!j.is_discarded() && j.is_object())
      fn(j);
  }
}

} // namespace turnpike::provider
