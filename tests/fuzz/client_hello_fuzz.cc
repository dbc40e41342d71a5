// Fuzz target for the ClientHello scanner (src/tls/client_hello.h).
//
// Properties checked on every input:
//   - scanning never crashes, hangs or reads past the input;
//   - "need more" asks for more than it was given and never beyond kMaxClientHelloPeek;
//   - the result depends only on the first record: scanning exactly the record gives the same
//     answer, and no strict prefix of the record is reported as a parsed hello;
//   - a parsed hello's server name is lower case without a trailing dot, its ALPN names are
//     non-empty.
// Under clang: clang++ -fsanitize=fuzzer,address ... links libFuzzer. Under g++ the committed
// corpus (tests/fuzz/client_hello/) is replayed by tests/unit/tls/client_hello_corpus_test.cc.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "tls/client_hello.h"

namespace {

namespace tls = turnpike::tls;
using State = tls::HelloScan::State;

[[noreturn]] void violated(const char* property) {
  std::fprintf(stderr, "client_hello_fuzz: %s\n", property);
  std::abort();
}

bool same(const tls::HelloScan& a, const tls::HelloScan& b) {
  return a.state == b.state && a.parsed == b.parsed && a.need == b.need &&
         a.hello.server_name == b.hello.server_name && a.hello.alpn == b.hello.alpn;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 2 * tls::kMaxClientHelloPeek)
    return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto r = tls::scan_client_hello(in);
  if (r.state == State::kNeedMore) {
    if (r.need <= size || r.need > tls::kMaxClientHelloPeek)
      violated("bad need");
    return 0;
  }
  if (r.state == State::kNotTls) {
    if (tls::scan_client_hello(in.substr(0, 1)).state != State::kNotTls)
      violated("not-TLS depends on more than the first byte");
    return 0;
  }
  if (r.parsed) {
    for (char c : r.hello.server_name)
      if (c >= 'A' && c <= 'Z')
        violated("server name not lower-cased");
    if (!r.hello.server_name.empty() && r.hello.server_name.back() == '.')
      violated("server name with a trailing dot");
    for (const auto& p : r.hello.alpn)
      if (p.empty())
        violated("empty ALPN protocol");
  }
  if (size >= tls::kRecordHeaderLength) {
    size_t record = tls::kRecordHeaderLength +
                    ((static_cast<size_t>(data[3]) << 8) | static_cast<size_t>(data[4]));
    if (record <= size) {
      if (!same(tls::scan_client_hello(in.substr(0, record)), r))
        violated("result depends on bytes after the first record");
      for (size_t n = 0; n < record && n < 512; ++n) {
        auto p = tls::scan_client_hello(in.substr(0, n));
        if (p.state == State::kTls && p.parsed)
          violated("a strict prefix parsed as a hello");
      }
    }
  }
  return 0;
}
