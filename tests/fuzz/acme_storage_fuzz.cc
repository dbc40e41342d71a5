// Fuzz target for what the ACME resolver reads from untrusted or hand-edited sources: acme.json
// (src/acme/storage.h), CA problem documents and the timestamps and Retry-After values in CA
// answers (src/acme/client.h).
//
// Properties checked on every input:
//   - nothing crashes, hangs or throws on any JSON (wrong types, huge numbers, bad base64);
//   - a resolver object that decodes encodes to JSON that decodes to the same data, and encoding
//     that again gives the same text (what Turnpike writes back is stable);
//   - Retry-After and RFC 3339 parsing accept or refuse without crashing, and a parsed RFC 3339
//     time formats back to a time that parses to the same value.
// Under clang: clang++ -fsanitize=fuzzer,address ... links libFuzzer. Under g++ the committed
// corpus (tests/fuzz/acme_storage/) is replayed by tests/unit/acme/acme_storage_corpus_test.cc.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "acme/client.h"
#include "acme/storage.h"

namespace {

namespace acme = turnpike::acme;

[[noreturn]] void violated(const char* property, std::string_view detail) {
  std::fprintf(stderr, "acme_storage_fuzz: %s\n  %.*s\n", property,
               static_cast<int>(std::min<size_t>(detail.size(), 400)), detail.data());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto rfc = acme::parse_rfc3339(text);
  if (rfc) {
    auto again = acme::parse_rfc3339(acme::format_rfc3339(*rfc));
    if (!again || *again != *rfc) violated("RFC 3339 round trip", text);
  }
  (void)acme::parse_retry_after(text, 1700000000);
  auto doc = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return 0;
  (void)acme::Problem::from_json(nlohmann::json::parse(text, nullptr, false));
  auto check = [&](const nlohmann::ordered_json& j) {
    auto decoded = acme::resolver_from_json(j);
    if (!decoded) return;
    auto encoded = acme::resolver_to_json(*decoded);
    auto again = acme::resolver_from_json(encoded);
    if (!again) violated("re-encoded data does not decode", encoded.dump());
    if (acme::resolver_to_json(*again).dump() != encoded.dump())
      violated("encoding is not stable", encoded.dump());
  };
  if (doc.is_object())
    for (auto it = doc.begin(); it != doc.end(); ++it) check(it.value());
  check(doc);
  return 0;
}
