#include "acme/challenge.h"

#include <thread>

#include "common/log.h"

namespace turnpike::acme {
namespace {

const std::shared_ptr<spdlog::logger>& logger() {
  static auto l = log::get("acme");
  return l;
}

class Http01Handler final : public http::Handler {
 public:
  explicit Http01Handler(std::shared_ptr<const Http01Tokens> tokens) : tokens_(std::move(tokens)) {}

  http::Task<void> handle(http::Exchange& ex) const override {
    // Everything is computed before the co_await: GCC 12 miscompiles temporaries (ternaries,
    // conditions) inside an awaited expression.
    std::string_view path = ex.request.path;
    std::string body;
    int status = 404;
    if (path.starts_with(kHttp01Prefix)) {
      auto key_auth = tokens_->find(path.substr(kHttp01Prefix.size()), ex.request.host);
      if (key_auth) {
        body = std::move(*key_auth);
        status = 200;
      }
    }
    http::HeaderMap h;
    h.add("Content-Type", "text/plain");
    auto err = co_await http::send_response(ex, status, body, &h);
    if (err) ex.close_connection = true;
  }

 private:
  std::shared_ptr<const Http01Tokens> tokens_;
};

class Http01Solver final : public ChallengeSolver {
 public:
  Http01Solver(std::shared_ptr<Http01Tokens> tokens, Duration delay)
      : tokens_(std::move(tokens)), delay_(delay) {}
  std::string_view type() const override { return "http-01"; }
  Result<void> present(const ChallengeContext& c) override {
    tokens_->put(c.token, c.domain, c.key_authorization);
    return {};
  }
  Result<void> wait_ready(const ChallengeContext&, StopSignal& stop) override {
    if (delay_.count() > 0 &&
        !stop.wait_for(std::chrono::duration_cast<std::chrono::milliseconds>(delay_)))
      return make_error("stopped");
    return {};
  }
  void cleanup(const ChallengeContext& c) override { tokens_->remove(c.token); }

 private:
  std::shared_ptr<Http01Tokens> tokens_;
  Duration delay_;
};

class TlsAlpn01Solver final : public ChallengeSolver {
 public:
  TlsAlpn01Solver(TlsAlpnHooks hooks, Duration delay) : hooks_(std::move(hooks)), delay_(delay) {}
  std::string_view type() const override { return "tls-alpn-01"; }
  Result<void> present(const ChallengeContext& c) override {
    if (!hooks_) return make_error("TLS-ALPN-01 needs TLS serving, which is not available");
    auto cert = make_tls_alpn_certificate(c.domain, c.key_authorization);
    if (!cert) return cert.error();
    return hooks_.put(c.domain, *cert);
  }
  Result<void> wait_ready(const ChallengeContext&, StopSignal& stop) override {
    if (delay_.count() > 0 &&
        !stop.wait_for(std::chrono::duration_cast<std::chrono::milliseconds>(delay_)))
      return make_error("stopped");
    return {};
  }
  void cleanup(const ChallengeContext& c) override {
    if (hooks_) hooks_.remove(c.domain);
  }

 private:
  TlsAlpnHooks hooks_;
  Duration delay_;
};

}  // namespace

void Http01Tokens::put(const std::string& token, const std::string& domain,
                       const std::string& key_authorization) {
  std::lock_guard lock(mu_);
  tokens_[token] = Entry{domain, key_authorization};
}

void Http01Tokens::remove(const std::string& token) {
  std::lock_guard lock(mu_);
  tokens_.erase(token);
}

std::optional<std::string> Http01Tokens::find(std::string_view token, std::string_view host) const {
  std::lock_guard lock(mu_);
  auto it = tokens_.find(std::string(token));
  if (it == tokens_.end()) return std::nullopt;
  // As Traefik: the token answers only for the domain it was published for.
  if (!host.empty() && host != it->second.domain) {
    logger()->debug("HTTP-01 token requested for {} but published for {}", host, it->second.domain);
    return std::nullopt;
  }
  return it->second.key_authorization;
}

std::shared_ptr<const http::Handler> make_http01_handler(std::shared_ptr<const Http01Tokens> tokens) {
  return std::make_shared<Http01Handler>(std::move(tokens));
}

std::unique_ptr<ChallengeSolver> make_http01_solver(std::shared_ptr<Http01Tokens> tokens,
                                                    Duration delay) {
  return std::make_unique<Http01Solver>(std::move(tokens), delay);
}

std::unique_ptr<ChallengeSolver> make_tls_alpn01_solver(TlsAlpnHooks hooks, Duration delay) {
  return std::make_unique<TlsAlpn01Solver>(std::move(hooks), delay);
}

}  // namespace turnpike::acme
