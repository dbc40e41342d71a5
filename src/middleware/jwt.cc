#include "middleware/jwt.h"

#include <limits>

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/strings.h"
#include "middleware/decode_support.h"
#include "middleware/local_reply.h"

namespace turnpike::middleware {
namespace {

using json = nlohmann::json;

constexpr int64_t kJwksMaxAgeNs = 15LL * 60 * 1'000'000'000;
constexpr int64_t kJwksMinGapNs = 10LL * 1'000'000'000;

// RFC 4648 section 5, without padding (JWS); false on any other byte.
bool base64url_decode(std::string_view in, std::string& out) {
  out.clear();
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '-')
      v = 62;
    else if (c == '_')
      v = 63;
    else
      return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return bits < 6; // a lone trailing sextet is not valid base64
}

std::shared_ptr<EVP_PKEY> own(EVP_PKEY* k) {
  return {k, EVP_PKEY_free};
}

const EVP_MD* digest_for(std::string_view alg) {
  if (alg.size() != 5)
    return nullptr;
  const auto bits = alg.substr(2);
  if (bits == "256")
    return EVP_sha256();
  if (bits == "384")
    return EVP_sha384();
  if (bits == "512")
    return EVP_sha512();
  return nullptr;
}

bool key_suits(const JwtKey& key, std::string_view alg) {
  if (!key.alg.empty() && key.alg != alg)
    return false;
  if (alg.starts_with("HS"))
    return !key.secret.empty();
  if (!key.public_key)
    return false;
  EVP_PKEY* pk = key.public_key.get();
  if (alg.starts_with("RS") || alg.starts_with("PS"))
    return EVP_PKEY_is_a(pk, "RSA");
  if (alg == "ES256")
    return EVP_PKEY_is_a(pk, "EC") && EVP_PKEY_get_bits(pk) == 256;
  if (alg == "ES384")
    return EVP_PKEY_is_a(pk, "EC") && EVP_PKEY_get_bits(pk) == 384;
  if (alg == "ES512")
    return EVP_PKEY_is_a(pk, "EC") && EVP_PKEY_get_bits(pk) == 521;
  if (alg == "EdDSA")
    return EVP_PKEY_is_a(pk, "ED25519");
  return false;
}

// JWS ES* signatures are r || s; OpenSSL verifies DER.
std::string ecdsa_der(std::string_view raw) {
  const size_t n = raw.size() / 2;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r =
      BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(n), nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data() + n), static_cast<int>(n),
                        nullptr);
  ECDSA_SIG_set0(sig, r, s);
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig, &der);
  std::string out =
      len > 0 ? std::string(reinterpret_cast<char*>(der), static_cast<size_t>(len)) : "";
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  return out;
}

bool verify_signature(const JwtKey& key, std::string_view alg, std::string_view signed_part,
                      std::string_view signature) {
  const EVP_MD* md = digest_for(alg);
  if (alg.starts_with("HS")) {
    if (!md)
      return false;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!HMAC(md, key.secret.data(), static_cast<int>(key.secret.size()),
              reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(), mac,
              &len))
      return false;
    return len == signature.size() && CRYPTO_memcmp(mac, signature.data(), len) == 0;
  }
  if (alg != "EdDSA" && !md)
    return false;
  std::string der;
  if (alg.starts_with("ES")) {
    const size_t expected = alg == "ES256" ? 64 : alg == "ES384" ? 96 : 132;
    if (signature.size() != expected)
      return false;
    der = ecdsa_der(signature);
    signature = der;
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  bool ok = EVP_DigestVerifyInit(ctx, &pctx, alg == "EdDSA" ? nullptr : md, nullptr,
                                 key.public_key.get()) == 1;
  if (ok && alg.starts_with("PS")) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
  }
  ok = ok && EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                              signature.size(),
                              reinterpret_cast<const unsigned char*>(signed_part.data()),
                              signed_part.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

std::optional<std::string> b64_field(const json& jwk, const char* name) {
  auto it = jwk.find(name);
  if (it == jwk.end() || !it->is_string())
    return std::nullopt;
  std::string out;
  if (!base64url_decode(it->get<std::string>(), out) || out.empty())
    return std::nullopt;
  return out;
}

std::shared_ptr<EVP_PKEY> from_params(const char* type, OSSL_PARAM_BLD* bld) {
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* pkey = nullptr;
  if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1)
    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  return pkey ? own(pkey) : nullptr;
}

std::shared_ptr<EVP_PKEY> jwk_key(const json& jwk) {
  const std::string kty = jwk.value("kty", "");
  if (kty == "RSA") {
    auto n = b64_field(jwk, "n"), e = b64_field(jwk, "e");
    if (!n || !e)
      return nullptr;
    BIGNUM* bn = BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()),
                           static_cast<int>(n->size()), nullptr);
    BIGNUM* be = BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()),
                           static_cast<int>(e->size()), nullptr);
    OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn);
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be);
    auto key = from_params("RSA", bld);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    return key;
  }
  if (kty == "EC") {
    const std::string crv = jwk.value("crv", "");
    const char* group = crv == "P-256"   ? "prime256v1"
                        : crv == "P-384" ? "secp384r1"
                        : crv == "P-521" ? "secp521r1"
                                         : nullptr;
    auto x = b64_field(jwk, "x"), y = b64_field(jwk, "y");
    if (!group || !x || !y)
      return nullptr;
    std::string point = "\x04" + *x + *y;
    OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
    auto key = from_params("EC", bld);
    OSSL_PARAM_BLD_free(bld);
    return key;
  }
  if (kty == "OKP" && jwk.value("crv", "") == "Ed25519") {
    auto x = b64_field(jwk, "x");
    if (!x)
      return nullptr;
    EVP_PKEY* k = EVP_PKEY_new_raw_public_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(x->data()), x->size());
    return k ? own(k) : nullptr;
  }
  return nullptr;
}

const json* claim_at(const json& claims, std::string_view path) {
  const json* at = &claims;
  for (auto part : split(path, '.')) {
    if (!at->is_object())
      return nullptr;
    auto it = at->find(std::string(part));
    if (it == at->end())
      return nullptr;
    at = &*it;
  }
  return at;
}

std::string claim_text(const json& v) {
  if (v.is_string())
    return v.get<std::string>();
  if (v.is_array()) {
    std::string out;
    for (const auto& e : v)
      out += (out.empty() ? "" : ",") + claim_text(e);
    return out;
  }
  return v.dump();
}

constexpr std::array<Predicate::Function, 5> kClaimFunctions{{
    {"Equals", 2, true, true},
    {"Prefix", 2, true, true},
    {"Contains", 2, true, true},
    {"SplitContains", 3, true, true},
    {"OneOf", -1, true, true},
}};

bool claim_function(size_t fn, std::span<const Predicate::Arg> a, const json& claims) {
  const json* v = claim_at(claims, a[0].text);
  if (!v)
    return false;
  switch (fn) {
  case 0:
    return !v->is_array() && claim_text(*v) == a[1].text;
  case 1:
    return v->is_string() && v->get<std::string>().starts_with(a[1].text);
  case 2:
    if (v->is_array()) {
      for (const auto& e : *v)
        if (claim_text(e) == a[1].text)
          return true;
      return false;
    }
    return v->is_string() && v->get<std::string>().find(a[1].text) != std::string::npos;
  case 3: {
    if (!v->is_string())
      return false;
    const std::string text = v->get<std::string>(); // split() returns views into it
    for (auto part : split(text, a[1].text.empty() ? ' ' : a[1].text[0]))
      if (trim(part) == a[2].text)
        return true;
    return false;
  }
  default:
    if (v->is_array())
      return false;
    for (size_t i = 1; i < a.size(); ++i)
      if (claim_text(*v) == a[i].text)
        return true;
    return false;
  }
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

} // namespace

Result<JwtKeys> parse_jwks(std::string_view text) {
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array())
    return make_error("not a JWKS document ({\"keys\": [...]})");
  JwtKeys keys;
  for (const auto& jwk : doc["keys"]) {
    if (!jwk.is_object() || jwk.value("use", "sig") != "sig")
      continue;
    auto pk = jwk_key(jwk);
    if (!pk)
      continue;
    keys.push_back(JwtKey{jwk.value("kid", ""), jwk.value("alg", ""), "", std::move(pk)});
  }
  return keys;
}

Result<std::shared_ptr<EVP_PKEY>> parse_public_key(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = nullptr;
  if (pem.find("CERTIFICATE") != std::string_view::npos) {
    X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    if (cert)
      key = X509_get_pubkey(cert);
    X509_free(cert);
  } else {
    key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  }
  BIO_free(bio);
  if (!key)
    return make_error("not a PEM public key or certificate");
  return own(key);
}

JwtCheck verify_jwt(std::string_view token, const JwtKeys& keys, int64_t now_seconds) {
  JwtCheck out;
  const size_t d1 = token.find('.');
  const size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) {
    out.error = "not a compact JWS";
    return out;
  }
  std::string header_text, signature;
  if (!base64url_decode(token.substr(0, d1), header_text) ||
      !base64url_decode(token.substr(d1 + 1, d2 - d1 - 1), out.payload) ||
      !base64url_decode(token.substr(d2 + 1), signature)) {
    out.error = "bad base64url";
    return out;
  }
  json header = json::parse(header_text, nullptr, false);
  if (header.is_discarded() || !header.is_object() || !header.contains("alg") ||
      !header["alg"].is_string()) {
    out.error = "bad header";
    return out;
  }
  const std::string alg = header["alg"].get<std::string>();
  out.kid = header.value("kid", "");
  const std::string_view signed_part = token.substr(0, d2);
  bool verified = false;
  for (const auto& key : keys) {
    if (!out.kid.empty() && !key.kid.empty() && key.kid != out.kid)
      continue;
    if (!key_suits(key, alg))
      continue;
    if (verify_signature(key, alg, signed_part, signature)) {
      verified = true;
      break;
    }
  }
  if (!verified) {
    out.error = "signature not verified (alg " + alg + ")";
    return out;
  }
  json claims = json::parse(out.payload, nullptr, false);
  if (claims.is_discarded() || !claims.is_object()) {
    out.error = "bad payload";
    return out;
  }
  if (auto exp = claims.find("exp"); exp != claims.end()) {
    if (!exp->is_number() || now_seconds >= exp->get<double>()) {
      out.error = "expired";
      return out;
    }
  }
  if (auto nbf = claims.find("nbf"); nbf != claims.end()) {
    if (!nbf->is_number() || now_seconds < nbf->get<double>()) {
      out.error = "not valid yet";
      return out;
    }
  }
  out.ok = true;
  return out;
}

Result<Predicate> parse_claims_expression(std::string_view text) {
  return Predicate::parse(text, kClaimFunctions);
}

bool claims_hold(const Predicate& expression, const json& claims) {
  return expression.eval([&](size_t fn, std::span<const Predicate::Arg> a) -> double {
    return claim_function(fn, a, claims) ? 1 : 0;
  });
}

void forward_claims(http::Exchange& ex, const json& claims,
                    const std::vector<std::pair<std::string, std::string>>& forward_headers,
                    const std::string& username_claim) {
  for (const auto& [header, path] : forward_headers) {
    ex.request.headers.remove(header); // never the client's own
    if (const json* v = claim_at(claims, path))
      ex.request.headers.set(header, claim_text(*v));
  }
  if (!username_claim.empty()) {
    if (const json* v = claim_at(claims, username_claim))
      ex.username = claim_text(*v);
  }
}

ClaimsOptions ClaimsOptions::decode(config::Decoder& dec) {
  ClaimsOptions out;
  std::string claims;
  std::map<std::string, std::string> forward_headers;
  dec.get("claims", claims);
  dec.get("forwardHeaders", forward_headers);
  dec.get("usernameClaim", out.username_claim);
  if (!claims.empty()) {
    auto p = parse_claims_expression(claims);
    if (!p)
      dec.fail("claims", p.error().message);
    else
      out.claims = std::move(*p);
  }
  for (const auto& [header, claim] : forward_headers) {
    if (!is_header_name(header))
      dec.fail("forwardHeaders." + header, "not a header name");
    out.forward_headers.emplace_back(header, claim);
  }
  return out;
}

void JwksCache::store(JwtKeys keys, int64_t now) {
  keys_.store(std::make_shared<const JwtKeys>(std::move(keys)));
  fetched_ns_.store(now);
}

bool JwksCache::claim_refresh(int64_t now, int64_t min_gap_ns) {
  // The gap applies between gap-limited refreshes (unknown kids) only.
  const int64_t last = attempted_ns_.load();
  if (min_gap_ns > 0 && last != 0 && now - last < min_gap_ns)
    return false;
  bool expected = false;
  if (!refreshing_.compare_exchange_strong(expected, true))
    return false;
  if (min_gap_ns > 0)
    attempted_ns_.store(now);
  return true;
}

std::shared_ptr<const json> VerifiedTokens::find(const std::string& token, int64_t now_s,
                                                 const std::shared_ptr<const JwtKeys>& keys) {
  auto it = map_.find(token);
  if (it == map_.end())
    return nullptr;
  const auto now = static_cast<double>(now_s);
  if (it->second.keys != keys || now >= it->second.exp || now < it->second.nbf) {
    map_.erase(it);  // expired, not valid yet, or other keys now: verify it again
    return nullptr;
  }
  return it->second.claims;
}

void VerifiedTokens::insert(const std::string& token, std::shared_ptr<const json> claims,
                            std::shared_ptr<const JwtKeys> keys) {
  if (token.size() > kMaxTokenBytes)
    return;
  if (map_.size() >= kMaxEntries)
    map_.clear();
  // verify_jwt accepted the token, so exp and nbf, when present, are numbers.
  const double inf = std::numeric_limits<double>::infinity();
  const auto exp = claims->find("exp"), nbf = claims->find("nbf");
  const double e = exp != claims->end() && exp->is_number() ? exp->get<double>() : inf;
  const double n = nbf != claims->end() && nbf->is_number() ? nbf->get<double>() : -inf;
  map_.insert_or_assign(token, Entry{std::move(claims), std::move(keys), e, n});
}

Jwt::Jwt(std::shared_ptr<const JwtOptions> options, std::shared_ptr<JwksCache> cache,
         HandlerPtr next, unsigned workers)
    : options_(std::move(options)), cache_(std::move(cache)), next_(std::move(next)),
      verified_(workers) {}

http::Task<std::shared_ptr<const JwtKeys>> Jwt::jwks(http::Exchange& ex, bool unknown_kid) const {
  auto current = cache_->keys();
  const int64_t now = now_ns();
  const bool stale = !current || now - cache_->fetched_ns() > kJwksMaxAgeNs;
  if (!stale && !unknown_kid)
    co_return current;
  // Without keys every request may fetch; with keys one refresh at a time, unknown kids at most
  // every kJwksMinGapNs.
  const bool claimed = cache_->claim_refresh(now, unknown_kid ? kJwksMinGapNs : 0);
  if (!claimed && current)
    co_return current;
  http::Request req;
  req.method = "GET";
  req.headers.set("Accept", "application/json");
  auto answer = co_await options_->jwks_client->call(ex, std::move(req), std::string());
  if (claimed)
    cache_->release_refresh();
  if (!answer || answer->head.status != 200)
    co_return current;
  auto keys = parse_jwks(answer->body);
  if (!keys)
    co_return current;
  cache_->store(std::move(*keys), now);
  co_return cache_->keys();
}

http::Task<void> Jwt::handle(http::Exchange& ex) const {
  const JwtOptions& o = *options_;
  http::Request& req = ex.request;
  const std::string token = o.token_source.find(req);
  if (token.empty()) {
    co_await reply_unauthorized(ex, "Bearer");
    co_return;
  }
  const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  std::shared_ptr<const JwtKeys> fetched;
  if (o.jwks_client)
    fetched = co_await jwks(ex, false);
  VerifiedTokens& verified = verified_[ex.worker_id];
  std::shared_ptr<const json> parsed = verified.find(token, now_s, fetched);
  if (!parsed) {
    JwtKeys keys = o.static_keys;
    if (fetched)
      keys.insert(keys.end(), fetched->begin(), fetched->end());
    JwtCheck check = verify_jwt(token, keys, now_s);
    if (!check.ok && o.jwks_client && !check.kid.empty()) {
      const bool known =
          fetched && std::any_of(fetched->begin(), fetched->end(),
                                 [&](const JwtKey& k) { return k.kid == check.kid; });
      if (!known) {
        auto refreshed = co_await jwks(ex, true);
        if (refreshed && refreshed != fetched) {
          keys = o.static_keys;
          keys.insert(keys.end(), refreshed->begin(), refreshed->end());
          check = verify_jwt(token, keys, now_s);
          fetched = std::move(refreshed);
        }
      }
    }
    if (!check.ok) {
      co_await reply_unauthorized(ex, "Bearer");
      co_return;
    }
    parsed = std::make_shared<const json>(json::parse(check.payload, nullptr, false));
    verified.insert(token, parsed, fetched);
  }
  const json& claims = *parsed;
  if (o.claims.claims && !claims_hold(*o.claims.claims, claims)) {
    co_await reply(ex, 403, status_text(403));
    co_return;
  }
  forward_claims(ex, claims, o.claims.forward_headers, o.claims.username_claim);
  if (!o.forward_authorization)
    req.headers.remove("Authorization");
  co_await next_->handle(ex);
}

Wrap build_jwt(config::Decoder& dec, BuildContext& ctx) {
  ErrorMark mark(dec);
  auto opts = std::make_shared<JwtOptions>();
  std::string secret, public_key, jwks_file, jwks_url;
  bool secret_b64 = false;
  dec.get("signingSecret", secret);
  dec.get("signingSecretBase64Encoded", secret_b64);
  dec.get("publicKey", public_key);
  dec.get("jwksFile", jwks_file);
  dec.get("jwksUrl", jwks_url);
  opts->token_source.header = "Authorization";
  opts->token_source.header_auth_scheme = "Bearer";
  dec.get("tokenKey", opts->token_source.query);
  opts->claims = ClaimsOptions::decode(dec);
  dec.get("forwardAuthorization", opts->forward_authorization);
  std::optional<service::TlsClientOptions> tls;
  if (const auto* cc = dec.section("clientConfig")) {
    config::Decoder cd(*cc, dec.child_path("clientConfig"), dec.errors());
    tls = decode_client_tls(cd);
    int64_t unused = 0;
    cd.get("timeoutSeconds", unused); // bounded by the transport's own timeouts
    cd.get("maxRetries", unused);
    cd.finish();
  }
  dec.finish();

  const int sources =
      !secret.empty() + !public_key.empty() + !jwks_file.empty() + !jwks_url.empty();
  if (sources == 0)
    dec.fail("", "one of signingSecret, publicKey, jwksFile or jwksUrl is required");
  else if (sources > 1)
    dec.fail("", "signingSecret, publicKey, jwksFile and jwksUrl are mutually exclusive");
  if (!secret.empty()) {
    std::string decoded = secret;
    if (secret_b64) {
      // Standard or URL-safe alphabet, padding optional.
      std::string s = secret;
      for (char& c : s)
        c = c == '+' ? '-' : c == '/' ? '_' : c;
      while (!s.empty() && s.back() == '=')
        s.pop_back();
      if (!base64url_decode(s, decoded) || decoded.empty())
        dec.fail("signingSecret", "is not valid base64");
    }
    opts->static_keys.push_back(JwtKey{"", "", decoded, nullptr});
  }
  if (!public_key.empty()) {
    auto k = parse_public_key(public_key);
    if (!k)
      dec.fail("publicKey", k.error().message);
    else
      opts->static_keys.push_back(JwtKey{"", "", "", *k});
  }
  if (!jwks_file.empty()) {
    std::string text = jwks_file;
    if (trim(jwks_file).substr(0, 1) != "{") {
      std::ifstream in(jwks_file);
      std::stringstream ss;
      ss << in.rdbuf();
      text = ss.str();
      if (!in)
        dec.fail("jwksFile", "cannot read " + jwks_file);
    }
    auto keys = parse_jwks(text);
    if (!keys)
      dec.fail("jwksFile", keys.error().message);
    else if (keys->empty())
      dec.fail("jwksFile", "no usable signature key");
    else
      opts->static_keys = std::move(*keys);
  }
  if (!jwks_url.empty()) {
    auto client = HttpClient::create(jwks_url, tls ? &*tls : nullptr, dec.path(), ctx.workers());
    if (!client)
      dec.fail("jwksUrl", client.error().message);
    else
      opts->jwks_client = std::move(*client);
  }
  if (!mark.clean())
    return {};
  auto cache = std::make_shared<JwksCache>();
  return [opts = std::shared_ptr<const JwtOptions>(std::move(opts)), cache,
          workers = ctx.workers()](HandlerPtr next) -> HandlerPtr {
    return std::make_shared<const Jwt>(opts, cache, std::move(next), workers);
  };
}

} // namespace turnpike::middleware
