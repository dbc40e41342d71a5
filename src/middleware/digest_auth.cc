#include "middleware/digest_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "common/hex.h"
#include "common/strings.h"
#include "middleware/decode_support.h"
#include "middleware/local_reply.h"

namespace turnpike::middleware {
namespace {

constexpr int64_t kNonceLifetimeS = 300;

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

// The nonce count: exactly 8 hex digits (RFC 7616 3.4); 0 when malformed (0 is never valid).
uint32_t parse_nc(std::string_view nc) {
  if (nc.size() != 8)
    return 0;
  uint32_t v = 0;
  for (char c : nc) {
    const int d = c >= '0' && c <= '9'   ? c - '0'
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                         : -1;
    if (d < 0)
      return 0;
    v = v << 4 | static_cast<uint32_t>(d);
  }
  return v;
}

// The expiry a nonce carries (its digits before '-'); check_nonce has validated its shape.
int64_t nonce_expiry(std::string_view n) {
  int64_t v = 0;
  for (char c : n.substr(0, n.find('-')))
    v = v * 10 + (c - '0');
  return v;
}

bool equal_ct(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

} // namespace

std::string md5_hex(std::string_view data) {
  return digest_hex(EVP_md5(), data);
}

DigestAuth::DigestAuth(std::shared_ptr<const DigestAuthOptions> options, HandlerPtr next)
    : options_(std::move(options)), next_(std::move(next)) {
  RAND_bytes(key_.data(), static_cast<int>(key_.size()));
  opaque_ = random_hex(16);
}

std::string DigestAuth::nonce(int64_t expiry_s) const {
  // A random part makes every challenge's nonce unique: two clients challenged in the same
  // second must not share a nonce, since each starts its nonce count at 1.
  return signed_nonce(std::to_string(expiry_s) + "-" + random_hex(8));
}

std::string DigestAuth::signed_nonce(const std::string& body) const {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &len);
  return body + "-" + hex_encode(mac, 16);
}

bool NonceCounts::first_use(std::string_view nonce, int64_t expiry_s, uint32_t nc, int64_t now_s) {
  std::lock_guard lock(mu_);
  if (expiry_s <= floor_)
    return false;
  auto [it, fresh] = seen_.try_emplace(std::string(nonce));
  Seen& s = it->second;
  if (fresh)
    s.expiry = expiry_s;
  bool ok = false;
  if (nc > s.max) {
    const uint32_t shift = nc - s.max;
    const uint64_t moved = shift >= 64 ? 0 : s.below << shift;
    s.below = s.max == 0 || shift > 64 ? moved : moved | (uint64_t{1} << (shift - 1));
    s.max = nc;
    ok = true;
  } else if (nc < s.max && s.max - nc - 1 < 64) {
    const uint64_t bit = uint64_t{1} << (s.max - nc - 1);
    ok = (s.below & bit) == 0;
    s.below |= bit;
  }
  if (fresh && seen_.size() > kMaxNonces)
    evict(now_s);
  return ok;
}

void NonceCounts::evict(int64_t now_s) {
  std::erase_if(seen_, [&](const auto& e) { return e.second.expiry <= now_s; });
  if (seen_.size() <= kMaxNonces / 2)
    return;
  std::vector<int64_t> expiries;
  expiries.reserve(seen_.size());
  for (const auto& e : seen_)
    expiries.push_back(e.second.expiry);
  auto mid = expiries.begin() + static_cast<std::ptrdiff_t>(expiries.size() / 2);
  std::nth_element(expiries.begin(), mid, expiries.end());
  floor_ = std::max(floor_, *mid);
  std::erase_if(seen_, [&](const auto& e) { return e.second.expiry <= floor_; });
}

DigestAuth::NonceState DigestAuth::check_nonce(std::string_view n, int64_t now) const {
  // "<expiry>-<16 hex salt>-<32 hex mac>"
  const size_t dash = n.find('-');
  if (dash == std::string_view::npos || n.size() != dash + 1 + 16 + 1 + 32 || n[dash + 17] != '-')
    return NonceState::kForged;
  const auto ts = n.substr(0, dash);
  if (ts.empty() || ts.size() > 18 || ts.find_first_not_of("0123456789") != std::string_view::npos)
    return NonceState::kForged;
  if (!equal_ct(signed_nonce(std::string(n.substr(0, dash + 17))), n))
    return NonceState::kForged;
  return now < nonce_expiry(n) ? NonceState::kValid : NonceState::kStale;
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
        qop == "auth" && (p.count("algorithm") == 0 || iequals(p["algorithm"], "MD5"))) {
      const std::string& nc = p["nc"];
      const std::string ha2 = md5_hex(ex.request.method + ":" + p["uri"]);
      const std::string expected =
          md5_hex(it->second + ":" + p["nonce"] + ":" + nc + ":" + p["cnonce"] + ":auth:" + ha2);
      const uint32_t count = parse_nc(nc);
      if (count != 0 && equal_ct(expected, p["response"])) {
        // The response proves the password; what is left is whether this nonce and count may
        // still be used. When not, `stale` lets the client retry with a fresh nonce at once.
        const auto state = check_nonce(p["nonce"], now);
        ok = state == NonceState::kValid &&
             counts_->first_use(p["nonce"], nonce_expiry(p["nonce"]), count, now);
        stale = !ok;
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
