#include "middleware/header_modifier.h"

#include "common/strings.h"
#include "http/message.h"
#include "middleware/decode_support.h"
#include "middleware/head_editor.h"

namespace turnpike::middleware {
namespace {

constexpr std::string_view kGatewayProvider = "kubernetesgateway";

class RequestHeaderModifier final : public http::Handler {
public:
  RequestHeaderModifier(std::shared_ptr<const HeaderModifierOptions> opts, HandlerPtr next)
      : opts_(std::move(opts)), next_(std::move(next)) {}

  http::Task<void> handle(http::Exchange& ex) const override {
    opts_->apply(ex.request.headers);
    co_await next_->handle(ex);
  }

private:
  std::shared_ptr<const HeaderModifierOptions> opts_;
  HandlerPtr next_;
};

class ResponseHeaderModifier final : public http::Handler {
public:
  ResponseHeaderModifier(std::shared_ptr<const HeaderModifierOptions> opts, HandlerPtr next)
      : opts_(std::move(opts)), next_(std::move(next)) {}

  http::Task<void> handle(http::Exchange& ex) const override {
    const HeaderModifierOptions& o = *opts_;
    co_await serve_editing_head(ex, *next_, [&o](http::Response& head) { o.apply(head.headers); });
  }

private:
  std::shared_ptr<const HeaderModifierOptions> opts_;
  HandlerPtr next_;
};

// The name -> value map under `key`; a Host entry is dropped (not a header field in Go).
std::vector<std::pair<std::string, std::string>> decode_pairs(config::Decoder& dec,
                                                              std::string_view key) {
  auto out = decode_header_fields(dec, key, /*values_may_be_empty=*/true);
  std::erase_if(out, [](const auto& f) { return iequals(f.first, "Host"); });
  return out;
}

std::shared_ptr<const HeaderModifierOptions> decode(config::Decoder& dec, BuildContext& ctx,
                                                    std::string_view type) {
  ErrorMark mark(dec);
  auto o = std::make_shared<HeaderModifierOptions>();
  o->set = decode_pairs(dec, "set");
  o->add = decode_pairs(dec, "add");
  dec.get("remove", o->remove);
  check_header_names(dec, "remove", o->remove);
  dec.finish();
  if (ctx.provider() != kGatewayProvider)
    dec.fail("", std::string(type) +
                     " is internal to the kubernetesGateway provider (use the headers middleware)");
  if (!mark.clean())
    return nullptr;
  return o;
}

template <class Modifier>
Wrap build(config::Decoder& dec, BuildContext& ctx, std::string_view type) {
  auto opts = decode(dec, ctx, type);
  if (!opts) return {};
  return [opts](HandlerPtr next) -> HandlerPtr {
    return std::make_shared<const Modifier>(opts, std::move(next));
  };
}

} // namespace

void HeaderModifierOptions::apply(http::HeaderMap& headers) const {
  for (const auto& [name, value] : set)
    headers.set(name, value);
  for (const auto& [name, value] : add)
    headers.add(name, value);
  for (const auto& name : remove)
    headers.remove(name);
}

Wrap build_request_header_modifier(config::Decoder& dec, BuildContext& ctx) {
  return build<RequestHeaderModifier>(dec, ctx, "requestHeaderModifier");
}

Wrap build_response_header_modifier(config::Decoder& dec, BuildContext& ctx) {
  return build<ResponseHeaderModifier>(dec, ctx, "responseHeaderModifier");
}

} // namespace turnpike::middleware
