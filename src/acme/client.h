#pragma once
// An RFC 8555 ACME client: directory, nonces, accounts (with external account binding), orders,
// authorizations, challenges, finalization, certificate download with alternate chains, and RFC
// 9773 renewal information.
//
// Blocking: every call performs HTTP exchanges through HttpClient and may wait (polling), so it
// runs on the ACME thread pool only, never on the control thread or a worker. Thread-safe: one
// client per resolver is shared by the pool threads; the nonce pool is locked, the directory is
// fetched once. stop() makes waits and transfers end promptly with an error.
//
// Errors carry the CA's problem document (RFC 8555 §6.7: type, detail, subproblems) and the
// Retry-After the CA sent, so the resolver can log the CA's own words and back off as told.

#include <condition_variable>
#include <ctime>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/system/result.hpp>
#include <nlohmann/json.hpp>

#include "acme/crypto.h"
#include "acme/http_client.h"

namespace turnpike::acme {

inline constexpr std::string_view kErrorPrefix = "urn:ietf:params:acme:error:";

// An RFC 7807 / RFC 8555 problem document.
struct Problem {
  std::string type;  // full URN
  std::string detail;
  int status = 0;
  std::vector<Problem> subproblems;
  std::string identifier;  // subproblem identifier value, if any

  // The type without "urn:ietf:params:acme:error:" ("badNonce", "rateLimited").
  std::string short_type() const;
  bool is(std::string_view short_name) const { return short_type() == short_name; }
  // "rateLimited: too many certificates (5) already issued for this exact set of domains ..."
  std::string describe() const;
  static Problem from_json(const nlohmann::json& j);
};

struct AcmeError {
  std::string message;             // what failed, with the CA's detail when there is a problem
  std::optional<Problem> problem;  // set when the CA answered with a problem document
  std::optional<std::chrono::seconds> retry_after;  // Retry-After of that answer
};

// Lets boost::system::result<T, AcmeError>::value() throw a readable exception.
[[noreturn]] void throw_exception_from_error(const AcmeError& e, const boost::source_location& loc);

template <class T>
using AcmeResult = boost::system::result<T, AcmeError>;

struct Directory {
  std::string new_nonce, new_account, new_order, revoke_cert, key_change;
  std::string renewal_info;  // RFC 9773; empty when the CA does not offer it
  bool external_account_required = false;
  std::string terms_of_service;
  std::vector<std::string> profiles;  // meta.profiles keys
};

struct ExternalAccountBinding {
  std::string kid;
  std::string hmac_encoded;  // base64url, as the CA gives it
};

struct Account {
  std::string url;  // the kid
  nlohmann::json body;
};

struct Order {
  std::string url;
  std::string status;  // pending | ready | processing | valid | invalid
  std::vector<std::string> identifiers;
  std::vector<std::string> authorizations;
  std::string finalize;
  std::string certificate;
  std::optional<Problem> error;
  std::optional<std::chrono::seconds> retry_after;
};

struct Challenge {
  std::string type;  // http-01 | dns-01 | tls-alpn-01
  std::string url;
  std::string token;
  std::string status;
  std::optional<Problem> error;
};

struct Authorization {
  std::string url;
  std::string status;  // pending | valid | invalid | deactivated | expired | revoked
  std::string identifier;
  bool wildcard = false;
  std::vector<Challenge> challenges;
  std::optional<std::chrono::seconds> retry_after;

  const Challenge* find(std::string_view type) const;
  // The error of the failed challenge, if any.
  std::optional<Problem> challenge_error() const;
};

struct RenewalInfo {
  std::time_t window_start = 0;
  std::time_t window_end = 0;
  std::string explanation_url;
  std::optional<std::chrono::seconds> retry_after;
};

// Interruptible sleeps shared by everything that waits for one resolver.
class StopSignal {
 public:
  // Sleeps `d`; false when stop() was called before or during the wait.
  bool wait_for(std::chrono::milliseconds d);
  void stop();
  bool stopped() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
};

class AcmeClient {
 public:
  AcmeClient(std::shared_ptr<HttpClient> http, std::string directory_url,
             std::shared_ptr<StopSignal> stop);

  const std::string& directory_url() const { return directory_url_; }
  AcmeResult<Directory> directory();

  // Registers `key` (or finds the account that `key` already has: the CA answers 200 with its
  // URL) and makes it this client's account. `only_existing` asks for lookup only.
  AcmeResult<Account> register_account(const PrivateKey& key, const std::string& email,
                                       const std::optional<ExternalAccountBinding>& eab,
                                       bool only_existing = false);
  // Uses an account registered earlier (stored kid and key) without asking the CA.
  void use_account(std::string url, PrivateKey key);
  bool has_account() const;
  // The account object (POST-as-GET to the kid); fails with accountDoesNotExist after a CA reset.
  AcmeResult<Account> fetch_account();

  AcmeResult<Order> new_order(const std::vector<std::string>& domains, const std::string& profile,
                              const std::string& replaces);
  AcmeResult<Order> get_order(const std::string& url);
  // Every order URL of the account (RFC 8555 §7.1.2.1, all pages); empty when the CA does not
  // list orders.
  AcmeResult<std::vector<std::string>> list_orders();
  AcmeResult<Authorization> get_authorization(const std::string& url);
  AcmeResult<Challenge> respond(const Challenge& challenge);
  // The key authorization for a challenge token: token "." thumbprint(account key).
  std::string key_authorization(const std::string& token) const;

  // Polls until the authorization leaves "pending" (or `deadline`), honouring Retry-After; with
  // none, polls promptly (50 ms doubling to 2 s) instead of lego's fixed seconds.
  AcmeResult<Authorization> wait_authorization(const std::string& url,
                                               std::chrono::steady_clock::time_point deadline);
  // Polls until the order is in one of `states` or invalid (or `deadline`).
  AcmeResult<Order> wait_order(const std::string& url, const std::vector<std::string>& states,
                               std::chrono::steady_clock::time_point deadline);

  AcmeResult<Order> finalize(const Order& order, const std::string& csr_der);
  // Downloads the certificate chain (PEM). With `preferred_chain`, the default chain and the
  // alternates (Link rel="alternate") are searched for one whose top certificate's issuer common
  // name equals it; the default chain is kept when none does.
  AcmeResult<std::string> download(const std::string& url, const std::string& preferred_chain);

  // RFC 9773: the suggested renewal window of a certificate (CertificateInfo::ari_id).
  AcmeResult<RenewalInfo> renewal_info(const std::string& cert_id);

 private:
  struct Response {
    HttpResponse http;
    nlohmann::json json;  // null when the body is not JSON
  };
  AcmeResult<std::string> nonce();
  void keep_nonce(const HttpResponse& r);
  // Signs and POSTs `payload` (nullopt = POST-as-GET) with the account's kid, or with the JWK
  // when `use_jwk`; retries badNonce. A problem document or a non-2xx status is an error.
  AcmeResult<Response> post(const std::string& url, const std::optional<nlohmann::json>& payload,
                            bool use_jwk = false, const PrivateKey* key = nullptr);
  AcmeResult<std::string> sign(const std::string& url, const std::string& payload, bool use_jwk,
                               const PrivateKey& key);
  static Order parse_order(const std::string& url, const nlohmann::json& j);
  bool sleep(std::chrono::milliseconds d) { return stop_->wait_for(d); }

  std::shared_ptr<HttpClient> http_;
  std::string directory_url_;
  std::shared_ptr<StopSignal> stop_;

  mutable std::mutex mu_;
  std::optional<Directory> directory_;
  std::deque<std::string> nonces_;
  std::string account_url_;
  PrivateKey account_key_;
  std::string orders_url_;  // the account's "orders" member
};

// Retry-After as seconds: delta-seconds or an HTTP-date; nullopt when absent or unreadable.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value, std::time_t now);
// RFC 3339 timestamps ("2025-01-02T03:04:05Z", fractions and offsets allowed); nullopt if bad.
std::optional<std::time_t> parse_rfc3339(std::string_view text);
std::string format_rfc3339(std::time_t t);

}  // namespace turnpike::acme
