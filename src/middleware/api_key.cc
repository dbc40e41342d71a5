#include "middleware/api_key.h"

#include <openssl/evp.h>

#include <optional>

#include "common/strings.h"
#include "middleware/decode_support.h"
#include "middleware/local_reply.h"

namespace turnpike::middleware {
namespace {

std::optional<std::string> base64_std(std::string_view in) {
  std::string out((in.size() / 4 + 1) * 3, '\0');
  if (in.empty() || in.size() % 4 != 0)
    return std::nullopt;
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  if (n < 0)
    return std::nullopt;
  size_t len = static_cast<size_t>(n);
  for (size_t i = in.size(); i > 0 && in[i - 1] == '='; --i)
    --len; // DecodeBlock keeps padding
  out.resize(len);
  return out;
}

} // namespace

ApiKey::ApiKey(std::shared_ptr<const ApiKeyOptions> options, HandlerPtr next)
    : options_(std::move(options)), next_(std::move(next)) {}

bool ApiKey::valid(std::string_view key) const {
  const uint64_t t = verified_.tag({key});
  if (verified_.contains(t))
    return true;
  for (const auto& h : options_->secrets) {
    if (h.verify(key)) {
      if (h.scheme() == PasswordHash::Scheme::kBcrypt)
        verified_.remember(t);
      return true;
    }
  }
  return false;
}

http::Task<void> ApiKey::handle(http::Exchange& ex) const {
  const ApiKeyOptions& o = *options_;
  const std::string key = o.source.find(ex.request);
  if (key.empty() || !valid(key)) {
    co_await reply(ex, 401, status_text(401));
    co_return;
  }
  o.source.strip(ex.request); // the key does not travel further
  co_await next_->handle(ex);
}

Wrap build_api_key(config::Decoder& dec, BuildContext&) {
  ErrorMark mark(dec);
  auto opts = std::make_shared<ApiKeyOptions>();
  if (const auto* ks = dec.section("keySource")) {
    config::Decoder kd(*ks, dec.child_path("keySource"), dec.errors());
    opts->source = CredentialSource::decode(kd);
  }
  std::vector<std::string> values;
  dec.get("secretValues", values);
  bool non_base64 = false;
  dec.get("secretNonBase64Encoded", non_base64);
  dec.finish();
  if (opts->source.empty())
    dec.fail("keySource", "one of header, query or cookie is required");
  if (values.empty())
    dec.fail("secretValues", "at least one hashed key is required");
  for (size_t i = 0; i < values.size(); ++i) {
    auto h = PasswordHash::parse(values[i]);
    if (!h && !non_base64) {
      if (auto decoded = base64_std(values[i]))
        h = PasswordHash::parse(*decoded);
    }
    if (!h)
      dec.fail(item_key("secretValues", i),
               "not a bcrypt, {SHA} or $apr1$ hash (plain keys are never stored)");
    else
      opts->secrets.push_back(std::move(*h));
  }
  if (!mark.clean())
    return {};
  return [opts = std::shared_ptr<const ApiKeyOptions>(std::move(opts))](
             HandlerPtr next) -> HandlerPtr {
    return std::make_shared<const ApiKey>(opts, std::move(next));
  };
}

} // namespace turnpike::middleware
