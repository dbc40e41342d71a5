#include "middleware/basic_auth.h"

#include <openssl/crypto.h>

#include "common/strings.h"
#include "middleware/decode_support.h"
#include "middleware/local_reply.h"

namespace turnpike::middleware {
namespace {

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Strict standard base64 with padding (Go's base64.StdEncoding).
bool base64_decode(std::string_view in, std::string& out) {
  if (in.size() % 4 != 0) return false;
  out.clear();
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = in[i + static_cast<size_t>(k)];
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad > 0) return false;  // data after padding
      v[k] = base64_value(c);
      if (v[k] < 0) return false;
    }
    const uint32_t n = (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) |
                       uint32_t(v[3]);
    out.push_back(static_cast<char>(n >> 16));
    if (pad < 2) out.push_back(static_cast<char>((n >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(n & 0xff));
  }
  return true;
}

// Adds "user:hash" to `users`; reports problems at `key` (`where` prefixes file line numbers).
void add_user(config::Decoder& dec, std::string_view key, std::string_view where,
              std::string_view line, BasicAuthOptions& opts) {
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || line.find(':', colon + 1) != std::string_view::npos) {
    dec.fail(key, std::string(where) + "expected \"user:hash\"");
    return;
  }
  const std::string user(line.substr(0, colon));
  auto hash = PasswordHash::parse(line.substr(colon + 1));
  if (!hash) {
    dec.fail(key, std::string(where) + "user \"" + user +
                      "\": unsupported password hash (expected bcrypt \"$2y$...\", MD5 "
                      "\"$apr1$...\" or \"{SHA}...\", as htpasswd -B, -m or -s write them)");
    return;
  }
  opts.users.insert_or_assign(user, std::move(*hash));
}

}  // namespace

bool parse_basic_credentials(std::string_view authorization, std::string& user,
                             std::string& password) {
  constexpr std::string_view kPrefix = "Basic ";
  if (!istarts_with(authorization, kPrefix)) return false;
  std::string decoded;
  if (!base64_decode(authorization.substr(kPrefix.size()), decoded)) return false;
  const size_t colon = decoded.find(':');
  if (colon == std::string::npos) return false;
  user = decoded.substr(0, colon);
  password = decoded.substr(colon + 1);
  OPENSSL_cleanse(decoded.data(), decoded.size());
  return true;
}

BasicAuth::BasicAuth(std::shared_ptr<const BasicAuthOptions> options, HandlerPtr next)
    : options_(std::move(options)), next_(std::move(next)),
      challenge_("Basic realm=\"" + options_->realm + "\"") {}

bool BasicAuth::check(std::string_view user, std::string_view password) const {
  auto it = options_->users.find(user);
  if (it == options_->users.end()) return false;
  const PasswordHash& hash = it->second;
  if (hash.scheme() != PasswordHash::Scheme::kBcrypt) return hash.verify(password);
  // bcrypt: remember successes (see the header for why this is safe and bounded).
  const uint64_t t = verified_.tag({user, password});
  if (verified_.contains(t))
    return true;
  if (!hash.verify(password)) return false;
  verified_.remember(t);
  return true;
}

http::Task<void> BasicAuth::handle(http::Exchange& ex) const {
  std::string user, password;
  bool ok = false;
  if (auto authorization = ex.request.headers.get("Authorization")) {
    if (parse_basic_credentials(*authorization, user, password)) {
      ex.username = user;
      ok = check(user, password);
      OPENSSL_cleanse(password.data(), password.size());
    }
  }
  if (!ok) {
    co_await reply_unauthorized(ex, challenge_);
    co_return;
  }
  if (!options_->header_field.empty()) ex.request.headers.set(options_->header_field, user);
  if (options_->remove_header) ex.request.headers.remove("Authorization");
  co_await next_->handle(ex);
}

Wrap build_basic_auth(config::Decoder& dec, BuildContext&) {
  ErrorMark mark(dec);
  auto opts = std::make_shared<BasicAuthOptions>();
  AuthCommonOptions common = decode_auth_common(dec);
  opts->realm = common.realm;
  opts->header_field = common.header_field;
  opts->remove_header = common.remove_header;

  // Control thread: reading the file here is the one blocking read, at configuration time.
  for_each_user_line(dec, common.users, common.users_file,
                     [&](const std::string& key, const std::string& where, std::string_view line) {
                       add_user(dec, key, where, line, *opts);
                     });
  if (opts->users.empty() && mark.clean())
    dec.fail("users", "no user is defined (set users or usersFile)");
  if (!mark.clean()) return {};
  return [opts = std::shared_ptr<const BasicAuthOptions>(std::move(opts))](
             HandlerPtr next) -> HandlerPtr {
    return std::make_shared<const BasicAuth>(opts, std::move(next));
  };
}

}  // namespace turnpike::middleware
