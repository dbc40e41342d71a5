#include "acme/http_client.h"

#include <fstream>
#include <mutex>
#include <sstream>

#include <curl/curl.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "common/strings.h"

namespace turnpike::acme {
namespace {

using Clock = std::chrono::steady_clock;
std::once_flag g_curl_init;

struct Transfer {
  HttpResponse* response = nullptr;
  const HttpClient* client = nullptr;
  Clock::time_point started;
  Duration header_timeout{};
  bool got_header = false;
  bool header_timed_out = false;
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  t->response->body.append(data, size * n);
  return size * n;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {
    // A new status line (after a 100 Continue or a redirect): start over.
    t->response->headers.clear();
    t->got_header = true;
    return size * n;
  }
  auto colon = line.find(':');
  if (colon != std::string_view::npos)
    t->response->headers.emplace_back(to_lower(trim(line.substr(0, colon))),
                                      std::string(trim(line.substr(colon + 1))));
  return size * n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (t->client->stopped()) return 1;
  if (!t->got_header && t->header_timeout.count() > 0 &&
      Clock::now() - t->started > t->header_timeout) {
    t->header_timed_out = true;
    return 1;
  }
  return 0;
}

Result<std::string> read_ca(const std::string& value) {
  if (value.find("-----BEGIN") != std::string::npos)
    return Result<std::string>(boost::system::in_place_value, value);
  std::ifstream in(value, std::ios::binary);
  if (!in) return make_error("caCertificates: cannot read \"" + value + "\"");
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().find("-----BEGIN CERTIFICATE-----") == std::string::npos)
    return make_error("caCertificates: \"" + value + "\" holds no PEM certificate");
  return Result<std::string>(boost::system::in_place_value, ss.str());
}

struct CtxSetup {
  const std::string* ca_pem;
  bool system_pool;
  const std::string* server_name;
};

CURLcode on_ssl_ctx(CURL*, void* ssl_ctx, void* user) {
  auto* setup = static_cast<CtxSetup*>(user);
  auto* ctx = static_cast<SSL_CTX*>(ssl_ctx);
  if (!setup->ca_pem->empty()) {
    X509_STORE* store = X509_STORE_new();
    BIO* bio = BIO_new_mem_buf(setup->ca_pem->data(), static_cast<int>(setup->ca_pem->size()));
    STACK_OF(X509_INFO)* infos = PEM_X509_INFO_read_bio(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    for (int i = 0; infos && i < sk_X509_INFO_num(infos); ++i) {
      X509_INFO* info = sk_X509_INFO_value(infos, i);
      if (info->x509) X509_STORE_add_cert(store, info->x509);
    }
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
    if (setup->system_pool) X509_STORE_set_default_paths(store);
    SSL_CTX_set_cert_store(ctx, store);
  }
  if (!setup->server_name->empty())
    X509_VERIFY_PARAM_set1_host(SSL_CTX_get0_param(ctx), setup->server_name->c_str(), 0);
  return CURLE_OK;
}

}  // namespace

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return v;
  return "";
}

std::vector<std::string> HttpResponse::header_all(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) out.push_back(v);
  return out;
}

std::vector<std::string> HttpResponse::links(std::string_view rel) const {
  // Link: <url>;rel="alternate", <url2>;rel="up"  (possibly several headers)
  std::vector<std::string> out;
  for (const auto& value : header_all("link")) {
    size_t pos = 0;
    while ((pos = value.find('<', pos)) != std::string::npos) {
      size_t close = value.find('>', pos);
      if (close == std::string::npos) break;
      std::string url = value.substr(pos + 1, close - pos - 1);
      size_t next = value.find('<', close);
      std::string params = value.substr(close + 1, next == std::string::npos ? std::string::npos
                                                                             : next - close - 1);
      for (auto p : split(params, ';')) {
        auto eq = p.find('=');
        if (eq == std::string_view::npos || !iequals(trim(p.substr(0, eq)), "rel")) continue;
        auto v = trim(p.substr(eq + 1));
        if (v.size() >= 2 && v.front() == '"') v = v.substr(1, v.size() - 2);
        for (auto r : split(v, ' '))
          if (iequals(r, rel)) out.push_back(url);
      }
      pos = close;
    }
  }
  return out;
}

// Idle easy handles: each keeps its own connection cache, so a handle taken by a thread reuses
// the connection its last user left open. (A curl share of the connection cache between threads
// serialised the transfers here: 50 parallel orders took 20 s instead of a few.)
struct HttpClient::Shared {
  std::mutex mu;
  std::vector<CURL*> idle;
  CtxSetup setup{};

  CURL* take() {
    {
      std::lock_guard lock(mu);
      if (!idle.empty()) {
        CURL* c = idle.back();
        idle.pop_back();
        curl_easy_reset(c);  // options only; the connection cache stays
        return c;
      }
    }
    return curl_easy_init();
  }
  void give(CURL* c) {
    std::lock_guard lock(mu);
    idle.push_back(c);
  }
  ~Shared() {
    for (CURL* c : idle) curl_easy_cleanup(c);
  }
};

Result<std::shared_ptr<HttpClient>> HttpClient::create(HttpClientOptions options) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::string pem;
  for (const auto& ca : options.ca_certificates) {
    auto text = read_ca(ca);
    if (!text) return text.error();
    pem += *text;
    if (!pem.empty() && pem.back() != '\n') pem += '\n';
  }
  return std::shared_ptr<HttpClient>(new HttpClient(std::move(options), std::move(pem)));
}

HttpClient::HttpClient(HttpClientOptions options, std::string ca_pem)
    : options_(std::move(options)), ca_pem_(std::move(ca_pem)), shared_(std::make_unique<Shared>()) {
  shared_->setup = CtxSetup{&ca_pem_, options_.ca_system_cert_pool, &options_.ca_server_name};
}

HttpClient::~HttpClient() = default;

Result<HttpResponse> HttpClient::request(std::string_view method, const std::string& url,
                                         std::string_view body, std::string_view content_type) {
  if (stopped_) return make_error("stopped");
  HttpResponse response;
  Transfer t;
  t.response = &response;
  t.client = this;
  t.started = Clock::now();
  t.header_timeout = options_.response_header_timeout;

  CURL* curl = shared_->take();
  if (!curl) return make_error("curl_easy_init failed");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &on_progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(options_.timeout).count();
  if (ms > 0) curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, long(ms));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 30000L);
  if (!ca_pem_.empty() || !options_.ca_server_name.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION, &on_ssl_ctx);
    curl_easy_setopt(curl, CURLOPT_SSL_CTX_DATA, &shared_->setup);
  }
  // caServerName replaces the URL's host in the certificate check (set on the SSL_CTX above).
  if (!options_.ca_server_name.empty()) curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  if (!options_.basic_auth.empty()) {
    curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(curl, CURLOPT_USERPWD, options_.basic_auth.c_str());
  }
  struct curl_slist* headers = nullptr;
  std::string ct;
  if (method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.size()));
    ct = "Content-Type: " + std::string(content_type.empty() ? "application/json" : content_type);
    headers = curl_slist_append(headers, ct.c_str());
    headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  } else if (method != "GET") {
    shared_->give(curl);
    return make_error("unsupported method " + std::string(method));
  }
  if (headers) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  curl_slist_free_all(headers);
  shared_->give(curl);
  if (rc != CURLE_OK) {
    if (stopped_) return make_error("stopped");
    if (t.header_timed_out) return make_error(std::string(method) + " " + url +
                                              ": no response headers within the timeout");
    return make_error(std::string(method) + " " + url + ": " +
                      (errbuf[0] ? std::string(errbuf) : curl_easy_strerror(rc)));
  }
  return response;
}

}  // namespace turnpike::acme
