#include "middleware/chain.h"

#include <vector>

#include "middleware/decode_support.h"

namespace turnpike::middleware {

Wrap build_chain(config::Decoder& dec, BuildContext& ctx) {
  ErrorMark mark(dec);
  std::vector<std::string> names;
  dec.get("middlewares", names);
  dec.finish();
  std::vector<Wrap> wraps;
  for (size_t i = 0; i < names.size(); ++i) {
    auto wrap = ctx.middleware(names[i]);
    if (!wrap)
      dec.fail(item_key("middlewares", i), wrap.error().message);
    else if (!*wrap)
      dec.fail(item_key("middlewares", i), "middleware \"" + names[i] + "\" is not usable");
    else
      wraps.push_back(std::move(*wrap));
  }
  if (!mark.clean()) return {};
  return [wraps = std::move(wraps)](HandlerPtr next) -> HandlerPtr {
    for (auto it = wraps.rbegin(); it != wraps.rend(); ++it) next = (*it)(std::move(next));
    return next;
  };
}

}  // namespace turnpike::middleware
