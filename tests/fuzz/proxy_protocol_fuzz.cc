// Fuzz target for the PROXY protocol v1/v2 parser (src/common/proxy_protocol.h).
//
// Properties checked on every input:
//   - parsing never crashes, hangs or reads past the input;
//   - "need more" asks for more than it was given and never beyond kMaxLength;
//   - a header's length is within the input and the limit, and parsing exactly that prefix gives
//     the same header; every shorter prefix asks for more (the decision never depends on bytes
//     after the header);
//   - a header with addresses re-encodes (v1 and v2) to bytes that parse to the same endpoints.
// Under clang: clang++ -fsanitize=fuzzer,address ... links libFuzzer. Under g++ the committed
// corpus (tests/fuzz/proxy_protocol/) is replayed by
// tests/unit/common/proxy_protocol_corpus_test.cc.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "common/ipnet.h"
#include "common/proxy_protocol.h"

namespace {

namespace pp = turnpike::proxy_protocol;
using Status = pp::ParseResult::Status;

[[noreturn]] void violated(const char* property) {
  std::fprintf(stderr, "proxy_protocol_fuzz: %s\n", property);
  std::abort();
}

bool same_endpoint(const boost::asio::ip::tcp::endpoint& a,
                   const boost::asio::ip::tcp::endpoint& b) {
  return a.port() == b.port() &&
         turnpike::canonical_ip(a.address()) == turnpike::canonical_ip(b.address());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 2 * pp::kMaxLength)
    return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto r = pp::parse(in);
  switch (r.status) {
  case Status::kIncomplete:
    if (r.need <= size || r.need > pp::kMaxLength)
      violated("bad need");
    return 0;
  case Status::kNotProxy:
  case Status::kInvalid:
    return 0;
  case Status::kHeader:
    break;
  }
  if (r.length == 0 || r.length > size || r.length > pp::kMaxLength)
    violated("bad length");
  auto exact = pp::parse(in.substr(0, r.length));
  if (exact.status != Status::kHeader || exact.length != r.length ||
      exact.header.version != r.header.version ||
      exact.header.source.has_value() != r.header.source.has_value())
    violated("header depends on the bytes after it");
  size_t probes = r.length < 256 ? r.length : 256;
  for (size_t n = 0; n < probes; ++n)
    if (pp::parse(in.substr(0, n)).status != Status::kIncomplete)
      violated("a prefix of a header is decided early");
  if (pp::parse(in.substr(0, r.length - 1)).status != Status::kIncomplete)
    violated("a header minus one byte is decided");
  if (r.header.source) {
    if (!r.header.destination)
      violated("source without destination");
    for (int version : {1, 2}) {
      auto again = pp::parse(pp::encode(version, *r.header.source, *r.header.destination));
      if (again.status != Status::kHeader ||
          !same_endpoint(*again.header.source, *r.header.source) ||
          !same_endpoint(*again.header.destination, *r.header.destination))
        violated("encoding does not round-trip");
    }
  }
  return 0;
}
