#include "middleware/digest_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <chrono>

#include "common/strings.h"
#include "middleware/decode_support.h"
#include "middleware/local_reply.h"

namespace turnpike::middleware {
namespace {

constexpr int64_t kNonceLifetimeS = 300;

std::string hex(const unsigned char* p, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[p[i] >> 4]);
    out.push_back(kDigits[p[i] & 15]);
  }
  return out;
}

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The parameters of "Digest a=b, c="d"" (quoted strings unescaped).
std::map<std::string, std::string> digest_params(std::string_view s) {
  std::map<std::string, std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == ',' || s[i] == '\t'))
      ++i;
    const size_t eq = s.find('=', i);
    if (eq == std::string_view::npos)
      break;
    std::string name = to_lower(trim(s.substr(i, eq - i)));
    i = eq + 1;
    std::string value;
    if (i < s.size() && s[i] == '"') {
      ++i;
      while (i < s.size() && s[i] != '"') {
        if (s[i] == '\\' && i + 1 < s.size())
          ++i;
        value.push_back(s[i++]);
      }
      ++i;
    } else {
      const size_t end = s.find(',', i);
      value =
          std::string(trim(s.substr(i, end == std::string_view::npos ? s.size() - i : end - i)));
      i = end == std::string_view::npos ? s.size() : end;
    }
    out.emplace(std::move(name), std::move(value));
  }
  return out;
}

bool equal_ct(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

} // namespace

std::string md5_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_md5(), nullptr);
  return hex(md, len);
}

DigestAuth::DigestAuth(std::shared_ptr<const DigestAuthOptions> options, HandlerPtr next)
    : options_(std::move(options)), next_(std::move(next)) {
  RAND_bytes(key_.data(), static_cast<int>(key_.size()));
  unsigned char o[16];
  RAND_bytes(o, sizeof o);
  opaque_ = hex(o, sizeof o);
}

std::string DigestAuth::nonce(int64_t expiry_s) const {
  const std::string ts = std::to_string(expiry_s);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(ts.data()), ts.size(), mac, &len);
  return ts + "-" + hex(mac, 16);
}

DigestAuth::NonceState DigestAuth::check_nonce(std::string_view n, int64_t now) const {
  const size_t dash = n.find('-');
  if (dash == std::string_view::npos)
    return NonceState::kForged;
  int64_t expiry = 0;
  const auto ts = n.substr(0, dash);
  if (ts.empty() || ts.size() > 18 || ts.find_first_not_of("0123456789") != std::string_view::npos)
    return NonceState::kForged;
  expiry = std::stoll(std::string(ts));
  if (!equal_ct(nonce(expiry), n))
    return NonceState::kForged;
  return now < expiry ? NonceState::kValid : NonceState::kStale;
}

http::Task<void> DigestAuth::handle(http::Exchange& ex) const {
  const DigestAuthOptions& o = *options_;
  const int64_t now = now_s();
  bool ok = false, stale = false;
  std::string user;
  if (auto auth = ex.request.headers.get("Authorization");
      auth && auth->size() > 7 && iequals(auth->substr(0, 7), "Digest ")) {
    auto p = digest_params(auth->substr(7));
    user = p["username"];
    auto it = o.users.find(user);
    const std::string& qop = p["qop"];
    if (it != o.users.end() && p["realm"] == o.realm && p["uri"] == ex.request.target() &&
        (qop.empty() || qop == "auth") &&
        (p.count("algorithm") == 0 || iequals(p["algorithm"], "MD5"))) {
      const std::string ha2 = md5_hex(ex.request.method + ":" + p["uri"]);
      const std::string expected = qop.empty()
                                       ? md5_hex(it->second + ":" + p["nonce"] + ":" + ha2)
                                       : md5_hex(it->second + ":" + p["nonce"] + ":" + p["nc"] +
                                                 ":" + p["cnonce"] + ":auth:" + ha2);
      if (equal_ct(expected, p["response"])) {
        const auto state = check_nonce(p["nonce"], now);
        ok = state == NonceState::kValid;
        stale = state == NonceState::kStale;
      }
    }
  }
  if (!ok) {
    co_await reply_unauthorized(ex, "Digest realm=\"" + o.realm + "\", nonce=\"" +
                                        nonce(now + kNonceLifetimeS) + "\", opaque=\"" + opaque_ +
                                        "\", algorithm=MD5, qop=\"auth\"" +
                                        (stale ? ", stale=true" : ""));
    co_return;
  }
  ex.username = user;
  if (!o.header_field.empty())
    ex.request.headers.set(o.header_field, user);
  if (o.remove_header)
    ex.request.headers.remove("Authorization");
  co_await next_->handle(ex);
}

Wrap build_digest_auth(config::Decoder& dec, BuildContext&) {
  ErrorMark mark(dec);
  auto opts = std::make_shared<DigestAuthOptions>();
  AuthCommonOptions common = decode_auth_common(dec);
  opts->realm = common.realm;
  opts->header_field = common.header_field;
  opts->remove_header = common.remove_header;
  for_each_user_line(
      dec, common.users, common.users_file,
      [&](const std::string& key, const std::string& where, std::string_view line) {
        auto parts = split(line, ':');
        if (parts.size() != 3 || parts[2].size() != 32 ||
            parts[2].find_first_not_of("0123456789abcdefABCDEF") != std::string_view::npos) {
          dec.fail(key, where + "expected \"user:realm:md5hex\" (as htdigest writes it)");
          return;
        }
        // Users of other realms can never authenticate here (go-http-auth).
        if (parts[1] == opts->realm)
          opts->users.insert_or_assign(std::string(parts[0]), to_lower(parts[2]));
      });
  if (opts->users.empty() && mark.clean())
    dec.fail("users",
             "no user of realm \"" + opts->realm + "\" is defined (set users or usersFile)");
  if (!mark.clean())
    return {};
  return [opts = std::shared_ptr<const DigestAuthOptions>(std::move(opts))](
             HandlerPtr next) -> HandlerPtr {
    return std::make_shared<const DigestAuth>(opts, std::move(next));
  };
}

} // namespace turnpike::middleware
