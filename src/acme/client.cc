#include "acme/client.h"

#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "common/log.h"
#include "common/strings.h"

namespace turnpike::acme {
namespace {

using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr int kBadNonceRetries = 20;
constexpr std::string_view kJose = "application/jose+json";

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<std::string> identifiers(const json& j) {
  std::vector<std::string> out;
  auto it = j.find("identifiers");
  if (it == j.end() || !it->is_array()) return out;
  for (const auto& id : *it) out.push_back(str(id, "value"));
  return out;
}

const std::shared_ptr<spdlog::logger>& logger() {
  static auto l = log::get("acme");
  return l;
}

AcmeError make_acme_error(std::string message) { return AcmeError{std::move(message), {}, {}}; }

}  // namespace

void throw_exception_from_error(const AcmeError& e, const boost::source_location&) {
  throw std::runtime_error(e.message);
}

// ---- problems ----------------------------------------------------------------------------------

std::string Problem::short_type() const {
  if (type.starts_with(kErrorPrefix)) return type.substr(kErrorPrefix.size());
  return type;
}

std::string Problem::describe() const {
  std::string out = short_type().empty() ? "error" : short_type();
  if (!detail.empty()) out += ": " + detail;
  for (const auto& sub : subproblems) {
    out += " [" + (sub.identifier.empty() ? "" : sub.identifier + ": ") + sub.short_type();
    if (!sub.detail.empty()) out += ": " + sub.detail;
    out += "]";
  }
  return out;
}

Problem Problem::from_json(const json& j) {
  Problem p;
  if (!j.is_object()) return p;
  p.type = str(j, "type");
  p.detail = str(j, "detail");
  if (auto it = j.find("status"); it != j.end() && it->is_number_integer()) p.status = it->get<int>();
  if (auto it = j.find("identifier"); it != j.end() && it->is_object())
    p.identifier = str(*it, "value");
  if (auto it = j.find("subproblems"); it != j.end() && it->is_array())
    for (const auto& s : *it) p.subproblems.push_back(from_json(s));
  return p;
}

const Challenge* Authorization::find(std::string_view type) const {
  for (const auto& c : challenges)
    if (c.type == type) return &c;
  return nullptr;
}

std::optional<Problem> Authorization::challenge_error() const {
  for (const auto& c : challenges)
    if (c.error) return c.error;
  return std::nullopt;
}

// ---- time --------------------------------------------------------------------------------------

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value, std::time_t now) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (auto n = parse_uint(value)) return std::chrono::seconds(std::min<uint64_t>(*n, 86400 * 30));
  struct tm tm {};
  std::string text(value);
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end != '\0') return std::nullopt;
  std::time_t at = timegm(&tm);
  return std::chrono::seconds(at > now ? at - now : 0);
}

std::optional<std::time_t> parse_rfc3339(std::string_view text) {
  int y, mo, d, h, mi, s;
  std::string t(text);
  int consumed = 0;
  if (std::sscanf(t.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &consumed) != 6)
    return std::nullopt;
  std::string_view rest = std::string_view(t).substr(size_t(consumed));
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    while (!rest.empty() && rest.front() >= '0' && rest.front() <= '9') rest.remove_prefix(1);
  }
  long offset = 0;
  if (rest == "Z" || rest == "z") {
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    auto hh = parse_uint(rest.substr(1, 2));
    auto mm = parse_uint(rest.substr(4, 2));
    if (!hh || !mm) return std::nullopt;
    offset = long(*hh * 3600 + *mm * 60) * (rest[0] == '-' ? -1 : 1);
  } else {
    return std::nullopt;
  }
  struct tm tm {};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return timegm(&tm) - offset;
}

std::string format_rfc3339(std::time_t t) {
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// ---- stop --------------------------------------------------------------------------------------

bool StopSignal::wait_for(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [this] { return stopped_; });
  return !stopped_;
}

void StopSignal::stop() {
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
  }
  cv_.notify_all();
}

bool StopSignal::stopped() const {
  std::lock_guard lock(mu_);
  return stopped_;
}

// ---- client ------------------------------------------------------------------------------------

AcmeClient::AcmeClient(std::shared_ptr<HttpClient> http, std::string directory_url,
                       std::shared_ptr<StopSignal> stop)
    : http_(std::move(http)), directory_url_(std::move(directory_url)), stop_(std::move(stop)) {}

AcmeResult<Directory> AcmeClient::directory() {
  {
    std::lock_guard lock(mu_);
    if (directory_) return *directory_;
  }
  auto r = http_->request("GET", directory_url_);
  if (!r) return make_acme_error("directory " + directory_url_ + ": " + r.error().message);
  if (r->status != 200)
    return make_acme_error("directory " + directory_url_ + ": HTTP " + std::to_string(r->status));
  json j = json::parse(r->body, nullptr, false);
  if (!j.is_object()) return make_acme_error("directory " + directory_url_ + ": not a JSON object");
  Directory d;
  d.new_nonce = str(j, "newNonce");
  d.new_account = str(j, "newAccount");
  d.new_order = str(j, "newOrder");
  d.revoke_cert = str(j, "revokeCert");
  d.key_change = str(j, "keyChange");
  d.renewal_info = str(j, "renewalInfo");
  if (auto meta = j.find("meta"); meta != j.end() && meta->is_object()) {
    d.terms_of_service = str(*meta, "termsOfService");
    if (auto e = meta->find("externalAccountRequired"); e != meta->end() && e->is_boolean())
      d.external_account_required = e->get<bool>();
    if (auto p = meta->find("profiles"); p != meta->end() && p->is_object())
      for (const auto& [name, v] : p->items()) d.profiles.push_back(name);
  }
  if (d.new_nonce.empty() || d.new_account.empty() || d.new_order.empty())
    return make_acme_error("directory " + directory_url_ +
                           ": missing newNonce, newAccount or newOrder (is this an ACME directory?)");
  std::lock_guard lock(mu_);
  directory_ = d;
  return d;
}

void AcmeClient::keep_nonce(const HttpResponse& r) {
  auto n = r.header("replay-nonce");
  if (n.empty()) return;
  std::lock_guard lock(mu_);
  nonces_.push_back(std::move(n));
  // Nonces expire on the CA's side; a few spare ones are enough.
  while (nonces_.size() > 16) nonces_.pop_front();
}

AcmeResult<std::string> AcmeClient::nonce() {
  {
    std::lock_guard lock(mu_);
    if (!nonces_.empty()) {
      auto n = std::move(nonces_.back());
      nonces_.pop_back();
      return AcmeResult<std::string>(boost::system::in_place_value, std::move(n));
    }
  }
  auto dir = directory();
  if (!dir) return dir.error();
  auto r = http_->request("HEAD", dir->new_nonce);
  if (!r) return make_acme_error("newNonce: " + r.error().message);
  auto n = r->header("replay-nonce");
  if (n.empty()) return make_acme_error("newNonce: no Replay-Nonce in the answer (HTTP " +
                                        std::to_string(r->status) + ")");
  return AcmeResult<std::string>(boost::system::in_place_value, std::move(n));
}

AcmeResult<std::string> AcmeClient::sign(const std::string& url, const std::string& payload,
                                         bool use_jwk, const PrivateKey& key) {
  auto n = nonce();
  if (!n) return n.error();
  json prot;
  prot["alg"] = std::string(key.jws_alg());
  prot["nonce"] = *n;
  prot["url"] = url;
  if (use_jwk) {
    prot["jwk"] = key.jwk();
  } else {
    std::lock_guard lock(mu_);
    prot["kid"] = account_url_;
  }
  std::string protected64 = base64url(prot.dump());
  std::string payload64 = base64url(payload);
  auto sig = key.sign(protected64 + "." + payload64);
  if (!sig) return make_acme_error(sig.error().message);
  json jws;
  jws["protected"] = protected64;
  jws["payload"] = payload64;
  jws["signature"] = base64url(*sig);
  return AcmeResult<std::string>(boost::system::in_place_value, jws.dump());
}

AcmeResult<AcmeClient::Response> AcmeClient::post(const std::string& url,
                                                   const std::optional<json>& payload,
                                                   bool use_jwk, const PrivateKey* key) {
  PrivateKey signer;
  if (key) {
    signer = *key;
  } else {
    std::lock_guard lock(mu_);
    signer = account_key_;
  }
  if (!signer) return make_acme_error("no ACME account");
  std::string body = payload ? payload->dump() : std::string();
  for (int attempt = 0;; ++attempt) {
    if (stop_->stopped()) return make_acme_error("stopped");
    auto jws = sign(url, body, use_jwk, signer);
    if (!jws) return jws.error();
    auto started = SteadyClock::now();
    auto r = http_->request("POST", url, *jws, kJose);
    if (!r) return make_acme_error(r.error().message);
    logger()->debug("POST {} -> {} in {} ms", url, r->status,
                    std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - started).count());
    keep_nonce(*r);
    Response out;
    out.http = std::move(*r);
    auto ct = out.http.header("content-type");
    if (ct.find("json") != std::string::npos)
      out.json = json::parse(out.http.body, nullptr, false);
    if (out.json.is_discarded()) out.json = nullptr;
    auto retry_after = parse_retry_after(out.http.header("retry-after"), std::time(nullptr));
    if (out.http.status >= 200 && out.http.status < 300) return out;
    Problem p = Problem::from_json(out.json);
    if (p.status == 0) p.status = int(out.http.status);
    // badNonce is retryable by definition (RFC 8555 §6.5): the error answer carries a fresh
    // nonce, which keep_nonce() kept.
    if (p.is("badNonce") && attempt < kBadNonceRetries) continue;
    std::string what = p.type.empty() ? "HTTP " + std::to_string(out.http.status)
                                      : p.describe();
    return AcmeError{what, p.type.empty() ? std::nullopt : std::optional<Problem>(p), retry_after};
  }
}

AcmeResult<Account> AcmeClient::register_account(const PrivateKey& key, const std::string& email,
                                                  const std::optional<ExternalAccountBinding>& eab,
                                                  bool only_existing) {
  auto dir = directory();
  if (!dir) return dir.error();
  json payload = json::object();
  if (only_existing) {
    payload["onlyReturnExisting"] = true;
  } else {
    payload["termsOfServiceAgreed"] = true;
    if (!email.empty()) payload["contact"] = json::array({"mailto:" + email});
    if (eab) {
      auto mac_key = base64url_decode(eab->hmac_encoded);
      if (!mac_key) return make_acme_error("eab.hmacEncoded: not base64url");
      json prot;
      prot["alg"] = "HS256";
      prot["kid"] = eab->kid;
      prot["url"] = dir->new_account;
      std::string protected64 = base64url(prot.dump());
      std::string payload64 = base64url(key.jwk().dump());
      json binding;
      binding["protected"] = protected64;
      binding["payload"] = payload64;
      binding["signature"] = base64url(hmac_sha256(*mac_key, protected64 + "." + payload64));
      payload["externalAccountBinding"] = binding;
    } else if (dir->external_account_required) {
      return make_acme_error("the CA requires external account binding: set eab.kid and "
                             "eab.hmacEncoded");
    }
  }
  auto r = post(dir->new_account, payload, /*use_jwk=*/true, &key);
  if (!r) {
    auto e = r.error();
    e.message = "newAccount: " + e.message;
    return e;
  }
  Account a;
  a.url = r->http.header("location");
  a.body = r->json.is_object() ? r->json : json::object();
  if (a.url.empty()) return make_acme_error("newAccount: no Location in the answer");
  std::lock_guard lock(mu_);
  account_url_ = a.url;
  account_key_ = key;
  orders_url_ = str(a.body, "orders");
  return a;
}

void AcmeClient::use_account(std::string url, PrivateKey key) {
  std::lock_guard lock(mu_);
  account_url_ = std::move(url);
  account_key_ = std::move(key);
}

bool AcmeClient::has_account() const {
  std::lock_guard lock(mu_);
  return !account_url_.empty() && account_key_;
}

AcmeResult<Account> AcmeClient::fetch_account() {
  std::string url;
  {
    std::lock_guard lock(mu_);
    url = account_url_;
  }
  auto r = post(url, json::object());
  if (!r) return r.error();
  Account a{url, r->json.is_object() ? r->json : json::object()};
  std::lock_guard lock(mu_);
  orders_url_ = str(a.body, "orders");
  return a;
}

Order AcmeClient::parse_order(const std::string& url, const json& j) {
  Order o;
  o.url = url;
  o.status = str(j, "status");
  o.identifiers = identifiers(j);
  if (auto it = j.find("authorizations"); it != j.end() && it->is_array())
    for (const auto& a : *it)
      if (a.is_string()) o.authorizations.push_back(a.get<std::string>());
  o.finalize = str(j, "finalize");
  o.certificate = str(j, "certificate");
  if (auto it = j.find("error"); it != j.end() && it->is_object()) o.error = Problem::from_json(*it);
  return o;
}

AcmeResult<Order> AcmeClient::new_order(const std::vector<std::string>& domains,
                                        const std::string& profile, const std::string& replaces) {
  auto dir = directory();
  if (!dir) return dir.error();
  json ids = json::array();
  for (const auto& d : domains) ids.push_back({{"type", "dns"}, {"value", d}});
  json payload;
  payload["identifiers"] = ids;
  if (!profile.empty()) payload["profile"] = profile;
  if (!replaces.empty()) payload["replaces"] = replaces;
  auto r = post(dir->new_order, payload);
  if (!r) {
    auto e = r.error();
    e.message = "newOrder: " + e.message;
    return e;
  }
  auto url = r->http.header("location");
  if (url.empty()) return make_acme_error("newOrder: no Location in the answer");
  return parse_order(url, r->json);
}

AcmeResult<Order> AcmeClient::get_order(const std::string& url) {
  auto r = post(url, std::nullopt);
  if (!r) {
    auto e = r.error();
    e.message = "order " + url + ": " + e.message;
    return e;
  }
  Order o = parse_order(url, r->json);
  o.retry_after = parse_retry_after(r->http.header("retry-after"), std::time(nullptr));
  return o;
}

AcmeResult<std::vector<std::string>> AcmeClient::list_orders() {
  std::string url;
  {
    std::lock_guard lock(mu_);
    url = orders_url_;
  }
  if (url.empty()) {
    auto a = fetch_account();
    if (!a) return a.error();
    std::lock_guard lock(mu_);
    url = orders_url_;
  }
  std::vector<std::string> out;
  for (int page = 0; !url.empty() && page < 100; ++page) {
    auto r = post(url, std::nullopt);
    if (!r) return r.error();
    if (auto it = r->json.find("orders"); r->json.is_object() && it != r->json.end() && it->is_array())
      for (const auto& o : *it)
        if (o.is_string()) out.push_back(o.get<std::string>());
    auto next = r->http.links("next");
    url = next.empty() ? std::string() : next.front();
  }
  return out;
}

AcmeResult<Authorization> AcmeClient::get_authorization(const std::string& url) {
  auto r = post(url, std::nullopt);
  if (!r) {
    auto e = r.error();
    e.message = "authorization " + url + ": " + e.message;
    return e;
  }
  const json& j = r->json;
  Authorization a;
  a.url = url;
  a.status = str(j, "status");
  if (auto it = j.find("identifier"); it != j.end() && it->is_object()) a.identifier = str(*it, "value");
  if (auto it = j.find("wildcard"); it != j.end() && it->is_boolean()) a.wildcard = it->get<bool>();
  if (auto it = j.find("challenges"); it != j.end() && it->is_array()) {
    for (const auto& c : *it) {
      Challenge ch;
      ch.type = str(c, "type");
      ch.url = str(c, "url");
      ch.token = str(c, "token");
      ch.status = str(c, "status");
      if (auto e = c.find("error"); e != c.end() && e->is_object()) ch.error = Problem::from_json(*e);
      a.challenges.push_back(std::move(ch));
    }
  }
  a.retry_after = parse_retry_after(r->http.header("retry-after"), std::time(nullptr));
  return a;
}

AcmeResult<Challenge> AcmeClient::respond(const Challenge& challenge) {
  auto r = post(challenge.url, json::object());
  if (!r) {
    auto e = r.error();
    e.message = challenge.type + " challenge: " + e.message;
    return e;
  }
  Challenge out = challenge;
  out.status = str(r->json, "status");
  return out;
}

std::string AcmeClient::key_authorization(const std::string& token) const {
  std::lock_guard lock(mu_);
  return token + "." + account_key_.thumbprint();
}

namespace {
// Prompt polling: 50 ms, doubling to 2 s, unless the CA says otherwise.
std::chrono::milliseconds next_delay(std::chrono::milliseconds& backoff,
                                     const std::optional<std::chrono::seconds>& retry_after) {
  std::chrono::milliseconds d = backoff;
  backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  if (retry_after) d = std::min<std::chrono::milliseconds>(*retry_after, std::chrono::minutes(1));
  return d;
}
}  // namespace

AcmeResult<Authorization> AcmeClient::wait_authorization(const std::string& url,
                                                         SteadyClock::time_point deadline) {
  std::chrono::milliseconds backoff(50);
  for (;;) {
    auto a = get_authorization(url);
    if (!a) return a;
    if (a->status != "pending" && a->status != "processing") return a;
    auto d = next_delay(backoff, a->retry_after);
    if (SteadyClock::now() + d > deadline)
      return make_acme_error("authorization for " + a->identifier + " still " + a->status +
                             " at the deadline");
    if (!sleep(d)) return make_acme_error("stopped");
  }
}

AcmeResult<Order> AcmeClient::wait_order(const std::string& url,
                                         const std::vector<std::string>& states,
                                         SteadyClock::time_point deadline) {
  std::chrono::milliseconds backoff(50);
  for (;;) {
    auto o = get_order(url);
    if (!o) return o;
    if (o->status == "invalid") return o;
    for (const auto& s : states)
      if (o->status == s) return o;
    auto d = next_delay(backoff, o->retry_after);
    if (SteadyClock::now() + d > deadline)
      return make_acme_error("order " + url + " still " + o->status + " at the deadline");
    if (!sleep(d)) return make_acme_error("stopped");
  }
}

AcmeResult<Order> AcmeClient::finalize(const Order& order, const std::string& csr_der) {
  json payload;
  payload["csr"] = base64url(csr_der);
  auto r = post(order.finalize, payload);
  if (!r) {
    auto e = r.error();
    e.message = "finalize: " + e.message;
    return e;
  }
  Order o = parse_order(order.url, r->json);
  o.retry_after = parse_retry_after(r->http.header("retry-after"), std::time(nullptr));
  return o;
}

AcmeResult<std::string> AcmeClient::download(const std::string& url,
                                             const std::string& preferred_chain) {
  auto r = post(url, std::nullopt);
  if (!r) {
    auto e = r.error();
    e.message = "certificate download: " + e.message;
    return e;
  }
  std::string chain = r->http.body;
  if (split_pem_chain(chain).empty())
    return make_acme_error("certificate download: the answer holds no PEM certificate");
  auto ok = [](std::string s) { return AcmeResult<std::string>(boost::system::in_place_value, std::move(s)); };
  if (preferred_chain.empty() || chain_top_issuer_cn(chain) == preferred_chain) return ok(chain);
  for (const auto& alt : r->http.links("alternate")) {
    auto a = post(alt, std::nullopt);
    if (!a) continue;  // the default chain is still good
    if (!split_pem_chain(a->http.body).empty() &&
        chain_top_issuer_cn(a->http.body) == preferred_chain)
      return ok(a->http.body);
  }
  return ok(chain);
}

AcmeResult<RenewalInfo> AcmeClient::renewal_info(const std::string& cert_id) {
  auto dir = directory();
  if (!dir) return dir.error();
  if (dir->renewal_info.empty()) return make_acme_error("the CA does not offer renewalInfo");
  std::string base = dir->renewal_info;
  if (!base.empty() && base.back() != '/') base += '/';
  auto r = http_->request("GET", base + cert_id);
  if (!r) return make_acme_error("renewalInfo: " + r.error().message);
  if (r->status != 200)
    return make_acme_error("renewalInfo: HTTP " + std::to_string(r->status));
  json j = json::parse(r->body, nullptr, false);
  RenewalInfo info;
  auto w = j.is_object() ? j.find("suggestedWindow") : j.end();
  if (!j.is_object() || w == j.end() || !w->is_object())
    return make_acme_error("renewalInfo: no suggestedWindow");
  auto start = parse_rfc3339(str(*w, "start"));
  auto end = parse_rfc3339(str(*w, "end"));
  if (!start || !end || *end < *start) return make_acme_error("renewalInfo: bad suggestedWindow");
  info.window_start = *start;
  info.window_end = *end;
  info.explanation_url = str(j, "explanationURL");
  info.retry_after = parse_retry_after(r->header("retry-after"), std::time(nullptr));
  return info;
}

}  // namespace turnpike::acme
